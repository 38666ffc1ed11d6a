package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// patcher writes what changed in an object since the last snapshot: its
// metadata (finalizers, annotations) with an optimistic lock, then its
// status. Nothing is sent when nothing changed, so steady state writes
// nothing and does not re-trigger itself.
type patcher struct {
	client client.Client
	obj    *webhooksv1alpha1.OutgoingWebhook
	before *webhooksv1alpha1.OutgoingWebhook
}

func newPatcher(c client.Client, obj *webhooksv1alpha1.OutgoingWebhook) *patcher {
	return &patcher{client: c, obj: obj, before: obj.DeepCopy()}
}

func (p *patcher) patch(ctx context.Context) error {
	if err := p.patchMetadata(ctx); err != nil {
		return err
	}
	return p.patchStatus(ctx)
}

// patchMetadata writes the finalizers and annotations, if they changed,
// and leaves the status changes for a later patch.
func (p *patcher) patchMetadata(ctx context.Context) error {
	if metadataChanged(p.before, p.obj) {
		target := p.before.DeepCopy()
		target.Finalizers = p.obj.Finalizers
		target.Annotations = p.obj.Annotations
		if err := p.client.Patch(ctx, target, client.MergeFromWithOptions(p.before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("patching metadata: %w", err)
		}
		// The status diff below must hold status only.
		p.obj.ObjectMeta = *target.ObjectMeta.DeepCopy()
		p.before.ObjectMeta = *target.ObjectMeta.DeepCopy()
	}
	return nil
}

// patchStatus writes the status, if it changed.
func (p *patcher) patchStatus(ctx context.Context) error {
	statusPatch := client.MergeFrom(p.before)
	data, err := statusPatch.Data(p.obj)
	if err != nil {
		return err
	}
	if string(data) != "{}" {
		target := p.obj.DeepCopy()
		if err := p.client.Status().Patch(ctx, target, statusPatch); err != nil {
			return fmt.Errorf("patching status: %w", err)
		}
		p.obj.ResourceVersion = target.ResourceVersion
	}
	p.before = p.obj.DeepCopy()
	return nil
}

func metadataChanged(a, b *webhooksv1alpha1.OutgoingWebhook) bool {
	return !slices.Equal(a.Finalizers, b.Finalizers) || !maps.Equal(a.Annotations, b.Annotations)
}

// ensureFinalizerStored writes what changed, finalizer included, when the
// finalizer is not yet stored: before a write to Bitrise.
func (p *patcher) ensureFinalizerStored(ctx context.Context) error {
	if controllerutil.ContainsFinalizer(p.before, webhooksv1alpha1.Finalizer) {
		return nil
	}
	return p.patch(ctx)
}
