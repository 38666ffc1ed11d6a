// Package gitops checks the operator against what GitOps tools and
// observability stacks consume: the Argo CD health check (run with
// gopher-lua as Argo CD runs it), kstatus (Flux, Helm 4, kpt), a real
// `helm install --wait`, `kubectl wait` and `kubectl explain`, the Grafana
// dashboard and Prometheus alerts against the metrics the manager really
// exports, and the manifests of docs/gitops.md. One control plane, one
// Bitrise fake and one manager binary serve every test.
package gitops

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

const (
	token = "gitops-token-5e1f"
	// readyApp is known to the fake and to the token.
	readyApp = "gitops0ready0app"
	// missingApp is unknown to the fake: resources using it stall with AppNotFound.
	missingApp = "gitops0missing0app"
	// unwatchedLabel keeps a resource out of the manager's sight
	// (--watch-label-selector), so it stays as it was created.
	unwatchedLabel = "gitops.test/unwatched"
	// pollTimeout bounds every wait for the manager.
	pollTimeout = 60 * time.Second
)

// The environment shared by every test of the package: one control plane,
// one Bitrise fake, one manager.
var (
	env        *localenv.Env
	k8s        client.Client
	metricsURL string
	managerLog = &localenv.SyncBuffer{}
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (code int, err error) {
	if env, err = localenv.Start(localenv.Options{}); err != nil {
		return 1, err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	env.Fake.AddApp(readyApp, token)
	if k8s, err = env.Client(); err != nil {
		return 1, err
	}

	dir, err := os.MkdirTemp("", "owh-gitops-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	manager := filepath.Join(dir, "manager")
	if err := localenv.BuildManager(env.Root, manager); err != nil {
		return 1, err
	}
	stop, err := startManager(manager)
	if err != nil {
		return 1, err
	}
	code = m.Run()
	stop()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "manager output:\n%s\n", managerLog.String())
	}
	return code, nil
}

// startManager runs the manager with plain-HTTP metrics on a free port and
// waits until it serves them.
func startManager(bin string) (stop func(), err error) {
	addr, err := localenv.FreeAddress()
	if err != nil {
		return nil, err
	}
	metricsURL = "http://" + addr + "/metrics"
	m, err := env.StartManager(localenv.ManagerOptions{
		Binary: bin,
		Token:  token,
		Args: []string{
			"--metrics-bind-address", addr,
			"--metrics-secure=false",
			"--watch-label-selector", "!" + unwatchedLabel,
		},
		Output: managerLog,
	})
	if err != nil {
		return nil, err
	}
	stop = func() { m.Stop(10 * time.Second) }
	err = localenv.Poll(context.Background(), 100*time.Millisecond, 30*time.Second, func() (bool, error) {
		if err := m.Alive(); err != nil {
			return false, err
		}
		_, err := localenv.Scrape(metricsURL)
		return err == nil, nil
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("the manager serves no metrics at %s: %w\n%s", metricsURL, err, managerLog.String())
	}
	return stop, nil
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gitops-"}}
	if err := k8s.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// webhook is an OutgoingWebhook of app with a URL of its own, so that no
// two resources of the package claim the same remote webhook.
func webhook(namespace, name, app string) *webhooksv1alpha1.OutgoingWebhook {
	return &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: webhooksv1alpha1.OutgoingWebhookSpec{
			AppSlug: app,
			URL:     fmt.Sprintf("https://hooks.example.com/%s/%s", namespace, name),
			Events:  []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild},
		},
	}
}

// slowCreate is how long creating a webhook of a slowApp takes.
const slowCreate = 2 * time.Second

// slowApp adds an app, for the test only, whose webhook creates take
// slowCreate: a waiter that returns earlier did not wait.
func slowApp(t *testing.T, ns string) string {
	app := "gitops0slow0" + ns
	env.Fake.AddApp(app, token)
	t.Cleanup(env.Fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", Latency: slowCreate}))
	return app
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(t.Context(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

// fetch reads an OutgoingWebhook from the API server as Argo CD, Helm and
// Flux see it: unstructured.
func fetch(t *testing.T, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(webhooksv1alpha1.GroupVersion.WithKind("OutgoingWebhook"))
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// waitFor polls the object until cond holds, and returns it.
func waitFor(t *testing.T, namespace, name, what string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var u *unstructured.Unstructured
	localenv.Eventually(t, 100*time.Millisecond, pollTimeout, namespace+"/"+name+" "+what, func() (bool, string) {
		u = fetch(t, namespace, name)
		return cond(u), fmt.Sprintf("status %v", u.Object["status"])
	})
	return u
}

// condition returns the condition of type typ, or nil.
func condition(u *unstructured.Unstructured, typ string) map[string]any {
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conditions {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// handled reports whether the manager handled the object's generation with
// condition typ True for reason.
func handled(typ, reason string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		c := condition(u, typ)
		return observed == u.GetGeneration() && c != nil && c["status"] == "True" && c["reason"] == reason
	}
}

// conditionTrue reports whether condition typ is True for reason, whatever
// the observed generation.
func conditionTrue(typ, reason string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		c := condition(u, typ)
		return c != nil && c["status"] == "True" && c["reason"] == reason
	}
}

// kubectl runs bin/k8s/kubectl against the control plane.
func kubectl(ctx context.Context, args ...string) (string, error) {
	out, err := env.KubectlCmd(ctx, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// readRepoFile reads a file by its path from the repository root.
func readRepoFile(t *testing.T, path ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(repoPath(path...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// repoPath is the absolute path of a file given from the repository root.
func repoPath(path ...string) string {
	return filepath.Join(append([]string{env.Root}, path...)...)
}
