package controller

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// appPeers are the other OutgoingWebhooks of the same app, in any namespace.
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
		if item.UID != obj.UID {
			peers = append(peers, item)
		}
	}
	return peers, nil
}

// claimedBy returns the peer that owns the app and URL of obj: of the
// resources claiming the same URL (compared with sameWebhookURL), the one
// created first (then by
// namespace/name) wins, and the others are Stalled naming it.
func (peers appPeers) claimedBy(obj *webhooksv1alpha1.OutgoingWebhook) *webhooksv1alpha1.OutgoingWebhook {
	for i := range peers {
		peer := &peers[i]
		if sameWebhookURL(peer.Spec.URL, obj.Spec.URL) && createdBefore(peer, obj) {
			return peer
		}
	}
	return nil
}

// ownedSlugs returns the remote webhooks owned by peers (slug to peer name),
// which obj must never adopt. A peer that lost the claim on obj's URL owns
// nothing obj could want.
func (peers appPeers) ownedSlugs(obj *webhooksv1alpha1.OutgoingWebhook) map[string]string {
	owned := map[string]string{}
	for _, peer := range peers {
		if peer.Status.Slug == "" || (sameWebhookURL(peer.Spec.URL, obj.Spec.URL) && createdBefore(obj, &peer)) {
			continue
		}
		owned[peer.Status.Slug] = peer.Namespace + "/" + peer.Name
	}
	return owned
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
