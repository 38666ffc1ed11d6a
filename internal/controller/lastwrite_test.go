package controller

import (
	"strings"
	"testing"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// digestingReconciler is a reconciler with a fresh digest key, enough for
// the pure lastWrite functions.
func digestingReconciler(t *testing.T) *OutgoingWebhookReconciler {
	t.Helper()
	key, err := secretdigest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dg, err := secretdigest.NewDigester(key)
	if err != nil {
		t.Fatal(err)
	}
	return &OutgoingWebhookReconciler{Digests: dg}
}

func TestNeedsWrite(t *testing.T) {
	r := digestingReconciler(t)
	desired := desiredWebhook{
		URL:           "https://Hooks.example.com/x",
		Events:        []string{"build", "pipeline"},
		Headers:       map[string]string{"X-Team": "a", "Authorization": "tok"},
		secretHeaders: []string{"Authorization"},
	}
	exact := bitrise.Webhook{URL: desired.URL, Events: []string{"pipeline", "build"}, Headers: map[string]string{"X-Team": "a", "Authorization": "tok"}}
	normalised := bitrise.Webhook{URL: "https://hooks.example.com/x/", Events: []string{"build", "pipeline"}, Headers: map[string]string{"x-team": "a", "Authorization": "********"}}
	with := func(w bitrise.Webhook, mutate func(*bitrise.Webhook)) bitrise.Webhook {
		w = bitrise.Webhook{URL: w.URL, Events: append([]string{}, w.Events...), Headers: map[string]string{}}
		for k, v := range normalised.Headers {
			w.Headers[k] = v
		}
		mutate(&w)
		return w
	}
	record := func(d desiredWebhook, answer *bitrise.Webhook) *webhooksv1alpha1.LastWrite {
		lw, err := r.sentDigest(d)
		if err != nil {
			t.Fatal(err)
		}
		if answer != nil {
			if err := r.answeredDigest(lw, d, *answer); err != nil {
				t.Fatal(err)
			}
		}
		return lw
	}
	changedSecretHeader := desired
	changedSecretHeader.Headers = map[string]string{"X-Team": "a", "Authorization": "new-tok"}
	// What an API answered that masks differently in lists: the answer to
	// the write itself was verbatim.
	verbatimAnswer := exact

	tests := []struct {
		name   string
		d      desiredWebhook
		remote bitrise.Webhook
		lw     *webhooksv1alpha1.LastWrite
		want   bool
	}{
		{"no record, equal", desired, exact, nil, false},
		{"no record, normalised: written once", desired, normalised, nil, true},
		{"remote is the answer to our write", desired, normalised, record(desired, &normalised), false},
		{"answered verbatim, listed masked", desired, normalised, record(desired, &verbatimAnswer), false},
		{"lost answer, same but for form", desired, normalised, record(desired, nil), false},
		{"sensitive header omitted", desired, with(normalised, func(w *bitrise.Webhook) { delete(w.Headers, "Authorization") }), record(desired, &verbatimAnswer), false},
		{"sensitive header with another value", desired, with(normalised, func(w *bitrise.Webhook) { w.Headers["Authorization"] = "other" }), record(desired, &verbatimAnswer), true},
		{"plain header masked", desired, with(normalised, func(w *bitrise.Webhook) { w.Headers["x-team"] = "***" }), record(desired, &verbatimAnswer), true},
		{"plain header omitted", desired, with(normalised, func(w *bitrise.Webhook) { delete(w.Headers, "x-team") }), record(desired, &verbatimAnswer), true},
		{"extra header", desired, with(normalised, func(w *bitrise.Webhook) { w.Headers["X-Extra"] = "1" }), record(desired, &normalised), true},
		{"URL changed outside", desired, with(normalised, func(w *bitrise.Webhook) { w.URL = "https://hooks.example.com/y" }), record(desired, &normalised), true},
		{"events changed outside", desired, with(normalised, func(w *bitrise.Webhook) { w.Events = []string{"all"} }), record(desired, &normalised), true},
		{"secret header value changed, remote masked", changedSecretHeader, normalised, record(desired, &normalised), true},
		{"spec URL changed", desiredWebhook{URL: "https://hooks.example.com/z", Events: desired.Events, Headers: desired.Headers, secretHeaders: desired.secretHeaders}, normalised, record(desired, &normalised), true},
		{"malformed record", desired, normalised, &webhooksv1alpha1.LastWrite{Sent: "sha256:00", Answer: "$argon2id$nope"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.needsWrite(tt.d, tt.remote, tt.lw); got != tt.want {
				t.Errorf("needsWrite = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWriteDigestKeepsSecretHeadersOut(t *testing.T) {
	r := digestingReconciler(t)
	plain := desiredWebhook{URL: "https://h.test/x", Events: []string{"build"}, Headers: map[string]string{"X-Team": "a"}}
	lw, err := r.sentDigest(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(lw.Sent) != len(sha256Prefix)+64 || lw.Sent[:len(sha256Prefix)] != sha256Prefix {
		t.Errorf("a digest of spec values only is a SHA-256, got %q", lw.Sent)
	}
	sensitive := plain
	sensitive.Headers = map[string]string{"Authorization": "weak"}
	sensitive.secretHeaders = []string{"Authorization"}
	lw, err = r.sentDigest(sensitive)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lw.Sent, "$hmac-sha256$") || strings.Contains(lw.Sent, "weak") {
		t.Errorf("a digest of a header value from the Secret is keyed, got %q", lw.Sent)
	}
	if !r.lastSent(lw, sensitive) || r.lastSent(lw, plain) {
		t.Error("lastSent does not tell the two apart")
	}
}
