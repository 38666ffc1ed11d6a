package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
)

// maxNameLength keeps generated names valid as DNS-1123 labels (RFC 1123),
// the strictest rule Kubernetes applies to names, so that they also fit in
// label values.
const maxNameLength = 63

// nameSource is what a generated name is derived from: the webhook's URL,
// and, to break ties, its slug and creation time.
type nameSource struct {
	URL       string
	Slug      string
	CreatedAt string // RFC 3339; orders webhooks sharing a base name
}

// baseName derives a DNS-1123 label from the host (with port) and path of
// rawURL: lower case, every run of other characters turned into one `-`,
// at most 63 characters, never starting or ending with `-`. The query and
// fragment are ignored. A URL with nothing usable gives "webhook".
func baseName(rawURL string) string {
	var source string
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		source = u.Host + u.Path
	} else {
		source = rawURL
	}
	return truncateLabel(sanitizeLabel(source), maxNameLength, "webhook")
}

// sanitizeLabel lower-cases s and replaces every run of characters other
// than [a-z0-9] with one `-`, trimming `-` at both ends.
func sanitizeLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// truncateLabel cuts s to at most n characters without a trailing `-`, and
// returns fallback for an empty result.
func truncateLabel(s string, n int, fallback string) string {
	if len(s) > n {
		s = strings.TrimRight(s[:n], "-")
	}
	if s == "" {
		return fallback
	}
	return s
}

// slugSuffix is the tie-breaking suffix of a webhook: the last 8 letters and
// digits of its slug in lower case (Bitrise slugs are ULIDs, whose tail is
// random), or 8 hex digits of the SHA-256 of the slug when it has fewer
// than 6 letters and digits.
func slugSuffix(slug string) string {
	clean := sanitizeLabel(slug)
	clean = strings.ReplaceAll(clean, "-", "")
	if len(clean) >= 6 {
		return clean[max(0, len(clean)-8):]
	}
	return shortHash(slug)
}

// shortHash is 8 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// withSuffix appends `-suffix` to base, shortening base so that the result
// fits in 63 characters.
func withSuffix(base, suffix string) string {
	return truncateLabel(base, maxNameLength-1-len(suffix), "webhook") + "-" + suffix
}

// assignNames gives every source a unique DNS-1123 name, stable across runs:
// the base name of its URL; among sources sharing a base name, the oldest
// (by CreatedAt, then slug) keeps it and the others get a suffix from their
// slug (a hash of the slug, and then a longer one, if that is taken too).
// The result is in the order of sources.
func assignNames(sources []nameSource) []string {
	names := make([]string, len(sources))
	order := make([]int, len(sources))
	for i := range sources {
		order[i] = i
		names[i] = baseName(sources[i].URL)
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(
			cmp.Compare(sources[a].CreatedAt, sources[b].CreatedAt),
			cmp.Compare(sources[a].Slug, sources[b].Slug),
		)
	})

	taken := map[string]bool{}
	var later []int
	// Bare names first, so that a suffixed name never takes another
	// webhook's bare name.
	for _, i := range order {
		if taken[names[i]] {
			later = append(later, i)
			continue
		}
		taken[names[i]] = true
	}
	for _, i := range later {
		base := names[i]
		candidates := []string{
			withSuffix(base, slugSuffix(sources[i].Slug)),
			withSuffix(base, shortHash(sources[i].Slug)),
		}
		name := ""
		for _, c := range candidates {
			if !taken[c] {
				name = c
				break
			}
		}
		for n := 1; name == ""; n++ {
			c := withSuffix(base, shortHash(sources[i].Slug+"/"+strings.Repeat("x", n)))
			if !taken[c] {
				name = c
			}
		}
		taken[name] = true
		names[i] = name
	}
	return names
}
