package bitrise

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the client-side rate limit, per token. Bitrise documents no
// limit for the v0.1 API; these keep a fleet of webhooks polite.
const (
	DefaultQPS   = 10
	DefaultBurst = 20
)

// WithRateLimit sets the rate limit shared by every call made with one token.
// A qps of 0 or less disables it.
func WithRateLimit(qps float64, burst int) Option {
	return func(c *Client) {
		c.qps, c.burst = qps, burst
	}
}

// Observer is told about the client's traffic, e.g. to export metrics.
type Observer interface {
	// RequestDone is called once per HTTP request with its method, a path
	// template, the status code (0 when there was no answer) and the latency.
	RequestDone(method, route string, status int, latency time.Duration)
	// Throttled is called when a request waited for the token's rate limit
	// or pause; wait is how long.
	Throttled(wait time.Duration)
}

// WithObserver sets an Observer of the client's traffic.
func WithObserver(o Observer) Option {
	return func(c *Client) { c.observer = o }
}

// gate paces the requests of one token: a token bucket, and a pause that
// the server can ask for (Retry-After, or an exhausted X-RateLimit budget).
// One gate is shared by all reconciles using that token, so one noisy
// tenant cannot starve the others.
type gate struct {
	limiter *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
}

func (c *Client) gateFor(token string) *gate {
	key := sha256.Sum256([]byte(token))
	if g, ok := c.gates.Load(key); ok {
		return g.(*gate)
	}
	limit := rate.Inf
	if c.qps > 0 {
		limit = rate.Limit(c.qps)
	}
	burst := c.burst
	if burst < 1 {
		burst = 1
	}
	g, _ := c.gates.LoadOrStore(key, &gate{limiter: rate.NewLimiter(limit, burst)})
	return g.(*gate)
}

// wait blocks until the token may send a request, and returns how long it waited.
func (g *gate) wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for {
		g.mu.Lock()
		until := g.pausedUntil
		g.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			break
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return time.Since(start), ctx.Err()
		case <-timer.C:
		}
	}
	if err := g.limiter.Wait(ctx); err != nil {
		return time.Since(start), err
	}
	return time.Since(start), nil
}

// spare reports whether the token can afford a low-priority request: not
// paused, and at least half the burst left in the bucket, so that writes
// queued behind it are not delayed.
func (g *gate) spare(now time.Time) bool {
	g.mu.Lock()
	paused := now.Before(g.pausedUntil)
	g.mu.Unlock()
	if paused {
		return false
	}
	if g.limiter.Limit() == rate.Inf {
		return true
	}
	return g.limiter.TokensAt(now) >= float64(g.limiter.Burst())/2
}

// pause holds every request of the token until the given time.
func (g *gate) pause(until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
}

// MaxPause bounds every pause a server can ask for: a Retry-After (on the
// token's gate and in APIError.RetryAfter, which the controller requeues
// with) and an exhausted X-RateLimit budget. One cap everywhere, so that a
// misbehaving or hostile answer can stall a token or a resource for at most
// five minutes, never for the hours it may name.
const MaxPause = 5 * time.Minute

// learn reads what the answer says about the token's budget: Retry-After on
// 429 and 503, and X-RateLimit-Remaining: 0 with X-RateLimit-Reset.
func (g *gate) learn(resp *http.Response, now time.Time) {
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), now); d > 0 {
			g.pause(now.Add(d)) // d is capped at MaxPause
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if reset, ok := parseRateLimitReset(resp.Header.Get("X-RateLimit-Reset"), now); ok {
			g.pause(reset)
		}
	}
}

// parseRateLimitReset reads X-RateLimit-Reset, which servers send either as
// a Unix time or as seconds from now.
func parseRateLimitReset(v string, now time.Time) (time.Time, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	var at time.Time
	if n > 1_000_000_000 {
		at = time.Unix(n, 0)
	} else {
		at = now.Add(time.Duration(n) * time.Second)
	}
	if at.After(now.Add(MaxPause)) {
		at = now.Add(MaxPause)
	}
	return at, at.After(now)
}
