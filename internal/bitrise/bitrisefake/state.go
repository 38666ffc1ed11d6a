package bitrisefake

import (
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// timeLayout is the API's: RFC 3339 with microseconds.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

type app struct {
	webhooks []*record // in creation order, which is the list order
	norm     Normalization
}

type record struct {
	hook       bitrise.Webhook
	secret     string
	deliveries []*deliveryRecord // oldest first
}

// wireWebhook is declared here rather than borrowed from package bitrise, so
// that a wrong JSON tag in the client fails the tests instead of agreeing
// with itself.
type wireWebhook struct {
	Slug              string            `json:"slug"`
	URL               string            `json:"url"`
	Events            []string          `json:"events"`
	Headers           map[string]string `json:"headers"`
	RegisteredByAddon bool              `json:"registered_by_addon"`
	CreatedAt         string            `json:"created_at"`
	UpdatedAt         string            `json:"updated_at"`
}

func toWire(w bitrise.Webhook) wireWebhook {
	return wireWebhook{
		Slug:              w.Slug,
		URL:               w.URL,
		Events:            append([]string{}, w.Events...),
		Headers:           maps.Clone(nonNil(w.Headers)),
		RegisteredByAddon: w.RegisteredByAddon,
		CreatedAt:         w.CreatedAt.UTC().Format(timeLayout),
		UpdatedAt:         w.UpdatedAt.UTC().Format(timeLayout),
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func (a *app) index(webhookSlug string) int {
	return slices.IndexFunc(a.webhooks, func(r *record) bool { return r.hook.Slug == webhookSlug })
}

// apply replaces what a create or update sets, in the form the app stores
// it; a missing headers field clears the headers, as a full-replacement PUT
// does.
func (r *record) apply(p writeParams, n Normalization) {
	r.hook.URL = n.storedURL(p.URL)
	r.hook.Events = slices.Clone(p.Events)
	r.hook.Headers = nil
	if len(p.Headers) > 0 {
		r.hook.Headers = maps.Clone(p.Headers)
	}
}

func copyWebhook(w bitrise.Webhook) bitrise.Webhook {
	w.Events = slices.Clone(w.Events)
	w.Headers = maps.Clone(w.Headers)
	return w
}

// AddApp creates the app if needed and lets tokens use it.
func (s *Server) AddApp(appSlug string, tokens ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureApp(appSlug)
	for _, token := range tokens {
		s.grant(token, appSlug)
	}
}

// AddToken makes token known and lets it use apps. A known token without
// the app gets 403 on it.
func (s *Server) AddToken(token string, apps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens[token] == nil {
		s.tokens[token] = map[string]bool{}
	}
	for _, appSlug := range apps {
		s.grant(token, appSlug)
	}
}

// RevokeToken makes token unknown: it gets 401 from now on.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
}

// SetCreateResponseBare makes create answer with the bare item instead of
// {"data": item}; both shapes occur in reality.
func (s *Server) SetCreateResponseBare(bare bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bareCreate = bare
}

func (s *Server) ensureApp(appSlug string) *app {
	a := s.apps[appSlug]
	if a == nil {
		a = &app{}
		s.apps[appSlug] = a
	}
	return a
}

func (s *Server) grant(token, appSlug string) {
	if s.tokens[token] == nil {
		s.tokens[token] = map[string]bool{}
	}
	s.tokens[token][appSlug] = true
}

// authorize answers as Bitrise would for the raw Authorization header. The
// token is sent without a scheme, so "Bearer x" is an unknown token.
func (s *Server) authorize(token, appSlug string) (*app, *reply) {
	apps, known := s.tokens[token]
	if token == "" || !known || strings.HasPrefix(strings.ToLower(token), "bearer ") {
		rep := messageReply(http.StatusUnauthorized, "Unauthorized")
		return nil, &rep
	}
	a := s.apps[appSlug]
	if a == nil || (!apps[appSlug] && s.hiding[token]) {
		rep := notFound()
		return nil, &rep
	}
	if !apps[appSlug] {
		rep := messageReply(http.StatusForbidden, "Forbidden")
		return nil, &rep
	}
	return a, nil
}

func (s *Server) now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// bumpedTime is now, but always after prev, so that every change is visible
// in updated_at even within one microsecond.
func (s *Server) bumpedTime(prev time.Time) time.Time {
	now := s.now()
	if !now.After(prev) {
		now = prev.Add(time.Microsecond)
	}
	return now
}

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newSlug returns a 26-character ULID-like slug (10 characters of
// milliseconds, 16 random), unique across all apps.
func (s *Server) newSlug() string {
	for {
		var b [26]byte
		ms := uint64(time.Now().UnixMilli())
		for i := 9; i >= 0; i-- {
			b[i] = crockford[ms%32]
			ms /= 32
		}
		random := make([]byte, 16)
		_, _ = rand.Read(random)
		for i, r := range random {
			b[10+i] = crockford[r%32]
		}
		if slug := string(b[:]); !s.slugExists(slug) {
			return slug
		}
	}
}

func (s *Server) slugExists(slug string) bool {
	for _, a := range s.apps {
		if a.index(slug) >= 0 {
			return true
		}
	}
	return false
}

// Webhooks returns copies of the app's webhooks in list order, nil for an
// unknown app.
func (s *Server) Webhooks(appSlug string) []bitrise.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appSlug]
	if a == nil {
		return nil
	}
	out := make([]bitrise.Webhook, 0, len(a.webhooks))
	for _, rec := range a.webhooks {
		out = append(out, copyWebhook(rec.hook))
	}
	return out
}

// Secret returns the secret stored for a webhook, which the API never returns.
func (s *Server) Secret(appSlug, webhookSlug string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(appSlug, webhookSlug)
	if rec == nil {
		return "", false
	}
	return rec.secret, true
}

// Seed creates a webhook out of band, as the Bitrise UI or an addon would,
// creating the app if needed. An empty slug and zero timestamps are filled
// in. It panics if the app already has a webhook with w's slug.
func (s *Server) Seed(appSlug string, w bitrise.Webhook, secret string) bitrise.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.ensureApp(appSlug)
	w = copyWebhook(w)
	if w.Slug == "" {
		w.Slug = s.newSlug()
	} else if a.index(w.Slug) >= 0 {
		panic(fmt.Sprintf("bitrisefake: app %q already has webhook %q", appSlug, w.Slug))
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = s.now()
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	// Stored as the API would return it, so that Webhooks() and a list agree.
	w.CreatedAt = w.CreatedAt.UTC().Truncate(time.Microsecond)
	w.UpdatedAt = w.UpdatedAt.UTC().Truncate(time.Microsecond)
	if len(w.Headers) == 0 {
		w.Headers = nil
	}
	a.webhooks = append(a.webhooks, &record{hook: w, secret: secret})
	return copyWebhook(w)
}

// UpdateOutOfBand changes a webhook behind the client's back (someone edits
// it in the UI). The slug cannot change; updated_at is bumped unless mutate
// set it. It reports whether the webhook exists.
func (s *Server) UpdateOutOfBand(appSlug, webhookSlug string, mutate func(*bitrise.Webhook)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(appSlug, webhookSlug)
	if rec == nil {
		return false
	}
	w := copyWebhook(rec.hook)
	mutate(&w)
	w.Slug = rec.hook.Slug
	if w.UpdatedAt.Equal(rec.hook.UpdatedAt) {
		w.UpdatedAt = s.bumpedTime(rec.hook.UpdatedAt)
	}
	w.UpdatedAt = w.UpdatedAt.UTC().Truncate(time.Microsecond)
	rec.hook = copyWebhook(w)
	return true
}

// DeleteOutOfBand deletes a webhook behind the client's back and reports
// whether it existed.
func (s *Server) DeleteOutOfBand(appSlug, webhookSlug string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[appSlug]
	if a == nil {
		return false
	}
	i := a.index(webhookSlug)
	if i < 0 {
		return false
	}
	a.webhooks = slices.Delete(a.webhooks, i, i+1)
	return true
}

func (s *Server) find(appSlug, webhookSlug string) *record {
	a := s.apps[appSlug]
	if a == nil {
		return nil
	}
	if i := a.index(webhookSlug); i >= 0 {
		return a.webhooks[i]
	}
	return nil
}
