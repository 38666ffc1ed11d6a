package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// fieldManager is the field manager of every write of the plugin, as
// kubectl's is "kubectl-<verb>".
const fieldManager = "kubectl-bitrise"

// resourceWords are the names kubectl accepts for OutgoingWebhooks: the
// short name, the kind in lower case, the plural, and the plural qualified
// with the group.
var resourceWords = []string{
	"owh", "outgoingwebhook", "outgoingwebhooks",
	"outgoingwebhook.webhooks.bitrise.io", "outgoingwebhooks.webhooks.bitrise.io",
}

func isResourceWord(s string) bool {
	return slices.Contains(resourceWords, strings.ToLower(s))
}

// cli is what every subcommand shares: the kubeconfig flags and the streams.
type cli struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
}

// newRootCommand returns `kubectl bitrise` with its subcommands. The
// kubeconfig flags are kubectl's (cli-runtime's ConfigFlags).
func newRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	c := &cli{flags: genericclioptions.NewConfigFlags(true), streams: streams}
	root := &cobra.Command{
		Use:   "kubectl-bitrise",
		Short: "Import, inspect, reconcile, suspend and resume Bitrise OutgoingWebhooks",
		Long: `kubectl bitrise works with the OutgoingWebhook resources of the Bitrise
webhook operator (webhooks.bitrise.io/v1alpha1).

  import     write manifests for the outgoing webhooks an app has on Bitrise
  get        list OutgoingWebhooks with their status
  reconcile  ask the operator to check a webhook now, and wait for the result
  suspend    stop all Bitrise API calls for OutgoingWebhooks
  resume     start them again`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl bitrise",
		},
	}
	c.flags.AddFlags(root.PersistentFlags())
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(
		newImportCommand(c),
		newGetCommand(c),
		newReconcileCommand(c),
		newSuspendCommand(c, true),
		newSuspendCommand(c, false),
	)
	return root
}

// newScheme knows the built-in kinds and the operator's.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(webhooksv1alpha1.AddToScheme(scheme))
	return scheme
}

// restConfig is the client configuration the kubeconfig flags select.
func (c *cli) restConfig() (*rest.Config, error) {
	cfg, err := c.flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

// client returns a client of the cluster (uncached) that knows the
// OutgoingWebhook types.
func (c *cli) client() (client.Client, error) {
	cfg, err := c.restConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: newScheme()})
}

// clientInNamespace returns the client and the namespace of the command.
func (c *cli) clientInNamespace() (client.Client, string, error) {
	cl, err := c.client()
	if err != nil {
		return nil, "", err
	}
	ns, err := c.namespace()
	return cl, ns, err
}

// namespace is the namespace of -n, or of the kubeconfig context, or
// "default".
func (c *cli) namespace() (string, error) {
	ns, _, err := c.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return ns, nil
}

// splitTarget reads `[RESOURCE] [NAME]` arguments: a first argument that is
// a resource word (owh, outgoingwebhook, ...) is dropped; wantWord makes it
// required, as in `kubectl bitrise reconcile owh NAME`. It returns the name,
// or "" when none was given.
func splitTarget(args []string, wantWord bool) (string, error) {
	if len(args) > 0 && isResourceWord(args[0]) {
		args = args[1:]
	} else if wantWord {
		return "", fmt.Errorf("the first argument must be the resource type: one of %s", strings.Join(resourceWords[:3], ", "))
	}
	switch len(args) {
	case 0:
		return "", nil
	case 1:
		return args[0], nil
	default:
		return "", fmt.Errorf("one name at most, got %d: %s", len(args), strings.Join(args, " "))
	}
}
