package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

const defaultAPIURL = "https://api.bitrise.io/v0.1"

// importFlags are the flags of `kubectl bitrise import`.
type importFlags struct {
	apps           []string
	apiURL         string
	tokenFile      string
	credentials    string
	outputDir      string
	deletionPolicy string
	inlineHeaders  bool
}

// newImportCommand is `kubectl bitrise import`; see its Long help.
func newImportCommand(c *cli) *cobra.Command {
	f := importFlags{}
	cmd := &cobra.Command{
		Use:   "import --app SLUG [--app SLUG...]",
		Short: "Write OutgoingWebhook manifests for the webhooks apps already have on Bitrise",
		Long: `Lists the outgoing webhooks of each app on the Bitrise API and writes, for
each, an OutgoingWebhook (and a Secret with its header values) that the
operator adopts without any change on Bitrise: same URL, events and headers,
and no webhook secret (Bitrise never returns it; the manifest says how to
add one). Review the output, then apply it.

Webhooks registered by addons are skipped. Header values Bitrise returns
masked are not imported: their placeholder must be filled in. Notes about
both go to stderr.

The token comes from --token-file, --credentials (a ClusterCredentials
object of the cluster), or the BITRISE_TOKEN environment variable. With
--credentials, every --app must be one the ClusterCredentials allows, and
the namespace one it allows (checked before its token Secret is read), and
each OutgoingWebhook written names it in spec.credentialsRef, so that the
operator uses the same token for it.`,
		Example: `  kubectl bitrise import --app a1b2c3d4e5f60789 -n ci > webhooks.yaml
  kubectl bitrise import --app a1b2c3d4e5f60789 -n payments --credentials mobile-team > webhooks.yaml
  kubectl bitrise import --app APP1 --app APP2 --token-file ~/.bitrise-token --output-dir webhooks/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImport(cmd.Context(), c, f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.apps, "app", nil, "slug of a Bitrise app whose webhooks to import (repeat, or comma-separate)")
	fl.StringVar(&f.apiURL, "bitrise-api-url", envOr("BITRISE_API_URL", defaultAPIURL), "base URL of the Bitrise API (env BITRISE_API_URL)")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the Bitrise API token (default: env BITRISE_TOKEN)")
	fl.StringVar(&f.credentials, "credentials", "", "name of a ClusterCredentials object whose token Secret to use, read through the kubeconfig; it must allow every --app and the namespace, and the manifests name it in spec.credentialsRef")
	fl.StringVar(&f.outputDir, "output-dir", "", "write one file per webhook and a kustomization.yaml into this folder instead of stdout")
	fl.StringVar(&f.deletionPolicy, "deletion-policy", string(webhooksv1alpha1.DeletionPolicyOrphan),
		"spec.deletionPolicy of the OutgoingWebhooks: Orphan keeps the webhook on Bitrise when the resource is deleted, Delete deletes it")
	fl.BoolVar(&f.inlineHeaders, "inline-headers", false, "put header values in spec.headers instead of a Secret (masked values still go to a Secret)")
	_ = cmd.MarkFlagRequired("app")
	return cmd
}

// envOr is the value of the environment variable name, or fallback when unset or empty.
func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// runImport lists the webhooks of every --app with one token, plans the
// import, prints the notes to stderr and writes the manifests to stdout or
// --output-dir. Errors name the flag or app at fault, never the token.
func runImport(ctx context.Context, c *cli, f importFlags) error {
	opts := importOptions{InlineHeaders: f.inlineHeaders}
	switch p := webhooksv1alpha1.DeletionPolicy(f.deletionPolicy); p {
	case webhooksv1alpha1.DeletionPolicyOrphan, webhooksv1alpha1.DeletionPolicyDelete:
		opts.DeletionPolicy = p
	default:
		return fmt.Errorf("--deletion-policy %q: want Orphan or Delete", f.deletionPolicy)
	}
	for _, app := range f.apps {
		if !appSlugPattern.MatchString(app) || len(app) > 128 {
			return fmt.Errorf("--app %q: an app slug has 1 to 128 letters, digits, '_' and '-'", app)
		}
	}
	ns, err := c.namespace()
	if err != nil {
		return err
	}
	opts.Namespace = ns

	token, err := importToken(ctx, c, f, ns)
	if err != nil {
		return err
	}
	opts.Credentials = f.credentials
	bc, err := bitrise.NewClient(f.apiURL, bitrise.WithUserAgent("kubectl-bitrise"))
	if err != nil {
		return fmt.Errorf("--bitrise-api-url: %w", err)
	}
	api := bc.ForToken(token)
	var hooks []appWebhook
	for _, app := range f.apps {
		list, err := api.ListWebhooks(ctx, app)
		if err != nil {
			return fmt.Errorf("listing the webhooks of app %s: %w", app, err)
		}
		for _, h := range list {
			hooks = append(hooks, appWebhook{App: app, Hook: h})
		}
	}

	managed, err := managedWebhooks(ctx, c, ns)
	if err != nil {
		fmt.Fprintf(c.streams.ErrOut, "note: could not read which webhooks OutgoingWebhooks already manage (%v): none is skipped for that reason\n", err)
	}
	opts.Managed = managed
	plan := planImport(hooks, opts)
	for _, n := range plan.Notes {
		fmt.Fprintln(c.streams.ErrOut, "note:", n)
	}
	if f.outputDir == "" {
		err = renderAll(c.streams.Out, plan, opts)
	} else {
		err = writeDir(f.outputDir, plan, opts)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.streams.ErrOut, "imported %d of %d webhooks from %d app(s) into namespace %s\n",
		len(plan.Webhooks), len(hooks), len(f.apps), ns)
	return nil
}

// importToken reads the Bitrise API token: --token-file, else the token
// Secret of --credentials (which must allow every --app and namespace ns),
// else env BITRISE_TOKEN.
func importToken(ctx context.Context, c *cli, f importFlags, ns string) (string, error) {
	var token string
	switch {
	case f.tokenFile != "" && f.credentials != "":
		return "", errors.New("--token-file and --credentials are exclusive")
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		token = string(b)
	case f.credentials != "":
		cl, err := c.client()
		if err != nil {
			return "", err
		}
		if token, err = clusterCredentialsToken(ctx, cl, f.credentials, ns, f.apps); err != nil {
			return "", fmt.Errorf("--credentials %s: %w", f.credentials, err)
		}
	default:
		token = os.Getenv("BITRISE_TOKEN")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errors.New("no Bitrise API token: set BITRISE_TOKEN, or use --token-file or --credentials")
	}
	return token, nil
}

// writeDir writes each webhook's documents to NAME.yaml in dir, and a
// kustomization.yaml listing them, so that `kubectl apply -k dir` applies
// them. Files are readable by the owner only: they hold header values.
func writeDir(dir string, plan importPlan, opts importOptions) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("--output-dir: %w", err)
	}
	var kustomization bytes.Buffer
	kustomization.WriteString("# Written by kubectl bitrise import.\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
	for _, p := range plan.Webhooks {
		var buf bytes.Buffer
		if err := renderWebhook(&buf, p, opts); err != nil {
			return err
		}
		file := p.Name + ".yaml"
		if err := os.WriteFile(filepath.Join(dir, file), buf.Bytes(), 0o600); err != nil {
			return fmt.Errorf("--output-dir: %w", err)
		}
		fmt.Fprintf(&kustomization, "  - %s\n", file)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), kustomization.Bytes(), 0o600); err != nil {
		return fmt.Errorf("--output-dir: %w", err)
	}
	return nil
}

// managedWebhooks maps the status.slug of every OutgoingWebhook the user
// may list (in every namespace, or else in ns alone) to "namespace/name".
// Without a cluster to ask, it returns the error and nothing is skipped.
func managedWebhooks(ctx context.Context, c *cli, ns string) (map[string]string, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	var list webhooksv1alpha1.OutgoingWebhookList
	err = cl.List(ctx, &list)
	if apierrors.IsForbidden(err) {
		err = cl.List(ctx, &list, client.InNamespace(ns))
	}
	if err != nil {
		return nil, err
	}
	managed := map[string]string{}
	for _, o := range list.Items {
		if o.Status.Slug != "" {
			managed[o.Status.Slug] = o.Namespace + "/" + o.Name
		}
	}
	return managed, nil
}
