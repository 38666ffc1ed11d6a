package bitrise_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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
			// Seconds from now; a pause up to MaxSleep is slept.
			w.Header().Set("X-RateLimit-Reset", "1")
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
	if second.Sub(began) < 900*time.Millisecond {
		t.Fatalf("an exhausted X-RateLimit budget did not pause the token (%v)", second.Sub(began))
	}
}

type observerFunc func(time.Duration)

func (f observerFunc) RequestDone(string, string, int, time.Duration) {}
func (f observerFunc) Throttled(d time.Duration)                      { f(d) }

// countingServer answers every list with no webhooks and counts the
// requests of each token; the first request of a token in retryAfter gets
// a 429 with that Retry-After.
func countingServer(t *testing.T, retryAfter map[string]string) (*httptest.Server, func(token string) int64) {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("Authorization")
		mu.Lock()
		counts[token]++
		first := counts[token] == 1
		mu.Unlock()
		if ra, ok := retryAfter[token]; ok && first {
			w.Header().Set("Retry-After", ra)
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		_, _ = w.Write([]byte(`{"data":[],"paging":{}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, func(token string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return counts[token]
	}
}

func TestLongPauseThrottlesAtOnceWithoutSending(t *testing.T) {
	srv, count := countingServer(t, map[string]string{"t1": "300"})
	c, err := bitrise.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ForToken("t1").ListWebhooks(ctx, "a"); bitrise.StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("want the 429, got %v", err)
	}
	began := time.Now()
	_, err = c.ForToken("t1").ListWebhooks(ctx, "a")
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Fatalf("a paused token held the caller for %v", d)
	}
	var throttled *bitrise.ThrottledError
	if !errors.As(err, &throttled) {
		t.Fatalf("want a *ThrottledError, got %T %v", err, err)
	}
	if !throttled.Paused || throttled.Wait < 298*time.Second || throttled.Wait > 300*time.Second {
		t.Fatalf("want a pause of about 300s, got %+v", throttled)
	}
	if n := count("t1"); n != 1 {
		t.Fatalf("the throttled request was sent: the server saw %d requests of t1", n)
	}
	if !bitrise.IsRetryable(err) || bitrise.RetryAfter(err) != throttled.Wait {
		t.Fatalf("IsRetryable %v, RetryAfter %v for %v", bitrise.IsRetryable(err), bitrise.RetryAfter(err), err)
	}
	// Another token is not held by t1's pause.
	began = time.Now()
	if _, err := c.ForToken("t2").ListWebhooks(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Fatalf("t2 waited %v for t1's pause", d)
	}
	// Room says the same without sending.
	app := c.App("t1", "a", nil)
	if err := app.Room(ctx); !errors.As(err, &throttled) || !throttled.Paused {
		t.Fatalf("Room of a paused token: %v", err)
	}
	if n := count("t1"); n != 1 {
		t.Fatalf("Room sent a request: %d requests of t1", n)
	}
}

func TestEmptyBucketThrottlesAndGivesTheReservationBack(t *testing.T) {
	srv, count := countingServer(t, nil)
	// One request every 1.25s: the second waits longer than MaxSleep.
	c, err := bitrise.NewClient(srv.URL, bitrise.WithRateLimit(0.8, 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	api := c.ForToken("t")
	if _, err := api.ListWebhooks(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	first := time.Now()
	for i := range 3 {
		began := time.Now()
		_, err := api.ListWebhooks(ctx, "a")
		wait, ok := bitrise.Throttled(err)
		if !ok {
			t.Fatalf("request %d: want a *ThrottledError, got %v", i, err)
		}
		if d := time.Since(began); d > 500*time.Millisecond {
			t.Fatalf("request %d held the caller for %v", i, d)
		}
		if wait <= bitrise.MaxSleep {
			t.Fatalf("request %d: wait %v, want more than MaxSleep", i, wait)
		}
	}
	if n := count("t"); n != 1 {
		t.Fatalf("throttled requests were sent: %d requests", n)
	}
	// Had the throttled requests kept their reservations, the bucket would
	// owe three more tokens (3.75s) and the next request would be throttled.
	time.Sleep(time.Until(first.Add(1300 * time.Millisecond)))
	began := time.Now()
	if _, err := api.ListWebhooks(ctx, "a"); err != nil {
		t.Fatalf("after 1.3s the bucket has a token again: %v", err)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Fatalf("the request waited %v", d)
	}
}

func TestShortWaitIsSlept(t *testing.T) {
	srv, count := countingServer(t, nil)
	// 0.5s between requests: slept, not throttled.
	c, err := bitrise.NewClient(srv.URL, bitrise.WithRateLimit(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	api := c.ForToken("t")
	began := time.Now()
	for range 2 {
		if _, err := api.ListWebhooks(context.Background(), "a"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(began); d < 450*time.Millisecond {
		t.Fatalf("two requests at 2 qps with a burst of 1 took %v", d)
	}
	if n := count("t"); n != 2 {
		t.Fatalf("%d requests", n)
	}
}

func TestThrottledTenantsTakeTurns(t *testing.T) {
	srv, _ := countingServer(t, nil)
	// One request every 2s.
	c, err := bitrise.NewClient(srv.URL, bitrise.WithRateLimit(0.5, 1))
	if err != nil {
		t.Fatal(err)
	}
	busy := bitrise.WithTenant(context.Background(), "busy")
	quiet := bitrise.WithTenant(context.Background(), "quiet")
	api := c.ForToken("t")
	if _, err := api.ListWebhooks(busy, "a"); err != nil {
		t.Fatal(err)
	}
	var busyWaits []time.Duration
	for range 4 {
		_, err := api.ListWebhooks(busy, "a")
		wait, ok := bitrise.Throttled(err)
		if !ok {
			t.Fatalf("want throttled, got %v", err)
		}
		busyWaits = append(busyWaits, wait)
	}
	// The busy tenant's backlog comes back spread at the token's rate.
	for i := 1; i < len(busyWaits); i++ {
		if gap := busyWaits[i] - busyWaits[i-1]; gap < 1500*time.Millisecond || gap > 2100*time.Millisecond {
			t.Fatalf("busy waits %v: want them 2s apart", busyWaits)
		}
	}
	// A tenant with no backlog comes back when the bucket has room, ahead
	// of the busy tenant's backlog.
	err = c.App("t", "a", nil).Room(quiet)
	wait, ok := bitrise.Throttled(err)
	if !ok {
		t.Fatalf("want throttled, got %v", err)
	}
	if wait > busyWaits[1] {
		t.Fatalf("the quiet tenant waits %v, behind the busy tenant's backlog %v", wait, busyWaits)
	}
	// With two tenants waiting, each next turn is two shares later.
	_, err = api.ListWebhooks(busy, "a")
	next, _ := bitrise.Throttled(err)
	if gap := next - busyWaits[3]; gap < 1500*time.Millisecond {
		t.Fatalf("busy's next turn %v after %v", next, busyWaits)
	}
	_, err = api.ListWebhooks(busy, "a")
	after, _ := bitrise.Throttled(err)
	if gap := after - next; gap < 3500*time.Millisecond || gap > 4100*time.Millisecond {
		t.Fatalf("with two tenants waiting, busy's turns are %v apart, want 4s", gap)
	}
}
