package controller

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// unitDigester returns a Digester with a fresh key.
func unitDigester(t *testing.T) *secretdigest.Digester {
	t.Helper()
	return digestingReconciler(t).Digests
}

// signedMarker returns a resource with a marker the operator signed, as
// create writes it.
func signedMarker(t *testing.T, d *secretdigest.Digester) *webhooksv1alpha1.OutgoingWebhook {
	t.Helper()
	digest, err := d.Digest("the-secret")
	if err != nil {
		t.Fatal(err)
	}
	obj := &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", UID: "uid-a", Annotations: map[string]string{
			webhooksv1alpha1.CreatePendingAnnotation:             "https://hooks.example.com/a",
			webhooksv1alpha1.CreatePendingSecretDigestAnnotation: digest,
			webhooksv1alpha1.CreatePendingSentAnnotation:         "$sent",
		}},
		Spec: webhooksv1alpha1.OutgoingWebhookSpec{AppSlug: "app1", URL: "https://hooks.example.com/a"},
	}
	signPending(d, obj)
	return obj
}

func TestPendingMarkerTampering(t *testing.T) {
	d := unitDigester(t)
	if got := pendingStateOf(d, signedMarker(t, d)); got != pendingVerified {
		t.Fatalf("the operator's own marker: %v, want verified", got)
	}
	tests := map[string]func(o *webhooksv1alpha1.OutgoingWebhook){
		"edited URL": func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations[webhooksv1alpha1.CreatePendingAnnotation] = "https://hooks.example.com/theirs"
		},
		"edited digest": func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations[webhooksv1alpha1.CreatePendingSecretDigestAnnotation] += "x"
		},
		"digest removed": func(o *webhooksv1alpha1.OutgoingWebhook) {
			delete(o.Annotations, webhooksv1alpha1.CreatePendingSecretDigestAnnotation)
		},
		"sent edited": func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations[webhooksv1alpha1.CreatePendingSentAnnotation] = ""
		},
		"copied to another resource (another UID)": func(o *webhooksv1alpha1.OutgoingWebhook) { o.UID = "uid-b" },
		"another app": func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.AppSlug = "app2" },
		"missing signature": func(o *webhooksv1alpha1.OutgoingWebhook) {
			delete(o.Annotations, webhooksv1alpha1.CreatePendingSignatureAnnotation)
		},
		"signature without a marker": func(o *webhooksv1alpha1.OutgoingWebhook) {
			delete(o.Annotations, webhooksv1alpha1.CreatePendingAnnotation)
		},
		"a digest as the signature": func(o *webhooksv1alpha1.OutgoingWebhook) {
			// status.secretDigest is an HMAC under the digest key of a value
			// the user chose: it must not pass for a signature.
			o.Annotations[webhooksv1alpha1.CreatePendingSignatureAnnotation] = o.Annotations[webhooksv1alpha1.CreatePendingSecretDigestAnnotation]
		},
		"hand-written, no signature": func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: "https://hooks.example.com/theirs"}
		},
	}
	for name, tamper := range tests {
		t.Run(name, func(t *testing.T) {
			obj := signedMarker(t, d)
			tamper(obj)
			if got := pendingStateOf(d, obj); got != pendingForged {
				t.Errorf("state = %v, want forged", got)
			}
		})
	}
	t.Run("signed by another operator's key", func(t *testing.T) {
		if got := pendingStateOf(unitDigester(t), signedMarker(t, d)); got != pendingForged {
			t.Errorf("state = %v, want forged", got)
		}
	})
	t.Run("the spec and generation may change", func(t *testing.T) {
		obj := signedMarker(t, d)
		obj.Spec.URL = "https://hooks.example.com/moved"
		obj.Generation = 7
		if got := pendingStateOf(d, obj); got != pendingVerified {
			t.Errorf("state = %v, want verified: a lost create is found after a spec change", got)
		}
	})
	if got := pendingStateOf(d, &webhooksv1alpha1.OutgoingWebhook{}); got != pendingNone {
		t.Errorf("no annotations: %v, want none", got)
	}
}

func TestPendingTamperedPredicate(t *testing.T) {
	d := unitDigester(t)
	p := pendingTampered{digests: d}
	bare := signedMarker(t, d)
	clearPending(bare)
	signed := signedMarker(t, d)
	forged := signedMarker(t, d)
	forged.Annotations[webhooksv1alpha1.CreatePendingAnnotation] = "https://hooks.example.com/theirs"
	other := signed.DeepCopy()
	other.Annotations["unrelated"] = "x"
	for name, tt := range map[string]struct {
		old, new *webhooksv1alpha1.OutgoingWebhook
		want     bool
	}{
		"the operator writes its marker":  {bare, signed, false},
		"the operator clears its marker":  {signed, bare, false},
		"a user edits the marker":         {signed, forged, true},
		"a user writes a marker":          {bare, forged, true},
		"another annotation changes":      {signed, other, false},
		"a forged marker stays as it was": {forged, forged.DeepCopy(), false},
	} {
		if got := p.Update(event.UpdateEvent{ObjectOld: tt.old, ObjectNew: tt.new}); got != tt.want {
			t.Errorf("%s: %v, want %v", name, got, tt.want)
		}
	}
}
