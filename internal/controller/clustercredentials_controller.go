package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// ClusterCredentialsReconciler reads the token Secret of each
// ClusterCredentials into Tokens, reports on its Ready condition whether the
// token is usable and its namespaceSelector valid, and tells the
// OutgoingWebhook controller (through Tokens) when the resources using it
// must be reconciled. Token Secrets, in any namespace, are read from the
// API server and watched by metadata only: never cached.
type ClusterCredentialsReconciler struct {
	client.Client
	// APIReader reads the token Secrets straight from the API server.
	APIReader client.Reader
	// Tokens is shared with the OutgoingWebhookReconciler; required.
	Tokens *ClusterTokens

	secretWatches tokenSecretWatches
}

// Field index on ClusterCredentials: "<namespace>/<name>" of the token
// Secret, to map a Secret event to the objects using it.
const indexTokenSecret = ".spec.tokenSecretRef"

// How soon a ClusterCredentials is read again without an event: a Secret
// that is missing or forbidden soon (RBAC changes make no event the
// operator sees), any other after a long safety interval, against a missed
// Secret event.
const (
	credentialsRetry   = time.Minute
	credentialsRecheck = 10 * time.Minute
)

// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=clustercredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=clustercredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile reads the token Secret of one ClusterCredentials, stores the
// token in r.Tokens, patches the status when it changed, and announces the
// change to the users.
func (r *ClusterCredentialsReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	cc := &webhooksv1alpha1.ClusterCredentials{}
	if err := r.Get(ctx, req.NamespacedName, cc); err != nil {
		if apierrors.IsNotFound(err) {
			// Replaced (helm upgrade) rather than deleted, perhaps: its
			// users are told only once the grace is over.
			if wait := r.Tokens.replacementWait(req.Name, time.Now()); wait > 0 {
				return ctrl.Result{RequeueAfter: wait}, nil
			}
			r.Tokens.forget(req.Name)
			r.Tokens.announce(ctx, req.Name, nil)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	r.Tokens.present(cc.Name)
	ref := cc.Spec.TokenSecretRef
	r.secretWatches.ensure(ref.Namespace)

	entry, err := readClusterToken(ctx, r.APIReader, cc)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Tokens.set(cc.Name, entry)

	before := cc.DeepCopy()
	cc.Status.ObservedGeneration = cc.Generation
	var selErr error
	if cc.Spec.NamespaceSelector != nil {
		_, selErr = metav1.LabelSelectorAsSelector(cc.Spec.NamespaceSelector)
	}
	switch {
	case selErr != nil:
		// Reported first: it is a mistake in this object's own spec. The
		// token is still used for the namespaces of spec.namespaces.
		markCredentials(cc, metav1.ConditionFalse, webhooksv1alpha1.ReasonInvalidNamespaceSelector,
			fmt.Sprintf("spec.namespaceSelector is not valid, so it selects no namespace: %s", selErr.Error()))
	case entry.reason != "":
		markCredentials(cc, metav1.ConditionFalse, entry.reason, entry.message)
	default:
		markCredentials(cc, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded,
			fmt.Sprintf("Key %q of Secret %s/%s holds a usable API token", cc.TokenKey(), ref.Namespace, ref.Name))
	}
	if !equality.Semantic.DeepEqual(before.Status, cc.Status) {
		if err := r.Status().Patch(ctx, cc, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, fmt.Errorf("patching status: %w", err)
		}
		c := meta.FindStatusCondition(cc.Status.Conditions, webhooksv1alpha1.ConditionReady)
		log.Info("status changed", "ready", c.Status, "reason", c.Reason)
	}
	// The reason is announced too: users stalled for a missing token
	// recover as soon as it is back.
	r.Tokens.announce(ctx, cc.Name, &entry)

	if entry.reason == webhooksv1alpha1.ReasonTokenSecretNotFound || entry.reason == webhooksv1alpha1.ReasonTokenSecretForbidden {
		return ctrl.Result{RequeueAfter: jitter(credentialsRetry)}, nil
	}
	return ctrl.Result{RequeueAfter: jitter(credentialsRecheck)}, nil
}

// markCredentials sets the Ready condition of a ClusterCredentials, with
// Stalled beside it while not Ready (kstatus: Failed; only an administrator
// can fix a ClusterCredentials).
func markCredentials(cc *webhooksv1alpha1.ClusterCredentials, status metav1.ConditionStatus, reason, message string) {
	set := func(typ string, status metav1.ConditionStatus) {
		meta.SetStatusCondition(&cc.Status.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: cc.Generation,
		})
	}
	set(webhooksv1alpha1.ConditionReady, status)
	if status == metav1.ConditionTrue {
		meta.RemoveStatusCondition(&cc.Status.Conditions, webhooksv1alpha1.ConditionStalled)
	} else {
		set(webhooksv1alpha1.ConditionStalled, metav1.ConditionTrue)
	}
	meta.RemoveStatusCondition(&cc.Status.Conditions, webhooksv1alpha1.ConditionReconciling)
}

// SetupWithManager registers the index of token Secrets and the controller:
// ClusterCredentials (spec changes, deletion; its own status writes are
// skipped) and their token Secrets, watched by metadata in the namespaces
// the objects name, whatever namespaces the manager watches otherwise.
func (r *ClusterCredentialsReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Tokens == nil {
		return errors.New("ClusterCredentialsReconciler.Tokens is required")
	}
	md, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &webhooksv1alpha1.ClusterCredentials{}, indexTokenSecret, tokenSecretKey); err != nil {
		return err
	}
	r.secretWatches = tokenSecretWatches{md: md, mapSecret: r.requestsForTokenSecret,
		mapNamespace: r.requestsForTokenNamespace, watching: map[string]bool{}}
	return ctrl.NewControllerManagedBy(mgr).
		Named("clustercredentials").
		For(&webhooksv1alpha1.ClusterCredentials{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(r.secretWatches.source()).
		Complete(r)
}

func tokenSecretKey(obj client.Object) []string {
	cc, ok := obj.(*webhooksv1alpha1.ClusterCredentials)
	if !ok {
		return nil
	}
	return []string{cc.Spec.TokenSecretRef.Namespace + "/" + cc.Spec.TokenSecretRef.Name}
}

// requestsForTokenSecret maps a Secret event to the ClusterCredentials whose
// token it holds.
func (r *ClusterCredentialsReconciler) requestsForTokenSecret(ctx context.Context, namespace, name string) []reconcile.Request {
	var list webhooksv1alpha1.ClusterCredentialsList
	if err := r.List(ctx, &list, client.MatchingFields{indexTokenSecret: namespace + "/" + name}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// requestsForTokenNamespace lists the ClusterCredentials whose token
// Secret is in namespace.
func (r *ClusterCredentialsReconciler) requestsForTokenNamespace(ctx context.Context, namespace string) []reconcile.Request {
	var list webhooksv1alpha1.ClusterCredentialsList
	if err := r.List(ctx, &list); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if list.Items[i].Spec.TokenSecretRef.Namespace == namespace {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// tokenSecretWatches watches, by metadata, the Secrets of each namespace a
// ClusterCredentials has named (ensure), from the first time it is named
// until the manager stops: few namespaces hold token Secrets. A namespace
// the operator may not watch Secrets in is retried with backoff (and its
// ClusterCredentials re-read every credentialsRetry).
type tokenSecretWatches struct {
	md metadata.Interface
	// mapSecret maps a Secret event, mapNamespace a (re)start of the
	// watch of a namespace, to the ClusterCredentials to read again.
	mapSecret    func(ctx context.Context, namespace, name string) []reconcile.Request
	mapNamespace func(ctx context.Context, namespace string) []reconcile.Request

	mu       sync.Mutex
	ctx      context.Context
	queue    workqueue.TypedRateLimitingInterface[reconcile.Request]
	watching map[string]bool
}

func (w *tokenSecretWatches) source() source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.ctx, w.queue = ctx, q
		for ns := range w.watching {
			go w.watch(ctx, q, ns)
		}
		return nil
	})
}

// ensure starts watching the Secrets of namespace, if not yet.
func (w *tokenSecretWatches) ensure(namespace string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watching[namespace] {
		return
	}
	w.watching[namespace] = true
	if w.queue != nil {
		go w.watch(w.ctx, w.queue, namespace)
	}
}

func (w *tokenSecretWatches) watch(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], namespace string) {
	watchSecretMetadata(ctx, w.md, namespace,
		func(int) {
			// Each (re)start may follow missed events, the first one
			// included (a Secret created just before it).
			for _, req := range w.mapNamespace(ctx, namespace) {
				q.Add(req)
			}
		},
		func(secret *metav1.PartialObjectMetadata) {
			for _, req := range w.mapSecret(ctx, secret.GetNamespace(), secret.GetName()) {
				q.Add(req)
			}
		})
}
