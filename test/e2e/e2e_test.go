// Package e2e runs the built manager binary against a real API server
// (envtest) and the Bitrise API fake, and drives it with kubectl, as a user
// would: apply the samples, wait for Ready, delete them.
package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

const (
	token     = "e2e-token-7c1d"
	sampleApp = "a1b2c3d4e5f60789"
)

func TestSamplesEndToEnd(t *testing.T) {
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	env.Fake.AddApp(sampleApp, token)

	manager := buildManager(t, env.Root)
	metricsAddr := freeAddr(t)
	logs := startManager(t, manager, env, "--metrics-bind-address="+metricsAddr, "--metrics-secure=false")

	samples := filepath.Join(env.Root, "config", "samples")
	kubectl(t, env, "apply", "-k", samples)
	kubectl(t, env, "wait", "--for=condition=Ready", "--timeout=60s", "-n", "default", "owh/build-notifier", "owh/audit-log")

	hooks := env.Fake.Webhooks(sampleApp)
	if len(hooks) != 2 {
		t.Fatalf("want 2 remote webhooks, got %d: %+v", len(hooks), hooks)
	}
	byURL := map[string]int{}
	for i, h := range hooks {
		byURL[h.URL] = i
	}
	notifier := hooks[byURL["https://hooks.example.com/bitrise/builds"]]
	if got := notifier.Headers["Authorization"]; got != "Bearer replace-with-the-receiver-token" {
		t.Errorf("the Secret's header did not reach the webhook: %q", got)
	}
	if notifier.Headers["X-Team"] != "mobile" {
		t.Errorf("inline header missing: %v", notifier.Headers)
	}
	if s, _ := env.Fake.Secret(sampleApp, notifier.Slug); s != "change-me-to-a-long-random-string" {
		t.Errorf("webhook secret not applied")
	}

	wide := kubectl(t, env, "get", "owh", "-n", "default", "-o", "wide")
	for _, want := range []string{"APP", "URL", "SLUG", "READY", "STATUS", "AGE", notifier.Slug, "True", "is in sync"} {
		if !strings.Contains(wide, want) {
			t.Errorf("kubectl get -o wide lacks %q:\n%s", want, wide)
		}
	}
	explain := kubectl(t, env, "explain", "outgoingwebhook.spec.secretRef")
	if !strings.Contains(explain, "Flux notification Provider") {
		t.Errorf("kubectl explain shows no field documentation:\n%s", explain)
	}

	metrics := scrape(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{
		`bitrise_webhooks_resources{condition="Ready"} 2`,
		`bitrise_webhooks_resources{condition="Stalled"} 0`,
		`bitrise_webhooks_api_requests_total{code="201",method="POST",route="/apps/{app-slug}/outgoing-webhooks"} 2`,
		`bitrise_webhooks_api_request_duration_seconds_count{method="GET",route="/apps/{app-slug}/outgoing-webhooks"}`,
		`bitrise_webhooks_drift_corrections_total 0`,
		`controller_runtime_reconcile_total{controller="outgoingwebhook",result="success"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	kubectl(t, env, "delete", "-k", samples, "--wait=true", "--timeout=60s")
	left := env.Fake.Webhooks(sampleApp)
	if len(left) != 1 || left[0].URL != "https://audit.example.com/bitrise" {
		t.Fatalf("after delete, want only the Orphan webhook left, got %+v", left)
	}

	for _, secret := range []string{token, "change-me-to-a-long-random-string", "replace-with-the-receiver-token"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the manager logged a secret value")
		}
	}
}

func buildManager(t *testing.T, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "manager")
	if err := localenv.BuildManager(root, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func startManager(t *testing.T, bin string, env *localenv.Env, extraArgs ...string) *localenv.SyncBuffer {
	t.Helper()
	logs := &localenv.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{
		"--kubeconfig", env.Kubeconfig,
		"--bitrise-api-url", env.FakeURL,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	}, extraArgs...)...)
	cmd.Env = append(os.Environ(), "BITRISE_TOKEN="+token)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("manager output:\n%s", logs.String())
		}
	})
	return logs
}

func kubectl(t *testing.T, env *localenv.Env, args ...string) string {
	t.Helper()
	cmd := exec.Command(env.Kubectl, append([]string{"--kubeconfig", env.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping metrics: %d %v", resp.StatusCode, err)
	}
	return string(body)
}
