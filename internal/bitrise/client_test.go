package bitrise_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

const (
	testApp   = "app-1"
	testToken = "tok-1-very-secret"
)

// newFake returns a started fake with testApp usable by testToken, and the
// client for it.
func newFake(t *testing.T) (*bitrisefake.Server, bitrise.API) {
	t.Helper()
	fake, baseURL := startFake(t)
	return fake, newAPI(t, baseURL, testToken)
}

func startFake(t *testing.T) (*bitrisefake.Server, string) {
	t.Helper()
	fake := bitrisefake.New()
	fake.AddApp(testApp, testToken)
	baseURL := fake.Start()
	t.Cleanup(fake.Close)
	return fake, baseURL
}

// newHandler serves h and returns the client for it, for answers the fake
// cannot give.
func newHandler(t *testing.T, h http.HandlerFunc) bitrise.API {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return newAPI(t, srv.URL+"/v0.1", testToken)
}

func newAPI(t *testing.T, baseURL, token string, opts ...bitrise.Option) bitrise.API {
	t.Helper()
	// No client-side rate limit unless a test sets one: the endless-cursor
	// test makes a thousand requests.
	c, err := bitrise.NewClient(baseURL, append([]bitrise.Option{bitrise.WithRateLimit(0, 0)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", baseURL, err)
	}
	return c.ForToken(token)
}

func TestNewClientValidatesBaseURL(t *testing.T) {
	tests := []struct {
		baseURL string
		wantErr bool
	}{
		{"https://api.bitrise.io/v0.1", false},
		{"https://api.bitrise.io/v0.1/", false},
		{"http://127.0.0.1:8080/v0.1", false},
		{"http://127.9.9.9/v0.1", false},
		{"http://[::1]:8080/v0.1", false},
		{"http://localhost:8080/v0.1", false},
		{"http://LOCALHOST./v0.1", false},
		// The token must not cross a network in clear text.
		{"http://api.bitrise.io/v0.1", true},
		{"http://10.0.0.7:8080/v0.1", true},
		{"http://127.0.0.1.nip.io/v0.1", true},
		{"http://localhost.example.com/v0.1", true},
		{"", true},
		{"api.bitrise.io/v0.1", true},
		{"/v0.1", true},
		{"ftp://api.bitrise.io/v0.1", true},
		{"https://", true},
		{"https://api.bitrise.io/v0.1?debug=1", true},
		{"://nope", true},
	}
	for _, tt := range tests {
		_, err := bitrise.NewClient(tt.baseURL)
		if (err != nil) != tt.wantErr {
			t.Errorf("NewClient(%q) error = %v, want error %v", tt.baseURL, err, tt.wantErr)
		}
	}
}

func TestBaseURLTrailingSlash(t *testing.T) {
	fake, baseURL := startFake(t)
	api := newAPI(t, baseURL+"/", testToken)
	if _, err := api.ListWebhooks(context.Background(), testApp); err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if got := fake.Requests()[0].Path; got != "/v0.1/apps/app-1/outgoing-webhooks" {
		t.Errorf("path = %q", got)
	}
}

func TestRequestHeaders(t *testing.T) {
	type seen struct{ auth, accept, contentType, userAgent string }
	var mu sync.Mutex
	got := map[string]seen{}
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Method] = seen{r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Content-Type"), r.Header.Get("User-Agent")}
		mu.Unlock()
		switch r.Method {
		case http.MethodGet:
			_, _ = io.WriteString(w, `{"data":[]}`)
		default:
			_, _ = io.WriteString(w, `{"data":{"slug":"S1"}}`)
		}
	})
	ctx := context.Background()
	if _, err := api.ListWebhooks(ctx, testApp); err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateWebhook(ctx, testApp, bitrise.CreateParams{URL: "https://x", Events: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateWebhook(ctx, testApp, "S1", bitrise.UpdateParams{URL: "https://x", Events: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if err := api.DeleteWebhook(ctx, testApp, "S1"); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		s := got[method]
		if s.auth != testToken {
			t.Errorf("%s Authorization = %q, want the raw token", method, s.auth)
		}
		if s.accept != "application/json" {
			t.Errorf("%s Accept = %q", method, s.accept)
		}
		wantCT := ""
		if method == http.MethodPost || method == http.MethodPut {
			wantCT = "application/json"
		}
		if s.contentType != wantCT {
			t.Errorf("%s Content-Type = %q, want %q", method, s.contentType, wantCT)
		}
		if s.userAgent != "bitrise-webhook-operator" {
			t.Errorf("%s User-Agent = %q", method, s.userAgent)
		}
	}
}

func TestWithUserAgentAndHTTPClient(t *testing.T) {
	var ua string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua = r.Header.Get("User-Agent")
		_, _ = io.WriteString(w, `{"data":[]}`)
	}))
	t.Cleanup(srv.Close)
	api := newAPI(t, srv.URL, testToken, bitrise.WithUserAgent("op/1.2"), bitrise.WithHTTPClient(srv.Client()))
	if _, err := api.ListWebhooks(context.Background(), testApp); err != nil {
		t.Fatal(err)
	}
	if ua != "op/1.2" {
		t.Errorf("User-Agent = %q", ua)
	}
}

