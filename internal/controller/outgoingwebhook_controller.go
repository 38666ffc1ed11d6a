// Package controller reconciles OutgoingWebhook resources with the outgoing
// webhooks of Bitrise apps.
package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/metrics"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// APIFactory gives a Bitrise app as seen with one token (*bitrise.Client).
type APIFactory interface {
	// App binds appSlug to token, sharing obs between the Apps of the
	// process; sensitive values never show in its errors.
	App(token, appSlug string, obs *bitrise.Observations, sensitive ...string) *bitrise.App
}

// OutgoingWebhookReconciler keeps the outgoing webhook of a Bitrise app in
// sync with an OutgoingWebhook resource.
type OutgoingWebhookReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server: they are watched
	// by metadata only and never cached.
	APIReader client.Reader
	Bitrise   APIFactory
	// DefaultCredentials names the ClusterCredentials of resources without
	// spec.credentialsRef (--default-credentials);
	// webhooksv1alpha1.DefaultClusterCredentialsName when empty.
	DefaultCredentials string
	// Credentials holds the tokens of the ClusterCredentials, kept fresh by
	// the ClusterCredentialsReconciler sharing it; required.
	Credentials *ClusterTokens
	// Observations shares recent lists of an app's webhooks between
	// reconciles; NewObservations when nil.
	Observations *bitrise.Observations
	// Digests makes and checks status.secretDigest and the digests of
	// status.lastWrite that cover Secret values; required.
	Digests  *secretdigest.Digester
	Recorder events.EventRecorder

	// claimants lists an app's resources from the API server when the
	// cache holds only a shard of them; nil: from the cache.
	claimants *claimantLister
	// written keeps the cache from being trusted before it holds the
	// reconciler's own last write of a resource.
	written ownWrites

	deliveryOnce    sync.Once
	deliveryTracker *deliveryTracker
}

// Event reasons, on transitions only.
const (
	eventCreated        = "Created"
	eventUpdated        = "Updated"
	eventDriftCorrected = "DriftCorrected"
	eventRotated        = "SecretRotated"
	eventRecreated      = "Recreated"
	eventAdopted        = "Adopted"
	eventDeleted        = "Deleted"
	eventOrphaned       = "Orphaned"
	eventRestamped      = "SecretDigestRestamped"
)

// Only the verbs the manager uses: it patches OutgoingWebhooks (finalizer,
// annotations) and their status, never updates them, and sets no owner
// reference (so no outgoingwebhooks/finalizers); Secrets are read with get
// and watched by metadata (a list of one item for the resource version, then
// a watch).
// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=outgoingwebhooks,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=outgoingwebhooks/status,verbs=patch
// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=clustercredentials,verbs=get;list;watch
// +kubebuilder:rbac:groups=webhooks.bitrise.io,resources=clustercredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one OutgoingWebhook and its remote webhook in sync.
func (r *OutgoingWebhookReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	obj, err := r.written.fresh(ctx, r.APIReader, req.NamespacedName, obj)
	if obj == nil || err != nil {
		return ctrl.Result{}, err
	}
	log := logf.FromContext(ctx).WithValues("app", obj.Spec.AppSlug)
	ctx = logf.IntoContext(ctx, log)
	// A throttled token gives each namespace its turn (bitrise.ThrottledError).
	ctx = bitrise.WithTenant(ctx, req.Namespace)

	p := newPatcher(r.Client, obj)
	initial := obj.DeepCopy()
	defer func() {
		if apierrors.IsConflict(retErr) {
			return // the same stale patch would conflict again; the retry starts afresh
		}
		if err := p.patch(ctx); err != nil && !apierrors.IsNotFound(err) {
			retErr = errors.Join(retErr, err)
		}
		if obj.ResourceVersion != initial.ResourceVersion {
			r.written.wrote(req.NamespacedName, obj.ResourceVersion)
		}
		if readyChanged(initial, obj) {
			r.eventForReady(obj)
		}
	}()

	// Annotations anyone who may edit the resource can write: a
	// create-pending marker the operator did not sign for this resource is
	// dropped before it can decide anything, deletion included.
	r.rejectForgedPending(ctx, obj)
	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, obj, p)
	}
	// The finalizer is stored before any write to Bitrise, but not in a
	// write of its own: create stores it with its create-pending marker, a
	// pass that changes a webhook it found stores it first
	// (ensureFinalizerStored), and any other pass with its status.
	controllerutil.AddFinalizer(obj, webhooksv1alpha1.Finalizer)
	if obj.Spec.Suspend {
		log.V(1).Info("suspended: no calls to the Bitrise API")
		return ctrl.Result{}, nil
	}

	observedAt, err := r.reconcileNormal(ctx, obj, p)
	requested := obj.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation]
	var stall *stalledError
	switch {
	case err == nil:
		forced := requested != obj.Status.LastHandledReconcileAt
		obj.Status.ObservedGeneration = obj.Generation
		obj.Status.LastHandledReconcileAt = requested
		next := nextDriftCheck(observedAt, obj.GetInterval().Duration)
		return ctrl.Result{RequeueAfter: r.afterReconciled(ctx, obj, next, forced)}, nil
	case errors.As(err, &stall):
		// A terminal failure of this generation: handled, waiting for the user.
		obj.Status.ObservedGeneration = obj.Generation
		obj.Status.LastHandledReconcileAt = requested
	}
	return failed(ctx, obj, err, func(s *stalledError) string { return s.message })
}

