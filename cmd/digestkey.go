package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// defaultDigestKeySecret is the name of the Secret holding the key of
// status.secretDigest, in the manager's namespace.
const defaultDigestKeySecret = "bitrise-webhook-operator-digest-key" //nolint:gosec // G101: a Secret's name, not a credential

// digestKeyConfig says where the digest key comes from.
type digestKeyConfig struct {
	// namespace and name of the key's Secret; namespace empty means the
	// manager's (see digestKeyNamespace).
	namespace, name string
	// inMemory uses a random key that dies with the process instead.
	inMemory bool
	// leaderElectionNamespace is a fallback for the namespace.
	leaderElectionNamespace string
}

// digestKeyNamespace is where the key's Secret lives: --digest-key-namespace,
// else env POD_NAMESPACE (the Deployment sets it from the downward API),
// else --leader-election-namespace, else the namespace of the kubeconfig's
// context or, in a cluster, of the ServiceAccount.
func digestKeyNamespace(cfg digestKeyConfig) (string, error) {
	for _, ns := range []string{cfg.namespace, os.Getenv("POD_NAMESPACE"), cfg.leaderElectionNamespace} {
		if ns != "" {
			return ns, nil
		}
	}
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(kubeconfigRules(), &clientcmd.ConfigOverrides{}).Namespace()
	if err != nil {
		return "", err
	}
	if ns == "" {
		return "", errors.New("no namespace for the digest key Secret: set --digest-key-namespace, POD_NAMESPACE or --leader-election-namespace (or --digest-key-in-memory for a throwaway key)")
	}
	return ns, nil
}

// kubeconfigRules find the kubeconfig controller-runtime uses: --kubeconfig,
// else $KUBECONFIG, else ~/.kube/config, else in-cluster.
func kubeconfigRules() *clientcmd.ClientConfigLoadingRules {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f := flagValue("kubeconfig"); f != "" {
		rules.ExplicitPath = f
	}
	return rules
}

// loadDigester returns the Digester of status.secretDigest, with the key
// kept in a Secret of the manager's namespace (created on first start), or
// a throwaway key with --digest-key-in-memory.
func loadDigester(ctx context.Context, restCfg *rest.Config, cfg digestKeyConfig) (*secretdigest.Digester, error) {
	log := ctrl.Log.WithName("setup")
	if cfg.inMemory {
		key, err := secretdigest.NewKey()
		if err != nil {
			return nil, err
		}
		log.Info("using a throwaway in-memory digest key (--digest-key-in-memory): after a restart, every status.secretDigest is re-stamped once, with a Warning event")
		return secretdigest.NewDigester(key)
	}
	ns, err := digestKeyNamespace(cfg)
	if err != nil {
		return nil, err
	}
	// Direct, uncached: the manager caches no Secret.
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	key, created, err := secretdigest.LoadOrCreateKey(ctx, c, ns, cfg.name)
	if err != nil {
		return nil, fmt.Errorf("%w (see --digest-key-secret, --digest-key-namespace)", err)
	}
	d, err := secretdigest.NewDigester(key)
	if err != nil {
		return nil, err
	}
	log.Info("digest key loaded", "secret", ns+"/"+cfg.name, "created", created, "digestKeyID", d.KeyID())
	return d, nil
}
