package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// tokenFor returns the API token of the resource, from the Secret or the
// ClusterCredentials that spec.credentialsRef names, or else from the
// ClusterCredentials of --default-credentials. A ClusterCredentials must
// allow the resource's namespace and app: that is checked before its token
// is read, and so before any call to Bitrise. Failures the user must fix
// are *stalledErrors (CredentialsNotFound, CredentialsNotAllowed); their
// messages name no Secret of a ClusterCredentials and nothing of what it
// allows to others.
func (r *OutgoingWebhookReconciler) tokenFor(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) (string, error) {
	ref := obj.Spec.CredentialsRef
	if ref == nil || ref.IsClusterCredentials() {
		return r.clusterToken(ctx, obj)
	}
	return r.secretToken(ctx, obj, ref)
}

// secretToken reads the token of a credentialsRef of kind Secret, in the
// resource's namespace.
func (r *OutgoingWebhookReconciler) secretToken(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, ref *webhooksv1alpha1.CredentialsReference) (string, error) {
	key := ref.SecretKey()
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound, "Secret %s named by spec.credentialsRef was not found", ref.Name)
		}
		return "", err
	}
	token, err := bitrise.NormalizeToken(string(secret.Data[key]))
	if errors.Is(err, bitrise.ErrEmptyToken) {
		return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound, "Secret %s named by spec.credentialsRef has no key %q (or it is empty)", ref.Name, key)
	}
	if err != nil {
		// Without this, net/http refuses the header and the resource
		// would retry for ever as APIUnavailable.
		return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound,
			"key %q of Secret %s named by spec.credentialsRef is not a usable API token: %s", key, ref.Name, err.Error())
	}
	return token, nil
}

// clusterCredentialsName returns the name of the ClusterCredentials whose
// token the resource uses, "" when it uses a Secret of its own namespace.
func clusterCredentialsName(obj *webhooksv1alpha1.OutgoingWebhook, defaultName string) string {
	ref := obj.Spec.CredentialsRef
	switch {
	case ref == nil:
		return defaultName
	case ref.IsClusterCredentials():
		return ref.Name
	}
	return ""
}

// defaultCredentials is the name of the ClusterCredentials of resources
// without spec.credentialsRef.
func (r *OutgoingWebhookReconciler) defaultCredentials() string {
	if r.DefaultCredentials == "" {
		return webhooksv1alpha1.DefaultClusterCredentialsName
	}
	return r.DefaultCredentials
}

// clusterToken returns the token of the resource's ClusterCredentials once
// it allows the resource's namespace and app.
func (r *OutgoingWebhookReconciler) clusterToken(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) (string, error) {
	name := clusterCredentialsName(obj, r.defaultCredentials())
	cc := &webhooksv1alpha1.ClusterCredentials{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, cc); err != nil {
		if !apierrors.IsNotFound(err) {
			return "", err
		}
		if wait := r.Credentials.replacementWait(name, time.Now()); wait > 0 {
			return "", &credentialsReplacingError{name: name, wait: wait}
		}
		if obj.Spec.CredentialsRef == nil {
			return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound,
				"ClusterCredentials %s (the operator's default, used when spec.credentialsRef is unset) was not found: "+
					"set spec.credentialsRef, or ask a cluster administrator for it", name)
		}
		return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound,
			"ClusterCredentials %s named by spec.credentialsRef was not found", name)
	}
	denial, err := credentialsDenial(cc, obj.Namespace, obj.Spec.AppSlug, func() (labels.Set, error) {
		return r.namespaceLabels(ctx, obj.Namespace)
	})
	if err != nil {
		return "", err
	}
	if denial != "" {
		return "", stalled(webhooksv1alpha1.ReasonCredentialsNotAllowed, "%s", denial)
	}
	e, ok := r.Credentials.get(cc)
	if !ok {
		if e, err = readClusterToken(ctx, r.APIReader, cc); err != nil {
			return "", err
		}
		r.Credentials.fill(cc.Name, e)
	}
	if e.reason != "" {
		// The details (which Secret, why) are for the administrators, on
		// the ClusterCredentials' own Ready condition.
		return "", stalled(webhooksv1alpha1.ReasonCredentialsNotFound,
			"ClusterCredentials %s has no usable API token (its Ready condition says why; ask a cluster administrator)", name)
	}
	return e.token, nil
}

// namespaceLabels reads the labels of a namespace from the manager's
// metadata-only cache of Namespaces, or from the API server when the cache
// does not hold it yet (a namespace created with its resources). A
// namespace that is gone has none.
func (r *OutgoingWebhookReconciler) namespaceLabels(ctx context.Context, name string) (labels.Set, error) {
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	err := r.Get(ctx, client.ObjectKey{Name: name}, ns)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, client.ObjectKey{Name: name}, ns)
	}
	switch {
	case apierrors.IsNotFound(err):
		return labels.Set{}, nil
	case err != nil:
		return nil, fmt.Errorf("reading the labels of namespace %s: %w", name, err)
	}
	return labels.Set(ns.GetLabels()), nil
}

// credentialsDenial returns why cc does not allow a resource of namespace
// and app to use its token, "" when it does. A namespace is allowed when it
// is in spec.namespaces or spec.namespaceSelector selects its labels (`{}`
// selects all, an absent selector none, and one that does not parse none,
// as its Ready condition reports); an app when it is in spec.apps or
// spec.apps holds "*". nsLabels is called only when the selector must be
// matched. The message names cc and what is not allowed, and nothing of
// what cc allows.
func credentialsDenial(cc *webhooksv1alpha1.ClusterCredentials, namespace, app string, nsLabels func() (labels.Set, error)) (string, error) {
	allowed, err := cc.Spec.AllowsNamespace(namespace, nsLabels)
	if err != nil {
		return "", err
	}
	if !allowed {
		return fmt.Sprintf("namespace %s is not allowed by ClusterCredentials %s (spec.namespaces, spec.namespaceSelector)",
			namespace, cc.Name), nil
	}
	if !cc.Spec.AllowsApp(app) {
		return fmt.Sprintf("app %s is not in spec.apps of ClusterCredentials %s", app, cc.Name), nil
	}
	return "", nil
}

// credentialsReplacingError is a ClusterCredentials found missing within
// credentialsReplacementGrace of when it was last seen: most likely being
// replaced (helm upgrade). The pass is retried after wait, touching no
// condition; once the grace is over, a missing ClusterCredentials is
// CredentialsNotFound.
type credentialsReplacingError struct {
	name string
	wait time.Duration
}

func (e *credentialsReplacingError) Error() string {
	return fmt.Sprintf("ClusterCredentials %s is missing; waiting %s for it to be re-created", e.name, e.wait.Round(time.Second))
}
