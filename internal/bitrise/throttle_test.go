package bitrise_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// emptyList answers every list with no webhooks, and 429 with the given
// Retry-After to the first request of a token listed in throttled.
func emptyList(t *testing.T, throttled map[string]string) (*httptest.Server, *sync.Map) {
	t.Helper()
	times := &sync.Map{} // token -> []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")
		mu.Lock()
		prev, _ := times.Load(token)
		list, _ := prev.([]time.Time)
		times.Store(token, append(list, time.Now()))
		first := len(list) == 0
		mu.Unlock()
		if ra, ok := throttled[token]; ok && first {
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"slow down"}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":[],"paging":{}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, times
}

func TestRetryAfterPausesOnlyThatToken(t *testing.T) {
	srv, times := emptyList(t, map[string]string{"noisy": "1"})
	c, err := bitrise.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	noisy, quiet := c.ForToken("noisy"), c.ForToken("quiet")
	if _, err := noisy.ListWebhooks(ctx, "a"); bitrise.RetryAfter(err) != time.Second {
		t.Fatalf("want a 429 with Retry-After 1s, got %v", err)
	}
	began := time.Now()
	if _, err := quiet.ListWebhooks(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Fatalf("another token waited %v for the noisy one's pause", d)
	}
	// A new client for the same token shares the pause.
	if _, err := c.ForToken("noisy").ListWebhooks(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	v, _ := times.Load("noisy")
	got := v.([]time.Time)
	if gap := got[1].Sub(got[0]); gap < 900*time.Millisecond {
		t.Fatalf("the token's next request came %v after its 429, want about 1s", gap)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	srv, _ := emptyList(t, nil)
	var throttled atomic.Int64
	c, err := bitrise.NewClient(srv.URL, bitrise.WithRateLimit(20, 1), bitrise.WithObserver(observerFunc(func(d time.Duration) { throttled.Add(1) })))
	if err != nil {
		t.Fatal(err)
	}
	api := c.ForToken("t")
	began := time.Now()
	var wg sync.WaitGroup
	for range 11 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := api.ListWebhooks(context.Background(), "a"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// 11 requests at 20/s with a burst of 1 take at least 500ms.
	if d := time.Since(began); d < 450*time.Millisecond {
		t.Fatalf("11 requests at 20 qps took %v", d)
	}
	if throttled.Load() == 0 {
		t.Fatal("the observer was not told of the waits")
	}
}

func TestRateLimitHeadersPause(t *testing.T) {
	var calls atomic.Int64
	var second time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(1500*time.Millisecond).Unix(), 10))
		} else {
			second = time.Now()
		}
		_, _ = w.Write([]byte(`{"data":[],"paging":{}}`))
	}))
	defer srv.Close()
	c, _ := bitrise.NewClient(srv.URL)
	api := c.ForToken("t")
	began := time.Now()
	for range 2 {
		if _, err := api.ListWebhooks(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
	}
	// The reset is a whole second in the future: at least ~0.5s must pass.
	if second.Sub(began) < 400*time.Millisecond {
		t.Fatalf("an exhausted X-RateLimit budget did not pause the token (%v)", second.Sub(began))
	}
}

type observerFunc func(time.Duration)

func (f observerFunc) RequestDone(string, string, int, time.Duration) {}
func (f observerFunc) Throttled(d time.Duration)                      { f(d) }
