// Package bitrise is a small client of the outgoing-webhook endpoints of the
// Bitrise API v0.1 (see shared/bitrise-api/README.md for the contract).
package bitrise

import "time"

// Webhook is an outgoing webhook as the API returns it. The API never
// returns the webhook secret.
type Webhook struct {
	Slug              string            `json:"slug"`
	URL               string            `json:"url"`
	Events            []string          `json:"events"`
	Headers           map[string]string `json:"headers,omitempty"`
	RegisteredByAddon bool              `json:"registered_by_addon"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// CreateParams is the body of a create (POST). Secret is always sent, empty
// when unset, as Bitrise's own clients do.
type CreateParams struct {
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
}

// UpdateParams is the body of an update (PUT), a full replacement. It cannot
// change the secret.
type UpdateParams struct {
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Headers map[string]string `json:"headers"`
}
