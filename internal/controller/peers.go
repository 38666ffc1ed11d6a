package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// appPeers are the other OutgoingWebhooks of the same app, in any namespace,
// with any create-pending marker that does not verify removed: what is
// left of their annotations is the operator's own.
type appPeers []webhooksv1alpha1.OutgoingWebhook

// appPeers lists the other resources of obj's app: from the manager's cache
// when it holds every OutgoingWebhook, else (a sharded manager) from the API
// server, so that the claims of other shards are seen.
func (r *OutgoingWebhookReconciler) appPeers(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) (appPeers, error) {
	var items []webhooksv1alpha1.OutgoingWebhook
	if r.claimants != nil {
		var err error
		if items, err = r.claimants.list(ctx, obj.Spec.AppSlug); err != nil {
			return nil, err
		}
	} else {
		var list webhooksv1alpha1.OutgoingWebhookList
		if err := r.List(ctx, &list, client.MatchingFields{indexAppSlug: obj.Spec.AppSlug}); err != nil {
			return nil, fmt.Errorf("listing OutgoingWebhooks of app %s: %w", obj.Spec.AppSlug, err)
		}
		items = list.Items
	}
	peers := make(appPeers, 0, len(items))
	for _, item := range items {
		if item.UID == obj.UID {
			continue
		}
		// The lists return copies: this changes nothing stored.
		if pendingStateOf(r.Digests, &item) == pendingForged {
			clearPending(&item)
		}
		peers = append(peers, item)
	}
	return peers, nil
}

// claimRank is how strongly a resource claims the webhook for its app and
// spec URL; the higher rank wins, then the resource created first (then by
// namespace/name).
type claimRank int

const (
	// claimNone: a resource holding no webhook (no status.slug, no verified
	// create pending) that is suspended, being deleted, or Stalled at its
	// current generation for a reason of its own claims nothing, so that it
	// cannot squat a URL it does not use. A resource Stalled AlreadyManaged
	// is waiting for the claim and keeps its place by age.
	claimNone claimRank = iota
	// claimByAge: a resource holding no webhook yet.
	claimByAge
	// claimHolding: a resource holding a webhook (status.slug or a verified
	// create pending), perhaps for another URL or generation.
	claimHolding
	// claimInSync: a resource holding a webhook that was Ready for an
	// earlier generation: one whose spec is being changed. It keeps its
	// claim against a resource that lost the claim (Stalled, so not Ready)
	// however often that one changes its spec. Two resources Ready on
	// different URLs whose specs change to one URL at the same time are
	// told apart by age: which webhook had which URL is not in the status.
	claimInSync
	// claimEstablished: a resource whose webhook is in sync with its
	// current generation (status.slug set, Ready, observedGeneration
	// current): it already serves this URL. An older resource switching to
	// its URL does not take it over.
	claimEstablished
)

// claimRankOf ranks obj's claim on its spec URL; pending tells whether it
// has a verified create-pending marker.
func claimRankOf(obj *webhooksv1alpha1.OutgoingWebhook, pending bool) claimRank {
	ready := obj.Status.Slug != "" && meta.IsStatusConditionTrue(obj.Status.Conditions, webhooksv1alpha1.ConditionReady)
	switch {
	case ready && obj.Status.ObservedGeneration == obj.Generation:
		return claimEstablished
	case ready:
		return claimInSync
	case obj.Status.Slug != "" || pending:
		return claimHolding
	case obj.Spec.Suspend || !obj.DeletionTimestamp.IsZero() || stalledOnItsOwn(obj):
		return claimNone
	default:
		return claimByAge
	}
}

// stalledOnItsOwn reports whether obj is Stalled at its current generation
// for a reason other than another resource's claim.
func stalledOnItsOwn(obj *webhooksv1alpha1.OutgoingWebhook) bool {
	c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == obj.Generation &&
		c.Reason != webhooksv1alpha1.ReasonAlreadyManaged
}

