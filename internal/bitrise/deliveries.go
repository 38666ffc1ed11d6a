package bitrise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// DeliveryItem is one delivery of an outgoing webhook, reduced to what is
// safe to keep: the API also returns request_headers, request_payload,
// request_url, response_body and response_headers, which hold the signature
// and secret header values, and are never decoded.
type DeliveryItem struct {
	Slug      string
	CreatedAt time.Time
	// HTTPStatus is the receiver's answer; 0 when there was none.
	HTTPStatus int
	// DurationSeconds is how long the receiver took, in whole seconds.
	DurationSeconds int
}

// Succeeded reports a 2xx answer of the receiver.
func (d DeliveryItem) Succeeded() bool { return d.HTTPStatus >= 200 && d.HTTPStatus <= 299 }

// DeliveryPage is one page of a webhook's deliveries.
type DeliveryPage struct {
	Items []DeliveryItem
	// Next is the cursor of the next page; empty on the last page.
	Next string
}

// DeliveryListOptions selects a page of deliveries.
type DeliveryListOptions struct {
	// Limit is the page size, 1 to 50; 0 means the server's default (50).
	Limit int
	// Next is the cursor from the previous page; empty for the first page.
	Next string
}

// ErrDeferred is returned, without any request made, for a low-priority
// request (see WithLowPriority) while the token's rate limit is less than
// half full or the token is paused by the server (Retry-After): creates,
// updates and deletes go first. Try again later.
var ErrDeferred = errors.New("bitrise API: low-priority request deferred: the token's rate limit is busy or paused")

type lowPriorityKey struct{}

// WithLowPriority marks the requests made with the returned context as low
// priority: they are not sent, and fail with ErrDeferred, unless the
// token's rate limit has at least half its burst to spare and the token is
// not paused. Periodic reads that can wait (delivery checks) use it.
func WithLowPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, lowPriorityKey{}, true)
}

func isLowPriority(ctx context.Context) bool {
	v, _ := ctx.Value(lowPriorityKey{}).(bool)
	return v
}

// Path templates of the delivery endpoints, for metrics.
const (
	routeDeliveries = routeWebhook + "/delivery-items"
	routeDelivery   = routeDeliveries + "/{webhook-delivery-item-slug}"
	routeRedeliver  = routeDelivery + "/redeliver"
)

func deliveriesPath(appSlug, webhookSlug string) string {
	return webhookPath(appSlug, webhookSlug) + "/delivery-items"
}

func deliveryPath(appSlug, webhookSlug, itemSlug string) string {
	return deliveriesPath(appSlug, webhookSlug) + "/" + url.PathEscape(itemSlug)
}

func (t *tokenClient) ListDeliveryItems(ctx context.Context, appSlug, webhookSlug string, opts DeliveryListOptions) (*DeliveryPage, error) {
	if opts.Limit < 0 || opts.Limit > pageLimit {
		return nil, fmt.Errorf("bitrise API: delivery list limit %d: want 1 to %d", opts.Limit, pageLimit)
	}
	req := request{method: http.MethodGet, path: deliveriesPath(appSlug, webhookSlug), route: routeDeliveries, query: url.Values{}}
	if opts.Limit > 0 {
		req.query.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Next != "" {
		req.query.Set("next", opts.Next)
	}
	status, body, err := t.do(ctx, req)
	if err != nil {
		return nil, err
	}
	var page wireDeliveryPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, t.unusableAnswer(req, status, "decoding delivery list: "+err.Error())
	}
	out := &DeliveryPage{Items: make([]DeliveryItem, 0, len(page.Data)), Next: page.Paging.Next}
	for _, w := range page.Data {
		out.Items = append(out.Items, w.item())
	}
	return out, nil
}

