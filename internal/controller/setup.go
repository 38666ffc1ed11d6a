package controller

import (
	"context"
	"errors"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// Options tune the controller.
type Options struct {
	MaxConcurrentReconciles int
	// Namespaces limits the Secret watch to the watched namespaces; empty
	// watches all.
	Namespaces []string
	// Sharded says that the manager's cache holds only some OutgoingWebhooks
	// (--watch-namespace, --watch-label-selector): the claims of other
	// resources on an app and URL are then read from the API server.
	Sharded bool
}

// SetupWithManager registers the field indexes and the controller with its
// watches: OutgoingWebhooks (spec changes, reconcile requests, deletion),
// the Secrets they reference (by a metadata-only watch that caches nothing),
// the changes of the ClusterCredentials they use (through r.Credentials)
// and the labels of their namespaces (a metadata-only cache).
func (r *OutgoingWebhookReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if r.Digests == nil {
		return errors.New("OutgoingWebhookReconciler.Digests is required")
	}
	if r.Credentials == nil {
		return errors.New("OutgoingWebhookReconciler.Credentials is required")
	}
	if r.Observations == nil {
		r.Observations = bitrise.NewObservations()
	}
	if opts.Sharded {
		r.claimants = &claimantLister{reader: r.APIReader}
	}
	md, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &webhooksv1alpha1.OutgoingWebhook{}, indexSecretNames, secretNames); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &webhooksv1alpha1.OutgoingWebhook{}, indexAppSlug, appSlug); err != nil {
		return err
	}
	defaultName := r.defaultCredentials()
	if err := indexer.IndexField(ctx, &webhooksv1alpha1.OutgoingWebhook{}, indexClusterCredentials, func(obj client.Object) []string {
		return clusterCredentialsNames(obj, defaultName)
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &webhooksv1alpha1.OutgoingWebhook{}, indexAppURL, appURL); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("outgoingwebhook").
		// GenerationChangedPredicate also passes the start of a deletion:
		// the API server bumps metadata.generation when it sets
		// deletionTimestamp (k8s.io/apiserver's registry BeforeDelete and
		// markAsDeleting).
		For(&webhooksv1alpha1.OutgoingWebhook{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{},
			reconcileRequested{},
			redeliverRequested{},
			finalizerMissing{},
			pendingTampered{digests: r.Digests},
		))).
		Watches(&webhooksv1alpha1.OutgoingWebhook{},
			handler.EnqueueRequestsFromMapFunc(r.requestsForAppPeers),
			builder.WithPredicates(claimChanged{digests: r.Digests})).
		WatchesRawSource(r.secretEvents(md, opts.Namespaces)).
		// A ClusterCredentials created, deleted, changed in spec, Ready
		// or token: its users, at once (ClusterTokens.announce).
		WatchesRawSource(source.Channel(r.Credentials.changes,
			handler.EnqueueRequestsFromMapFunc(r.requestsForCredentials))).
		// A namespace whose labels change may gain or lose the use of a
		// ClusterCredentials by its namespaceSelector. Namespaces are
		// cached by metadata only.
		WatchesMetadata(&corev1.Namespace{},
			handler.EnqueueRequestsFromMapFunc(r.requestsForNamespace),
			builder.WithPredicates(labelsChanged{})).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
			// Workers take turns between namespaces (see newFairQueue).
			RateLimiter: defaultRateLimiter(),
			NewQueue:    newFairQueue,
		}).
		Complete(r)
}

// reconcileRequested passes updates that change the
// reconcile-requested-at annotation.
type reconcileRequested struct{ predicate.Funcs }

func (reconcileRequested) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	key := webhooksv1alpha1.ReconcileRequestedAtAnnotation
	return e.ObjectOld.GetAnnotations()[key] != e.ObjectNew.GetAnnotations()[key]
}

// finalizerMissing passes updates that leave a live object without the
// finalizer: `kubectl replace`, `helm upgrade --force` and Argo CD's
// Replace=true write the object as the user has it, without the finalizer,
// and a deletion before the next drift check would then leave the remote
// webhook behind. The reconcile this triggers restores the finalizer at once.
type finalizerMissing struct{ predicate.Funcs }

func (finalizerMissing) Update(e event.UpdateEvent) bool {
	if e.ObjectNew == nil {
		return false
	}
	return e.ObjectNew.GetDeletionTimestamp() == nil &&
		!controllerutil.ContainsFinalizer(e.ObjectNew, webhooksv1alpha1.Finalizer)
}

// labelsChanged passes updates that change the labels of an object.
type labelsChanged struct{ predicate.Funcs }

func (labelsChanged) Create(event.CreateEvent) bool   { return false }
func (labelsChanged) Delete(event.DeleteEvent) bool   { return false }
func (labelsChanged) Generic(event.GenericEvent) bool { return false }
func (labelsChanged) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
}

// claimChanged passes the events after which a resource's claim on its app
// and URL may have been dropped or moved, so that the resources of the same
// URL (requestsForAppPeers) are reconciled at once rather than at their
// next interval: a deletion, or an update that changes its app, URL, claim
// rank or status.slug. A new resource passes nothing: it is the youngest
// and holds nothing, so it takes no claim away.
type claimChanged struct {
	predicate.Funcs
	digests *secretdigest.Digester
}

func (claimChanged) Create(event.CreateEvent) bool   { return false }
func (claimChanged) Generic(event.GenericEvent) bool { return false }
func (claimChanged) Delete(event.DeleteEvent) bool   { return true }

func (c claimChanged) Update(e event.UpdateEvent) bool {
	oldObj, okOld := e.ObjectOld.(*webhooksv1alpha1.OutgoingWebhook)
	newObj, okNew := e.ObjectNew.(*webhooksv1alpha1.OutgoingWebhook)
	if !okOld || !okNew {
		return false
	}
	return c.claimOf(oldObj) != c.claimOf(newObj)
}

// claimKey is what of a resource decides the claims of its app and URL.
type claimKey struct {
	app, url, slug string
	rank           claimRank
}

func (c claimChanged) claimOf(obj *webhooksv1alpha1.OutgoingWebhook) claimKey {
	pending := pendingStateOf(c.digests, obj) == pendingVerified
	return claimKey{
		app:  obj.Spec.AppSlug,
		url:  normalizeWebhookURL(obj.Spec.URL),
		slug: obj.Status.Slug,
		rank: claimRankOf(obj, pending),
	}
}
