package controller

import (
	"net/url"
	"strings"
)

// sameWebhookURL reports whether two webhook URLs name the same endpoint in
// the form an API may store it: scheme and host compared case-insensitively
// (RFC 3986 §6.2.2.1), the default port of the scheme dropped (§6.2.3),
// and a trailing slash on the path ignored. The path (case-sensitive on most
// servers), the query and the fragment must match exactly. Adoption and
// claims between resources match URLs with it, so that an API that
// normalises the URL it stores neither causes a duplicate after a lost
// create nor hides a conflict.
func sameWebhookURL(a, b string) bool {
	return a == b || normalizeWebhookURL(a) == normalizeWebhookURL(b)
}

// normalizeWebhookURL returns the form of raw that sameWebhookURL compares;
// raw itself when it does not parse as a URL.
func normalizeWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return raw
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if port := u.Port(); (port == "443" && u.Scheme == "https") || (port == "80" && u.Scheme == "http") {
		u.Host = strings.TrimSuffix(u.Host, ":"+port)
	}
	// On the escaped path, so that an escaped slash (%2F) stays significant.
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	u.Path, u.RawPath = "", ""
	s := u.String()
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i] + path + s[i:]
	}
	return s + path
}
