package install

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// cluster is a control plane of its own (kube-apiserver and etcd from
// bin/k8s, no controllers, no CRD, no Bitrise fake) with an administrator's
// kubeconfig.
type cluster struct {
	env        *localenv.Env
	kubeconfig string
	cacheDir   string
	clientset  *kubernetes.Clientset
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a control plane: skipped with -short")
	}
	dir := t.TempDir()
	env, err := localenv.Start(localenv.Options{Dir: dir, WithoutCRD: true, WithoutFake: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c := &cluster{env: env, kubeconfig: env.Kubeconfig, cacheDir: filepath.Join(dir, "cache")}
	if c.clientset, err = kubernetes.NewForConfig(env.Config); err != nil {
		t.Fatal(err)
	}
	return c
}

// kubectl runs kubectl with stdin and returns its output.
func (c *cluster) kubectl(stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := c.env.KubectlCmd(context.Background(), append([]string{"--cache-dir", c.cacheDir}, args...)...)
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
