package main

import (
	"regexp"
	"strings"
	"testing"
)

var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func TestBaseName(t *testing.T) {
	long := "https://hooks.example.com/" + strings.Repeat("very-long-segment/", 10)
	for _, tc := range []struct{ url, want string }{
		{"https://hooks.example.com/bitrise/builds", "hooks-example-com-bitrise-builds"},
		{"https://Hooks.Example.COM/Bitrise_Builds/", "hooks-example-com-bitrise-builds"},
		{"https://hooks.example.com:8443/x?token=abc#frag", "hooks-example-com-8443-x"},
		{"https://hooks.example.com", "hooks-example-com"},
		{"https://10.0.0.1/%E2%9C%93/a--b", "10-0-0-1-a-b"},
		{"https://___/", "webhook"},
		{long, "hooks-example-com-very-long-segment-very-long-segment-very-long"},
	} {
		got := baseName(tc.url)
		if got != tc.want {
			t.Errorf("baseName(%q) = %q, want %q", tc.url, got, tc.want)
		}
		if len(got) > 63 || !dns1123Label.MatchString(got) {
			t.Errorf("baseName(%q) = %q is not a DNS-1123 label", tc.url, got)
		}
	}
}

func TestAssignNamesUniqueAndStable(t *testing.T) {
	a := nameSource{URL: "https://hooks.example.com/builds", Slug: "01HZX8K3Q4ABCDEFGH12345678", CreatedAt: "2026-01-01T00:00:00Z"}
	// Same host and path as a, a different query: the older keeps the bare name.
	b := nameSource{URL: "https://hooks.example.com/builds?team=ios", Slug: "01J0000000ZYXWVUTS87654321", CreatedAt: "2026-02-01T00:00:00Z"}
	// Same URL in another app, created before b.
	c := nameSource{URL: "https://hooks.example.com/builds", Slug: "01HZZZZZZZQRSTUVWXYZ000000", CreatedAt: "2026-01-15T00:00:00Z"}
	d := nameSource{URL: "https://other.example.com/", Slug: "s1", CreatedAt: "2026-03-01T00:00:00Z"}

	got := assignNames([]nameSource{b, a, d, c})
	want := []string{"hooks-example-com-builds-87654321", "hooks-example-com-builds", "other-example-com", "hooks-example-com-builds-yz000000"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q (all: %q)", i, got[i], want[i], got)
		}
	}
	// Stable whatever the order of the input.
	again := assignNames([]nameSource{c, d, a, b})
	if again[2] != got[1] || again[3] != got[0] || again[0] != got[3] || again[1] != got[2] {
		t.Errorf("names depend on the input order: %q then %q", got, again)
	}
	// A short slug gives a hash suffix; every name is a DNS-1123 label.
	short := assignNames([]nameSource{a, {URL: a.URL, Slug: "x", CreatedAt: "2027-01-01T00:00:00Z"}})
	if short[1] != "hooks-example-com-builds-"+shortHash("x") {
		t.Errorf("short slug suffix: %q", short[1])
	}
	for _, n := range append(append(got, again...), short...) {
		if len(n) > 63 || !dns1123Label.MatchString(n) {
			t.Errorf("%q is not a DNS-1123 label", n)
		}
	}
}

func TestAssignNamesLongCollisionsFit(t *testing.T) {
	url := "https://hooks.example.com/" + strings.Repeat("segment/", 20)
	names := assignNames([]nameSource{
		{URL: url, Slug: "AAAAAAAAAA11111111", CreatedAt: "1"},
		{URL: url, Slug: "BBBBBBBBBB22222222", CreatedAt: "2"},
		{URL: url, Slug: "CCCCCCCCCC22222222", CreatedAt: "3"}, // same slug tail as the second
	})
	seen := map[string]bool{}
	for _, n := range names {
		if len(n) > 63 || !dns1123Label.MatchString(n) {
			t.Errorf("%q is not a DNS-1123 label", n)
		}
		if seen[n] {
			t.Errorf("duplicate name %q in %q", n, names)
		}
		seen[n] = true
	}
	if !strings.HasSuffix(names[1], "-22222222") || !strings.HasSuffix(names[2], "-"+shortHash("CCCCCCCCCC22222222")) {
		t.Errorf("suffixes: %q", names)
	}
}
