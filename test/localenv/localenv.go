// Package localenv starts what the operator needs without a cluster: a local
// control plane (envtest's kube-apiserver and etcd, built from Go modules
// into bin/k8s) with the CRD installed, and the in-memory Bitrise fake. The
// e2e test and `make dev` share it.
package localenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

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
}

// Start starts the control plane and the fake. Stop them with Stop.
func Start(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets := filepath.Join(root, "bin", "k8s")
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no control plane in %s: run `make envtest-bins` (or `make test`) first", assets)
	}
	e := &Env{Root: root, Kubectl: filepath.Join(assets, "kubectl")}
	e.testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	if e.Config, err = e.testEnv.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if err := e.writeKubeconfig(opts.Dir); err != nil {
		return nil, errors.Join(err, e.Stop())
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
