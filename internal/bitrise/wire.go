package bitrise

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// wireWebhook is the webhook item as it travels. Timestamps and headers are
// decoded by hand because the spec marks nothing required or typed strictly.
type wireWebhook struct {
	Slug              string          `json:"slug"`
	URL               string          `json:"url"`
	Events            []string        `json:"events"`
	Headers           json.RawMessage `json:"headers"`
	RegisteredByAddon bool            `json:"registered_by_addon"`
	CreatedAt         string          `json:"created_at"`
	UpdatedAt         string          `json:"updated_at"`
}

type listPage struct {
	Data   []wireWebhook `json:"data"`
	Paging struct {
		Next string `json:"next"`
	} `json:"paging"`
}

func (w *wireWebhook) webhook() (Webhook, error) {
	headers, err := decodeHeaders(w.Headers)
	if err != nil {
		return Webhook{}, err
	}
	return Webhook{
		Slug:              w.Slug,
		URL:               w.URL,
		Events:            w.Events,
		Headers:           headers,
		RegisteredByAddon: w.RegisteredByAddon,
		CreatedAt:         parseTimestamp(w.CreatedAt),
		UpdatedAt:         parseTimestamp(w.UpdatedAt),
	}, nil
}

// decodeItem accepts both {"data": item} (spec, update docs) and a bare item
// (create docs), and insists on a slug: without it a created webhook could
// never be found again.
func decodeItem(body []byte) (*Webhook, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("response is not a JSON object: %w", err)
	}
	raw := json.RawMessage(body)
	if data, ok := top["data"]; ok && isJSONObject(data) {
		raw = data
	}
	var item wireWebhook
	if err := json.Unmarshal(raw, &item); err != nil {
		return nil, fmt.Errorf("decoding webhook: %w", err)
	}
	if item.Slug == "" {
		return nil, errors.New("response has no webhook slug")
	}
	w, err := item.webhook()
	if err != nil {
		return nil, err
	}
	return &w, nil
}

func isJSONObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimSpace(raw)
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// decodeHeaders keeps non-string values as their JSON text, so that an odd
// value shows up as drift instead of failing the whole list.
func decodeHeaders(raw json.RawMessage) (map[string]string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("decoding webhook headers: %w", err)
	}
	headers := make(map[string]string, len(values))
	for name, value := range values {
		var s string
		if err := json.Unmarshal(value, &s); err != nil {
			s = string(value)
		}
		headers[name] = s
	}
	return headers, nil
}

// parseTimestamp is lenient: timestamps are informational, and a format
// change on the server must not break reconciliation.
func parseTimestamp(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}
