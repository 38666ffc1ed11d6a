package bitrise

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// App is one Bitrise app as seen with one API token: the only way the
// reconciler reads and writes an app's outgoing webhooks. The token stays
// inside it; callers hold an App, never the token. Make one with
// Client.App; it is cheap enough to make per reconcile and safe for
// concurrent use.
//
// Contract (what a caller may rely on, after Crossplane's ExternalClient):
//
//   - Observation. List returns the app's webhooks from the shared
//     Observations, no older than maxAge (0 forces a fresh list), and when
//     they were fetched. The shared observation always holds the App's own
//     writes: a successful Create or Update puts the webhook the API
//     answered into every observation of the app, a successful Delete
//     removes it, and a write whose outcome is unknown (any error, a lost
//     answer included) drops every observation of the app, so that the
//     next List asks Bitrise. A list begun before a write never stores what
//     it read. Callers therefore never apply writes to an observation
//     themselves.
//   - Idempotence. List is idempotent and has no effect on Bitrise. Delete
//     is idempotent: deleting a webhook that is already gone returns nil.
//     Update is idempotent (a full replacement of URL, events and headers).
//     Create is NOT: each call that reaches Bitrise makes one more webhook,
//     and an error may hide one that was made (a lost answer, a 5xx after
//     the write). A caller must record that a create is pending before
//     calling Create (the controller stores a create-pending annotation with
//     the URL sent) and, on the next pass, look for the webhook by that URL
//     in a fresh List before creating again.
//   - 404. Bitrise answers 404 both for an app the token cannot see (wrong
//     slug, another workspace's token, revoked access) and for a webhook
//     that is gone. For List and the delivery calls, a 404 means the app
//     (or the webhook, for deliveries) is invisible; IsNotFound reports it.
//     For Update, a 404 means the webhook was deleted since it was observed
//     or the app turned invisible; the caller recreates it, and the create
//     tells the two apart. Delete confirms a 404 with a fresh List: nil when
//     the list works and the webhook is absent (gone); the list's error when
//     the app does not answer (the webhook may still deliver); a
//     *StillListedError when the list still shows it.
//   - What is sent where. The token is sent only in the Authorization header
//     of requests to the Client's base URL (https, or http on a loopback
//     host), and redirects are never followed. The webhook secret is sent
//     only in the body of Create. No error of an App quotes the token, the
//     sensitive values given to Client.App (a webhook secret, header values
//     from Secrets), or the secret and header values of the request, even
//     when the server's error body echoes them: they are redacted.
//   - Errors. Errors of the API are *APIError (an answer other than 2xx,
//     or a 2xx that cannot be used), *NetworkError (no answer), ErrDeferred
//     (a low-priority call that the token's rate limit cannot spare),
//     *ThrottledError (a call not sent because the token would have to wait
//     longer than MaxSleep; nothing reached Bitrise, so a Create that fails
//     with it made nothing) or, from Delete, *StillListedError.
type App struct {
	api   API
	obs   *Observations
	token string // keys the shared observations only; never leaves the package
	slug  string
	gate  *gate
}

// App returns appSlug as seen with token, sharing obs with the other Apps
// of the process (a private Observations when obs is nil). sensitive are
// more values never to show in an error (see ForToken).
func (c *Client) App(token, appSlug string, obs *Observations, sensitive ...string) *App {
	if obs == nil {
		obs = NewObservations()
	}
	return &App{api: c.ForToken(token, sensitive...), obs: obs, token: token, slug: appSlug, gate: c.gateFor(token)}
}

// Room reports whether the App's token could send a request now without
// waiting longer than MaxSleep: nil, or the *ThrottledError that request
// would get (whose Wait counts as the tenant's turn, see WithTenant). It
// takes nothing from the token's budget, so a request made after a nil may
// still be throttled. A caller asks before work that only pays off if the
// request is sent (the controller, before storing its create-pending marker).
func (a *App) Room(ctx context.Context) error {
	return a.gate.room(ctx)
}

// Slug returns the app's slug.
func (a *App) Slug() string { return a.slug }

// List returns the app's webhooks from an observation no older than maxAge
// (0 forces a fresh list), and when that observation was fetched. The slice
// is the caller's; the maps inside it are shared and read-only.
func (a *App) List(ctx context.Context, maxAge time.Duration) ([]Webhook, time.Time, error) {
	return a.obs.List(ctx, a.api, a.token, a.slug, maxAge)
}

// Create creates a webhook and returns it as the API answered. It is not
// idempotent; see the type's contract for how a lost create is found.
func (a *App) Create(ctx context.Context, params CreateParams) (*Webhook, error) {
	created, err := a.api.CreateWebhook(ctx, a.slug, params)
	if err != nil {
		a.obs.Invalidate(a.slug) // it may exist although the answer is an error
		return nil, err
	}
	a.obs.Put(a.slug, *created)
	return created, nil
}

// Update replaces the URL, events and headers of a webhook and returns it
// as the API answered. A 404 (IsNotFound) means the webhook or the app is
// no longer visible.
func (a *App) Update(ctx context.Context, webhookSlug string, params UpdateParams) (*Webhook, error) {
	updated, err := a.api.UpdateWebhook(ctx, a.slug, webhookSlug, params)
	if err != nil {
		a.obs.Invalidate(a.slug)
		return nil, err
	}
	a.obs.Put(a.slug, *updated)
	return updated, nil
}

// Delete deletes a webhook; nil once it is gone. A 404 is confirmed by a
// fresh list of the app: nil when the list works and the slug is absent;
// the list's error when the app does not answer (404 or 403: the webhook
// may still deliver); a *StillListedError when the webhook is listed.
func (a *App) Delete(ctx context.Context, webhookSlug string) error {
	err := a.api.DeleteWebhook(ctx, a.slug, webhookSlug)
	if err == nil {
		a.obs.Remove(a.slug, webhookSlug)
		return nil
	}
	a.obs.Invalidate(a.slug)
	if !IsNotFound(err) {
		return err
	}
	remote, _, err := a.List(ctx, 0)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(remote, func(w Webhook) bool { return w.Slug == webhookSlug }) {
		return &StillListedError{Slug: webhookSlug}
	}
	return nil
}

// ListDeliveries returns one page of a webhook's deliveries, in the
// server's order (newest first on Bitrise, not guaranteed).
func (a *App) ListDeliveries(ctx context.Context, webhookSlug string, opts DeliveryListOptions) (*DeliveryPage, error) {
	return a.api.ListDeliveryItems(ctx, a.slug, webhookSlug, opts)
}

// GetDelivery returns one delivery of a webhook; a 404 when it is unknown.
func (a *App) GetDelivery(ctx context.Context, webhookSlug, itemSlug string) (*DeliveryItem, error) {
	return a.api.GetDeliveryItem(ctx, a.slug, webhookSlug, itemSlug)
}

// Redeliver asks Bitrise to send a delivery again; a 404 when it is
// unknown. It is not idempotent: each call is one more delivery.
func (a *App) Redeliver(ctx context.Context, webhookSlug, itemSlug string) error {
	return a.api.RedeliverItem(ctx, a.slug, webhookSlug, itemSlug)
}

// StillListedError is a DELETE answered 404 for a webhook that a fresh list
// of the app still shows: an API fault, to retry with backoff.
type StillListedError struct {
	// Slug is the webhook's slug.
	Slug string
}

func (e *StillListedError) Error() string {
	return fmt.Sprintf("Bitrise answered 404 to deleting webhook %s but still lists it; retrying with backoff", e.Slug)
}
