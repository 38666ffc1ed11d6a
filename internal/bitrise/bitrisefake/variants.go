package bitrisefake

import (
	"net/url"
	"slices"
	"strings"
)

// Normalization makes one app store and answer webhooks in another form than
// the one sent, as real APIs commonly do. The Bitrise documentation does not
// say what Bitrise normalises, so each switch plays one plausible variant.
// The zero value stores and answers exactly what was sent.
type Normalization struct {
	// LowerCaseHost stores the URL with its scheme and host lower-cased.
	LowerCaseHost bool
	// DropDefaultPort stores the URL without :443 (https) or :80 (http).
	DropDefaultPort bool
	// StripTrailingSlash stores the URL without a trailing slash on its path.
	StripTrailingSlash bool
	// AddTrailingSlash stores the URL with a trailing slash on its path.
	AddTrailingSlash bool
	// MaskHeaders answers the values of these headers (names compared
	// case-insensitively) as "********"; the stored value is unchanged.
	MaskHeaders []string
	// OmitHeaders leaves these headers out of answers altogether.
	OmitHeaders []string
	// OnlyInLists applies MaskHeaders and OmitHeaders to list answers only:
	// the answers to create and update echo what was stored.
	OnlyInLists bool
}

// Mask is how a masked header value is answered.
const Mask = "********"

// SetNormalization makes the app (created if needed) store and answer
// webhooks as n says, from now on; webhooks already stored are unchanged.
func (s *Server) SetNormalization(appSlug string, n Normalization) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureApp(appSlug).norm = n
}

// HideApps makes the apps a known token may not use answer 404, as if they
// did not exist, instead of 403: what Bitrise answers to a token of another
// workspace or one whose access was revoked.
func (s *Server) HideApps(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hiding == nil {
		s.hiding = map[string]bool{}
	}
	s.hiding[token] = true
}

// RevokeAccess takes the app away from a known token; the token stays valid
// for its other apps.
func (s *Server) RevokeAccess(token, appSlug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens[token], appSlug)
}

// storedURL is the URL as the app stores it.
func (n Normalization) storedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if n.LowerCaseHost {
		u.Scheme = strings.ToLower(u.Scheme)
		u.Host = strings.ToLower(u.Host)
	}
	if n.DropDefaultPort {
		port := u.Port()
		if (port == "443" && strings.EqualFold(u.Scheme, "https")) || (port == "80" && strings.EqualFold(u.Scheme, "http")) {
			u.Host = strings.TrimSuffix(u.Host, ":"+port)
		}
	}
	switch {
	case n.StripTrailingSlash:
		u.Path = strings.TrimSuffix(u.Path, "/")
		u.RawPath = ""
	case n.AddTrailingSlash && !strings.HasSuffix(u.Path, "/"):
		u.Path += "/"
		u.RawPath = ""
	}
	return u.String()
}

// answered is w as an answer shows it: with masked or omitted headers.
func (n Normalization) answered(w wireWebhook, isList bool) wireWebhook {
	if n.OnlyInLists && !isList {
		return w
	}
	for name := range w.Headers {
		switch {
		case containsFold(n.OmitHeaders, name):
			delete(w.Headers, name)
		case containsFold(n.MaskHeaders, name):
			w.Headers[name] = Mask
		}
	}
	return w
}

func containsFold(names []string, name string) bool {
	return slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) })
}
