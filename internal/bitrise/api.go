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
	// DeleteWebhook deletes a webhook. A 404 is returned (IsNotFound), not
	// taken for success: Bitrise answers 404 both for a webhook already gone
	// and for an app the token cannot see, so only the caller, by listing
	// the app, can tell them apart.
	DeleteWebhook(ctx context.Context, appSlug, webhookSlug string) error
}
