package bitrisefake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Delivery is a simulated build event delivered to a webhook: what the
// receiver answered. Zero values are filled in: CreatedAt now, HTTPStatus
// 200.
type Delivery struct {
	// HTTPStatus is the receiver's answer; ignored when NoAnswer.
	HTTPStatus int
	// Seconds is how long the receiver took.
	Seconds int
	// NoAnswer means the receiver never answered: response_http_status
	// and response_seconds are null.
	NoAnswer bool
	// CreatedAt is when the delivery was made.
	CreatedAt time.Time
	// ResponseBody is what the receiver answered; "ok" when empty.
	ResponseBody string
	// Payload is the request body sent; a build event when empty.
	Payload string
}

// deliveryRecord is a delivery as Bitrise stores it, sensitive parts
// included: the request headers carry the webhook's headers and the
// signature made with its secret.
type deliveryRecord struct {
	slug            string
	createdAt       time.Time
	requestURL      string
	requestHeaders  string
	requestPayload  string
	responseBody    string
	responseHeaders string
	status          *int
	seconds         *int
}

// wireDelivery is the fake's own delivery item (v0.WebhookDeliveryItemResponseModel).
type wireDelivery struct {
	Slug               string `json:"slug"`
	CreatedAt          string `json:"created_at"`
	UpdatedAt          string `json:"updated_at"`
	RequestURL         string `json:"request_url"`
	RequestHeaders     string `json:"request_headers"`
	RequestPayload     string `json:"request_payload"`
	ResponseBody       any    `json:"response_body"`
	ResponseHeaders    any    `json:"response_headers"`
	ResponseHTTPStatus any    `json:"response_http_status"`
	ResponseSeconds    any    `json:"response_seconds"`
}

type deliveryListEnvelope struct {
	Data   []wireDelivery `json:"data"`
	Paging paging         `json:"paging"`
}

type receiverAnswer struct{ status, seconds int }

// Deliver records a delivery of a webhook, as a build event would, and
// returns its slug. It fails for an unknown app or webhook.
func (s *Server) Deliver(appSlug, webhookSlug string, d Delivery) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(appSlug, webhookSlug)
	if rec == nil {
		return "", fmt.Errorf("bitrisefake: app %q has no webhook %q", appSlug, webhookSlug)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	if d.HTTPStatus == 0 {
		d.HTTPStatus = http.StatusOK
	}
	if d.ResponseBody == "" {
		d.ResponseBody = "ok"
	}
	if d.Payload == "" {
		d.Payload = fmt.Sprintf(`{"build_slug":%q,"build_status":1,"event_type":"build/finished"}`, s.newSlug())
	}
	item := &deliveryRecord{
		slug:            s.newSlug(),
		createdAt:       d.CreatedAt.UTC().Truncate(time.Microsecond),
		requestURL:      rec.hook.URL,
		requestHeaders:  requestHeaders(rec, d.Payload),
		requestPayload:  d.Payload,
		responseBody:    d.ResponseBody,
		responseHeaders: `{"Content-Type":["text/plain"]}`,
	}
	if !d.NoAnswer {
		item.status, item.seconds = &d.HTTPStatus, &d.Seconds
	}
	rec.deliveries = append(rec.deliveries, item)
	return item.slug, nil
}

// requestHeaders is what Bitrise sends: the webhook's headers and, with a
// secret, its signature of the payload.
func requestHeaders(rec *record, payload string) string {
	headers := map[string]string{"Content-Type": "application/json", "Bitrise-Event-Type": "build/finished"}
	for k, v := range rec.hook.Headers {
		headers[k] = v
	}
	if rec.secret != "" {
		mac := hmac.New(sha256.New, []byte(rec.secret))
		mac.Write([]byte(payload))
		headers["Bitrise-Hook-Signature"] = "sha256=" + hex.EncodeToString(mac.Sum(nil))
	}
	encoded, _ := json.Marshal(headers)
	return string(encoded)
}

