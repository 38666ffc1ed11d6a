package bitrise_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func TestListDeliveryItemsShapes(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 4, 11, 123456000, time.UTC)
	item := func(slug string, status, seconds int) bitrise.DeliveryItem {
		return bitrise.DeliveryItem{Slug: slug, CreatedAt: at, HTTPStatus: status, DurationSeconds: seconds}
	}
	const created = `"created_at":"2026-03-01T12:04:11.123456Z"`
	cases := []struct {
		name, body string
		want       []bitrise.DeliveryItem
		next       string
	}{
		{"array with paging", `{"data":[{"slug":"a",` + created + `,"response_http_status":502,"response_seconds":10,"request_headers":"{\"X\":\"y\"}"}],"paging":{"next":"b","total_item_count":2,"page_item_limit":1}}`,
			[]bitrise.DeliveryItem{item("a", 502, 10)}, "b"},
		{"array without paging", `{"data":[{"slug":"a",` + created + `,"response_http_status":200,"response_seconds":0},{"slug":"b",` + created + `}]}`,
			[]bitrise.DeliveryItem{item("a", 200, 0), item("b", 0, 0)}, ""},
		{"one object, as the spec types it", `{"data":{"slug":"a",` + created + `,"response_http_status":404,"response_seconds":1}}`,
			[]bitrise.DeliveryItem{item("a", 404, 1)}, ""},
		{"one object with paging", `{"data":{"slug":"a",` + created + `,"response_http_status":204},"paging":{"next":"z"}}`,
			[]bitrise.DeliveryItem{item("a", 204, 0)}, "z"},
		{"empty object", `{"data":{}}`, []bitrise.DeliveryItem{}, ""},
		{"null data", `{"data":null,"paging":{}}`, []bitrise.DeliveryItem{}, ""},
		{"no data", `{}`, []bitrise.DeliveryItem{}, ""},
		{"nullable wrappers", `{"data":[{"slug":"a",` + created + `,"response_http_status":{"int64":503,"valid":true},"response_seconds":{"int64":30,"valid":true},"response_body":{"string":"x","valid":true}},{"slug":"b",` + created + `,"response_http_status":{"int64":0,"valid":false},"response_seconds":{"int64":0,"valid":false}}]}`,
			[]bitrise.DeliveryItem{item("a", 503, 30), item("b", 0, 0)}, ""},
		{"nulls, strings and floats", `{"data":[{"slug":"a",` + created + `,"response_http_status":null,"response_seconds":null},{"slug":"b",` + created + `,"response_http_status":"500","response_seconds":2.6}]}`,
			[]bitrise.DeliveryItem{item("a", 0, 0), item("b", 500, 3)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var query string
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				query = r.URL.RawQuery
				if r.URL.Path != "/v0.1/apps/app-1/outgoing-webhooks/hook-1/delivery-items" {
					t.Errorf("path %s", r.URL.Path)
				}
				_, _ = w.Write([]byte(tc.body))
			})
			page, err := api.ListDeliveryItems(context.Background(), testApp, "hook-1", bitrise.DeliveryListOptions{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if query != "limit=10" {
				t.Errorf("query %q, want limit=10", query)
			}
			if !reflect.DeepEqual(page.Items, tc.want) || page.Next != tc.next {
				t.Errorf("got %+v next %q, want %+v next %q", page.Items, page.Next, tc.want, tc.next)
			}
		})
	}
}

