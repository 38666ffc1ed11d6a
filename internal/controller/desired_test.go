package controller

import (
	"errors"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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

func TestClaims(t *testing.T) {
	mk := func(name string, sec int64, url, slug string) webhooksv1alpha1.OutgoingWebhook {
		o := webhooksv1alpha1.OutgoingWebhook{}
		o.Name, o.Namespace, o.UID = name, "ns", types.UID(name)
		o.CreationTimestamp = metav1.Unix(sec, 0)
		o.Spec.URL, o.Status.Slug = url, slug
		return o
	}
	older := mk("older", 1, "https://u", "s1")
	other := mk("other", 1, "https://v", "s2")
	self := mk("self", 2, "https://u", "")
	peers := appPeers{older, other}
	if w := peers.claimedBy(&self); w == nil || w.Name != "older" {
		t.Fatalf("claimedBy = %v, want older", w)
	}
	if w := (appPeers{self, other}).claimedBy(&older); w != nil {
		t.Fatalf("the older resource must win, got %v", w.Name)
	}
	owned := (appPeers{self, other}).ownedSlugs(&older)
	if _, ok := owned["s2"]; !ok || len(owned) != 1 {
		t.Fatalf("ownedSlugs = %v", owned)
	}
}
