package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// pendingSignaturePurpose is the purpose the create-pending signature is
// made for (secretdigest.Digester.Sign derives a key of its own for it).
const pendingSignaturePurpose = "create-pending-signature"

// eventPendingRejected is the Warning event of a create-pending marker
// whose signature does not verify.
const eventPendingRejected = "CreatePendingRejected"

// pendingMarkerKeys are the create-pending annotations the signature
// covers, in the order they are signed.
var pendingMarkerKeys = []string{
	webhooksv1alpha1.CreatePendingAnnotation,
	webhooksv1alpha1.CreatePendingSecretDigestAnnotation,
	webhooksv1alpha1.CreatePendingSentAnnotation,
}

// pendingAllKeys are pendingMarkerKeys and the signature.
var pendingAllKeys = []string{
	webhooksv1alpha1.CreatePendingAnnotation,
	webhooksv1alpha1.CreatePendingSecretDigestAnnotation,
	webhooksv1alpha1.CreatePendingSentAnnotation,
	webhooksv1alpha1.CreatePendingSignatureAnnotation,
}

// pendingSignedParts is what the create-pending signature covers: the
// resource's UID (so that a marker copied to another resource does not
// verify), spec.appSlug (nor one kept across a change of app), and the
// presence and value of each annotation of pendingMarkerKeys (nor one
// edited, added to or cut). Not the generation: a lost create must still be
// found after a change of the spec.
func pendingSignedParts(obj *webhooksv1alpha1.OutgoingWebhook) []string {
	parts := []string{string(obj.UID), obj.Spec.AppSlug}
	for _, key := range pendingMarkerKeys {
		v, ok := obj.Annotations[key]
		present := "0"
		if ok {
			present = "1"
		}
		parts = append(parts, key, present, v)
	}
	return parts
}

// signPending stores the signature of obj's create-pending annotations,
// to be written in the same patch as they are.
func signPending(d *secretdigest.Digester, obj *webhooksv1alpha1.OutgoingWebhook) {
	obj.Annotations[webhooksv1alpha1.CreatePendingSignatureAnnotation] =
		d.Sign(pendingSignaturePurpose, pendingSignedParts(obj)...)
}

// pendingMarkerState tells what obj's create-pending annotations are worth.
type pendingMarkerState int

const (
	// pendingNone: no create-pending annotation at all.
	pendingNone pendingMarkerState = iota
	// pendingVerified: the operator's own marker for this resource.
	pendingVerified
	// pendingForged: some create-pending annotation whose signature does
	// not verify, or a signature without a marker.
	pendingForged
)

// pendingStateOf checks obj's create-pending annotations against their
// signature.
func pendingStateOf(d *secretdigest.Digester, obj *webhooksv1alpha1.OutgoingWebhook) pendingMarkerState {
	sig, signed := obj.Annotations[webhooksv1alpha1.CreatePendingSignatureAnnotation]
	_, marked := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	if !marked {
		for _, key := range pendingMarkerKeys {
			if _, ok := obj.Annotations[key]; ok {
				return pendingForged
			}
		}
		if signed {
			return pendingForged
		}
		return pendingNone
	}
	if signed && d.Verify(pendingSignaturePurpose, sig, pendingSignedParts(obj)...) {
		return pendingVerified
	}
	return pendingForged
}

// rejectForgedPending removes a create-pending marker that does not verify
// from obj (the next patch writes it), so that nothing in this pass or
// later is decided by it, and records a Warning event. Neither the event
// nor the log quotes the annotations' values: they may name another
// resource's webhook. It reports whether a marker was rejected.
func (r *OutgoingWebhookReconciler) rejectForgedPending(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) bool {
	if pendingStateOf(r.Digests, obj) != pendingForged {
		return false
	}
	clearPending(obj)
	logf.FromContext(ctx).Info("removed a create-pending marker that the operator did not write for this resource")
	r.event(obj, corev1.EventTypeWarning, eventPendingRejected,
		"Removed and ignored the annotations %s*: the operator did not write them for this resource (they were set by hand, copied or edited), so they cannot decide which remote webhook is adopted or deleted",
		webhooksv1alpha1.CreatePendingAnnotation)
	return true
}

// pendingTampered passes updates that change the create-pending
// annotations into a marker that does not verify, so that it is removed at
// once. The operator's own writes (a signed marker, or none) pass nothing.
type pendingTampered struct {
	predicate.Funcs
	digests *secretdigest.Digester
}

func (p pendingTampered) Update(e event.UpdateEvent) bool {
	oldObj, okOld := e.ObjectOld.(*webhooksv1alpha1.OutgoingWebhook)
	newObj, okNew := e.ObjectNew.(*webhooksv1alpha1.OutgoingWebhook)
	if !okOld || !okNew || !pendingAnnotationsChanged(oldObj, newObj) {
		return false
	}
	return pendingStateOf(p.digests, newObj) == pendingForged
}

func pendingAnnotationsChanged(a, b *webhooksv1alpha1.OutgoingWebhook) bool {
	for _, key := range pendingAllKeys {
		va, oka := a.Annotations[key]
		vb, okb := b.Annotations[key]
		if va != vb || oka != okb {
			return true
		}
	}
	return false
}
