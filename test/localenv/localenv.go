// Package localenv starts what the operator needs without a cluster: a local
// control plane (envtest's kube-apiserver and etcd, built from Go modules
// into bin/k8s) with the CRD installed, the in-memory Bitrise fake, and the
// built manager binary (StartManager, which first writes the default
// ClusterCredentials and its token Secret). It also holds the helpers the
// end-to-end suites share, one of each: Poll and Eventually, a counter of
// the fake's requests (Calls), a scanner for leaked secret values
// (LeakScanner), Scrape for the manager's metrics, and the tools the
// Makefile pins (Tool). The e2e, chaos, gitops and install tests, the bench
// and `make dev` use it.
package localenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// Scheme knows the built-in kinds and the operator's: what a client of the
// tests reads and writes.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(webhooksv1alpha1.AddToScheme(s))
	return s
}()

// Env is a running local environment.
type Env struct {
	// Root is the repository root.
	Root string
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for kubectl and the manager.
	Kubeconfig string
	// Kubectl is the path of the kubectl binary built beside the control plane.
	Kubectl string
	// Fake is the Bitrise API fake and FakeURL its base URL (ending in /v0.1).
	Fake    *bitrisefake.Server
	FakeURL string

	testEnv *envtest.Environment
}

// Options configure Start.
type Options struct {
	// FakeAddr is the address the fake listens on; empty picks a free port.
	FakeAddr string
	// Dir is where the kubeconfig is written; empty makes a temporary folder.
	Dir string
	// WithoutCRD starts the control plane with no CRD installed, for tests
	// that apply the install manifests themselves.
	WithoutCRD bool
	// WithoutFake starts no Bitrise fake (Fake stays nil).
	WithoutFake bool
}

// Start starts the control plane and the fake. Stop them with Stop. It
// fails, naming the make target, when bin/k8s lacks kube-apiserver, etcd or
// kubectl.
func Start(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := filepath.Join(root, "bin", "k8s")
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			return nil, fmt.Errorf("no %s in %s: run `make envtest-bins` (or `make test`) first", name, assets)
		}
	}
	e := &Env{Root: root, Kubectl: filepath.Join(assets, "kubectl")}
	e.testEnv = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// Generous: `go test ./...` compiles and runs other packages alongside.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	if !opts.WithoutCRD {
		e.testEnv.CRDDirectoryPaths = []string{filepath.Join(root, "config", "crd", "bases")}
		e.testEnv.ErrorIfCRDPathMissing = true
	}
	if e.Config, err = e.testEnv.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if err := e.writeKubeconfig(opts.Dir); err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	if opts.WithoutFake {
		return e, nil
	}
	e.Fake = bitrisefake.New()
	if opts.FakeAddr == "" {
		e.FakeURL = e.Fake.Start()
	} else if e.FakeURL, err = e.Fake.StartOn(opts.FakeAddr); err != nil {
		return nil, errors.Join(fmt.Errorf("starting the Bitrise fake: %w", err), e.Stop())
	}
	return e, nil
}

func (e *Env) writeKubeconfig(dir string) error {
	user, err := e.testEnv.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding a kubeconfig user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "owh-localenv-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	return os.WriteFile(e.Kubeconfig, data, 0o600)
}

// Stop stops the fake and the control plane.
func (e *Env) Stop() error {
	if e.Fake != nil {
		e.Fake.Close()
	}
	return e.testEnv.Stop()
}

// RepoRoot finds the repository root: the nearest folder above the working
// directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Client returns a direct (uncached) client of this control plane as an
// administrator, with Scheme.
func (e *Env) Client() (client.Client, error) {
	return client.New(e.Config, client.Options{Scheme: Scheme})
}

// KubectlCmd returns kubectl with args, pointed at this control plane as
// an administrator; the caller sets its input and output and runs it.
func (e *Env) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.Kubectl, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
}
