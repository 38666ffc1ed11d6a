package controller

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// Field indexes on OutgoingWebhooks in the manager's cache.
const (
	// indexSecretNames maps a resource to the names of the Secrets it
	// references (secretRef, and credentialsRef of kind Secret), to find
	// the resources a Secret event concerns.
	indexSecretNames = ".spec.secretNames"
	// indexAppSlug maps a resource to its app, to find the other resources
	// of the same app (URL claims and the slugs they own).
	indexAppSlug = ".spec.appSlug"
	// indexClusterCredentials maps a resource to the ClusterCredentials it
	// uses: named by spec.credentialsRef, or the default one without it.
	indexClusterCredentials = ".spec.clusterCredentials"
	// indexAppURL maps a resource to its app and spec URL (appURLKey), to
	// find the resources whose URL claims a change may affect.
	indexAppURL = ".spec.appSlug+url"
)

func secretNames(obj client.Object) []string {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return nil
	}
	var names []string
	if owh.Spec.SecretRef != nil {
		names = append(names, owh.Spec.SecretRef.Name)
	}
	ref := owh.Spec.CredentialsRef
	if ref != nil && !ref.IsClusterCredentials() && (owh.Spec.SecretRef == nil || ref.Name != owh.Spec.SecretRef.Name) {
		names = append(names, ref.Name)
	}
	return names
}

func clusterCredentialsNames(obj client.Object, defaultName string) []string {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return nil
	}
	if name := clusterCredentialsName(owh, defaultName); name != "" {
		return []string{name}
	}
	return nil
}

func appSlug(obj client.Object) []string {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return nil
	}
	return []string{owh.Spec.AppSlug}
}

// appURLKey is the indexAppURL value of an app and URL: the app slug and
// the URL as sameWebhookURL compares it.
func appURLKey(app, url string) string {
	return app + " " + normalizeWebhookURL(url)
}

func appURL(obj client.Object) []string {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return nil
	}
	return []string{appURLKey(owh.Spec.AppSlug, owh.Spec.URL)}
}

// requestsForSecret maps a Secret event to the resources referencing it.
func (r *OutgoingWebhookReconciler) requestsForSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{indexSecretNames: secret.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items, "")
}

// requestsForCredentials maps a change of a ClusterCredentials to the
// resources using it, in every watched namespace.
func (r *OutgoingWebhookReconciler) requestsForCredentials(ctx context.Context, cc client.Object) []reconcile.Request {
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexClusterCredentials: cc.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items, "")
}

// requestsForNamespace maps a change of a namespace's labels to its
// resources that use a ClusterCredentials, whose namespaceSelector may now
// select the namespace or no longer.
func (r *OutgoingWebhookReconciler) requestsForNamespace(ctx context.Context, ns client.Object) []reconcile.Request {
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := r.List(ctx, &list, client.InNamespace(ns.GetName())); err != nil {
		return nil
	}
	defaultName := r.defaultCredentials()
	users := slices.DeleteFunc(list.Items, func(o webhooksv1alpha1.OutgoingWebhook) bool {
		return clusterCredentialsName(&o, defaultName) == ""
	})
	return requestsFor(users, "")
}

// requestsForAppPeers maps a change of a resource's claim (claimChanged) to
// the other resources of its app and URL (compared with sameWebhookURL), so
// that one waiting for the claim is retried at once. On an update it is
// called with the old object and with the new one: the resources of the URL
// a claim left and of the URL it moved to. Only the resources of that URL,
// not the whole app: an app's claims on other URLs are not affected.
func (r *OutgoingWebhookReconciler) requestsForAppPeers(ctx context.Context, obj client.Object) []reconcile.Request {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return nil
	}
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := r.List(ctx, &list, client.MatchingFields{indexAppURL: appURLKey(owh.Spec.AppSlug, owh.Spec.URL)}); err != nil {
		return nil
	}
	return requestsFor(list.Items, owh.UID)
}

func requestsFor(items []webhooksv1alpha1.OutgoingWebhook, skip types.UID) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, len(items))
	for i := range items {
		if items[i].UID == skip {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&items[i])})
	}
	return reqs
}