func TestLifecycleAgainstFake(t *testing.T) {
	fake, api := newFake(t)
	ctx := context.Background()

	created, err := api.CreateWebhook(ctx, testApp, bitrise.CreateParams{
		URL:     "https://example.com/hook",
		Events:  []string{"build", "pipeline"},
		Secret:  "s3cret",
		Headers: map[string]string{"X-Team": "ios"},
	})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if len(created.Slug) != 26 || created.URL != "https://example.com/hook" ||
		!reflect.DeepEqual(created.Events, []string{"build", "pipeline"}) ||
		!reflect.DeepEqual(created.Headers, map[string]string{"X-Team": "ios"}) ||
		created.CreatedAt.IsZero() || created.RegisteredByAddon {
		t.Errorf("created = %+v", created)
	}
	if secret, _ := fake.Secret(testApp, created.Slug); secret != "s3cret" {
		t.Errorf("stored secret = %q", secret)
	}

	listed, err := api.ListWebhooks(ctx, testApp)
	if err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if len(listed) != 1 || !reflect.DeepEqual(listed[0], *created) {
		t.Errorf("listed = %+v, want [%+v]", listed, *created)
	}

	updated, err := api.UpdateWebhook(ctx, testApp, created.Slug, bitrise.UpdateParams{
		URL: "https://example.com/v2", Events: []string{"all"},
	})
	if err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	if updated.URL != "https://example.com/v2" || len(updated.Headers) != 0 || !updated.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("updated = %+v", updated)
	}
	if stored := fake.Webhooks(testApp)[0]; stored.Headers != nil {
		t.Errorf("nil headers must clear them, stored %v", stored.Headers)
	}

	if err := api.DeleteWebhook(ctx, testApp, created.Slug); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if n := len(fake.Webhooks(testApp)); n != 0 {
		t.Errorf("%d webhooks left", n)
	}
	if err := api.DeleteWebhook(ctx, testApp, created.Slug); !bitrise.IsNotFound(err) {
		t.Errorf("deleting a missing webhook: %v, want the 404 (the caller confirms it by a list)", err)
	}
}

func TestCreateResponseShapesFromFake(t *testing.T) {
	for _, bare := range []bool{false, true} {
		fake, api := newFake(t)
		fake.SetCreateResponseBare(bare)
		w, err := api.CreateWebhook(context.Background(), testApp, bitrise.CreateParams{URL: "https://x.test", Events: []string{"all"}})
		if err != nil {
			t.Fatalf("bare=%v: %v", bare, err)
		}
		if w.Slug != fake.Webhooks(testApp)[0].Slug {
			t.Errorf("bare=%v: slug %q", bare, w.Slug)
		}
	}
}

