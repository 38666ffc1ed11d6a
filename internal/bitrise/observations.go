package bitrise

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Observations shares one recent list of an app's webhooks between the
// reconciles of all the resources of that app, so that drift checks of N
// webhooks on one app cost about ⌈N/50⌉ list calls, not N lists (there is no
// get-one endpoint). At most one list per app and token is in flight. Our
// own writes are applied to the shared list (or drop it, when their outcome
// is unknown), so it never hides what this process did: App does this for
// every write it makes, so that callers cannot forget it.
type Observations struct {
	group singleflight.Group
	now   func() time.Time

	mu      sync.Mutex
	entries map[obsKey]*observation
	// epoch counts the invalidations of each app, so that a list begun
	// before a write cannot store what it read after the write.
	epoch map[string]uint64
}

type obsKey struct {
	token [sha256.Size]byte
	app   string
}

type observation struct {
	webhooks  []Webhook
	fetchedAt time.Time
}

// NewObservations returns an empty cache of observations.
func NewObservations() *Observations {
	return &Observations{now: time.Now, entries: map[obsKey]*observation{}, epoch: map[string]uint64{}}
}

// maxEntries bounds the cache; past it, the oldest half is dropped.
const maxEntries = 10000

// List returns the webhooks of app as seen with token, from an observation
// no older than maxAge (0 forces a fresh list), and when it was fetched.
// The slice is the caller's; the maps inside it are shared and read-only.
func (o *Observations) List(ctx context.Context, api API, token, app string, maxAge time.Duration) ([]Webhook, time.Time, error) {
	key := obsKey{token: sha256.Sum256([]byte(token)), app: app}
	if maxAge > 0 {
		if w, at, ok := o.cached(key, maxAge); ok {
			return w, at, nil
		}
		type result struct {
			webhooks []Webhook
			at       time.Time
		}
		// Only join a list begun after the caller's last write: the epoch
		// is part of the flight's key.
		o.mu.Lock()
		flight := fmt.Sprintf("%x/%s/%d", key.token, app, o.epoch[app])
		o.mu.Unlock()
		v, err, _ := o.group.Do(flight, func() (any, error) {
			w, at, err := o.fetch(ctx, api, key)
			return result{w, at}, err
		})
		if err != nil {
			return nil, time.Time{}, err
		}
		r := v.(result)
		return slices.Clone(r.webhooks), r.at, nil
	}
	w, at, err := o.fetch(ctx, api, key)
	return slices.Clone(w), at, err
}

func (o *Observations) cached(key obsKey, maxAge time.Duration) ([]Webhook, time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.entries[key]
	if !ok || o.now().Sub(e.fetchedAt) > maxAge {
		return nil, time.Time{}, false
	}
	return slices.Clone(e.webhooks), e.fetchedAt, true
}

func (o *Observations) fetch(ctx context.Context, api API, key obsKey) ([]Webhook, time.Time, error) {
	o.mu.Lock()
	epoch := o.epoch[key.app]
	o.mu.Unlock()
	at := o.now()
	webhooks, err := api.ListWebhooks(ctx, key.app)
	if err != nil {
		return nil, time.Time{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.epoch[key.app] == epoch {
		if len(o.entries) >= maxEntries {
			o.evictOldestHalf()
		}
		o.entries[key] = &observation{webhooks: webhooks, fetchedAt: at}
	}
	return webhooks, at, nil
}

func (o *Observations) evictOldestHalf() {
	times := make([]time.Time, 0, len(o.entries))
	for _, e := range o.entries {
		times = append(times, e.fetchedAt)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	cut := times[len(times)/2]
	for k, e := range o.entries {
		if e.fetchedAt.Before(cut) {
			delete(o.entries, k)
		}
	}
}

// Invalidate drops every observation of app, for a write whose outcome is
// unknown (an error, a lost response).
func (o *Observations) Invalidate(app string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.epoch[app]++
	for k := range o.entries {
		if k.app == app {
			delete(o.entries, k)
		}
	}
}

// Put records our own successful create or update of w in every
// observation of app.
func (o *Observations) Put(app string, w Webhook) {
	o.edit(app, func(list []Webhook) []Webhook {
		if i := slices.IndexFunc(list, func(x Webhook) bool { return x.Slug == w.Slug }); i >= 0 {
			list[i] = w
			return list
		}
		return append(list, w)
	})
}

// Remove records our own successful delete of a webhook in every
// observation of app.
func (o *Observations) Remove(app, slug string) {
	o.edit(app, func(list []Webhook) []Webhook {
		return slices.DeleteFunc(list, func(x Webhook) bool { return x.Slug == slug })
	})
}

func (o *Observations) edit(app string, change func([]Webhook) []Webhook) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// A list in flight read the state before this write: it must not be stored.
	o.epoch[app]++
	for k, e := range o.entries {
		if k.app == app {
			e.webhooks = change(slices.Clone(e.webhooks))
		}
	}
}
