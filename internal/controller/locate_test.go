package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

func TestLocate(t *testing.T) {
	const specURL, sentURL = "https://spec.example/hook", "https://sent.example/hook"
	remote := []bitrise.Webhook{
		{Slug: "mine", URL: "https://old.example/hook"},
		{Slug: "at-sent", URL: sentURL},
		{Slug: "addon", URL: specURL, RegisteredByAddon: true},
		{Slug: "others", URL: specURL},
		{Slug: "at-spec", URL: specURL},
	}
	others := claimedWebhooks{slugs: map[string]string{"others": "ns/other"}}
	tests := []struct {
		name     string
		in       locateInput
		remote   []bitrise.Webhook
		wantSlug string
		wantHow  locateHow
		wantGone string
	}{
		{name: "by status slug, even with a marker",
			in:       locateInput{slug: "mine", pending: true, pendingURL: sentURL, specURL: specURL},
			wantSlug: "mine", wantHow: locateBySlug},
		{name: "a pending create is found by the URL it sent, not the spec's",
			in:       locateInput{pending: true, pendingURL: sentURL, specURL: specURL},
			wantSlug: "at-sent", wantHow: locatePendingCreate},
		{name: "a pending create not found by its URL falls back to adopting the spec's",
			in:       locateInput{pending: true, pendingURL: "https://nowhere.example", specURL: specURL},
			wantSlug: "at-spec", wantHow: locateAdopted},
		{name: "no slug, no marker: adopts the spec's URL, skipping addons and others' webhooks",
			in:       locateInput{specURL: specURL},
			wantSlug: "at-spec", wantHow: locateAdopted},
		{name: "a slug gone, then adopted by URL",
			in:       locateInput{slug: "deleted", specURL: specURL},
			wantSlug: "at-spec", wantHow: locateAdopted, wantGone: "deleted"},
		{name: "a slug gone and nothing to adopt",
			in:      locateInput{slug: "deleted", specURL: "https://free.example"},
			wantHow: locateNone, wantGone: "deleted"},
		{name: "nothing at all", in: locateInput{specURL: "https://free.example"}, wantHow: locateNone},
		{name: "no adoption at a URL another resource has a create pending for",
			in:      locateInput{specURL: "https://pending.example/hook"},
			remote:  []bitrise.Webhook{{Slug: "theirs", URL: "https://pending.example/hook"}},
			wantHow: locateNone},
		{name: "an empty observation", in: locateInput{slug: "mine", pending: true, pendingURL: sentURL, specURL: specURL},
			remote: []bitrise.Webhook{}, wantHow: locateNone, wantGone: "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list := remote
			if tt.remote != nil {
				list = tt.remote
			}
			claimed := others
			claimed.pendingURLs = []string{"https://PENDING.example:443/hook"}
			got := locate(tt.in, list, claimed)
			slug := ""
			if got.webhook != nil {
				slug = got.webhook.Slug
			}
			if slug != tt.wantSlug || got.how != tt.wantHow || got.goneSlug != tt.wantGone {
				t.Errorf("locate = (%q, %v, gone %q), want (%q, %v, gone %q)",
					slug, got.how, got.goneSlug, tt.wantSlug, tt.wantHow, tt.wantGone)
			}
		})
	}
}

func TestLocateInputOf(t *testing.T) {
	obj := &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{}},
		Spec:       webhooksv1alpha1.OutgoingWebhookSpec{URL: "https://spec.example"},
		Status:     webhooksv1alpha1.OutgoingWebhookStatus{Slug: "s1"},
	}
	if got := locateInputOf(obj); got != (locateInput{slug: "s1", specURL: "https://spec.example"}) {
		t.Errorf("no marker: %+v", got)
	}
	obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation] = "https://sent.example"
	if got := locateInputOf(obj); !got.pending || got.pendingURL != "https://sent.example" {
		t.Errorf("marker with its URL: %+v", got)
	}
	obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation] = "true"
	if got := locateInputOf(obj); !got.pending || got.pendingURL != "https://spec.example" {
		t.Errorf("marker without a URL: %+v, want the spec's URL", got)
	}
}
