package bitrise

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	maxMessageLen = 300
	redacted      = "[REDACTED]"
)

// errorMessage picks the text of an error body in the shapes seen from
// api.bitrise.io: {"message"} (spec), {"error_msg"}, {"error"}, else raw.
func errorMessage(body []byte) string {
	var fields map[string]any
	if json.Unmarshal(body, &fields) == nil {
		for _, key := range []string{"message", "error_msg", "error"} {
			if s, ok := fields[key].(string); ok && strings.TrimSpace(s) != "" {
				return s
			}
		}
	}
	return string(body)
}

// redactor replaces the sensitive values of one request. Servers and proxies
// echo requests in error texts, and those texts end up in conditions.
type redactor []string

func newRedactor(values ...string) redactor {
	var r redactor
	for _, v := range values {
		if v == "" {
			continue
		}
		// An echoed JSON body carries the escaped form of the value.
		r = append(r, v, jsonEscaped(v, true), jsonEscaped(v, false))
	}
	// Longest first, so that a value containing another is hidden whole.
	slices.SortFunc(r, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return slices.Compact(r)
}

func jsonEscaped(s string, escapeHTML bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s)
	quoted := strings.TrimSpace(b.String())
	return quoted[1 : len(quoted)-1]
}

func (r redactor) redact(s string) string {
	for _, v := range r {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// cleanMessage redacts before truncating, so that a value cut in half at the
// limit cannot leak its first part.
func (r redactor) cleanMessage(s string) string {
	s = strings.Join(strings.Fields(r.redact(s)), " ")
	if len(s) <= maxMessageLen {
		return s
	}
	cut := maxMessageLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// parseRetryAfter reads delta-seconds or an HTTP date; 0 when absent or
// past, and at most MaxPause.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}
	if secs, err := strconv.Atoi(value); err == nil {
		return time.Duration(min(max(secs, 0), int(MaxPause/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil {
		return min(max(at.Sub(now), 0), MaxPause)
	}
	return 0
}
