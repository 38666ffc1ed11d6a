package bitrisefake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// stateView is what GET /_fake/state shows a human: apps and webhooks, never
// secrets or tokens.
type stateView struct {
	Apps []appView `json:"apps"`
}

type appView struct {
	Slug     string        `json:"slug"`
	Webhooks []webhookView `json:"webhooks"`
}

type webhookView struct {
	wireWebhook
	HasSecret bool `json:"has_secret"`
}

func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fake/deliver" {
		s.serveDeliver(w, r)
		return
	}
	if r.URL.Path != "/_fake/state" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	view := s.stateView()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(view)
}

func (s *Server) stateView() stateView {
	s.mu.Lock()
	defer s.mu.Unlock()
	view := stateView{Apps: []appView{}}
	for slug, a := range s.apps {
		av := appView{Slug: slug, Webhooks: []webhookView{}}
		for _, rec := range a.webhooks {
			av.Webhooks = append(av.Webhooks, webhookView{wireWebhook: toWire(rec.hook), HasSecret: rec.secret != ""})
		}
		view.Apps = append(view.Apps, av)
	}
	slices.SortFunc(view.Apps, func(a, b appView) int { return strings.Compare(a.Slug, b.Slug) })
	return view
}
