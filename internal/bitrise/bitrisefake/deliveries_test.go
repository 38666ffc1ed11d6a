package bitrisefake_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func deliveriesPath(webhook string) string {
	return "/apps/" + app + "/outgoing-webhooks/" + webhook + "/delivery-items"
}

func TestDeliveriesListNewestFirstWithPagination(t *testing.T) {
	f := start(t)
	hook := f.fake.Seed(app, bitrise.Webhook{URL: "https://h.example.com/x", Events: []string{"build"}}, "s3cret")
	base := time.Now().Add(-time.Hour).UTC()
	var slugs []string
	for i := range 5 {
		slug, err := f.fake.Deliver(app, hook.Slug, bitrisefake.Delivery{HTTPStatus: 200 + i, Seconds: i, CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, slug)
	}
	status, body := f.call(http.MethodGet, deliveriesPath(hook.Slug)+"?limit=2", token, "")
	if status != http.StatusOK {
		t.Fatalf("list: %d %v", status, body)
	}
	data := body["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["slug"] != slugs[4] || data[1].(map[string]any)["slug"] != slugs[3] {
		t.Fatalf("first page: want the two newest, got %v", data)
	}
	first := data[0].(map[string]any)
	if first["response_http_status"] != float64(204) || first["response_seconds"] != float64(4) {
		t.Errorf("first item: %v", first)
	}
	if !strings.Contains(first["request_headers"].(string), "Bitrise-Hook-Signature") {
		t.Errorf("request_headers should carry the signature: %v", first["request_headers"])
	}
	if !timePattern.MatchString(first["created_at"].(string)) {
		t.Errorf("created_at %v", first["created_at"])
	}
	paging := body["paging"].(map[string]any)
	if paging["next"] != slugs[2] || paging["total_item_count"] != float64(5) {
		t.Fatalf("paging: %v", paging)
	}
	_, body = f.call(http.MethodGet, deliveriesPath(hook.Slug)+"?limit=2&next="+slugs[2], token, "")
	if data := body["data"].([]any); len(data) != 2 || data[0].(map[string]any)["slug"] != slugs[2] {
		t.Fatalf("second page: %v", data)
	}

	status, item := f.call(http.MethodGet, deliveriesPath(hook.Slug)+"/"+slugs[1], token, "")
	if status != http.StatusOK || item["slug"] != slugs[1] || item["data"] != nil {
		t.Fatalf("show answers the bare item: %d %v", status, item)
	}
	if status, _ := f.call(http.MethodGet, deliveriesPath(hook.Slug)+"/nope", token, ""); status != http.StatusNotFound {
		t.Errorf("show of an unknown item: %d", status)
	}
	if status, _ := f.call(http.MethodGet, deliveriesPath("nope"), token, ""); status != http.StatusNotFound {
		t.Errorf("list of an unknown webhook: %d", status)
	}
	if status, _ := f.call(http.MethodGet, deliveriesPath(hook.Slug), "other", ""); status != http.StatusUnauthorized {
		t.Errorf("list with an unknown token: %d", status)
	}
}

func TestRedeliverRecordsANewItemWithTheReceiversAnswer(t *testing.T) {
	f := start(t)
	hook := f.fake.Seed(app, bitrise.Webhook{URL: "https://h.example.com/x", Events: []string{"build"}}, "")
	slug, _ := f.fake.Deliver(app, hook.Slug, bitrisefake.Delivery{HTTPStatus: 502, Seconds: 10})
	f.fake.SetReceiver(hook.Slug, 201, 2)

	if status, _ := f.call(http.MethodGet, deliveriesPath(hook.Slug)+"/"+slug+"/redeliver", token, ""); status != http.StatusMethodNotAllowed {
		t.Errorf("GET redeliver: %d", status)
	}
	status, body := f.call(http.MethodPost, deliveriesPath(hook.Slug)+"/"+slug+"/redeliver", token, "")
	if status != http.StatusOK || body["message"] == "" {
		t.Fatalf("redeliver: %d %v", status, body)
	}
	if n := f.fake.DeliveryCount(app, hook.Slug); n != 2 {
		t.Fatalf("deliveries after a redelivery: %d, want 2", n)
	}
	_, list := f.call(http.MethodGet, deliveriesPath(hook.Slug), token, "")
	newest := list["data"].([]any)[0].(map[string]any)
	if newest["slug"] == slug || newest["response_http_status"] != float64(201) || newest["response_seconds"] != float64(2) {
		t.Fatalf("newest item after redelivery: %v", newest)
	}
	if status, _ := f.call(http.MethodPost, deliveriesPath(hook.Slug)+"/unknown/redeliver", token, ""); status != http.StatusNotFound {
		t.Errorf("redeliver of an unknown item: %d", status)
	}
}

func TestDeliveryWithoutAnswerAndLegacyWrappers(t *testing.T) {
	f := start(t)
	hook := f.fake.Seed(app, bitrise.Webhook{URL: "https://h.example.com/x", Events: []string{"build"}}, "")
	_, _ = f.fake.Deliver(app, hook.Slug, bitrisefake.Delivery{NoAnswer: true})
	_, body := f.call(http.MethodGet, deliveriesPath(hook.Slug), token, "")
	item := body["data"].([]any)[0].(map[string]any)
	if v, ok := item["response_http_status"]; !ok || v != nil {
		t.Errorf("no answer: response_http_status should be null, got %v", item)
	}
	f.fake.SetLegacyNullableDeliveries(true)
	_, _ = f.fake.Deliver(app, hook.Slug, bitrisefake.Delivery{HTTPStatus: 503, Seconds: 7})
	_, body = f.call(http.MethodGet, deliveriesPath(hook.Slug), token, "")
	items := body["data"].([]any)
	wrapped := items[0].(map[string]any)["response_http_status"].(map[string]any)
	if wrapped["int64"] != float64(503) || wrapped["valid"] != true {
		t.Errorf("legacy wrapper: %v", wrapped)
	}
	if invalid := items[1].(map[string]any)["response_http_status"].(map[string]any); invalid["valid"] != false {
		t.Errorf("legacy null: %v", invalid)
	}
}

func TestAdminDeliver(t *testing.T) {
	f := start(t)
	hook := f.fake.Seed(app, bitrise.Webhook{URL: "https://h.example.com/x", Events: []string{"build"}}, "")
	resp, err := http.Post(strings.TrimSuffix(f.baseURL, "/v0.1")+"/_fake/deliver?app="+app+"&webhook="+hook.Slug+"&status=500&seconds=3", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || f.fake.DeliveryCount(app, hook.Slug) != 1 {
		t.Fatalf("admin deliver: %s, %d deliveries", resp.Status, f.fake.DeliveryCount(app, hook.Slug))
	}
	if _, err := f.fake.Deliver(app, "missing", bitrisefake.Delivery{}); err == nil {
		t.Error("Deliver to an unknown webhook should fail")
	}
}
