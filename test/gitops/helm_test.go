package gitops

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// helmTimeout is the --timeout given to helm; a Failed resource must make
// helm give up long before it.
const (
	helmTimeout  = 90 * time.Second
	failFastWith = 30 * time.Second
)

// TestHelmInstallWait runs Helm 4's `install --wait` (its kstatus watcher)
// on a chart holding one OutgoingWebhook.
func TestHelmInstallWait(t *testing.T) {
	t.Parallel()
	helm := helmBinary(t)
	chart := filepath.Join("testdata", "webhook-chart")

	t.Run("succeeds once the resource is Ready", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		start := time.Now()
		out, err := runHelm(t, helm, "install", "notifier", chart, "--namespace", ns,
			"--set", "appSlug="+slowApp(t, ns), "--set", "url=https://hooks.example.com/"+ns,
			"--wait", "--timeout", helmTimeout.String())
		took := time.Since(start)
		if err != nil {
			t.Fatalf("helm install --wait: %v\n%s", err, out)
		}
		if u := fetch(t, ns, "notifier"); !handled("Ready", "Succeeded")(u) {
			t.Errorf("helm returned after %s but the resource is not Ready: %v", took, u.Object["status"])
		}
		if took < slowCreate {
			t.Errorf("helm returned after %s, before the create that takes %s could have finished", took, slowCreate)
		}
		t.Logf("helm install --wait returned in %s", took.Round(time.Millisecond))
	})

	t.Run("fails fast when the resource stalls", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		start := time.Now()
		out, err := runHelm(t, helm, "install", "notifier", chart, "--namespace", ns,
			"--set", "appSlug="+missingApp, "--set", "url=https://hooks.example.com/"+ns,
			"--wait", "--timeout", helmTimeout.String())
		took := time.Since(start)
		if err == nil {
			t.Fatalf("helm install --wait succeeded on a resource of an unknown app:\n%s", out)
		}
		if took > failFastWith {
			t.Errorf("helm gave up after %s, want well before its %s timeout (kstatus Failed)", took, helmTimeout)
		}
		for _, want := range []string{"status: Failed", "not found"} {
			if !strings.Contains(out, want) {
				t.Errorf("helm's error lacks %q:\n%s", want, out)
			}
		}
		t.Logf("helm install --wait failed in %s: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
	})

	// What docs/gitops.md says of Helm 3: its waiter does not know custom
	// resources, so a stalled webhook passes.
	t.Run("legacy wait ignores the resource", func(t *testing.T) {
		t.Parallel()
		ns := newNamespace(t)
		out, err := runHelm(t, helm, "install", "notifier", chart, "--namespace", ns,
			"--set", "appSlug="+missingApp, "--set", "url=https://hooks.example.com/"+ns,
			"--wait=legacy", "--timeout", helmTimeout.String())
		if err != nil {
			t.Fatalf("helm install --wait=legacy: %v\n%s", err, out)
		}
	})
}

// helmBinary returns bin/helm, building the version the Makefile names when
// it is missing (a few minutes cold, once).
func helmBinary(t *testing.T) string {
	t.Helper()
	path, err := localenv.Helm.Path(env.Root)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// runHelm runs helm against the control plane, with its state in a
// temporary folder, and returns its combined output.
func runHelm(t *testing.T, helm string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), helm, append(args, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}