func (t *tokenClient) GetDeliveryItem(ctx context.Context, appSlug, webhookSlug, itemSlug string) (*DeliveryItem, error) {
	req := request{method: http.MethodGet, path: deliveryPath(appSlug, webhookSlug, itemSlug), route: routeDelivery}
	status, body, err := t.do(ctx, req)
	if err != nil {
		return nil, err
	}
	// The spec returns the bare item; a {"data": item} is accepted too.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, t.unusableAnswer(req, status, "delivery item is not a JSON object")
	}
	raw := json.RawMessage(body)
	if data, ok := top["data"]; ok && isJSONObject(data) {
		raw = data
	}
	var w wireDelivery
	if err := json.Unmarshal(raw, &w); err != nil || w.Slug == "" {
		return nil, t.unusableAnswer(req, status, "delivery item without a slug")
	}
	item := w.item()
	return &item, nil
}

func (t *tokenClient) RedeliverItem(ctx context.Context, appSlug, webhookSlug, itemSlug string) error {
	_, _, err := t.do(ctx, request{
		method: http.MethodPost,
		path:   deliveryPath(appSlug, webhookSlug, itemSlug) + "/redeliver",
		route:  routeRedeliver,
	})
	return err
}

// wireDelivery declares only the fields that are safe to read, so that the
// request and response contents are skipped by the decoder, never held.
type wireDelivery struct {
	Slug               string      `json:"slug"`
	CreatedAt          string      `json:"created_at"`
	ResponseHTTPStatus nullableInt `json:"response_http_status"`
	ResponseSeconds    nullableInt `json:"response_seconds"`
}

func (w wireDelivery) item() DeliveryItem {
	return DeliveryItem{
		Slug:            w.Slug,
		CreatedAt:       parseTimestamp(w.CreatedAt),
		HTTPStatus:      int(w.ResponseHTTPStatus),
		DurationSeconds: int(w.ResponseSeconds),
	}
}

// wireDeliveryPage is the list answer. The spec types `data` as one item
// (almost certainly a bug); an array is expected. Both are accepted, with or
// without `paging`.
type wireDeliveryPage struct {
	Data   deliveryData `json:"data"`
	Paging struct {
		Next string `json:"next"`
	} `json:"paging"`
}

type deliveryData []wireDelivery

func (d *deliveryData) UnmarshalJSON(b []byte) error {
	trimmed := bytes.TrimSpace(b)
	switch {
	case len(trimmed) == 0 || string(trimmed) == "null":
		*d = nil
		return nil
	case trimmed[0] == '{':
		var one wireDelivery
		if err := json.Unmarshal(trimmed, &one); err != nil {
			return err
		}
		*d = deliveryData{one}
		if one.Slug == "" {
			*d = nil // an empty object: no delivery
		}
		return nil
	default:
		var many []wireDelivery
		if err := json.Unmarshal(trimmed, &many); err != nil {
			return err
		}
		*d = many
		return nil
	}
}

// nullableInt reads an integer sent plain (502), as null, as a string
// ("502"), as a float (1.5, rounded) or as the old nullable wrapper
// {"int64": 502, "valid": true}. Null, an invalid wrapper and anything
// unreadable are 0: these fields are informational and must not fail a list.
type nullableInt int64

func (n *nullableInt) UnmarshalJSON(b []byte) error {
	*n = 0
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return nil
	}
	if trimmed[0] == '{' {
		var wrapper struct {
			Int64 json.Number `json:"int64"`
			Valid bool        `json:"valid"`
		}
		if json.Unmarshal(trimmed, &wrapper) != nil || !wrapper.Valid {
			return nil //nolint:nilerr // informational: an unreadable wrapper reads as 0, see the type's comment
		}
		*n = nullableInt(numberValue(string(wrapper.Int64)))
		return nil
	}
	if trimmed[0] == '"' {
		var s string
		if json.Unmarshal(trimmed, &s) == nil {
			*n = nullableInt(numberValue(s))
		}
		return nil
	}
	*n = nullableInt(numberValue(string(trimmed)))
	return nil
}

func numberValue(s string) int64 {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxInt32 {
		return 0
	}
	return int64(math.Round(f))
}