// failed maps the failure of a pass, normal or deletion, to conditions and
// a result, so that both paths treat each kind of failure alike:
//   - a *stalledError needs the user: Stalled with its reason and the
//     message describe makes of it, retried every interval (jittered), not
//     with backoff;
//   - an error of the Bitrise API (an *APIError or *NetworkError: 429, 5xx,
//     a 3xx, no answer), or a DELETE answered 404 for a webhook still
//     listed, is transient: Reconciling APIUnavailable, retried after the
//     server's Retry-After (capped at bitrise.MaxPause) or else with
//     controller-runtime's exponential backoff;
//   - a *bitrise.ThrottledError is a call not sent because the token is
//     paused or its rate limit has no room: retried after its wait (capped
//     at bitrise.MaxPause, plus a little jitter), with no condition, no
//     event and no backoff: nothing failed, the worker is just not held;
//   - a *credentialsReplacingError (a ClusterCredentials deleted moments
//     ago, perhaps being replaced) is retried after its wait, with no
//     condition and no event;
//   - any other error (the Kubernetes API's: a conflict, say) is retried
//     with backoff and touches no condition: there is nothing for the user
//     to do.
func failed(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, err error, describe func(*stalledError) string) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	var stall *stalledError
	var listed *bitrise.StillListedError
	if wait, ok := bitrise.Throttled(err); ok {
		log.V(1).Info("the API token is throttled; coming back later", "after", wait)
		return ctrl.Result{RequeueAfter: throttledRequeue(wait)}, nil
	}
	var replacing *credentialsReplacingError
	if errors.As(err, &replacing) {
		log.V(1).Info(replacing.Error())
		return ctrl.Result{RequeueAfter: replacing.wait}, nil
	}
	switch {
	case errors.As(err, &stall):
		message := describe(stall)
		markStalled(obj, stall.reason, message)
		log.Info("needs the user", "reason", stall.reason, "message", message)
		return ctrl.Result{RequeueAfter: jitter(obj.GetInterval().Duration)}, nil
	case errors.As(err, &listed):
		markRetrying(obj, webhooksv1alpha1.ReasonAPIUnavailable, listed.Error())
		return ctrl.Result{}, err
	case !isBitriseError(err):
		return ctrl.Result{}, err
	}
	markRetrying(obj, webhooksv1alpha1.ReasonAPIUnavailable, transientMessage(err))
	if after := bitrise.RetryAfter(err); after > 0 {
		// The client caps it; the cap is repeated here so that no path
		// can requeue later than bitrise.MaxPause.
		after = min(after, bitrise.MaxPause)
		log.Info("Bitrise API asked to retry later", "retryAfter", after, "error", err.Error())
		return ctrl.Result{RequeueAfter: after}, nil
	}
	return ctrl.Result{}, err
}

