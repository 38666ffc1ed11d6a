package secretdigest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeySecretDataKey is the data key of the digest key in its Secret.
const KeySecretDataKey = "key"

// LoadOrCreateKey returns the digest key kept in the Secret namespace/name
// (data key KeySecretDataKey), and creates that Secret with a random key
// when it does not exist. created tells whether it did. Two managers
// starting at once agree on one key: the loser of the create reads the
// winner's. c must read from the API server, not from a cache.
//
// A Secret whose key is missing or shorter than KeyLen is an error, not
// overwritten: it may be a key someone meant to keep. The error names the
// Secret and the data key, never a value.
func LoadOrCreateKey(ctx context.Context, c client.Client, namespace, name string) (key []byte, created bool, err error) {
	ref := client.ObjectKey{Namespace: namespace, Name: name}
	var secret corev1.Secret
	err = c.Get(ctx, ref, &secret)
	if apierrors.IsNotFound(err) {
		if key, err = NewKey(); err != nil {
			return nil, false, err
		}
		secret = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: namespace, Name: name,
				Labels: map[string]string{"app.kubernetes.io/name": "bitrise-webhook-operator", "app.kubernetes.io/component": "secret-digest-key"},
			},
			Type:      corev1.SecretTypeOpaque,
			Immutable: new(true),
			Data:      map[string][]byte{KeySecretDataKey: key},
		}
		err = c.Create(ctx, &secret)
		if err == nil {
			return key, true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("creating the digest key Secret %s: %w", ref, err)
		}
		err = c.Get(ctx, ref, &secret)
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the digest key Secret %s: %w", ref, err)
	}
	key = secret.Data[KeySecretDataKey]
	if len(key) < KeyLen {
		return nil, false, fmt.Errorf("the digest key Secret %s has no data key %q of at least %d bytes: fix it, or delete it to have a new key made", ref, KeySecretDataKey, KeyLen)
	}
	return key, false, nil
}