// SetReceiver sets what the receiver of a webhook answers to redeliveries
// (200 in 0s until set).
func (s *Server) SetReceiver(webhookSlug string, status, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.receivers == nil {
		s.receivers = map[string]receiverAnswer{}
	}
	s.receivers[webhookSlug] = receiverAnswer{status: status, seconds: seconds}
}

// SetLegacyNullableDeliveries makes delivery items carry the response
// fields as the 2021–2023 spec's nullable wrappers ({"int64": .., "valid":
// ..}) instead of plain values or null.
func (s *Server) SetLegacyNullableDeliveries(legacy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacyNullable = legacy
}

// DeliveryCount returns how many deliveries a webhook has recorded.
func (s *Server) DeliveryCount(appSlug, webhookSlug string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.find(appSlug, webhookSlug); rec != nil {
		return len(rec.deliveries)
	}
	return 0
}

// deliveryRoute is a parsed delivery-items path.
type deliveryRoute struct {
	app, webhook, item string
	redeliver          bool
}

// parseDeliveryPath splits
// /v0.1/apps/{app}/outgoing-webhooks/{webhook}/delivery-items[/{item}[/redeliver]].
func parseDeliveryPath(escaped string) (deliveryRoute, bool) {
	rest, found := strings.CutPrefix(escaped, basePath+"/")
	if !found {
		return deliveryRoute{}, false
	}
	segs := strings.Split(rest, "/")
	if len(segs) < 5 || len(segs) > 7 || segs[0] != "apps" || segs[2] != "outgoing-webhooks" || segs[4] != "delivery-items" {
		return deliveryRoute{}, false
	}
	for i, seg := range segs {
		unescaped, err := url.PathUnescape(seg)
		if err != nil || unescaped == "" {
			return deliveryRoute{}, false
		}
		segs[i] = unescaped
	}
	route := deliveryRoute{app: segs[1], webhook: segs[3]}
	if len(segs) >= 6 {
		route.item = segs[5]
	}
	if len(segs) == 7 {
		if segs[6] != "redeliver" {
			return deliveryRoute{}, false
		}
		route.redeliver = true
	}
	return route, true
}

