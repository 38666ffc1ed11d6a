package controller

import (
	"context"
	"errors"

	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
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
// watches: OutgoingWebhooks (spec changes, reconcile requests, deletion) and
// the Secrets they reference (by a metadata-only watch that caches nothing).
func (r *OutgoingWebhookReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if r.Digests == nil {
		return errors.New("OutgoingWebhookReconciler.Digests is required")
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
		))).
		Watches(&webhooksv1alpha1.OutgoingWebhook{},
			handler.EnqueueRequestsFromMapFunc(r.requestsForAppPeers),
			builder.WithPredicates(onlyDeletes{})).
		WatchesRawSource(r.secretEvents(md, opts.Namespaces)).
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

// onlyDeletes passes delete events only.
type onlyDeletes struct{ predicate.Funcs }

func (onlyDeletes) Create(event.CreateEvent) bool   { return false }
func (onlyDeletes) Update(event.UpdateEvent) bool   { return false }
func (onlyDeletes) Generic(event.GenericEvent) bool { return false }
func (onlyDeletes) Delete(event.DeleteEvent) bool   { return true }
