package controller

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// ownWrites remembers, per resource, the resourceVersion its last reconcile
// left it at. The manager's cache may not have caught up with a write yet
// when the next reconcile of the same resource starts (it was queued by a
// Secret event or a requeue, not by the watch event of the write): acting
// on that older copy would take the operator's own new webhook for one made
// by hand, or its own status for missing. A reconcile whose cached copy is
// not at the remembered version reads the resource from the API server
// instead. Nothing is remembered after a restart, so a restart costs no
// extra reads; a write by someone else costs one read, after which the
// cache is trusted again.
type ownWrites struct {
	versions sync.Map // types.NamespacedName -> resourceVersion string
}

// fresh returns obj if the cache is known to be at least at the version the
// reconciler last wrote, or else the resource as the API server has it
// (nil, nil when it is gone).
func (w *ownWrites) fresh(ctx context.Context, reader client.Reader, key types.NamespacedName, obj *webhooksv1alpha1.OutgoingWebhook) (*webhooksv1alpha1.OutgoingWebhook, error) {
	v, ok := w.versions.Load(key)
	if !ok || v.(string) == obj.ResourceVersion {
		return obj, nil
	}
	live := &webhooksv1alpha1.OutgoingWebhook{}
	if err := reader.Get(ctx, key, live); err != nil {
		if client.IgnoreNotFound(err) == nil {
			w.forget(key)
			return nil, nil
		}
		return nil, err
	}
	w.versions.Store(key, live.ResourceVersion)
	return live, nil
}

// wrote records the resourceVersion a reconcile left the resource at.
func (w *ownWrites) wrote(key types.NamespacedName, resourceVersion string) {
	w.versions.Store(key, resourceVersion)
}

// forget drops what is remembered of a resource that is gone.
func (w *ownWrites) forget(key types.NamespacedName) {
	w.versions.Delete(key)
}