// handleDelivery serves the delivery-items endpoints; ok is false for
// other paths.
func (s *Server) handleDelivery(r *http.Request) (rep reply, ok bool) {
	route, ok := parseDeliveryPath(r.URL.EscapedPath())
	if !ok {
		return reply{}, false
	}
	want := http.MethodGet
	if route.redeliver {
		want = http.MethodPost
	}
	if r.Method != want {
		rep := messageReply(http.StatusMethodNotAllowed, "Method Not Allowed")
		rep.allow = want
		return rep, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, denied := s.authorize(r.Header.Get("Authorization"), route.app)
	if denied != nil {
		return *denied, true
	}
	i := a.index(route.webhook)
	if i < 0 {
		return notFound(), true
	}
	rec := a.webhooks[i]
	switch {
	case route.item == "":
		return s.listDeliveries(rec, r.URL.Query()), true
	case route.redeliver:
		return s.redeliver(rec, route.item), true
	default:
		d := rec.delivery(route.item)
		if d == nil {
			return notFound(), true
		}
		// The show endpoint answers with the bare item (spec).
		return reply{status: http.StatusOK, body: s.toWireDelivery(d)}, true
	}
}

// newestFirst returns the deliveries in Bitrise's list order.
func (r *record) newestFirst() []*deliveryRecord {
	out := slices.Clone(r.deliveries)
	slices.Reverse(out)
	return out
}

func (r *record) delivery(slug string) *deliveryRecord {
	for _, d := range r.deliveries {
		if d.slug == slug {
			return d
		}
	}
	return nil
}

func (s *Server) listDeliveries(rec *record, query url.Values) reply {
	limit, bad := pageLimitOf(query)
	if bad != nil {
		return *bad
	}
	items := rec.newestFirst()
	start := 0
	if next := query.Get("next"); next != "" {
		start = slices.IndexFunc(items, func(d *deliveryRecord) bool { return d.slug == next })
		if start < 0 {
			return messageReply(http.StatusBadRequest, "invalid next: no such delivery item")
		}
	}
	end := min(start+limit, len(items))
	page := deliveryListEnvelope{
		Data:   make([]wireDelivery, 0, end-start),
		Paging: paging{TotalItemCount: len(items), PageItemLimit: limit},
	}
	for _, d := range items[start:end] {
		page.Data = append(page.Data, s.toWireDelivery(d))
	}
	if end < len(items) {
		page.Paging.Next = items[end].slug
	}
	return reply{status: http.StatusOK, body: page}
}

// redeliver sends the delivery again: a new item with the same request and
// the receiver's current answer.
func (s *Server) redeliver(rec *record, itemSlug string) reply {
	d := rec.delivery(itemSlug)
	if d == nil {
		return notFound()
	}
	answer, ok := s.receivers[rec.hook.Slug]
	if !ok {
		answer = receiverAnswer{status: http.StatusOK}
	}
	again := *d
	again.slug = s.newSlug()
	again.createdAt = s.bumpedTime(rec.deliveries[len(rec.deliveries)-1].createdAt)
	again.status, again.seconds = &answer.status, &answer.seconds
	rec.deliveries = append(rec.deliveries, &again)
	return messageReply(http.StatusOK, "Webhook delivery item redelivered")
}

func (s *Server) toWireDelivery(d *deliveryRecord) wireDelivery {
	w := wireDelivery{
		Slug:           d.slug,
		CreatedAt:      d.createdAt.UTC().Format(timeLayout),
		UpdatedAt:      d.createdAt.UTC().Format(timeLayout),
		RequestURL:     d.requestURL,
		RequestHeaders: d.requestHeaders,
		RequestPayload: d.requestPayload,
	}
	if d.status == nil {
		w.ResponseBody, w.ResponseHeaders = nullable(s.legacyNullable, "string", nil), nullable(s.legacyNullable, "string", nil)
		w.ResponseHTTPStatus, w.ResponseSeconds = nullable(s.legacyNullable, "int64", nil), nullable(s.legacyNullable, "int64", nil)
		return w
	}
	w.ResponseBody = nullable(s.legacyNullable, "string", d.responseBody)
	w.ResponseHeaders = nullable(s.legacyNullable, "string", d.responseHeaders)
	w.ResponseHTTPStatus = nullable(s.legacyNullable, "int64", *d.status)
	w.ResponseSeconds = nullable(s.legacyNullable, "int64", *d.seconds)
	return w
}

// nullable is v, or nil for null, or the old wrapper {kind: v, "valid": v != nil}.
func nullable(legacy bool, kind string, v any) any {
	if !legacy {
		return v
	}
	if v == nil {
		return map[string]any{kind: zeroOf(kind), "valid": false}
	}
	return map[string]any{kind: v, "valid": true}
}

func zeroOf(kind string) any {
	if kind == "string" {
		return ""
	}
	return 0
}

// serveDeliver is POST /_fake/deliver?app=A&webhook=W&status=502&seconds=10
// (status and seconds optional; status=0 means no answer): a simulated
// build event, for `make dev` and manual tests. It answers the new
// delivery's slug.
func (s *Server) serveDeliver(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	var d Delivery
	if v := q.Get("status"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 599 {
			http.Error(w, "status must be 0 (no answer) or an HTTP status", http.StatusBadRequest)
			return
		}
		d.HTTPStatus, d.NoAnswer = n, n == 0
	}
	if v := q.Get("seconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "seconds must be a non-negative integer", http.StatusBadRequest)
			return
		}
		d.Seconds = n
	}
	slug, err := s.Deliver(q.Get("app"), q.Get("webhook"), d)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"slug": slug})
}