func hasPendingMarker(obj *webhooksv1alpha1.OutgoingWebhook) bool {
	_, ok := obj.Annotations[webhooksv1alpha1.CreatePendingAnnotation]
	return ok
}

// claimBeats reports whether a's claim on its URL wins over b's, for two
// resources of one app and URL whose ranks are ra and rb.
func claimBeats(a *webhooksv1alpha1.OutgoingWebhook, ra claimRank, b *webhooksv1alpha1.OutgoingWebhook, rb claimRank) bool {
	if ra != rb {
		return ra > rb
	}
	return ra != claimNone && createdBefore(a, b)
}

// claimedBy returns the peer that wins the claim on the app and spec URL of
// obj (URLs compared with sameWebhookURL) over obj, ranked by claimRank,
// then age; nil when obj wins, or no peer claims its URL. obj must have
// had its forged create-pending marker removed.
func (peers appPeers) claimedBy(obj *webhooksv1alpha1.OutgoingWebhook) *webhooksv1alpha1.OutgoingWebhook {
	objRank := claimRankOf(obj, hasPendingMarker(obj))
	var winner *webhooksv1alpha1.OutgoingWebhook
	var winnerRank claimRank
	for i := range peers {
		peer := &peers[i]
		if !sameWebhookURL(peer.Spec.URL, obj.Spec.URL) {
			continue
		}
		rank := claimRankOf(peer, hasPendingMarker(peer))
		if !claimBeats(peer, rank, obj, objRank) {
			continue
		}
		if winner == nil || claimBeats(peer, rank, winner, winnerRank) {
			winner, winnerRank = peer, rank
		}
	}
	return winner
}

// claimedWebhooks are the remote webhooks that other resources of the app
// hold, which a resource never adopts, updates or deletes: by slug (their
// status.slug, which only the operator writes) and by URL (their verified
// create-pending markers, whose webhook's slug is not known yet).
type claimedWebhooks struct {
	// slugs maps a held slug to its holder (namespace/name); the holder
	// is for debugging only, never for a message: it may be in another
	// namespace.
	slugs map[string]string
	// pendingURLs are the URLs of the creates pending in other resources.
	pendingURLs []string
}

// pendingAt reports whether another resource has a create pending for url.
func (c claimedWebhooks) pendingAt(url string) bool {
	for _, u := range c.pendingURLs {
		if sameWebhookURL(u, url) {
			return true
		}
	}
	return false
}

// claimed returns the webhooks the peers hold, whether or not they won
// their URL claims: a claim decides who may adopt or create a webhook for
// a URL, never that one resource may take another's.
func (peers appPeers) claimed() claimedWebhooks {
	c := claimedWebhooks{slugs: map[string]string{}}
	for i := range peers {
		peer := &peers[i]
		if peer.Status.Slug != "" {
			c.slugs[peer.Status.Slug] = peer.Namespace + "/" + peer.Name
		} else if hasPendingMarker(peer) {
			url, _ := pendingCreate(peer)
			c.pendingURLs = append(c.pendingURLs, url)
		}
	}
	return c
}

// alreadyManaged is the Stalled error of a resource that lost its URL
// claim to winner. It names the winner only in the resource's own
// namespace: nothing of one namespace shows in another.
func alreadyManaged(obj, winner *webhooksv1alpha1.OutgoingWebhook) error {
	if winner.Namespace == obj.Namespace {
		return stalled(webhooksv1alpha1.ReasonAlreadyManaged,
			"app %s already has a webhook for this URL managed by OutgoingWebhook %s/%s",
			obj.Spec.AppSlug, winner.Namespace, winner.Name)
	}
	return stalled(webhooksv1alpha1.ReasonAlreadyManaged,
		"app %s already has a webhook for this URL managed by another OutgoingWebhook", obj.Spec.AppSlug)
}

func createdBefore(a, b *webhooksv1alpha1.OutgoingWebhook) bool {
	at, bt := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !at.Equal(bt) {
		return at.Before(bt)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}
