package localenv

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

const (
	// CredentialsNamespace is where the harness keeps the default token
	// Secret: the namespace install.yaml runs the operator in.
	CredentialsNamespace = "bitrise-webhook-operator-system"
	// DefaultTokenSecret is the name of the Secret holding the default
	// token, under key webhooksv1alpha1.DefaultCredentialsKey ("token").
	DefaultTokenSecret = "bitrise-api-token"
)

// ApplyDefaultCredentials makes token the default Bitrise API token of the
// operator, as a cluster administrator would: the Secret DefaultTokenSecret
// (see ApplyTokenSecret) and the ClusterCredentials
// webhooksv1alpha1.DefaultClusterCredentialsName naming it for every
// namespace (namespaceSelector {}) and every app (apps ["*"]), each created
// or updated. Calling it again with another token rotates the token.
// Errors name the object at fault, never the token.
func (e *Env) ApplyDefaultCredentials(ctx context.Context, token string) error {
	if err := e.ApplyTokenSecret(ctx, DefaultTokenSecret, token); err != nil {
		return err
	}
	c, err := e.Client()
	if err != nil {
		return err
	}
	cc := &webhooksv1alpha1.ClusterCredentials{ObjectMeta: metav1.ObjectMeta{Name: webhooksv1alpha1.DefaultClusterCredentialsName}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, cc, func() error {
		cc.Spec = webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef: webhooksv1alpha1.TokenSecretReference{
				Namespace: CredentialsNamespace,
				Name:      DefaultTokenSecret,
				Key:       webhooksv1alpha1.DefaultCredentialsKey,
			},
			NamespaceSelector: &metav1.LabelSelector{},
			Apps:              []string{webhooksv1alpha1.AnyApp},
		}
		return nil
	}); err != nil {
		return fmt.Errorf("ClusterCredentials %s: %w", webhooksv1alpha1.DefaultClusterCredentialsName, err)
	}
	return nil
}

// ApplyTokenSecret creates CredentialsNamespace if missing, and creates or
// updates the Secret name in it with token under key "token" (the default
// key of a ClusterCredentials' tokenSecretRef). Errors name the object at
// fault, never the token.
func (e *Env) ApplyTokenSecret(ctx context.Context, name, token string) error {
	c, err := e.Client()
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CredentialsNamespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, ns, func() error { return nil }); err != nil {
		return fmt.Errorf("namespace %s: %w", CredentialsNamespace, err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: CredentialsNamespace, Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, c, secret, func() error {
		secret.Type = corev1.SecretTypeOpaque
		secret.Data = map[string][]byte{webhooksv1alpha1.DefaultCredentialsKey: []byte(token)}
		return nil
	}); err != nil {
		return fmt.Errorf("secret %s/%s: %w", CredentialsNamespace, name, err)
	}
	return nil
}
