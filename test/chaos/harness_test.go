package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

const (
	// convergeTimeout bounds every wait for the operator to settle; the
	// invariants, not this figure, are what the scenarios assert.
	convergeTimeout = 120 * time.Second
	pollInterval    = 250 * time.Millisecond
)

// leaks holds every secret value the suite made; each scenario's leak
// check looks for all of them.
var leaks = &localenv.LeakScanner{}

// scenario is one chaos scenario: its own control plane and fake, its own
// namespaces and apps, and the managers it starts.
type scenario struct {
	t     *testing.T
	name  string
	env   *localenv.Env
	c     client.Client
	token string

	mu         sync.Mutex
	managers   []*manager
	namespaces []string
	apps       []string
}

func newScenario(t *testing.T, name string) *scenario {
	t.Helper()
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	c, err := env.Client()
	if err != nil {
		t.Fatal(err)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	env.Fake.SetSeed(int64(h.Sum64() >> 1))
	s := &scenario{t: t, name: name, env: env, c: c, token: newSecretValue(name + "-token")}
	t.Cleanup(s.dumpDebug)
	return s
}

// ctx is the context of API calls made by the test itself.
func (s *scenario) ctx() context.Context { return s.t.Context() }

// namespace creates a namespace of the scenario.
func (s *scenario) namespace(suffix string) string {
	s.t.Helper()
	name := s.name + "-" + suffix
	if err := s.c.Create(s.ctx(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.namespaces = append(s.namespaces, name)
	s.mu.Unlock()
	return name
}

// app creates a Bitrise app of the scenario that the scenario's token may use.
func (s *scenario) app(suffix string) string {
	name := s.name + "-" + suffix
	s.env.Fake.AddApp(name, s.token)
	s.mu.Lock()
	s.apps = append(s.apps, name)
	s.mu.Unlock()
	return name
}

// hookSpec is what the test creates: an OutgoingWebhook, and optionally
// the Secret it references.
type hookSpec struct {
	ns, name, app, url string
	events             []webhooksv1alpha1.Event
	headers            map[string]string
	secretRef          string
	credentialsRef     string
}

func (s *scenario) createHook(h hookSpec) *webhooksv1alpha1.OutgoingWebhook {
	s.t.Helper()
	events := h.events
	if len(events) == 0 {
		events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild}
	}
	obj := &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: h.name},
		Spec: webhooksv1alpha1.OutgoingWebhookSpec{
			AppSlug: h.app,
			URL:     h.url,
			Events:  events,
			Headers: h.headers,
		},
	}
	if h.secretRef != "" {
		obj.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: h.secretRef}
	}
	if h.credentialsRef != "" {
		obj.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: h.credentialsRef}
	}
	if err := s.c.Create(s.ctx(), obj); err != nil {
		s.t.Fatalf("creating OutgoingWebhook %s/%s: %v", h.ns, h.name, err)
	}
	return obj
}

// applySecret creates or replaces a webhook Secret with keys `secret` (when
// not empty) and `headers` (when not empty, as a JSON map).
func (s *scenario) applySecret(ns, name, secret string, headers map[string]string) {
	s.t.Helper()
	data := map[string][]byte{}
	if secret != "" {
		data[webhooksv1alpha1.SecretKeyWebhookSecret] = []byte(secret)
	}
	if len(headers) > 0 {
		raw, err := json.Marshal(headers)
		if err != nil {
			s.t.Fatal(err)
		}
		data[webhooksv1alpha1.SecretKeyHeaders] = raw
	}
	s.applySecretData(ns, name, data)
}

func (s *scenario) applySecretData(ns, name string, data map[string][]byte) {
	s.t.Helper()
	obj := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	err := s.c.Get(s.ctx(), client.ObjectKeyFromObject(obj), obj)
	switch {
	case err == nil:
		obj.Data = data
		err = s.c.Update(s.ctx(), obj)
	case client.IgnoreNotFound(err) == nil:
		obj.Data = data
		err = s.c.Create(s.ctx(), obj)
	}
	if err != nil {
		s.t.Fatalf("writing Secret %s/%s: %v", ns, name, err)
	}
}