func TestSuccessAnswers(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		wantSlug string // "" means an error is expected
	}{
		{"200 data", 200, `{"data":{"slug":"S1","url":"https://x"}}`, "S1"},
		{"201 data", 201, `{"data":{"slug":"S2"}}`, "S2"},
		{"201 bare", 201, `{"slug":"S3","events":["all"]}`, "S3"},
		{"202 bare", 202, `{"slug":"S4"}`, "S4"},
		{"data not an object", 200, `{"data":"x","slug":"S5"}`, "S5"},
		{"no slug", 201, `{"data":{}}`, ""},
		{"not json", 200, `<html>ok</html>`, ""},
		{"no body", 204, ``, ""},
		{"array", 200, `[{"slug":"S6"}]`, ""},
		{"bad headers", 200, `{"slug":"S7","headers":[1,2]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			for _, op := range []string{"create", "update"} {
				var w *bitrise.Webhook
				var err error
				if op == "create" {
					w, err = api.CreateWebhook(context.Background(), testApp, bitrise.CreateParams{})
				} else {
					w, err = api.UpdateWebhook(context.Background(), testApp, "S", bitrise.UpdateParams{})
				}
				switch {
				case tt.wantSlug == "" && err == nil:
					t.Errorf("%s: got %+v, want an error", op, w)
				case tt.wantSlug == "" && (bitrise.IsRetryable(err) || bitrise.StatusCode(err) != tt.status):
					t.Errorf("%s: error %v: want a non-retryable *APIError with status %d", op, err, tt.status)
				case tt.wantSlug != "" && (err != nil || w.Slug != tt.wantSlug):
					t.Errorf("%s: got %+v, %v, want slug %q", op, w, err, tt.wantSlug)
				}
			}
		})
	}
}

func TestItemFieldsDecoded(t *testing.T) {
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":[{"slug":"S1","url":"https://x","events":["all"],
			"headers":{"A":"1","B":2,"C":null},"registered_by_addon":true,
			"created_at":"2019-03-28T14:20:22.436825Z","updated_at":""}]}`)
	})
	got, err := api.ListWebhooks(context.Background(), testApp)
	if err != nil {
		t.Fatal(err)
	}
	want := bitrise.Webhook{
		Slug: "S1", URL: "https://x", Events: []string{"all"},
		Headers:           map[string]string{"A": "1", "B": "2", "C": ""},
		RegisteredByAddon: true,
		CreatedAt:         time.Date(2019, 3, 28, 14, 20, 22, 436825000, time.UTC),
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestRequestBodies(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]map[string]any{}
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		bodies[r.Method] = body
		mu.Unlock()
		_, _ = io.WriteString(w, `{"data":{"slug":"S1"}}`)
	})
	ctx := context.Background()
	if _, err := api.CreateWebhook(ctx, testApp, bitrise.CreateParams{URL: "https://x", Events: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.UpdateWebhook(ctx, testApp, "S1", bitrise.UpdateParams{URL: "https://x", Events: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	wantCreate := map[string]any{"url": "https://x", "events": []any{"all"}, "secret": "", "headers": map[string]any{}}
	if !reflect.DeepEqual(bodies["POST"], wantCreate) {
		t.Errorf("create body = %v, want %v", bodies["POST"], wantCreate)
	}
	wantUpdate := map[string]any{"url": "https://x", "events": []any{"all"}, "headers": map[string]any{}}
	if !reflect.DeepEqual(bodies["PUT"], wantUpdate) {
		t.Errorf("update body = %v, want %v", bodies["PUT"], wantUpdate)
	}
}

func TestPathSegmentsEscaped(t *testing.T) {
	var paths []string
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		_, _ = io.WriteString(w, `{"data":{"slug":"S1"}}`)
	})
	_, _ = api.UpdateWebhook(context.Background(), "my app/x", "a?b#c", bitrise.UpdateParams{})
	want := "/v0.1/apps/my%20app%2Fx/outgoing-webhooks/a%3Fb%23c"
	if len(paths) != 1 || paths[0] != want {
		t.Errorf("paths = %v, want [%s]", paths, want)
	}
}

func TestListPaginates(t *testing.T) {
	fake, api := newFake(t)
	for range 120 {
		fake.Seed(testApp, bitrise.Webhook{URL: "https://x.test", Events: []string{"all"}}, "")
	}
	seeded := fake.Webhooks(testApp)

	got, err := api.ListWebhooks(context.Background(), testApp)
	if err != nil {
		t.Fatalf("ListWebhooks: %v", err)
	}
	if len(got) != 120 {
		t.Fatalf("got %d webhooks, want 120", len(got))
	}
	for i := range got {
		if got[i].Slug != seeded[i].Slug {
			t.Fatalf("webhook %d = %s, want %s (order must be kept)", i, got[i].Slug, seeded[i].Slug)
		}
	}
	reqs := fake.Requests()
	wantNext := []string{"", seeded[50].Slug, seeded[100].Slug}
	if len(reqs) != len(wantNext) {
		t.Fatalf("%d requests, want %d", len(reqs), len(wantNext))
	}
	for i, req := range reqs {
		if req.Query.Get("limit") != "50" || req.Query.Get("next") != wantNext[i] {
			t.Errorf("request %d query = %v, want limit=50 next=%q", i, req.Query, wantNext[i])
		}
	}
}

func TestListStopsOnBadCursor(t *testing.T) {
	tests := []struct {
		name      string
		next      func(page int) string
		wantPages int
	}{
		{"same next", func(int) string { return "A" }, 2},
		{"cycle", func(page int) string { return []string{"A", "B"}[page%2] }, 3},
		{"endless", func(page int) string { return "P" + strconv.Itoa(page) }, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := 0
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				next := tt.next(pages)
				pages++
				_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{}, "paging": map[string]string{"next": next}})
			})
			_, err := api.ListWebhooks(context.Background(), testApp)
			if err == nil || bitrise.IsRetryable(err) {
				t.Errorf("err = %v, want a non-retryable error", err)
			}
			if pages != tt.wantPages {
				t.Errorf("%d pages requested, want %d", pages, tt.wantPages)
			}
		})
	}
}