// throttledRequeue is when to come back after a throttled call: its wait,
// plus up to 5% and 50ms of jitter so that calls throttled together do not
// come back in one tick, at most bitrise.MaxPause.
func throttledRequeue(wait time.Duration) time.Duration {
	spread := wait/20 + 50*time.Millisecond
	return min(wait+rand.N(spread), bitrise.MaxPause)
}

func isBitriseError(err error) bool {
	var apiErr *bitrise.APIError
	var netErr *bitrise.NetworkError
	return errors.As(err, &apiErr) || errors.As(err, &netErr)
}

func transientMessage(err error) string {
	var apiErr *bitrise.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("Bitrise API unavailable, retrying with backoff: %s", apiErr.Error())
	}
	return fmt.Sprintf("retrying with backoff: %s", err.Error())
}

// reconcileNormal observes the remote webhook, then creates, adopts,
// replaces or updates it so that it matches the desired state. It returns
// when the app's webhooks were observed, to schedule the next drift check.
func (r *OutgoingWebhookReconciler) reconcileNormal(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, p *patcher) (time.Time, error) {
	desired, err := r.desiredFor(ctx, obj)
	if err != nil {
		return time.Time{}, err
	}
	// The credentials come first: a resource whose credentials do not
	// allow the app learns nothing of the app's other resources.
	app, err := r.apiFor(ctx, obj, desired.sensitive()...)
	if err != nil {
		return time.Time{}, err
	}
	peers, err := r.appPeers(ctx, obj)
	if err != nil {
		return time.Time{}, err
	}
	if winner := peers.claimedBy(obj); winner != nil {
		return time.Time{}, alreadyManaged(obj, winner)
	}
	remote, observedAt, err := app.List(ctx, observationMaxAge(obj))
	if err != nil {
		return time.Time{}, classifyAPIError(err, obj.Spec.AppSlug)
	}
	return observedAt, r.converge(ctx, obj, p, app, remote, peers, desired)
}

// converge acts on one observation of the app's webhooks.
func (r *OutgoingWebhookReconciler) converge(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, p *patcher, api *bitrise.App, remote []bitrise.Webhook, peers appPeers, desired desiredWebhook) error {
	takePendingDigests(obj)
	current, err := r.resolveCurrent(ctx, obj, remote, peers.claimed(), desired)
	if err != nil {
		return err
	}
	if current == nil {
		return r.create(ctx, obj, p, api, desired)
	}
	upToDate, err := r.secretUpToDate(ctx, obj, desired.Secret)
	if err != nil {
		return err
	}
	if !upToDate || needsUpdate(desired, *current) {
		if err := p.ensureFinalizerStored(ctx); err != nil {
			return err
		}
	}
	if !upToDate {
		// PUT cannot change the secret: replace the webhook, deleting the
		// old one first so that two are never left behind.
		if err := api.Delete(ctx, current.Slug); err != nil {
			return classifyAPIError(err, obj.Spec.AppSlug)
		}
		forgetRemote(obj)
		if err := p.patch(ctx); err != nil {
			return err
		}
		return r.create(ctx, obj, p, api, desired, withReason(eventRotated))
	}
	if r.needsWrite(desired, *current, obj.Status.LastWrite) {
		lastWrite, err := r.sentDigest(desired)
		if err != nil {
			return err
		}
		updated, err := api.Update(ctx, current.Slug, bitrise.UpdateParams{
			URL: desired.URL, Events: desired.Events, Headers: desired.Headers,
		})
		if bitrise.IsNotFound(err) {
			// Deleted since it was observed: recreate it now.
			r.event(obj, corev1.EventTypeWarning, eventRecreated,
				"Remote webhook %s was deleted outside Kubernetes; recreating it", current.Slug)
			metrics.DriftCorrected()
			forgetRemote(obj)
			return r.create(ctx, obj, p, api, desired)
		}
		if err != nil {
			return classifyAPIError(err, obj.Spec.AppSlug)
		}
		if err := r.answeredDigest(lastWrite, desired, *updated); err != nil {
			return err
		}
		obj.Status.LastWrite = lastWrite
		reason, what := eventUpdated, "updated"
		if obj.Status.ObservedGeneration == obj.Generation {
			reason, what = eventDriftCorrected, "changed outside Kubernetes; corrected"
			metrics.DriftCorrected()
		}
		r.event(obj, corev1.EventTypeNormal, reason, "Remote webhook %s %s", updated.Slug, what)
		current = updated
	}
	recordRemote(obj, current)
	markReady(obj, fmt.Sprintf("Webhook %s is in sync", current.Slug))
	return nil
}

