package controller

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	toolscache "k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// secretEvents is a source of reconcile requests from Secret events that
// keeps no Secret in memory: a metadata-only watch, not an informer, so the
// Secrets of the cluster cost the manager nothing however many there are.
// Each event is mapped, through the field index, to the resources that
// reference the Secret. When the watch has to start over (its resource
// version expired), every resource referencing a Secret is requeued, since
// events may have been missed; the periodic drift check re-reads Secrets
// anyway.
func (r *OutgoingWebhookReconciler) secretEvents(md metadata.Interface, namespaces []string) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		if len(namespaces) == 0 {
			namespaces = []string{metav1.NamespaceAll}
		}
		for _, ns := range namespaces {
			go r.watchSecrets(ctx, md, ns, q)
		}
		return nil
	})
}

func (r *OutgoingWebhookReconciler) watchSecrets(ctx context.Context, md metadata.Interface, namespace string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	watchSecretMetadata(ctx, md, namespace,
		func(restarts int) {
			if restarts > 0 {
				r.enqueueAllWithSecrets(ctx, q)
			}
		},
		func(secret *metav1.PartialObjectMetadata) {
			for _, req := range r.requestsForSecret(ctx, secret) {
				q.Add(req)
			}
		})
}

// watchSecretMetadata watches the metadata of the Secrets of one namespace
// (metav1.NamespaceAll: every namespace) until ctx ends, calling onEvent for
// each added, changed or deleted Secret. started is called each time the
// watch (re)starts, with the number of restarts so far (0 the first time):
// after a restart, events may have been missed. Failures to list or watch
// (RBAC, say) are logged and retried with a capped exponential backoff.
func watchSecretMetadata(ctx context.Context, md metadata.Interface, namespace string, started func(restarts int), onEvent func(*metav1.PartialObjectMetadata)) {
	log := logf.FromContext(ctx).WithValues("watch", "secrets", "namespace", namespace)
	secrets := md.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(namespace)
	backoff := time.Duration(0)
	for restarts := 0; ctx.Err() == nil; restarts++ {
		// The list only fetches a resource version to watch from.
		list, err := secrets.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			log.Error(err, "listing Secrets to start watching them")
			backoff = sleepBackoff(ctx, backoff)
			continue
		}
		w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &toolscache.ListWatch{
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return secrets.Watch(ctx, opts)
			},
		})
		if err != nil {
			log.Error(err, "watching Secrets")
			backoff = sleepBackoff(ctx, backoff)
			continue
		}
		started(restarts)
		backoff = time.Second
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				break // expired: start over
			}
			if obj, ok := ev.Object.(*metav1.PartialObjectMetadata); ok {
				onEvent(obj)
			}
		}
		w.Stop()
	}
}

func (r *OutgoingWebhookReconciler) enqueueAllWithSecrets(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := r.List(ctx, &list); err != nil {
		return
	}
	for i := range list.Items {
		if len(secretNames(&list.Items[i])) > 0 {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
}

// sleepBackoff sleeps for last (the first time not at all) and returns the
// next step of a capped exponential backoff.
func sleepBackoff(ctx context.Context, last time.Duration) time.Duration {
	if last == 0 {
		return time.Second
	}
	select {
	case <-ctx.Done():
	case <-time.After(last):
	}
	return min(2*last, time.Minute)
}
