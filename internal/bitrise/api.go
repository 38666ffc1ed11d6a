package bitrise

import "context"

// API is the Bitrise API for one token (Client.ForToken), app by app. The
// reconciler goes through App, which keeps the shared Observations true to
// its writes; the API alone does no bookkeeping (kubectl-bitrise import
// uses it to read). Calls are safe for concurrent use. Errors of the API
// are *APIError.
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

	// ListDeliveryItems returns one page of the webhook's deliveries, in
	// the server's order (newest first on Bitrise, not guaranteed).
	ListDeliveryItems(ctx context.Context, appSlug, webhookSlug string, opts DeliveryListOptions) (*DeliveryPage, error)
	// GetDeliveryItem returns one delivery; a 404 when it is unknown.
	GetDeliveryItem(ctx context.Context, appSlug, webhookSlug, itemSlug string) (*DeliveryItem, error)
	// RedeliverItem asks Bitrise to send a delivery again; a 404 when it is
	// unknown. It is not idempotent: each call is one more delivery.
	RedeliverItem(ctx context.Context, appSlug, webhookSlug, itemSlug string) error
}