// resolveCurrent acts on what locate found of the remote webhook this
// resource manages: by its slug, or else by adopting one with the desired
// URL (the outcome of a create whose response was lost, or a webhook made
// by hand). It records events, metrics and status changes; locate alone
// decides. It returns nil when a new webhook must be created.
func (r *OutgoingWebhookReconciler) resolveCurrent(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, remote []bitrise.Webhook, claimed claimedWebhooks, desired desiredWebhook) (*bitrise.Webhook, error) {
	loc := locate(locateInputOf(obj), remote, claimed)
	clearPending(obj)
	if loc.how == locateBySlug {
		return loc.webhook, nil
	}
	if loc.goneSlug != "" {
		r.event(obj, corev1.EventTypeWarning, eventRecreated,
			"Remote webhook %s was deleted outside Kubernetes; recreating it", loc.goneSlug)
		metrics.DriftCorrected()
		forgetRemote(obj)
	}
	w := loc.webhook
	switch loc.how {
	case locateNone:
		return nil, nil
	case locatePendingCreate:
		// Our own create whose outcome was lost: the secret sent is the one
		// whose digest was stored before the create, and what it made is
		// what the API answered to it, if it still matches what was sent.
		logf.FromContext(ctx).Info("resolved a pending create", "slug", w.Slug)
		if lw := obj.Status.LastWrite; lw != nil && lw.Answer == "" && r.lastSent(lw, desired) && sameButForm(desired, *w) {
			if err := r.answeredDigest(lw, desired, *w); err != nil {
				return nil, err
			}
		}
	case locateAdopted:
		obj.Status.SecretDigest = "" // the secret of a webhook made elsewhere is unknown
		obj.Status.LastWrite = nil
		r.event(obj, corev1.EventTypeNormal, eventAdopted, "Adopted existing remote webhook %s with the same URL", w.Slug)
	}
	obj.Status.Slug = w.Slug
	return w, nil
}

type createOptions struct{ reason string }

func withReason(reason string) func(*createOptions) {
	return func(o *createOptions) { o.reason = reason }
}

