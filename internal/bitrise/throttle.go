package bitrise

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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
	// turns holds, per tenant (WithTenant), the earliest time its next
	// throttled request is told to come back (see comeBack).
	turns map[string]time.Time
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
	g, _ := c.gates.LoadOrStore(key, &gate{limiter: rate.NewLimiter(limit, burst), turns: map[string]time.Time{}})
	return g.(*gate)
}

// MaxSleep is the longest a request waits in its caller for its token: a
// pause or a rate-limit wait up to it is slept; a longer one is not waited
// for, and the request fails at once, unsent, with a *ThrottledError, so
// that a throttled token never holds the caller (a reconcile worker) for
// longer than this.
const MaxSleep = time.Second

// ThrottledError is a request that was not sent because its token is
// paused (Retry-After, an exhausted X-RateLimit budget) or its client-side
// rate limit is spent for longer than MaxSleep. Nothing reached the server.
type ThrottledError struct {
	// Wait is how long from now to try again, at most MaxPause: the end of
	// the pause or when the rate limit has room, and later still when
	// requests of the same tenant (WithTenant) were throttled before, so
	// that the tenants with throttled requests take turns at the token's rate.
	Wait time.Duration
	// Paused says the server asked for the pause; false: the client-side
	// rate limit (--api-qps) has no room.
	Paused bool
}

func (e *ThrottledError) Error() string {
	why := "its client-side rate limit has no room"
	if e.Paused {
		why = "the server paused it (Retry-After or X-RateLimit)"
	}
	return fmt.Sprintf("bitrise API: request not sent: the API token is throttled (%s); try again in %s", why, e.Wait.Round(time.Millisecond))
}

// Throttled returns the wait of a *ThrottledError in err's chain, and
// whether there is one.
func Throttled(err error) (time.Duration, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.Wait, true
	}
	return 0, false
}

type tenantKey struct{}

// WithTenant names the tenant (the controller uses the resource's
// namespace) on whose behalf the requests made with the returned context
// are sent. Throttled requests of one token take turns between tenants:
// a tenant with a backlog of throttled requests is told to come back later
// than a tenant with none (see ThrottledError.Wait). The name stays in
// the process.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

func tenantOf(ctx context.Context) string {
	v, _ := ctx.Value(tenantKey{}).(string)
	return v
}

// wait blocks until the token may send a request, for at most about
// MaxSleep, and returns how long it waited. A longer wait is not begun: it
// returns a *ThrottledError at once, and takes nothing from the bucket.
func (g *gate) wait(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	for {
		now := time.Now()
		g.mu.Lock()
		until := g.pausedUntil
		g.mu.Unlock()
		d := until.Sub(now)
		if d <= 0 {
			break
		}
		if d > MaxSleep {
			return time.Since(start), g.throttled(ctx, now, until, true)
		}
		if err := sleep(ctx, d); err != nil {
			return time.Since(start), err
		}
	}
	now := time.Now()
	r := g.limiter.ReserveN(now, 1) // always OK: the burst is at least 1
	d := r.DelayFrom(now)
	if d > MaxSleep {
		r.CancelAt(now) // give the token back to the bucket
		return time.Since(start), g.throttled(ctx, now, now.Add(d), false)
	}
	if d > 0 {
		if err := sleep(ctx, d); err != nil {
			r.Cancel()
			return time.Since(start), err
		}
	}
	return time.Since(start), nil
}

// room reports, without taking anything from the bucket, whether a
// request could be sent now within MaxSleep: nil, or the *ThrottledError
// the request would get.
func (g *gate) room(ctx context.Context) error {
	now := time.Now()
	g.mu.Lock()
	until := g.pausedUntil
	g.mu.Unlock()
	if d := until.Sub(now); d > MaxSleep {
		return g.throttled(ctx, now, until, true)
	}
	limit := g.limiter.Limit()
	if limit == rate.Inf {
		return nil
	}
	// TokensAt is negative while reservations are outstanding.
	if tokens := g.limiter.TokensAt(now); tokens < 1 {
		d := time.Duration((1 - tokens) / float64(limit) * float64(time.Second))
		if d > MaxSleep {
			return g.throttled(ctx, now, now.Add(d), false)
		}
	}
	return nil
}

// throttled makes the *ThrottledError of a request of ctx's tenant that
// could be sent at ready at the earliest.
func (g *gate) throttled(ctx context.Context, now, ready time.Time, paused bool) error {
	at := g.comeBack(tenantOf(ctx), now, ready)
	return &ThrottledError{Wait: min(at.Sub(now), MaxPause), Paused: paused}
}

// comeBack gives a throttled request of tenant a time to try again: no
// earlier than ready, and no earlier than the turn of its tenant, which
// then moves on by one request's share of the token's rate among the
// tenants that have turns ahead (start-time fair queueing). A tenant whose
// burst was throttled thus gets its requests back spread at the token's
// rate, while a tenant with no backlog comes back as soon as the token has
// room.
func (g *gate) comeBack(tenant string, now, ready time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	active := 0
	for t, turn := range g.turns {
		if turn.After(now) {
			active++
		} else {
			delete(g.turns, t) // no backlog any more
		}
	}
	turn, ok := g.turns[tenant]
	if !ok {
		active++ // this tenant joins
	}
	at := ready
	if turn.After(at) {
		at = turn
	}
	var share time.Duration
	if limit := g.limiter.Limit(); limit != rate.Inf && limit > 0 {
		share = time.Duration(float64(active) / float64(limit) * float64(time.Second))
	}
	g.turns[tenant] = at.Add(max(share, time.Millisecond))
	return at
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
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
