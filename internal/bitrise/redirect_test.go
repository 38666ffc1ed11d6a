package bitrise_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// TestRedirectsAreNeverFollowed: a 3xx from the API is an *APIError with its
// status and without its body, and no request reaches the Location, whatever
// the method: a 307/308 would resend the secret in the body elsewhere, and a
// 301/302 would turn a DELETE into a GET whose 200 reads as "deleted".
func TestRedirectsAreNeverFollowed(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	t.Cleanup(target.Close)

	for _, code := range []int{301, 302, 303, 307, 308} {
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", target.URL+r.URL.Path)
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"message":"moved-body-text"}`))
		}))
		t.Cleanup(origin.Close)
		clients := map[string]bitrise.API{
			"default client": newAPI(t, origin.URL+"/v0.1", testToken),
			// A client that would follow redirects is made not to.
			"WithHTTPClient": newAPI(t, origin.URL+"/v0.1", testToken, bitrise.WithHTTPClient(&http.Client{})),
		}
		for name, api := range clients {
			ctx := context.Background()
			calls := map[string]error{}
			_, calls["GET"] = api.ListWebhooks(ctx, testApp)
			_, calls["POST"] = api.CreateWebhook(ctx, testApp, bitrise.CreateParams{URL: "https://x", Events: []string{"all"}, Secret: "s3cr3t"})
			_, calls["PUT"] = api.UpdateWebhook(ctx, testApp, "S1", bitrise.UpdateParams{URL: "https://x", Events: []string{"all"}})
			calls["DELETE"] = api.DeleteWebhook(ctx, testApp, "S1")
			for method, err := range calls {
				var apiErr *bitrise.APIError
				if !errors.As(err, &apiErr) || apiErr.StatusCode != code {
					t.Errorf("%s, %d on %s: got %v, want an *APIError with status %d", name, code, method, err, code)
					continue
				}
				if strings.Contains(err.Error(), "moved-body-text") {
					t.Errorf("%s, %d on %s: the error quotes the redirect's body: %v", name, code, method, err)
				}
				if bitrise.IsNotFound(err) || bitrise.IsAuthError(err) || bitrise.IsBadRequest(err) {
					t.Errorf("%s, %d on %s: classified as a user error: %v", name, code, method, err)
				}
			}
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d requests reached the redirect target", n)
	}
}
