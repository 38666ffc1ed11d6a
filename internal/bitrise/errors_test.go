package bitrise_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

var anyCreate = bitrise.CreateParams{URL: "https://x.test", Events: []string{"all"}}

type classes struct{ notFound, auth, badRequest, retryable bool }

func classify(err error) classes {
	return classes{bitrise.IsNotFound(err), bitrise.IsAuthError(err), bitrise.IsBadRequest(err), bitrise.IsRetryable(err)}
}

func TestErrorStatuses(t *testing.T) {
	tests := []struct {
		status int
		want   classes
	}{
		{400, classes{badRequest: true}},
		{401, classes{auth: true}},
		{403, classes{auth: true}},
		{404, classes{notFound: true}},
		{405, classes{}},
		{408, classes{retryable: true}},
		{409, classes{}},
		{422, classes{badRequest: true}},
		{429, classes{retryable: true}},
		{500, classes{retryable: true}},
		{502, classes{retryable: true}},
		{503, classes{retryable: true}},
		{504, classes{retryable: true}},
		{302, classes{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"message":"boom"}`)
			})
			_, err := api.CreateWebhook(context.Background(), testApp, anyCreate)
			var apiErr *bitrise.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Method != "POST" || apiErr.Path != "/apps/app-1/outgoing-webhooks" {
				t.Errorf("APIError = %+v", apiErr)
			}
			// A redirect's body is not the API's answer: never quoted.
			if redirect := tt.status/100 == 3; (apiErr.Message == "boom") == redirect {
				t.Errorf("status %d: Message = %q", tt.status, apiErr.Message)
			}
			if got := classify(err); got != tt.want {
				t.Errorf("classes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"message":"url is required"}`)
	})
	_, err := api.CreateWebhook(context.Background(), "abc", anyCreate)
	want := "bitrise API: POST /apps/abc/outgoing-webhooks: 400 Bad Request: url is required"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestErrorsFromFake(t *testing.T) {
	fake, baseURL := startFake(t)
	api := newAPI(t, baseURL, testToken)
	fake.AddApp("other-app", "other-token")
	fake.AddToken("revoked", testApp)
	fake.RevokeToken("revoked")

	ctx := context.Background()
	tests := []struct {
		name   string
		token  string
		app    string
		status int
	}{
		{"unknown token", "nope", testApp, 401},
		{"bearer scheme", "Bearer " + testToken, testApp, 401},
		{"empty token", "", testApp, 401},
		{"revoked token", "revoked", testApp, 401},
		{"other app", testToken, "other-app", 403},
		{"unknown app", testToken, "no-such-app", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newAPI(t, baseURL, tt.token).ListWebhooks(ctx, tt.app)
			if bitrise.StatusCode(err) != tt.status {
				t.Errorf("err = %v, want status %d", err, tt.status)
			}
		})
	}

	_, err := api.UpdateWebhook(ctx, testApp, "NOPE", bitrise.UpdateParams{URL: "https://x.test", Events: []string{"all"}})
	if !bitrise.IsNotFound(err) {
		t.Errorf("update of a missing webhook: %v, want 404", err)
	}
	if err := api.DeleteWebhook(ctx, testApp, "NOPE"); !bitrise.IsNotFound(err) {
		t.Errorf("delete of a missing webhook: %v, want the 404, for the caller to confirm", err)
	}
	_, err = api.CreateWebhook(ctx, testApp, bitrise.CreateParams{URL: "https://x.test", Events: []string{"push"}})
	if !bitrise.IsBadRequest(err) || !strings.Contains(err.Error(), "push") {
		t.Errorf("invalid event: %v, want 400 naming the event", err)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		header   string
		min, max time.Duration
	}{
		{"", 0, 0},
		{"7", 7 * time.Second, 7 * time.Second},
		{"0", 0, 0},
		{"-3", 0, 0},
		{"soon", 0, 0},
		{time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat), 28 * time.Second, 30 * time.Second},
		{time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat), 0, 0},
		// Huge values are capped at MaxPause, like the gate's pause, so that
		// no answer can park a resource for a day.
		{"86400", bitrise.MaxPause, bitrise.MaxPause},
		{"99999999999999999999", 0, bitrise.MaxPause},
		{time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat), bitrise.MaxPause, bitrise.MaxPause},
	}
	for _, tt := range tests {
		for _, status := range []int{429, 503} {
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.header != "" {
					w.Header().Set("Retry-After", tt.header)
				}
				w.WriteHeader(status)
			})
			_, err := api.ListWebhooks(context.Background(), testApp)
			if got := bitrise.RetryAfter(err); got < tt.min || got > tt.max {
				t.Errorf("%d Retry-After %q: got %v, want in [%v, %v]", status, tt.header, got, tt.min, tt.max)
			}
		}
	}
}

func TestErrorMessageShapes(t *testing.T) {
	long := strings.Repeat("é", 400)
	tests := []struct {
		name, body, want string
	}{
		{"message", `{"message":"m1","error":"no"}`, "m1"},
		{"error_msg", `{"error_msg":"m2","error":"no"}`, "m2"},
		{"error", `{"error":"m3"}`, "m3"},
		{"empty message falls through", `{"message":"","error_msg":"m4"}`, "m4"},
		{"other json", `{"detail":"x"}`, `{"detail":"x"}`},
		{"raw text", "  Bad\n  Gateway\n", "Bad Gateway"},
		{"empty", "", ""},
		{"truncated", long, strings.Repeat("é", 150) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, tt.body)
			})
			_, err := api.ListWebhooks(context.Background(), testApp)
			var apiErr *bitrise.APIError
			if !errors.As(err, &apiErr) || apiErr.Message != tt.want {
				t.Errorf("err = %v, want message %q", err, tt.want)
			}
		})
	}
}

