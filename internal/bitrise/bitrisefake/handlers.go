package bitrisefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	defaultPageLimit = 50
	maxPageLimit     = 50
	maxBodySize      = 1 << 20
)

// validEvents are the documented values of `events`.
var validEvents = []string{"all", "build", "pipeline"}

type message struct {
	Message string `json:"message"`
}

type itemEnvelope struct {
	Data wireWebhook `json:"data"`
}

type listEnvelope struct {
	Data   []wireWebhook `json:"data"`
	Paging paging        `json:"paging"`
}

type paging struct {
	TotalItemCount int    `json:"total_item_count"`
	PageItemLimit  int    `json:"page_item_limit"`
	Next           string `json:"next,omitempty"`
}

// writeParams is the body of both create and update; update ignores Secret.
// Like wireWebhook, it is the fake's own on purpose.
type writeParams struct {
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers"`
}

// reply is computed under the lock and written after it is released, so a
// slow client cannot hold up the fake.
type reply struct {
	status int
	body   any
	allow  string
}

func messageReply(status int, text string) reply {
	return reply{status: status, body: message{Message: text}}
}

func notFound() reply { return messageReply(http.StatusNotFound, "Not Found") }

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) int {
	rep := s.handle(r)
	if rep.allow != "" {
		w.Header().Set("Allow", rep.allow)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_ = json.NewEncoder(w).Encode(rep.body)
	return rep.status
}

func (s *Server) handle(r *http.Request) reply {
	if rep, ok := s.handleDelivery(r); ok {
		return rep
	}
	appSlug, webhookSlug, ok := parsePath(r.URL.EscapedPath())
	if !ok {
		return notFound()
	}
	allowed := []string{http.MethodGet, http.MethodPost}
	if webhookSlug != "" {
		allowed = []string{http.MethodPut, http.MethodDelete}
	}
	if !slices.Contains(allowed, r.Method) {
		rep := messageReply(http.StatusMethodNotAllowed, "Method Not Allowed")
		rep.allow = strings.Join(allowed, ", ")
		return rep
	}
	var body []byte
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		var err error
		if body, err = io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodySize)); err != nil {
			return messageReply(http.StatusBadRequest, "request body unreadable or too large")
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a, denied := s.authorize(r.Header.Get("Authorization"), appSlug)
	if denied != nil {
		return *denied
	}
	switch r.Method {
	case http.MethodGet:
		return s.list(a, r.URL.Query())
	case http.MethodPost:
		return s.create(a, r.Header, body)
	case http.MethodPut:
		return s.update(a, webhookSlug, r.Header, body)
	default:
		return s.delete(a, webhookSlug)
	}
}

// parsePath splits /v0.1/apps/{app}/outgoing-webhooks[/{webhook}]. It works
// on the escaped path so that an escaped "/" in a slug stays in the slug.
func parsePath(escaped string) (appSlug, webhookSlug string, ok bool) {
	rest, found := strings.CutPrefix(escaped, basePath+"/")
	if !found {
		return "", "", false
	}
	segs := strings.Split(rest, "/")
	for i, seg := range segs {
		unescaped, err := url.PathUnescape(seg)
		if err != nil || unescaped == "" {
			return "", "", false
		}
		segs[i] = unescaped
	}
	if len(segs) < 3 || len(segs) > 4 || segs[0] != "apps" || segs[2] != "outgoing-webhooks" {
		return "", "", false
	}
	if len(segs) == 4 {
		webhookSlug = segs[3]
	}
	return segs[1], webhookSlug, true
}

// pageLimitOf reads the `limit` query parameter of a list: default and
// maximum 50, as on Bitrise; a bad value is a 400.
func pageLimitOf(query url.Values) (int, *reply) {
	v := query.Get("limit")
	if v == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		rep := messageReply(http.StatusBadRequest, "limit must be a positive integer")
		return 0, &rep
	}
	return min(n, maxPageLimit), nil
}

func (s *Server) list(a *app, query url.Values) reply {
	limit, bad := pageLimitOf(query)
	if bad != nil {
		return *bad
	}
	start := 0
	if next := query.Get("next"); next != "" {
		if start = a.index(next); start < 0 {
			return messageReply(http.StatusBadRequest, "invalid next: no such webhook")
		}
	}
	end := min(start+limit, len(a.webhooks))
	page := listEnvelope{
		Data:   make([]wireWebhook, 0, end-start),
		Paging: paging{TotalItemCount: len(a.webhooks), PageItemLimit: limit},
	}
	for _, rec := range a.webhooks[start:end] {
		page.Data = append(page.Data, a.norm.answered(toWire(rec.hook), true))
	}
	if end < len(a.webhooks) {
		page.Paging.Next = a.webhooks[end].hook.Slug
	}
	return reply{status: http.StatusOK, body: page}
}

func (s *Server) create(a *app, header http.Header, body []byte) reply {
	params, invalid := decodeParams(header, body)
	if invalid != nil {
		return *invalid
	}
	now := s.now()
	rec := &record{secret: params.Secret}
	rec.hook.Slug = s.newSlug()
	rec.hook.CreatedAt, rec.hook.UpdatedAt = now, now
	rec.apply(params, a.norm)
	a.webhooks = append(a.webhooks, rec)
	answer := a.norm.answered(toWire(rec.hook), false)
	if s.bareCreate {
		return reply{status: http.StatusCreated, body: answer}
	}
	return reply{status: http.StatusCreated, body: itemEnvelope{Data: answer}}
}

func (s *Server) update(a *app, webhookSlug string, header http.Header, body []byte) reply {
	i := a.index(webhookSlug)
	if i < 0 {
		return notFound()
	}
	params, invalid := decodeParams(header, body)
	if invalid != nil {
		return *invalid
	}
	rec := a.webhooks[i]
	rec.apply(params, a.norm)
	rec.hook.UpdatedAt = s.bumpedTime(rec.hook.UpdatedAt)
	return reply{status: http.StatusOK, body: itemEnvelope{Data: a.norm.answered(toWire(rec.hook), false)}}
}

func (s *Server) delete(a *app, webhookSlug string) reply {
	i := a.index(webhookSlug)
	if i < 0 {
		return notFound()
	}
	rec := a.webhooks[i]
	a.webhooks = slices.Delete(a.webhooks, i, i+1)
	return reply{status: http.StatusOK, body: itemEnvelope{Data: a.norm.answered(toWire(rec.hook), false)}}
}

func decodeParams(header http.Header, body []byte) (writeParams, *reply) {
	bad := func(format string, args ...any) (writeParams, *reply) {
		rep := messageReply(http.StatusBadRequest, fmt.Sprintf(format, args...))
		return writeParams{}, &rep
	}
	// Bitrise has rejected bodies sent without it (README §2).
	if mediaType, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mediaType != "application/json" {
		return bad("Content-Type must be application/json")
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return bad("request body must be a JSON object")
	}
	var params writeParams
	if err := json.Unmarshal(body, &params); err != nil {
		return bad("invalid request body: %v", err)
	}
	if params.URL == "" {
		return bad("url is required")
	}
	if u, err := url.Parse(params.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url must be an absolute http or https URL")
	}
	if len(params.Events) == 0 {
		return bad("events must not be empty")
	}
	for _, event := range params.Events {
		if !slices.Contains(validEvents, event) {
			return bad("invalid event %q: must be one of %s", event, strings.Join(validEvents, ", "))
		}
	}
	return params, nil
}
