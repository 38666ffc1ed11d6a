package controller

import (
	"errors"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

func TestBuildDesired(t *testing.T) {
	spec := webhooksv1alpha1.OutgoingWebhookSpec{
		URL:     "https://x.example.com",
		Events:  []webhooksv1alpha1.Event{"pipeline", "build"},
		Headers: map[string]string{"X-Inline": "a"},
	}
	secret := func(data map[string]string) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		return s
	}
	tests := []struct {
		name        string
		secret      *corev1.Secret
		wantHeaders map[string]string
		wantSecret  string
		wantReason  string
		wantMsg     string
	}{
		{name: "no secret", wantHeaders: map[string]string{"X-Inline": "a"}},
		{name: "secret only", secret: secret(map[string]string{"secret": "s3"}), wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: "s3"},
		{name: "yaml headers", secret: secret(map[string]string{"headers": "Authorization: Bearer abc\nX-Num: 42\nX-Flag: true\n"}),
			wantHeaders: map[string]string{"X-Inline": "a", "Authorization": "Bearer abc", "X-Num": "42", "X-Flag": "true"}},
		{name: "json headers", secret: secret(map[string]string{"headers": `{"X-Key":"v"}`, "secret": "s"}),
			wantHeaders: map[string]string{"X-Inline": "a", "X-Key": "v"}, wantSecret: "s"},
		{name: "other keys ignored", secret: secret(map[string]string{"secret": "s", "token": "t", "X-Other": "o"}),
			wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: "s"},
		{name: "neither key", secret: secret(map[string]string{"token": "t"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "neither key"},
		{name: "list", secret: secret(map[string]string{"headers": "- hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "not a YAML or JSON map"},
		{name: "nested value", secret: secret(map[string]string{"headers": "X-A: {b: hidden-value}"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "not a string"},
		{name: "bad name", secret: secret(map[string]string{"headers": "X A: hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "not a valid HTTP header name"},
		{name: "conflict", secret: secret(map[string]string{"headers": "X-Inline: hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "defined both"},

		// Secrets made with --from-file: one trailing line ending is not part of the secret.
		{name: "secret LF", secret: secret(map[string]string{"secret": "s3cr3t\n"}), wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: "s3cr3t"},
		{name: "secret CRLF", secret: secret(map[string]string{"secret": "s3cr3t\r\n"}), wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: "s3cr3t"},
		{name: "secret only one line ending", secret: secret(map[string]string{"secret": "s3cr3t\n\n"}), wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: "s3cr3t\n"},
		{name: "secret spaces kept", secret: secret(map[string]string{"secret": " s3 "}), wantHeaders: map[string]string{"X-Inline": "a"}, wantSecret: " s3 "},
		// Fail closed on an empty secret or header value.
		{name: "empty secret", secret: secret(map[string]string{"secret": ""}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `key "secret" of Secret s is empty`},
		{name: "secret only a newline", secret: secret(map[string]string{"secret": "\n", "headers": "X-A: hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `key "secret" of Secret s is empty`},
		{name: "empty header value", secret: secret(map[string]string{"headers": `X-A: ""`}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `header "X-A": the value is empty`},
		{name: "missing header value", secret: secret(map[string]string{"headers": "X-B: hidden-value\nX-A:\n"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `header "X-A": the value is empty`},
		// Header values: literal text, one line, at most 8 KiB.
		{name: "literal scalars", secret: secret(map[string]string{"headers": literalScalars}),
			wantHeaders: withHeader(literalScalarValues, "X-Inline", "a")},
		{name: "json scalars", secret: secret(map[string]string{"headers": `{"X-Version": 1.10, "X-Big": 12345678901234567890, "X-Flag": true, "X-Str": "v"}`}),
			wantHeaders: map[string]string{"X-Inline": "a", "X-Version": "1.10", "X-Big": "12345678901234567890", "X-Flag": "true", "X-Str": "v"}},
		{name: "empty headers key", secret: secret(map[string]string{"headers": "# none yet\n"}), wantHeaders: map[string]string{"X-Inline": "a"}},
		{name: "list value", secret: secret(map[string]string{"headers": "X-A: [hidden-value]"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `header "X-A" is not a string`},
		{name: "block scalar keeps its newline", secret: secret(map[string]string{"headers": "X-A: |\n  hidden-value\n"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "line break"},
		{name: "CR in value", secret: secret(map[string]string{"headers": `X-A: "hidden-value\rX-B: 1"`}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "line break"},
		{name: "LF in value", secret: secret(map[string]string{"headers": `{"X-A": "hidden-value\nX-B: 1"}`}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "line break"},
		{name: "8 KiB value", secret: secret(map[string]string{"headers": "X-A: " + strings.Repeat("h", 8192)}),
			wantHeaders: map[string]string{"X-Inline": "a", "X-A": strings.Repeat("h", 8192)}},
		{name: "longer than 8 KiB", secret: secret(map[string]string{"headers": "X-A: hidden-value" + strings.Repeat("h", 8192)}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "longer than 8 KiB"},
		// Header names are case-insensitive.
		{name: "conflict in other case", secret: secret(map[string]string{"headers": "x-inline: hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `header "x-inline" is defined both in spec.headers (as "X-Inline")`},
		{name: "twice in the Secret", secret: secret(map[string]string{"headers": "X-Team: hidden-value\nx-team: hidden-value\n"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `defined twice (as "X-Team" and "x-team")`},
		{name: "twice in the Secret, same case", secret: secret(map[string]string{"headers": "X-Team: hidden-value\nX-Team: hidden-value\n"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: `"X-Team" is defined twice`},
		{name: "quote in name (not in the CRD's rule)", secret: secret(map[string]string{"headers": "X'A: hidden-value"}), wantReason: webhooksv1alpha1.ReasonInvalidSecret, wantMsg: "not a valid HTTP header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := buildDesired(spec, tt.secret)
			if tt.wantReason != "" {
				var s *stalledError
				if !errors.As(err, &s) || s.reason != tt.wantReason || !strings.Contains(s.message, tt.wantMsg) {
					t.Fatalf("got error %v, want %s containing %q", err, tt.wantReason, tt.wantMsg)
				}
				if strings.Contains(s.message, "hidden-value") {
					t.Fatalf("message leaks a header value: %s", s.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Secret != tt.wantSecret || !maps.Equal(d.Headers, tt.wantHeaders) || strings.Join(d.Events, ",") != "build,pipeline" {
				t.Fatalf("got %+v", d)
			}
		})
	}
}

// literalScalars holds the unquoted values users write in a `headers` key,
// which YAML 1.1 would turn into other values.
const literalScalars = `X-Version: 1.10
X-Country: NO
X-Flag: on
X-Yes: yes
X-Id: 0123
X-Octal: 0o17
X-Hex: 0x1F
X-Big: 12345678901234567890
X-Tilde: ~
X-Null: null
X-Exp: 1e3
X-Inf: .inf
X-Nan: .NaN
X-Date: 2001-12-14
X-Quoted: "1.10"
X-Single: 'it''s'
X-Escaped: "tab\there"
X-Block: |-
  line one
X-Folded: >-
  folded
  text
X-Tagged: !!int 42
X-Alias: &country NO
X-Neg: -0
X-Colon: "a: b"
`

// literalScalarValues is what Bitrise must receive for literalScalars.
var literalScalarValues = map[string]string{
	"X-Version": "1.10", "X-Country": "NO", "X-Flag": "on", "X-Yes": "yes", "X-Id": "0123", "X-Octal": "0o17", "X-Hex": "0x1F",
	"X-Big": "12345678901234567890", "X-Tilde": "~", "X-Null": "null", "X-Exp": "1e3", "X-Inf": ".inf", "X-Nan": ".NaN",
	"X-Date": "2001-12-14", "X-Quoted": "1.10", "X-Single": "it's", "X-Escaped": "tab\there", "X-Block": "line one", "X-Folded": "folded text",
	"X-Tagged": "42", "X-Alias": "NO", "X-Neg": "-0", "X-Colon": "a: b",
}

func withHeader(headers map[string]string, name, value string) map[string]string {
	out := maps.Clone(headers)
	out[name] = value
	return out
}

func TestBuildDesiredDuplicateInlineNames(t *testing.T) {
	spec := webhooksv1alpha1.OutgoingWebhookSpec{URL: "https://x", Headers: map[string]string{"X-Team": "a", "x-team": "b"}}
	_, err := buildDesired(spec, nil)
	var s *stalledError
	if !errors.As(err, &s) || s.reason != webhooksv1alpha1.ReasonInvalidSecret || !strings.Contains(s.message, `defined twice in spec.headers (as "X-Team" and "x-team")`) {
		t.Fatalf("got %v, want InvalidSecret naming both spellings", err)
	}
}

func TestNeedsUpdate(t *testing.T) {
	d := desiredWebhook{URL: "https://a", Events: []string{"build", "pipeline"}, Headers: map[string]string{}}
	tests := []struct {
		name   string
		remote bitrise.Webhook
		want   bool
	}{
		{"same, events in another order, nil headers", bitrise.Webhook{URL: "https://a", Events: []string{"pipeline", "build"}}, false},
		{"url", bitrise.Webhook{URL: "https://b", Events: []string{"build", "pipeline"}}, true},
		{"events", bitrise.Webhook{URL: "https://a", Events: []string{"build"}}, true},
		{"extra header", bitrise.Webhook{URL: "https://a", Events: []string{"build", "pipeline"}, Headers: map[string]string{"X": "1"}}, true},
	}
	h := desiredWebhook{URL: "https://a", Events: []string{"build"}, Headers: map[string]string{"X-Team": "a", "Authorization": "t"}}
	headerTests := []struct {
		name   string
		remote map[string]string
		want   bool
	}{
		{"same", map[string]string{"X-Team": "a", "Authorization": "t"}, false},
		{"names in another case", map[string]string{"x-team": "a", "AUTHORIZATION": "t"}, false},
		{"value in another case", map[string]string{"X-Team": "A", "Authorization": "t"}, true},
		{"one missing", map[string]string{"X-Team": "a"}, true},
		{"one missing, one twice", map[string]string{"X-Team": "a", "x-team": "a"}, true},
		{"renamed", map[string]string{"X-Team": "a", "Authorisation": "t"}, true},
	}
	for _, tt := range headerTests {
		if got := needsUpdate(h, bitrise.Webhook{URL: "https://a", Events: []string{"build"}, Headers: tt.remote}); got != tt.want {
			t.Errorf("headers %s: needsUpdate = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, tt := range tests {
		if got := needsUpdate(d, tt.remote); got != tt.want {
			t.Errorf("%s: needsUpdate = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFindAdoptable(t *testing.T) {
	hooks := []bitrise.Webhook{
		{Slug: "addon", URL: "https://u", RegisteredByAddon: true},
		{Slug: "owned", URL: "https://u"},
		{Slug: "other-url", URL: "https://v"},
		{Slug: "free", URL: "https://u"},
	}
	got := findAdoptable(hooks, "https://u", map[string]string{"owned": "ns/other"})
	if got == nil || got.Slug != "free" {
		t.Fatalf("got %+v, want the free webhook", got)
	}
	if findAdoptable(hooks[:3], "https://u", map[string]string{"owned": "ns/other"}) != nil {
		t.Fatal("adopted an addon's or another resource's webhook")
	}
}