func TestErrorsRedactSecrets(t *testing.T) {
	const (
		secret      = `s3cr<et>&"x`
		headerValue = "header-value-42"
	)
	echoes := map[string]func(auth string, body []byte) string{
		"json message": func(auth string, body []byte) string {
			msg, _ := json.Marshal(map[string]string{"message": "token " + auth + " sent " + string(body)})
			return string(msg)
		},
		"raw text": func(auth string, body []byte) string {
			return "token " + auth + " sent " + string(body)
		},
		"secret at the truncation limit": func(auth string, body []byte) string {
			return strings.Repeat("x", 295) + auth
		},
	}
	for name, echo := range echoes {
		t.Run(name, func(t *testing.T) {
			api := newHandler(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, echo(r.Header.Get("Authorization"), body))
			})
			_, createErr := api.CreateWebhook(context.Background(), testApp, bitrise.CreateParams{
				URL: "https://x.test", Events: []string{"all"}, Secret: secret,
				Headers: map[string]string{"X-Auth": headerValue},
			})
			_, updateErr := api.UpdateWebhook(context.Background(), testApp, "S1", bitrise.UpdateParams{
				URL: "https://x.test", Events: []string{"all"},
				Headers: map[string]string{"X-Auth": headerValue},
			})
			for _, err := range []error{createErr, updateErr} {
				text := err.Error()
				for _, leaked := range []string{testToken, testToken[:5], secret, `s3cr\u003cet`, `s3cr<et`, headerValue} {
					if strings.Contains(text, leaked) {
						t.Errorf("error leaks %q: %s", leaked, text)
					}
				}
				// The truncation case may cut the marker itself.
				if !strings.Contains(text, "[REDA") {
					t.Errorf("error has no [REDACTED]: %s", text)
				}
			}
		})
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	baseURL := srv.URL
	srv.Close()

	_, err := newAPI(t, baseURL, testToken).ListWebhooks(context.Background(), testApp)
	var netErr *bitrise.NetworkError
	if !errors.As(err, &netErr) || !bitrise.IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable *NetworkError", err)
	}
	if got := classify(err); got != (classes{retryable: true}) {
		t.Errorf("classes = %+v", got)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestLostCreateResponse(t *testing.T) {
	fake, api := newFake(t)
	fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, LoseResponse: true, Times: 1})

	_, err := api.CreateWebhook(context.Background(), testApp, anyCreate)
	if !bitrise.IsRetryable(err) {
		t.Fatalf("err = %v, want a retryable network error", err)
	}
	listed, err := api.ListWebhooks(context.Background(), testApp)
	if err != nil || len(listed) != 1 || listed[0].URL != anyCreate.URL {
		t.Errorf("the lost create must exist: %+v, %v", listed, err)
	}
}

func TestCancelledAndTimedOut(t *testing.T) {
	released := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-released:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(released) })

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := newAPI(t, srv.URL, testToken).ListWebhooks(ctx, testApp)
	if !errors.Is(err, context.Canceled) || bitrise.IsRetryable(err) {
		t.Errorf("cancelled: err = %v, want context.Canceled, not retryable", err)
	}

	api := newAPI(t, srv.URL, testToken, bitrise.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond}))
	_, err = api.ListWebhooks(context.Background(), testApp)
	var netErr *bitrise.NetworkError
	if !errors.As(err, &netErr) || !bitrise.IsRetryable(err) {
		t.Errorf("timed out: err = %v, want a retryable *NetworkError", err)
	}
}

func TestClassifiersSeeThroughWrapping(t *testing.T) {
	base := &bitrise.APIError{StatusCode: 429, RetryAfter: 3 * time.Second}
	err := fmt.Errorf("reconcile: %w", fmt.Errorf("list: %w", base))
	if !bitrise.IsRetryable(err) || bitrise.RetryAfter(err) != 3*time.Second || bitrise.StatusCode(err) != 429 {
		t.Errorf("wrapped 429 not classified: %v", err)
	}
	for _, plain := range []error{nil, errors.New("other")} {
		if got := classify(plain); got != (classes{}) || bitrise.RetryAfter(plain) != 0 {
			t.Errorf("%v classified as %+v", plain, got)
		}
	}
}

// An error body may quote what the server stored, not only what the request
// sent: values given to ForToken never show either.
func TestForTokenSensitiveValuesAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"stored secret=stored-whsec-42 header=hdr-value-77"}`))
	}))
	defer srv.Close()
	c, err := bitrise.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ForToken(testToken, "stored-whsec-42", "hdr-value-77", "").ListWebhooks(context.Background(), "a")
	if err == nil {
		t.Fatal("want an error")
	}
	for _, leaked := range []string{"stored-whsec-42", "hdr-value-77"} {
		if strings.Contains(err.Error(), leaked) {
			t.Fatalf("error leaks %q: %s", leaked, err)
		}
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Fatalf("want the values redacted: %s", err)
	}
}
