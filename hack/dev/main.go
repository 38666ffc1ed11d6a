// Command dev runs the operator locally with no cluster: a local control
// plane with the CRDs, the Bitrise API fake, the default ClusterCredentials
// (a dev token for every namespace and app) and a token Secret for every
// ClusterCredentials of the samples, the samples applied, and the manager
// (bin/manager) running against both. `make dev` runs it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// devToken is the token of the default ClusterCredentials, which the fake
// accepts for every sample app in the local run.
const devToken = "dev-token"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run() error {
	// The harness's own client logs nothing useful; the manager logs below.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := localenv.RepoRoot()
	if err != nil {
		return err
	}
	fakeAddr := os.Getenv("DEV_FAKE_ADDR")
	if fakeAddr == "" {
		fakeAddr = "127.0.0.1:18089"
	}
	fmt.Println("starting a local control plane and the Bitrise API fake...")
	env, err := localenv.Start(localenv.Options{FakeAddr: fakeAddr, Dir: filepath.Join(root, "bin", "dev-env")}) // bin/dev is this program
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()

	samples := filepath.Join(root, "config", "samples")
	apps, err := sampleApps(filepath.Join(samples, "webhooks_v1alpha1_outgoingwebhook.yaml"))
	if err != nil {
		return err
	}
	for _, app := range apps {
		env.Fake.AddApp(app, devToken)
	}
	if err := env.ApplyDefaultCredentials(ctx, devToken); err != nil {
		return err
	}
	if err := applySampleTokens(ctx, env, filepath.Join(samples, "webhooks_v1alpha1_clustercredentials.yaml"), apps); err != nil {
		return err
	}
	if err := kubectl(ctx, env, "apply", "-k", samples); err != nil {
		return err
	}

	manager, err := env.StartManager(localenv.ManagerOptions{
		Binary: filepath.Join(root, "bin", "manager"),
		Token:  devToken,
		Args:   []string{"--health-probe-bind-address", "127.0.0.1:18081"},
		Output: os.Stdout,
	})
	if err != nil {
		return fmt.Errorf("%w (run `make build`)", err)
	}
	printHelp(env, samples)
	select {
	case <-ctx.Done():
	case <-manager.Exited():
	}
	if ctx.Err() != nil {
		manager.Stop(10 * time.Second)
		fmt.Println("\nstopped.")
		return nil
	}
	return manager.Alive()
}

func printHelp(env *localenv.Env, samples string) {
	fmt.Printf(`
The operator is running against a local control plane and a Bitrise API fake.
In another terminal:

  export KUBECONFIG=%s
  alias kubectl=%s
  kubectl get outgoingwebhooks -A -o wide       # App, URL, Slug, Ready
  kubectl get clustercredentials                # shared tokens: Apps, Ready
  kubectl describe owh build-notifier           # conditions and events
  curl -s %s/_fake/state                        # the fake's webhooks

Things to try:
  kubectl patch owh build-notifier --type merge -p '{"spec":{"events":["build","pipeline"]}}'
  kubectl create secret generic build-notifier-secret --from-literal=secret=rotated --dry-run=client -o yaml | kubectl apply -f -
  kubectl annotate owh build-notifier webhooks.bitrise.io/reconcile-requested-at="$(date +%%s)" --overwrite
  kubectl patch owh build-notifier --type merge -p '{"spec":{"deliveryCheck":{"interval":"1m"}}}'
  curl -X POST "%s/_fake/deliver?app=$(kubectl get owh build-notifier -o jsonpath='{.spec.appSlug}')&webhook=$(kubectl get owh build-notifier -o jsonpath='{.status.slug}')&status=502&seconds=10"
  bin/kubectl-bitrise reconcile owh build-notifier   # read the deliveries now, not at the next check
  bin/kubectl-bitrise get -A
  bin/kubectl-bitrise import --credentials default --bitrise-api-url %s --app $(kubectl get owh build-notifier -o jsonpath='{.spec.appSlug}')
  kubectl delete owh -n default --all && kubectl delete -k %s --ignore-not-found   # webhooks first: they need their ClusterCredentials to delete

Ctrl-C stops everything. Manager logs follow.

`, env.Kubeconfig, env.Kubectl, baseOf(env.FakeURL), baseOf(env.FakeURL), env.FakeURL, samples)
}

func kubectl(ctx context.Context, env *localenv.Env, args ...string) error {
	cmd := env.KubectlCmd(ctx, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

var appSlugLine = regexp.MustCompile(`(?m)^\s*appSlug:\s*"?([A-Za-z0-9_-]+)"?\s*$`)

// sampleApps returns the app slugs the samples use, for the fake to know them.
func sampleApps(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var apps []string
	for _, m := range appSlugLine.FindAllStringSubmatch(string(data), -1) {
		apps = append(apps, m[1])
	}
	return apps, nil
}

func baseOf(apiURL string) string {
	return apiURL[:len(apiURL)-len("/v0.1")]
}