// create records a create-pending marker, signed, and the digest of the
// secret about to be sent, then creates the remote webhook. If the response
// is lost, the next pass finds the webhook by URL instead of creating a
// second one.
func (r *OutgoingWebhookReconciler) create(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, p *patcher, api *bitrise.App, desired desiredWebhook, opts ...func(*createOptions)) error {
	o := createOptions{reason: eventCreated}
	for _, opt := range opts {
		opt(&o)
	}
	digest := ""
	if desired.Secret != "" {
		var err error
		if digest, err = r.Digests.Digest(desired.Secret); err != nil {
			return err
		}
	}
	lastWrite, err := r.sentDigest(desired)
	if err != nil {
		return err
	}
	// A throttled token would not send the create: then the marker is not
	// written either (a throttled pass writes nothing to Kubernetes).
	if err := api.Room(ctx); err != nil {
		return err
	}
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation] = desired.URL
	delete(obj.Annotations, webhooksv1alpha1.CreatePendingSecretDigestAnnotation)
	if digest != "" {
		obj.Annotations[webhooksv1alpha1.CreatePendingSecretDigestAnnotation] = digest
	}
	obj.Annotations[webhooksv1alpha1.CreatePendingSentAnnotation] = lastWrite.Sent
	signPending(r.Digests, obj)
	if !meta.IsStatusConditionTrue(obj.Status.Conditions, webhooksv1alpha1.ConditionReconciling) {
		// A create retried after a transient failure keeps that condition,
		// so that a failing create does not write the status twice a retry.
		markReconciling(obj, webhooksv1alpha1.ReasonProgressing, "Creating the remote webhook")
	}
	// One write before the create: the marker and the digests, with the
	// finalizer of a new resource. The status goes out with the outcome.
	if err := p.patchMetadata(ctx); err != nil {
		return err
	}

	created, err := api.Create(ctx, bitrise.CreateParams{
		URL: desired.URL, Events: desired.Events, Headers: desired.Headers, Secret: desired.Secret,
	})
	if err != nil {
		if _, throttled := bitrise.Throttled(err); throttled || createRefused(err) {
			// A definite refusal, or a create not sent, made nothing:
			// there is no outcome to resolve.
			clearPending(obj)
		}
		// Otherwise the marker stays: the webhook may exist although the
		// answer is an error.
		return classifyAPIError(err, obj.Spec.AppSlug)
	}
	if err := r.answeredDigest(lastWrite, desired, *created); err != nil {
		return err // the marker stays: the next pass finds the webhook by its URL
	}
	clearPending(obj)
	obj.Status.SecretDigest = digest
	obj.Status.LastWrite = lastWrite
	recordRemote(obj, created)
	if o.reason == eventRotated {
		metrics.SecretRotated()
		r.event(obj, corev1.EventTypeNormal, o.reason, "Rotated the webhook secret by replacing the remote webhook: now %s", created.Slug)
	} else {
		r.event(obj, corev1.EventTypeNormal, o.reason, "Created remote webhook %s", created.Slug)
	}
	markReady(obj, fmt.Sprintf("Webhook %s is in sync", created.Slug))
	return nil
}

// createRefused reports whether a create was refused outright (a 4xx other
// than 408 Request Timeout and 429 Too Many Requests), so that it made
// nothing. Then deleting a resource with a wrong appSlug needs no list of an
// app that does not answer.
func createRefused(err error) bool {
	code := bitrise.StatusCode(err)
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}

// reconcileDelete deletes the remote webhook (unless orphaned), then
// releases the finalizer.
func (r *OutgoingWebhookReconciler) reconcileDelete(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, p *patcher) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, webhooksv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if obj.Spec.DeletionPolicy == webhooksv1alpha1.DeletionPolicyOrphan {
		if obj.Status.Slug != "" {
			r.event(obj, corev1.EventTypeNormal, eventOrphaned, "Left remote webhook %s on Bitrise (deletionPolicy: Orphan)", obj.Status.Slug)
		}
		return r.release(ctx, obj, p)
	}
	if obj.Spec.Suspend {
		if r.orphanedWithNamespace(ctx, obj, "spec.suspend is true and nobody can resume it") {
			return r.release(ctx, obj, p)
		}
		markStalled(obj, webhooksv1alpha1.ReasonSuspended,
			"Deletion waits: spec.suspend is true, so the remote webhook is not deleted")
		// Checked again in case the namespace starts terminating: it is not watched.
		return ctrl.Result{RequeueAfter: jitter(obj.GetInterval().Duration)}, nil
	}
	_, pending := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	if obj.Status.Slug == "" && !pending {
		return r.release(ctx, obj, p)
	}
	// Whether or not it won its URL claim, the resource deletes the
	// webhook it holds, its own (status.slug, or what its verified pending
	// create made), and never one another resource holds.
	peers, err := r.appPeers(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	err = r.deleteRemote(ctx, obj, peers.claimed())
	if err == nil {
		return r.release(ctx, obj, p)
	}
	var stall *stalledError
	if errors.As(err, &stall) {
		// The credentials may have gone with the namespace.
		why := ""
		switch stall.reason {
		case webhooksv1alpha1.ReasonCredentialsNotFound:
			why = "the credentials are gone (" + stall.message + ")"
		case webhooksv1alpha1.ReasonCredentialsNotAllowed:
			why = "the credentials no longer allow it (" + stall.message + ")"
		case webhooksv1alpha1.ReasonAuthenticationFailed, webhooksv1alpha1.ReasonAppNotFound:
			why = "the API token cannot reach the app (" + stall.message + ")"
		}
		if why != "" && r.orphanedWithNamespace(ctx, obj, why) {
			return r.release(ctx, obj, p)
		}
	}
	return failed(ctx, obj, err, func(s *stalledError) string {
		return fmt.Sprintf("Cannot delete the remote webhook: %s. Fix it, or set spec.deletionPolicy to Orphan", s.message)
	})
}

