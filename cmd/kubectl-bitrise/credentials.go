package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// errCredentialsKindMissing is returned when the cluster does not serve
// ClusterCredentials (an operator older than the kind).
var errCredentialsKindMissing = fmt.Errorf("the ClusterCredentials kind is not installed (group %s): use --token-file or BITRISE_TOKEN instead",
	webhooksv1alpha1.GroupVersion)

// clusterCredentialsToken reads the token of the ClusterCredentials name
// for an import of apps into namespace: it refuses, before reading the
// token Secret, an app that spec.apps does not list (unless it lists "*")
// and a namespace that neither spec.namespaces lists nor
// spec.namespaceSelector selects (by the Namespace's labels; a namespace
// that does not exist yet has none), the rules the operator applies to the
// imported resources. Errors name the object, field, app, namespace,
// Secret or key at fault, never the token.
func clusterCredentialsToken(ctx context.Context, cl client.Client, name, namespace string, apps []string) (string, error) {
	var cc webhooksv1alpha1.ClusterCredentials
	err := cl.Get(ctx, client.ObjectKey{Name: name}, &cc)
	switch {
	case meta.IsNoMatchError(err):
		return "", errCredentialsKindMissing
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("ClusterCredentials %q not found", name)
	case err != nil:
		return "", fmt.Errorf("reading ClusterCredentials %q: %w", name, err)
	}
	if err := checkAppsAllowed(&cc, apps); err != nil {
		return "", err
	}
	if err := checkNamespaceAllowed(ctx, cl, &cc, namespace); err != nil {
		return "", err
	}
	ref := cc.Spec.TokenSecretRef
	var secret corev1.Secret
	err = cl.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, &secret)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("its token Secret %s/%s does not exist", ref.Namespace, ref.Name)
	}
	if err != nil {
		return "", fmt.Errorf("reading its token Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	return secretToken(&secret, cc.TokenKey())
}

// checkAppsAllowed refuses the apps that spec.apps of cc does not list,
// naming them, unless it lists webhooksv1alpha1.AnyApp.
func checkAppsAllowed(cc *webhooksv1alpha1.ClusterCredentials, apps []string) error {
	var refused []string
	for _, app := range apps {
		if !cc.Spec.AllowsApp(app) && !slices.Contains(refused, app) {
			refused = append(refused, app)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return fmt.Errorf("ClusterCredentials %s does not allow app %s (not in its spec.apps)", cc.Name, strings.Join(refused, ", "))
}

// checkNamespaceAllowed refuses namespace unless spec.namespaces of cc
// lists it or spec.namespaceSelector selects the labels of the Namespace
// (none when it does not exist; `{}` selects every namespace).
func checkNamespaceAllowed(ctx context.Context, cl client.Client, cc *webhooksv1alpha1.ClusterCredentials, namespace string) error {
	if sel := cc.Spec.NamespaceSelector; sel != nil {
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			return fmt.Errorf("ClusterCredentials %s: spec.namespaceSelector: %w", cc.Name, err)
		}
	}
	why := "not in its spec.namespaces, and it has no spec.namespaceSelector"
	allowed, err := cc.Spec.AllowsNamespace(namespace, func() (labels.Set, error) {
		var ns corev1.Namespace
		err := cl.Get(ctx, client.ObjectKey{Name: namespace}, &ns)
		switch {
		case apierrors.IsNotFound(err):
			why = "not in its spec.namespaces, and the namespace does not exist, so spec.namespaceSelector cannot select it"
			return labels.Set{}, nil
		case err != nil:
			return nil, fmt.Errorf("reading namespace %s for the spec.namespaceSelector of ClusterCredentials %s: %w", namespace, cc.Name, err)
		}
		why = "not in its spec.namespaces, and spec.namespaceSelector does not select it"
		return labels.Set(ns.Labels), nil
	})
	if err != nil || allowed {
		return err
	}
	return fmt.Errorf("ClusterCredentials %s does not allow namespace %s (%s)", cc.Name, namespace, why)
}

// secretToken is the non-empty value of key in secret; the error names the
// Secret and key, never a value.
func secretToken(secret *corev1.Secret, key string) (string, error) {
	v, ok := secret.Data[key]
	if !ok || strings.TrimSpace(string(v)) == "" {
		return "", fmt.Errorf("its token Secret %s/%s has no key %q, or it is empty", secret.Namespace, secret.Name, key)
	}
	return string(v), nil
}
