package bitrisefake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

const (
	app   = "app-1"
	token = "tok-1"
)

var (
	slugPattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)
	timePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
)

type fixture struct {
	t       *testing.T
	fake    *bitrisefake.Server
	baseURL string
}

func start(t *testing.T) *fixture {
	t.Helper()
	fake := bitrisefake.New()
	fake.AddApp(app, token)
	baseURL := fake.Start()
	t.Cleanup(fake.Close)
	return &fixture{t: t, fake: fake, baseURL: baseURL}
}

// call sends a raw request, with a JSON Content-Type when body is not empty,
// and returns the status and decoded JSON answer.
func (f *fixture) call(method, path, auth, body string) (int, map[string]any) {
	f.t.Helper()
	status, raw, err := f.send(method, path, auth, body)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	var decoded map[string]any
	if err := json.Unmarshal(raw, &decoded); err != nil {
		f.t.Fatalf("%s %s: answer %q is not a JSON object", method, path, raw)
	}
	return status, decoded
}

func (f *fixture) send(method, path, auth, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, f.baseURL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

const hooks = "/apps/" + app + "/outgoing-webhooks"

func TestPagination(t *testing.T) {
	f := start(t)
	for range 7 {
		f.fake.Seed(app, bitrise.Webhook{URL: "https://x.test", Events: []string{"all"}}, "")
	}
	seeded := f.fake.Webhooks(app)

	var got []string
	path := hooks + "?limit=3"
	for pages := 0; ; pages++ {
		status, body := f.call("GET", path, token, "")
		if status != 200 {
			t.Fatalf("GET %s: %d %v", path, status, body)
		}
		for _, item := range body["data"].([]any) {
			got = append(got, item.(map[string]any)["slug"].(string))
		}
		paging := body["paging"].(map[string]any)
		if paging["total_item_count"] != 7.0 || paging["page_item_limit"] != 3.0 {
			t.Errorf("paging = %v", paging)
		}
		next, ok := paging["next"]
		if !ok {
			break
		}
		if pages > 3 {
			t.Fatal("no end of pages")
		}
		path = hooks + "?limit=3&next=" + next.(string)
	}
	if len(got) != 7 || got[0] != seeded[0].Slug || got[3] != seeded[3].Slug || got[6] != seeded[6].Slug {
		t.Errorf("slugs = %v, want the seeded order", got)
	}

	if _, body := f.call("GET", hooks+"?limit=500", token, ""); body["paging"].(map[string]any)["page_item_limit"] != 50.0 {
		t.Errorf("limit above 50 not capped: %v", body["paging"])
	}
	for _, query := range []string{"limit=abc", "limit=0", "next=NO-SUCH-SLUG"} {
		if status, body := f.call("GET", hooks+"?"+query, token, ""); status != 400 || body["message"] == "" {
			t.Errorf("%s: %d %v, want 400 with a message", query, status, body)
		}
	}
}

func TestAuthAndRouting(t *testing.T) {
	f := start(t)
	f.fake.AddApp("app-2", "tok-2")
	f.fake.AddToken("tok-3", app)
	f.fake.RevokeToken("tok-3")
	tests := []struct {
		name, method, path, auth string
		status                   int
		message                  string
	}{
		{"ok", "GET", hooks, token, 200, ""},
		{"no token", "GET", hooks, "", 401, "Unauthorized"},
		{"unknown token", "GET", hooks, "nope", 401, "Unauthorized"},
		{"bearer scheme", "GET", hooks, "Bearer " + token, 401, "Unauthorized"},
		{"revoked", "GET", hooks, "tok-3", 401, "Unauthorized"},
		{"other app's token", "GET", hooks, "tok-2", 403, "Forbidden"},
		{"unknown app", "GET", "/apps/nope/outgoing-webhooks", token, 404, "Not Found"},
		{"unknown webhook", "DELETE", hooks + "/NOPE", token, 404, "Not Found"},
		{"unknown path", "GET", "/apps/" + app, token, 404, "Not Found"},
		{"wrong method", "DELETE", hooks, token, 405, "Method Not Allowed"},
		{"wrong method on item", "GET", hooks + "/X", token, 405, "Method Not Allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(tt.method, tt.path, tt.auth, "")
			if status != tt.status || (tt.message != "" && body["message"] != tt.message) {
				t.Errorf("%d %v, want %d %q", status, body, tt.status, tt.message)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	f := start(t)
	existing := f.fake.Seed(app, bitrise.Webhook{URL: "https://x.test", Events: []string{"all"}}, "")
	bodies := map[string]string{
		"not an object":   `["https://x.test"]`,
		"not json":        `url=https://x.test`,
		"no url":          `{"events":["all"]}`,
		"relative url":    `{"url":"x.test/hook","events":["all"]}`,
		"ftp url":         `{"url":"ftp://x.test","events":["all"]}`,
		"no events":       `{"url":"https://x.test","events":[]}`,
		"unknown event":   `{"url":"https://x.test","events":["push"]}`,
		"headers invalid": `{"url":"https://x.test","events":["all"],"headers":{"A":1}}`,
	}
	for name, body := range bodies {
		for _, target := range []struct{ method, path string }{{"POST", hooks}, {"PUT", hooks + "/" + existing.Slug}} {
			if status, answer := f.call(target.method, target.path, token, body); status != 400 || answer["message"] == "" {
				t.Errorf("%s %s: %d %v, want 400 with a message", target.method, name, status, answer)
			}
		}
	}
	req, _ := http.NewRequest("POST", f.baseURL+hooks, strings.NewReader(`{"url":"https://x.test","events":["all"]}`))
	req.Header.Set("Authorization", token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("create without Content-Type: %v %v, want 400", resp, err)
	}
	if got := f.fake.Webhooks(app); len(got) != 1 || got[0].URL != existing.URL {
		t.Errorf("invalid requests changed state: %+v", got)
	}
}

func TestCreateUpdateDelete(t *testing.T) {
	f := start(t)
	status, body := f.call("POST", hooks, token, `{"url":"https://x.test/a","events":["build"],"secret":"s1","headers":{"H":"v"}}`)
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	item := body["data"].(map[string]any)
	slug := item["slug"].(string)
	if !slugPattern.MatchString(slug) || !timePattern.MatchString(item["created_at"].(string)) ||
		item["registered_by_addon"] != false || item["headers"].(map[string]any)["H"] != "v" {
		t.Errorf("created item = %v", item)
	}
	if _, leaked := item["secret"]; leaked {
		t.Error("create returned the secret")
	}

	status, body = f.call("PUT", hooks+"/"+slug, token, `{"url":"https://x.test/b","events":["all"],"secret":"ignored"}`)
	updated := body["data"].(map[string]any)
	if status != 200 || updated["url"] != "https://x.test/b" || len(updated["headers"].(map[string]any)) != 0 ||
		updated["updated_at"].(string) <= item["updated_at"].(string) {
		t.Errorf("update: %d %v", status, body)
	}
	if secret, _ := f.fake.Secret(app, slug); secret != "s1" {
		t.Errorf("update changed the secret to %q", secret)
	}

	if status, body = f.call("DELETE", hooks+"/"+slug, token, ""); status != 200 || body["data"].(map[string]any)["slug"] != slug {
		t.Errorf("delete: %d %v", status, body)
	}
	if status, _ = f.call("DELETE", hooks+"/"+slug, token, ""); status != 404 {
		t.Errorf("second delete: %d, want 404", status)
	}

	f.fake.SetCreateResponseBare(true)
	if _, body = f.call("POST", hooks, token, `{"url":"https://x.test","events":["all"]}`); !slugPattern.MatchString(body["slug"].(string)) {
		t.Errorf("bare create = %v", body)
	}
}

func TestOutOfBandHelpers(t *testing.T) {
	f := start(t)
	seeded := f.fake.Seed(app, bitrise.Webhook{Slug: "ADDON", URL: "https://addon.test", Events: []string{"all"}, RegisteredByAddon: true}, "x")
	if !f.fake.UpdateOutOfBand(app, seeded.Slug, func(w *bitrise.Webhook) { w.URL = "https://ui.test"; w.Slug = "CHANGED" }) {
		t.Fatal("UpdateOutOfBand did not find the webhook")
	}
	got := f.fake.Webhooks(app)[0]
	if got.Slug != "ADDON" || got.URL != "https://ui.test" || !got.RegisteredByAddon || !got.UpdatedAt.After(seeded.UpdatedAt) {
		t.Errorf("after UpdateOutOfBand: %+v", got)
	}
	if _, body := f.call("GET", hooks, token, ""); body["data"].([]any)[0].(map[string]any)["registered_by_addon"] != true {
		t.Errorf("list = %v", body)
	}
	if !f.fake.DeleteOutOfBand(app, "ADDON") || f.fake.DeleteOutOfBand(app, "ADDON") || len(f.fake.Webhooks(app)) != 0 {
		t.Error("DeleteOutOfBand")
	}
}

func TestLoseResponseCreatesButDoesNotAnswer(t *testing.T) {
	f := start(t)
	f.fake.AddFault(bitrisefake.Fault{Method: "POST", LoseResponse: true})
	if _, _, err := f.send("POST", hooks, token, `{"url":"https://x.test","events":["all"]}`); err == nil {
		t.Fatal("the client got an answer")
	}
	if n := len(f.fake.Webhooks(app)); n != 1 {
		t.Errorf("%d webhooks, want the lost create stored", n)
	}
	if reqs := f.fake.Requests(); len(reqs) != 1 || reqs[0].Status != 201 || !reqs[0].Dropped {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestDropConnectionDoesNotServe(t *testing.T) {
	f := start(t)
	f.fake.AddFault(bitrisefake.Fault{PathContains: "outgoing-webhooks", DropConnection: true})
	if _, _, err := f.send("POST", hooks, token, `{"url":"https://x.test","events":["all"]}`); err == nil {
		t.Fatal("the client got an answer")
	}
	if n := len(f.fake.Webhooks(app)); n != 0 {
		t.Errorf("%d webhooks, want none", n)
	}
}

func TestFaultTimesAndFilters(t *testing.T) {
	f := start(t)
	f.fake.AddFault(bitrisefake.Fault{Method: "GET", Status: 503, RetryAfter: "5", Times: 2})
	f.fake.AddFault(bitrisefake.Fault{Method: "POST", Status: 500, Body: "upstream exploded"})

	var statuses []int
	for range 3 {
		req, _ := http.NewRequest("GET", f.baseURL+hooks, nil)
		req.Header.Set("Authorization", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "5" {
			t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
		}
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 503 || statuses[1] != 503 || statuses[2] != 200 {
		t.Errorf("statuses = %v, want 503 503 200", statuses)
	}
	if status, raw, _ := f.send("POST", hooks, token, `{}`); status != 500 || string(raw) != "upstream exploded" {
		t.Errorf("POST: %d %q", status, raw)
	}
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	run := func() []int {
		f := start(t)
		f.fake.SetSeed(42)
		remove := f.fake.AddFault(bitrisefake.Fault{Status: 500, Probability: 0.3})
		var statuses []int
		for range 100 {
			status, _ := f.call("GET", hooks, token, "")
			statuses = append(statuses, status)
		}
		remove()
		if status, _ := f.call("GET", hooks, token, ""); status != 200 {
			t.Errorf("after remove: %d", status)
		}
		return statuses
	}
	first, second := run(), run()
	failures := 0
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("same seed, different outcome at request %d", i)
		}
		if first[i] == 500 {
			failures++
		}
	}
	if failures < 15 || failures > 45 {
		t.Errorf("%d of 100 failed, want about 30", failures)
	}
}

func TestLatencyAndClose(t *testing.T) {
	f := start(t)
	f.fake.SetLatency(60 * time.Millisecond)
	began := time.Now()
	f.call("GET", hooks, token, "")
	if elapsed := time.Since(began); elapsed < 60*time.Millisecond {
		t.Errorf("answered after %v, want at least 60ms", elapsed)
	}

	f.fake.SetLatency(time.Hour)
	errc := make(chan error, 1)
	go func() { _, _, err := f.send("GET", hooks, token, ""); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan struct{})
	go func() { f.fake.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the latency")
	}
	if err := <-errc; err == nil {
		t.Error("a request cut by Close got an answer")
	}
}

func TestRequestsAndState(t *testing.T) {
	f := start(t)
	f.call("POST", hooks, token, `{"url":"https://x.test","events":["all"],"secret":"top-secret"}`)
	f.call("GET", hooks+"?limit=10", token, "")
	reqs := f.fake.Requests()
	if len(reqs) != 2 || reqs[1].Method != "GET" || reqs[1].Query.Get("limit") != "10" || reqs[1].Status != 200 ||
		f.fake.CountRequests("POST") != 1 || f.fake.CountRequests("") != 2 {
		t.Errorf("requests = %+v", reqs)
	}
	f.fake.ResetRequests()
	if n := f.fake.CountRequests(""); n != 0 {
		t.Errorf("%d requests after reset", n)
	}

	resp, err := http.Get(strings.TrimSuffix(f.baseURL, "/v0.1") + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	state := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(state, `"https://x.test"`) || !strings.Contains(state, `"has_secret": true`) ||
		strings.Contains(state, "top-secret") || strings.Contains(state, token) {
		t.Errorf("state = %d %s", resp.StatusCode, state)
	}
}

func TestStartOn(t *testing.T) {
	fake := bitrisefake.New()
	fake.AddApp(app, token)
	baseURL, err := fake.StartOn(":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	if !strings.HasPrefix(baseURL, "http://127.0.0.1:") || !strings.HasSuffix(baseURL, "/v0.1") {
		t.Errorf("base URL = %q", baseURL)
	}
	f := &fixture{t: t, fake: fake, baseURL: baseURL}
	if status, _ := f.call("GET", hooks, token, ""); status != 200 {
		t.Errorf("GET: %d", status)
	}
	if _, err := fake.StartOn(":0"); err == nil {
		t.Error("second StartOn succeeded")
	}
}
