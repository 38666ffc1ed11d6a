package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// clusterCredentialsKind is a cluster-scoped kind of the operator's group
// whose spec.tokenSecretRef {namespace, name, key (default "token")} names
// the Secret holding a Bitrise API token. It is read with the dynamic client,
// so the plugin does not depend on its Go type and works once it is installed.
const clusterCredentialsKind = "ClusterCredentials"

// errCredentialsKindMissing is returned when the cluster does not serve
// ClusterCredentials.
var errCredentialsKindMissing = fmt.Errorf("the %s kind is not installed (group %s): use --token-file or BITRISE_TOKEN instead",
	clusterCredentialsKind, webhooksv1alpha1.GroupVersion)

// clusterCredentialsToken reads the token of the ClusterCredentials object
// name: discovery finds its resource, the dynamic client reads it, and the
// Secret of its spec.tokenSecretRef gives the token. Errors name the object,
// field, Secret or key at fault, never the token.
func clusterCredentialsToken(ctx context.Context, cfg *rest.Config, name string) (string, error) {
	gvr, err := clusterCredentialsResource(cfg)
	if err != nil {
		return "", err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	obj, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("%s %q not found", clusterCredentialsKind, name)
	}
	if err != nil {
		return "", fmt.Errorf("reading %s %q: %w", clusterCredentialsKind, name, err)
	}
	ref, err := tokenSecretRef(obj)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", clusterCredentialsKind, name, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	secret, err := cs.CoreV1().Secrets(ref.namespace).Get(ctx, ref.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("its token Secret %s/%s does not exist", ref.namespace, ref.name)
	}
	if err != nil {
		return "", fmt.Errorf("reading its token Secret %s/%s: %w", ref.namespace, ref.name, err)
	}
	return secretToken(secret, ref.key)
}

// clusterCredentialsResource finds the resource serving ClusterCredentials
// in the operator's group version, or errCredentialsKindMissing.
func clusterCredentialsResource(cfg *rest.Config) (schema.GroupVersionResource, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	gv := webhooksv1alpha1.GroupVersion
	list, err := dc.ServerResourcesForGroupVersion(gv.String())
	if apierrors.IsNotFound(err) {
		return schema.GroupVersionResource{}, errCredentialsKindMissing
	}
	if err != nil {
		return schema.GroupVersionResource{}, fmt.Errorf("discovering %s: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Kind == clusterCredentialsKind && !strings.Contains(r.Name, "/") {
			return gv.WithResource(r.Name), nil
		}
	}
	return schema.GroupVersionResource{}, errCredentialsKindMissing
}

// secretKeyRef names a key of a Secret in a namespace.
type secretKeyRef struct{ namespace, name, key string }

// tokenSecretRef reads spec.tokenSecretRef of a ClusterCredentials object.
func tokenSecretRef(obj *unstructured.Unstructured) (secretKeyRef, error) {
	var ref secretKeyRef
	fields := map[string]*string{"namespace": &ref.namespace, "name": &ref.name, "key": &ref.key}
	for field, into := range fields {
		v, _, err := unstructured.NestedString(obj.Object, "spec", "tokenSecretRef", field)
		if err != nil {
			return ref, fmt.Errorf("spec.tokenSecretRef.%s: %w", field, err)
		}
		*into = v
	}
	switch {
	case ref.namespace == "":
		return ref, errors.New("spec.tokenSecretRef.namespace is not set")
	case ref.name == "":
		return ref, errors.New("spec.tokenSecretRef.name is not set")
	case ref.key == "":
		ref.key = webhooksv1alpha1.DefaultCredentialsKey
	}
	return ref, nil
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