func TestListDeliveryItemsRejectsGarbage(t *testing.T) {
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"data":"nope"}`)) })
	_, err := api.ListDeliveryItems(context.Background(), testApp, "hook-1", bitrise.DeliveryListOptions{})
	var apiErr *bitrise.APIError
	if !errors.As(err, &apiErr) || bitrise.IsRetryable(err) {
		t.Fatalf("want a non-retryable *APIError, got %v", err)
	}
	if _, err := api.ListDeliveryItems(context.Background(), testApp, "hook-1", bitrise.DeliveryListOptions{Limit: 51}); err == nil {
		t.Error("a limit above 50 should be refused")
	}
}

func TestGetDeliveryItemBareOrWrapped(t *testing.T) {
	for _, body := range []string{
		`{"slug":"d1","created_at":"2026-03-01T12:04:11Z","response_http_status":500,"response_seconds":4,"response_body":"secret-ish"}`,
		`{"data":{"slug":"d1","created_at":"2026-03-01T12:04:11Z","response_http_status":500,"response_seconds":4}}`,
	} {
		api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v0.1/apps/app-1/outgoing-webhooks/hook-1/delivery-items/d1" {
				t.Errorf("path %s", r.URL.Path)
			}
			_, _ = w.Write([]byte(body))
		})
		got, err := api.GetDeliveryItem(context.Background(), testApp, "hook-1", "d1")
		if err != nil {
			t.Fatal(err)
		}
		want := bitrise.DeliveryItem{Slug: "d1", CreatedAt: time.Date(2026, 3, 1, 12, 4, 11, 0, time.UTC), HTTPStatus: 500, DurationSeconds: 4}
		if *got != want {
			t.Errorf("%s: got %+v", body, got)
		}
	}
}

func TestDeliveriesAgainstTheFake(t *testing.T) {
	fake, api := newFake(t)
	hook := fake.Seed(testApp, bitrise.Webhook{URL: "https://h.example.com/x", Events: []string{"build"}}, "hook-secret-value")
	var slugs []string
	for i := range 3 {
		slug, _ := fake.Deliver(testApp, hook.Slug, bitrisefake.Delivery{HTTPStatus: 500 + i, Seconds: i})
		slugs = append(slugs, slug)
	}
	ctx := context.Background()
	page, err := api.ListDeliveryItems(ctx, testApp, hook.Slug, bitrise.DeliveryListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[0].Slug != slugs[2] || page.Items[0].HTTPStatus != 502 || page.Next != slugs[0] {
		t.Fatalf("first page %+v next %q", page.Items, page.Next)
	}
	page, err = api.ListDeliveryItems(ctx, testApp, hook.Slug, bitrise.DeliveryListOptions{Limit: 2, Next: page.Next})
	if err != nil || len(page.Items) != 1 || page.Items[0].Slug != slugs[0] || page.Next != "" {
		t.Fatalf("last page %+v, %v", page, err)
	}
	got, err := api.GetDeliveryItem(ctx, testApp, hook.Slug, slugs[1])
	if err != nil || got.HTTPStatus != 501 || got.DurationSeconds != 1 {
		t.Fatalf("show: %+v, %v", got, err)
	}
	if err := api.RedeliverItem(ctx, testApp, hook.Slug, slugs[0]); err != nil {
		t.Fatal(err)
	}
	if fake.DeliveryCount(testApp, hook.Slug) != 4 {
		t.Error("redeliver should record a new item")
	}
	if err := api.RedeliverItem(ctx, testApp, hook.Slug, "unknown"); !bitrise.IsNotFound(err) {
		t.Errorf("redeliver of an unknown item: %v, want a 404", err)
	}
	fake.SetLegacyNullableDeliveries(true)
	page, err = api.ListDeliveryItems(ctx, testApp, hook.Slug, bitrise.DeliveryListOptions{Limit: 1})
	if err != nil || page.Items[0].HTTPStatus != 200 {
		t.Fatalf("legacy wrappers through the client: %+v, %v", page, err)
	}
}

// A low-priority request waits for nobody: it is not sent while the token's
// bucket is less than half full or the token is paused.
func TestLowPriorityRequestsAreDeferred(t *testing.T) {
	var served atomic.Int32
	retryAfter := atomic.Bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if retryAfter.Load() {
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	t.Cleanup(srv.Close)
	c, err := bitrise.NewClient(srv.URL+"/v0.1", bitrise.WithRateLimit(0.001, 4))
	if err != nil {
		t.Fatal(err)
	}
	api := c.ForToken(testToken)
	ctx := context.Background()
	low := bitrise.WithLowPriority(ctx)
	opts := bitrise.DeliveryListOptions{Limit: 10}

	if _, err := api.ListDeliveryItems(low, testApp, "h", opts); err != nil {
		t.Fatalf("full bucket: %v", err)
	}
	// 3 left of 4: two writes leave 1, under half the burst.
	for range 2 {
		if _, err := api.ListWebhooks(ctx, testApp); err != nil {
			t.Fatal(err)
		}
	}
	before := served.Load()
	if _, err := api.ListDeliveryItems(low, testApp, "h", opts); !errors.Is(err, bitrise.ErrDeferred) {
		t.Fatalf("bucket under half: %v, want ErrDeferred", err)
	}
	if served.Load() != before {
		t.Error("a deferred request must not be sent")
	}
	// The normal-priority request still goes out.
	if _, err := api.ListDeliveryItems(ctx, testApp, "h", opts); err != nil {
		t.Fatalf("normal priority: %v", err)
	}

	// A paused token defers low-priority requests too.
	c2, _ := bitrise.NewClient(srv.URL+"/v0.1", bitrise.WithRateLimit(0, 0))
	api2 := c2.ForToken("other-token")
	retryAfter.Store(true)
	if _, err := api2.ListWebhooks(ctx, testApp); bitrise.StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("want a 429, got %v", err)
	}
	retryAfter.Store(false)
	before = served.Load()
	if _, err := api2.ListDeliveryItems(low, testApp, "h", opts); !errors.Is(err, bitrise.ErrDeferred) {
		t.Fatalf("paused token: %v, want ErrDeferred", err)
	}
	if served.Load() != before {
		t.Error("a deferred request must not be sent")
	}
}