// deleteRemote deletes the webhook of status.slug or, with no slug, the one
// obj's (verified) pending create made, if any: one with the URL it sent
// that no other resource holds. While another resource has a create pending
// for that URL too, which of the two made a webhook found there cannot be
// told: it is then left alone.
func (r *OutgoingWebhookReconciler) deleteRemote(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, claimed claimedWebhooks) error {
	app, err := r.apiFor(ctx, obj)
	if err != nil {
		return err
	}
	slug := obj.Status.Slug
	if slug == "" {
		// A create whose outcome is unknown: find what it made, if anything.
		remote, _, err := app.List(ctx, 0)
		if err != nil {
			// A 404 here is not trusted either: the token may have lost the app.
			return classifyAPIError(err, obj.Spec.AppSlug)
		}
		sentURL, _ := pendingCreate(obj)
		w := findAdoptable(remote, sentURL, claimed.slugs)
		if w == nil || claimed.pendingAt(sentURL) {
			return nil
		}
		slug = w.Slug
	}
	if err := app.Delete(ctx, slug); err != nil {
		return classifyAPIError(err, obj.Spec.AppSlug)
	}
	r.event(obj, corev1.EventTypeNormal, eventDeleted, "Deleted remote webhook %s", slug)
	return nil
}

// orphanedWithNamespace reports whether the resource's namespace is being
// deleted, in which case waiting (for why, the deletion cannot go on) would
// wedge the namespace for ever: the remote webhook is then left on Bitrise,
// with a Warning event Orphaned and a log line (a terminating namespace may
// refuse new Events).
func (r *OutgoingWebhookReconciler) orphanedWithNamespace(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, why string) bool {
	terminating, err := r.namespaceTerminating(ctx, obj.Namespace)
	if err != nil || !terminating {
		return false
	}
	msg := fmt.Sprintf("Left remote webhook %s on Bitrise: its namespace is being deleted and %s", obj.Status.Slug, why)
	logf.FromContext(ctx).Info(msg)
	r.event(obj, corev1.EventTypeWarning, eventOrphaned, "%s", msg)
	return true
}

func (r *OutgoingWebhookReconciler) release(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, p *patcher) (ctrl.Result, error) {
	controllerutil.RemoveFinalizer(obj, webhooksv1alpha1.Finalizer)
	clearPending(obj)
	return ctrl.Result{}, p.patch(ctx)
}

func (r *OutgoingWebhookReconciler) namespaceTerminating(ctx context.Context, name string) (bool, error) {
	var ns corev1.Namespace
	if err := r.APIReader.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	return !ns.DeletionTimestamp.IsZero() || ns.Status.Phase == corev1.NamespaceTerminating, nil
}

