package install

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// cluster is a control plane of its own (kube-apiserver and etcd from
// bin/k8s, no controllers) with an administrator's kubeconfig.
type cluster struct {
	kubectlPath string
	kubeconfig  string
	cacheDir    string
	clientset   *kubernetes.Clientset
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane: skipped with -short")
	}
	assets := filepath.Join(root, "bin", "k8s")
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(assets, name)); err != nil {
			t.Fatalf("no %s in %s: run `make envtest-bins` (or `make test`) first", name, assets)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		// Generous: `go test ./...` compiles and runs other packages alongside.
		ControlPlaneStartTimeout: 2 * time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "install-test-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &cluster{
		kubectlPath: filepath.Join(assets, "kubectl"),
		kubeconfig:  filepath.Join(dir, "kubeconfig"),
		cacheDir:    filepath.Join(dir, "cache"),
	}
	if err := os.WriteFile(c.kubeconfig, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

// kubectl runs kubectl with stdin and returns its output.
func (c *cluster) kubectl(stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(c.kubectlPath, append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", c.cacheDir}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// apply applies manifests server-side, first as a server-side dry run, and
// fails on any error or warning (a Pod Security violation of a Deployment's
// template is only a warning).
func (c *cluster) apply(t *testing.T, manifests []byte) {
	t.Helper()
	for _, dryRun := range []bool{true, false} {
		args := []string{"apply", "--server-side", "-f", "-"}
		if dryRun {
			args = append(args, "--dry-run=server")
		}
		_, stderr, err := c.kubectl(manifests, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		if strings.TrimSpace(stderr) != "" {
			t.Errorf("kubectl %s warned:\n%s", strings.Join(args, " "), stderr)
		}
	}
}

// canI asks the API server whether a user may do something, as
// `kubectl auth can-i --as` does.
func (c *cluster) canI(t *testing.T, user string, args ...string) bool {
	t.Helper()
	out, stderr, err := c.kubectl(nil, append([]string{"auth", "can-i", "--as", user}, args...)...)
	switch answer := strings.TrimSpace(out); {
	case answer == "yes" && err == nil:
		return true
	case answer == "no":
		return false
	default:
		t.Fatalf("kubectl auth can-i %s: %v %q\n%s", strings.Join(args, " "), err, out, stderr)
		return false
	}
}