// hooks lists the OutgoingWebhooks of the scenario's namespaces.
func (s *scenario) hooks() ([]webhooksv1alpha1.OutgoingWebhook, error) {
	s.mu.Lock()
	namespaces := append([]string(nil), s.namespaces...)
	s.mu.Unlock()
	var all []webhooksv1alpha1.OutgoingWebhook
	for _, ns := range namespaces {
		var list webhooksv1alpha1.OutgoingWebhookList
		if err := s.c.List(s.ctx(), &list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		all = append(all, list.Items...)
	}
	return all, nil
}

// pokeAll asks for an immediate reconcile of every resource of the scenario
// (terminating ones included), the documented way, and returns the value
// that status.lastHandledReconcileAt will echo.
func (s *scenario) pokeAll() string {
	s.t.Helper()
	value := fmt.Sprintf("chaos-%d", time.Now().UnixNano())
	hooks, err := s.hooks()
	if err != nil {
		s.t.Fatal(err)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, webhooksv1alpha1.ReconcileRequestedAtAnnotation, value)
	for i := range hooks {
		err := s.c.Patch(s.ctx(), &hooks[i], client.RawPatch(types.MergePatchType, []byte(patch)))
		if client.IgnoreNotFound(err) != nil {
			s.t.Fatalf("poking %s/%s: %v", hooks[i].Namespace, hooks[i].Name, err)
		}
	}
	return value
}

// waitAllCreated waits until every resource that is not being deleted has
// a remote webhook (status.slug), whether or not it is Ready.
func (s *scenario) waitAllCreated(what string) {
	s.t.Helper()
	localenv.Eventually(s.t, pollInterval, convergeTimeout, what, func() (bool, string) {
		hooks, err := s.hooks()
		if err != nil {
			return false, err.Error()
		}
		missing := 0
		for _, h := range hooks {
			if h.DeletionTimestamp.IsZero() && h.Status.Slug == "" {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d resources without a remote webhook", missing)
	})
}

// deleteHook deletes a resource without waiting for its finalizer.
func (s *scenario) deleteHook(ns, name string) {
	s.t.Helper()
	obj := &webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := client.IgnoreNotFound(s.c.Delete(s.ctx(), obj)); err != nil {
		s.t.Fatalf("deleting %s/%s: %v", ns, name, err)
	}
}

// newSecretValue returns a distinctive random value and registers it as
// one that must never leak.
func newSecretValue(kind string) string { return leaks.NewValue(kind) }

// manager is one manager process of a scenario.
type manager struct {
	name string
	*localenv.Manager
}

// startManager starts the built manager against the scenario's control
// plane and fake, with the scenario's default token.
func (s *scenario) startManager(name string, extraArgs ...string) *manager {
	s.t.Helper()
	mgr, err := s.env.StartManager(localenv.ManagerOptions{
		Binary: managerBin,
		Token:  s.token,
		// Debug logs make the leak check stricter than production.
		Args: append([]string{"--zap-log-level", "debug"}, extraArgs...),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	m := &manager{name: name, Manager: mgr}
	go func() {
		<-mgr.Exited()
		if mgr.ExitedOnItsOwn() {
			s.t.Errorf("manager %s exited on its own: %v\n%s", name, mgr.Alive(), tail(mgr.Logs.String(), 40))
		}
	}()
	s.mu.Lock()
	s.managers = append(s.managers, m)
	s.mu.Unlock()
	s.t.Cleanup(func() {
		m.stop()
		if s.t.Failed() {
			s.t.Logf("manager %s output (tail):\n%s", name, tail(mgr.Logs.String(), 60))
		}
	})
	return m
}

// stop asks the manager to stop (SIGTERM), and kills it if it lingers.
func (m *manager) stop() { m.Stop(20 * time.Second) }

// stopManagers stops every manager of the scenario, so that their output
// is complete.
func (s *scenario) stopManagers() {
	s.mu.Lock()
	managers := append([]*manager(nil), s.managers...)
	s.mu.Unlock()
	for _, m := range managers {
		m.stop()
	}
}

func tail(text string, lines int) string {
	all := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// logf prints to the test log and to stdout, so that the figures show in
// plain `go test` output too.
func logf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	fmt.Println(msg)
}

// conflictBackoff outlasts a busy writer on the same object.
var conflictBackoff = wait.Backoff{Steps: 30, Duration: 10 * time.Millisecond, Factor: 1.5, Jitter: 0.5, Cap: time.Second}

// updateHook changes a resource the way kubectl edit does: read, change,
// write with optimistic locking, and again on a conflict.
func (s *scenario) updateHook(ns, name string, change func(*webhooksv1alpha1.OutgoingWebhook)) {
	s.t.Helper()
	err := retry.RetryOnConflict(conflictBackoff, func() error {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return err
		}
		change(obj)
		return s.c.Update(s.ctx(), obj)
	})
	if err != nil {
		s.t.Fatalf("updating %s/%s: %v", ns, name, err)
	}
}