// desiredFor reads the referenced Secret, if any, and builds the desired state.
func (r *OutgoingWebhookReconciler) desiredFor(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) (desiredWebhook, error) {
	var secret *corev1.Secret
	if ref := obj.Spec.SecretRef; ref != nil {
		secret = &corev1.Secret{}
		if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return desiredWebhook{}, stalled(webhooksv1alpha1.ReasonSecretNotFound,
					"Secret %s named by spec.secretRef was not found", ref.Name)
			}
			return desiredWebhook{}, err
		}
	}
	return buildDesired(obj.Spec, secret)
}

// apiFor returns the resource's Bitrise app as seen with its token
// (tokenFor), sharing r.Observations. The token goes straight into the App:
// nothing else here keeps it.
func (r *OutgoingWebhookReconciler) apiFor(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, sensitive ...string) (*bitrise.App, error) {
	token, err := r.tokenFor(ctx, obj)
	if err != nil {
		return nil, err
	}
	return r.Bitrise.App(token, obj.Spec.AppSlug, r.Observations, sensitive...), nil
}

// secretUpToDate reports whether the remote webhook has the desired secret,
// as far as status.secretDigest tells. A digest of the secret in the
// Argon2id form of earlier versions is re-stamped with the current key, so
// that an upgrade rotates nothing. A digest made with a key the operator no
// longer has (its Secret was deleted) cannot be checked: it is taken as
// current and re-stamped, with a Warning event, rather than rotating every
// webhook; a change of the secret made while the key was lost is then
// applied at the secret's next change.
func (r *OutgoingWebhookReconciler) secretUpToDate(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, secret string) (bool, error) {
	digest := obj.Status.SecretDigest
	if secret == "" {
		return digest == "", nil
	}
	verdict := r.Digests.Check(digest, secret)
	switch verdict {
	case secretdigest.Match:
		return true, nil
	case secretdigest.Mismatch:
		return false, nil
	}
	fresh, err := r.Digests.Digest(secret)
	if err != nil {
		return false, err
	}
	obj.Status.SecretDigest = fresh
	log := logf.FromContext(ctx)
	if verdict == secretdigest.MatchLegacy {
		log.V(1).Info("re-stamped an Argon2id secret digest of an earlier version with the digest key", "digestKeyID", r.Digests.KeyID())
		return true, nil
	}
	log.Info("status.secretDigest was made with a digest key the operator does not have; taking the webhook secret as applied and re-stamping the digest",
		"digestKeyID", r.Digests.KeyID())
	r.event(obj, corev1.EventTypeWarning, eventRestamped,
		"status.secretDigest was made with a digest key the operator no longer has (was its Secret deleted?): re-stamped with the current key, assuming the webhook has the Secret's current secret; a secret changed while the key was lost is applied at its next change")
	return true, nil
}

// clearPending removes the create-pending marker, the digests stored
// beside it and their signature.
func clearPending(obj *webhooksv1alpha1.OutgoingWebhook) {
	for _, key := range pendingAllKeys {
		delete(obj.Annotations, key)
	}
}

// takePendingDigests moves the digests stored beside a create-pending marker
// into status: a webhook that create made has the secret it sent, and the
// digest of what it sent is the first half of status.lastWrite (the answer
// is recorded when the webhook is found). The marker itself is handled by
// resolveCurrent.
func takePendingDigests(obj *webhooksv1alpha1.OutgoingWebhook) {
	_, pending := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	pending = pending && obj.Status.Slug == ""
	if digest, ok := obj.Annotations[webhooksv1alpha1.CreatePendingSecretDigestAnnotation]; ok && pending {
		obj.Status.SecretDigest = digest
	}
	if sent, ok := obj.Annotations[webhooksv1alpha1.CreatePendingSentAnnotation]; ok && pending {
		obj.Status.LastWrite = &webhooksv1alpha1.LastWrite{Sent: sent}
	}
	delete(obj.Annotations, webhooksv1alpha1.CreatePendingSecretDigestAnnotation)
	delete(obj.Annotations, webhooksv1alpha1.CreatePendingSentAnnotation)
}

