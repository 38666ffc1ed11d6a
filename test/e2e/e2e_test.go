// Package e2e runs the built manager binary against a real API server
// (envtest) and the Bitrise API fake, and drives it with kubectl, as a user
// would: apply the samples, wait for Ready, delete them.
package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// The tests' own clients log nothing useful (controller-runtime would
// otherwise print a stack trace about a logger never set).
func init() { ctrllog.SetLogger(logr.Discard()) }

const (
	// token is the default ClusterCredentials' token (see startManager).
	token     = "e2e-token-7c1d"
	sampleApp = "a1b2c3d4e5f60789"
	// mobileApp is the app of the sample that uses ClusterCredentials
	// mobile-team, whose token (mobileToken) alone may use it on the fake:
	// were the default token used for it, the fake would answer 403.
	mobileApp   = "f0e1d2c3b4a59687"
	mobileToken = "e2e-mobile-team-token-3b9a"
	// mobileTokenSecret is the Secret ClusterCredentials mobile-team names
	// (in localenv.CredentialsNamespace); the samples leave it out.
	mobileTokenSecret = "mobile-team-bitrise-token"
)

func TestSamplesEndToEnd(t *testing.T) {
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	env.Fake.AddApp(sampleApp, token)
	env.Fake.AddApp(mobileApp, mobileToken)

	manager := buildManager(t, env.Root)
	metricsAddr := freeAddr(t)
	mgr := startManager(t, manager, env, "--metrics-bind-address="+metricsAddr, "--metrics-secure=false")
	if err := env.ApplyTokenSecret(t.Context(), mobileTokenSecret, mobileToken); err != nil {
		t.Fatal(err)
	}

	samples := filepath.Join(env.Root, "config", "samples")
	kubectl(t, env, "apply", "-k", samples)
	kubectl(t, env, "wait", "--for=condition=Ready", "--timeout=60s", "clustercredentials/default", "clustercredentials/mobile-team")
	kubectl(t, env, "wait", "--for=condition=Ready", "--timeout=60s", "-n", "default", "owh/build-notifier", "owh/audit-log", "owh/mobile-releases")
	creds := kubectl(t, env, "get", "clustercredentials")
	for _, want := range []string{"APPS", "READY", `["*"]`, `["` + mobileApp + `"]`} {
		if !strings.Contains(creds, want) {
			t.Errorf("kubectl get clustercredentials lacks %q:\n%s", want, creds)
		}
	}
	// The webhook of the mobile team's app exists: only its token may use the app.
	if mobile := env.Fake.Webhooks(mobileApp); len(mobile) != 1 || mobile[0].URL != "https://hooks.example.com/bitrise/mobile-releases" {
		t.Fatalf("want the mobile-releases webhook on app %s, got %+v", mobileApp, mobile)
	}

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
		`bitrise_webhooks_resources{condition="Ready"} 3`,
		`bitrise_webhooks_resources{condition="Stalled"} 0`,
		`bitrise_webhooks_api_requests_total{code="201",method="POST",route="/apps/{app-slug}/outgoing-webhooks"} 3`,
		`bitrise_webhooks_api_request_duration_seconds_count{method="GET",route="/apps/{app-slug}/outgoing-webhooks"}`,
		`bitrise_webhooks_drift_corrections_total 0`,
		`controller_runtime_reconcile_total{controller="outgoingwebhook",result="success"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The webhooks first: mobile-releases needs ClusterCredentials
	// mobile-team, which the samples hold too, to delete its remote webhook.
	kubectl(t, env, "delete", "owh", "-n", "default", "--all", "--wait=true", "--timeout=60s")
	kubectl(t, env, "delete", "-k", samples, "--ignore-not-found", "--wait=true", "--timeout=60s")
	left := env.Fake.Webhooks(sampleApp)
	if len(left) != 1 || left[0].URL != "https://audit.example.com/bitrise" {
		t.Fatalf("after delete, want only the Orphan webhook left, got %+v", left)
	}
	if left := env.Fake.Webhooks(mobileApp); len(left) != 0 {
		t.Fatalf("after delete, want no webhook left on app %s, got %+v", mobileApp, left)
	}

	checkNoLeaks(t, env, mgr, []string{"default"}, map[string]string{
		"API token":      token,
		"mobile token":   mobileToken,
		"webhook secret": "change-me-to-a-long-random-string",
		"header value":   "replace-with-the-receiver-token",
	})
}

func buildManager(t *testing.T, root string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "manager")
	if err := localenv.BuildManager(root, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// startManager starts the built manager with the e2e token as the default
// ClusterCredentials (every namespace and app); it is stopped when the test
// ends, and its output logged if the test failed.
func startManager(t *testing.T, bin string, env *localenv.Env, extraArgs ...string) *localenv.Manager {
	t.Helper()
	m, err := env.StartManager(localenv.ManagerOptions{Binary: bin, Token: token, Args: extraArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("manager output:\n%s", m.Logs.String())
		}
	})
	return m
}

// checkNoLeaks stops the manager (so that its output is complete) and scans
// its output, and the Events and OutgoingWebhooks of namespaces, for the
// values, raw and base64-encoded.
func checkNoLeaks(t *testing.T, env *localenv.Env, m *localenv.Manager, namespaces []string, values map[string]string) {
	t.Helper()
	m.Stop(10 * time.Second)
	c, err := env.Client()
	if err != nil {
		t.Fatal(err)
	}
	var leaks localenv.LeakScanner
	for kind, v := range values {
		leaks.Register(kind, v)
	}
	t.Logf("leaks: %s", leaks.Check(t.Context(), t, c, namespaces, map[string]string{"the manager": m.Logs.String()}))
}

func kubectl(t *testing.T, env *localenv.Env, args ...string) string {
	t.Helper()
	out, err := env.KubectlCmd(t.Context(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := localenv.FreeAddress()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	body, err := localenv.Scrape(url)
	if err != nil {
		t.Fatalf("scraping metrics: %v", err)
	}
	return string(body)
}
