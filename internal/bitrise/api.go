package bitrise

import "context"

// API is what the reconciler needs of the Bitrise API, for one token.
// Calls are safe for concurrent use. Errors of the API are *APIError.
type API interface {
	// ListWebhooks returns every outgoing webhook of the app, all pages.
	ListWebhooks(ctx context.Context, appSlug string) ([]Webhook, error)
	// CreateWebhook creates a webhook and returns it as the API answered.
	CreateWebhook(ctx context.Context, appSlug string, params CreateParams) (*Webhook, error)
	// UpdateWebhook replaces the URL, events and headers of a webhook.
	UpdateWebhook(ctx context.Context, appSlug, webhookSlug string, params UpdateParams) (*Webhook, error)
	// DeleteWebhook deletes a webhook; a webhook already gone (404) is not an error.
	DeleteWebhook(ctx context.Context, appSlug, webhookSlug string) error
}