func recordRemote(obj *webhooksv1alpha1.OutgoingWebhook, w *bitrise.Webhook) {
	obj.Status.Slug = w.Slug
	obj.Status.CreatedAt = apiTime(w.CreatedAt)
	obj.Status.UpdatedAt = apiTime(w.UpdatedAt)
}

func forgetRemote(obj *webhooksv1alpha1.OutgoingWebhook) {
	obj.Status.Slug = ""
	obj.Status.CreatedAt = nil
	obj.Status.UpdatedAt = nil
	obj.Status.SecretDigest = ""
	obj.Status.LastWrite = nil
}

func apiTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

// jitterFraction spreads periodic checks over the tenth of an interval
// after they fall due (Flux's jitter), so that resources created together
// do not check drift in lockstep.
const jitterFraction = 0.1

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + jitterFraction*rand.Float64()))
}

func (r *OutgoingWebhookReconciler) event(obj *webhooksv1alpha1.OutgoingWebhook, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(obj, nil, eventType, reason, reason, format, args...)
}

// eventForReady records a Warning when the resource turns not Ready for a
// new reason: events follow transitions, not passes.
func (r *OutgoingWebhookReconciler) eventForReady(obj *webhooksv1alpha1.OutgoingWebhook) {
	c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReady)
	if c != nil && c.Status == metav1.ConditionFalse && c.Reason != webhooksv1alpha1.ReasonProgressing {
		r.event(obj, corev1.EventTypeWarning, c.Reason, "%s", c.Message)
	}
}

// observationMaxAge is how old a shared observation of the app may be for
// this pass, so that the resources of one app share one list per interval:
//   - zero (a fresh list) when the user asked for a reconcile or a create's
//     outcome must be resolved;
//   - a whole interval for a drift check of a resource whose spec was
//     handled already (a periodic pass, a restart, a change of its Secret):
//     each pass is scheduled one interval after the observation it used
//     (nextDriftCheck), so a resource that falls due apart from the others
//     of its app (created later, say) reuses their last list and is then
//     scheduled with them, instead of listing on its own and forming a
//     second group that would list every interval for ever. Drift is still
//     seen within an interval (plus jitter) of the list before it;
//   - half an interval for a spec not handled yet;
//   - for a resource with no remote webhook yet, the longer of half its
//     interval and a minute (newResourceMaxAge): our own writes are in the
//     observation, and a burst of new resources then spends the API budget
//     on creates rather than on lists. The cost is that a webhook made by
//     hand in that time is not adopted but duplicated.
func observationMaxAge(obj *webhooksv1alpha1.OutgoingWebhook) time.Duration {
	_, pending := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	requested := obj.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation]
	if pending || requested != obj.Status.LastHandledReconcileAt {
		return 0
	}
	interval := obj.GetInterval().Duration
	switch {
	case obj.Status.Slug == "":
		return max(interval/2, newResourceMaxAge)
	case obj.Status.ObservedGeneration == obj.Generation:
		return interval
	default:
		return interval / 2
	}
}

const newResourceMaxAge = time.Minute

// nextDriftCheck schedules the next check one jittered interval after the
// observation used: resources of one app then fall due together and share
// one list, while the jitter spreads their reconciles.
func nextDriftCheck(observedAt time.Time, interval time.Duration) time.Duration {
	if observedAt.IsZero() {
		return jitter(interval)
	}
	return max(time.Until(observedAt.Add(jitter(interval))), time.Second)
}

// pendingCreate returns the URL a create whose outcome is unknown was sent
// with, from the create-pending annotation, and whether there is one.
func pendingCreate(obj *webhooksv1alpha1.OutgoingWebhook) (string, bool) {
	v, ok := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	if !ok {
		return "", false
	}
	if !strings.HasPrefix(v, "https://") {
		return obj.Spec.URL, true // a marker without the URL it was sent with
	}
	return v, true
}
