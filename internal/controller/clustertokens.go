package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// ClusterTokens holds, in memory only, the token of each ClusterCredentials
// as last read from its token Secret, so that the OutgoingWebhooks sharing a
// ClusterCredentials do not each read the Secret on every pass: the
// ClusterCredentials controller refreshes an entry whenever the object or its
// token Secret changes, and an OutgoingWebhook reconcile reads the Secret
// itself only while the entry for the object's current generation is
// missing (at start-up, or just after a change of its spec).
//
// It also carries the notifications of the ClusterCredentials controller to
// the OutgoingWebhook controller: when an object appears, goes, changes its
// spec, its Ready reason or its token, the resources using it are
// reconciled at once (Changes).
//
// Tokens never leave it but through the OutgoingWebhook reconciler's
// Bitrise client: it has no String method, and logs no entry.
type ClusterTokens struct {
	mu      sync.Mutex
	entries map[string]clusterToken
	// notified is the state of each ClusterCredentials last announced on
	// changes, kept apart from entries so that an entry filled by an
	// OutgoingWebhook reconcile does not hide a change from the others.
	notified map[string]clusterToken
	// gone is when each ClusterCredentials that had an entry was first
	// seen missing (replacementWait).
	gone    map[string]time.Time
	changes chan event.GenericEvent
}

// credentialsReplacementGrace is how long a deleted ClusterCredentials is
// waited for before its users are told it is gone. `helm upgrade` deletes
// and re-creates the chart's ClusterCredentials (a hook with
// before-hook-creation): without the grace, every resource using it would
// turn Stalled CredentialsNotFound, with a Warning event and two status
// writes, on each upgrade.
const credentialsReplacementGrace = 10 * time.Second

// clusterToken is what was read of one ClusterCredentials' token Secret:
// the token, or why there is none (reason, one of the Token* reasons of the
// Ready condition, and a message for the ClusterCredentials' status; never
// shown on an OutgoingWebhook, whose user may not know the Secret).
type clusterToken struct {
	uid        types.UID
	generation int64
	token      string
	reason     string
	message    string
}

// NewClusterTokens returns an empty store. Its change channel buffers
// changeBuffer notifications; past that, the ClusterCredentials controller
// waits for the OutgoingWebhook controller to take them.
func NewClusterTokens() *ClusterTokens {
	return &ClusterTokens{
		entries:  map[string]clusterToken{},
		notified: map[string]clusterToken{},
		gone:     map[string]time.Time{},
		changes:  make(chan event.GenericEvent, changeBuffer),
	}
}

const changeBuffer = 256

// get returns the entry of cc's current object (same UID and generation).
func (t *ClusterTokens) get(cc *webhooksv1alpha1.ClusterCredentials) (clusterToken, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.entries[cc.Name]
	return e, ok && e.uid == cc.UID && e.generation == cc.Generation
}

// set stores what the ClusterCredentials controller read.
func (t *ClusterTokens) set(name string, e clusterToken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.entries[name] = e
}

// fill stores what an OutgoingWebhook reconcile read, unless the store
// holds an entry of the same object and generation already: that one was
// read by the ClusterCredentials controller, perhaps after this read.
func (t *ClusterTokens) fill(name string, e clusterToken) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.entries[name]; ok && old.uid == e.uid && old.generation >= e.generation {
		return
	}
	t.entries[name] = e
}

// forget drops the entry of a deleted ClusterCredentials.
func (t *ClusterTokens) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, name)
	delete(t.gone, name)
}

// replacementWait returns how much longer a ClusterCredentials found
// missing at now is waited for (credentialsReplacementGrace from when it
// was first seen missing), or 0 when it is not: it never existed for this
// process, or its grace is over. Only a name that had an entry gets a
// grace, so a misspelt name is reported at once.
func (t *ClusterTokens) replacementWait(name string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.entries[name]; !ok {
		return 0
	}
	since, ok := t.gone[name]
	if !ok {
		since = now
		t.gone[name] = now
	}
	return max(since.Add(credentialsReplacementGrace).Sub(now), 0)
}

// present ends the grace of a ClusterCredentials seen again.
func (t *ClusterTokens) present(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.gone, name)
}

// announce queues a notification for the users of the ClusterCredentials
// name when e (nil: the object is gone) differs from what was last
// announced for it. It returns whether it did; it waits while the channel
// is full, until ctx ends.
func (t *ClusterTokens) announce(ctx context.Context, name string, e *clusterToken) bool {
	t.mu.Lock()
	old, had := t.notified[name]
	switch {
	case e == nil && !had:
		t.mu.Unlock()
		return false
	case e == nil:
		delete(t.notified, name)
	case had && old == *e:
		t.mu.Unlock()
		return false
	default:
		t.notified[name] = *e
	}
	t.mu.Unlock()
	ev := event.GenericEvent{Object: &webhooksv1alpha1.ClusterCredentials{}}
	ev.Object.SetName(name)
	select {
	case t.changes <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// Changes is the channel of notifications: an event whose object is a
// ClusterCredentials with only its name set, for each change that concerns
// the resources using it.
func (t *ClusterTokens) Changes() <-chan event.GenericEvent { return t.changes }

// readClusterToken reads the token Secret of cc straight from the API server
// (Secrets are never cached) and checks the token. A Secret that is
// missing, forbidden, lacks the key or holds an unusable token gives an
// entry with a reason; only other failures of the API server are errors.
func readClusterToken(ctx context.Context, reader client.Reader, cc *webhooksv1alpha1.ClusterCredentials) (clusterToken, error) {
	ref := cc.Spec.TokenSecretRef
	key := cc.TokenKey()
	e := clusterToken{uid: cc.UID, generation: cc.Generation}
	var secret corev1.Secret
	err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &secret)
	switch {
	case apierrors.IsNotFound(err):
		e.reason = webhooksv1alpha1.ReasonTokenSecretNotFound
		e.message = fmt.Sprintf("Secret %s/%s of spec.tokenSecretRef was not found", ref.Namespace, ref.Name)
		return e, nil
	case apierrors.IsForbidden(err):
		e.reason = webhooksv1alpha1.ReasonTokenSecretForbidden
		e.message = fmt.Sprintf("The operator may not read Secret %s/%s of spec.tokenSecretRef: grant the operator's ServiceAccount "+
			"read access (get, list, watch) to Secrets in namespace %s, or move the Secret to a namespace it can read",
			ref.Namespace, ref.Name, ref.Namespace)
		return e, nil
	case err != nil:
		return e, fmt.Errorf("reading the token Secret of ClusterCredentials %s: %w", cc.Name, err)
	}
	token, err := bitrise.NormalizeToken(string(secret.Data[key]))
	switch {
	case errors.Is(err, bitrise.ErrEmptyToken):
		e.reason = webhooksv1alpha1.ReasonTokenKeyMissing
		e.message = fmt.Sprintf("Secret %s/%s of spec.tokenSecretRef has no key %q, or it is empty", ref.Namespace, ref.Name, key)
	case err != nil:
		e.reason = webhooksv1alpha1.ReasonTokenInvalid
		e.message = fmt.Sprintf("Key %q of Secret %s/%s of spec.tokenSecretRef is not a usable API token: %s",
			key, ref.Namespace, ref.Name, err.Error())
	default:
		e.token = token
	}
	return e, nil
}
