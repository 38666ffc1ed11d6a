package chaos

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestStaleSharedList delays the answer to one list of the app (on the
// way back, as a slow network would: the list was computed before), so that
// it is still in flight when a resource creates its webhook and is then
// reconciled again. The second pass must not join the list begun before the
// create (it would not find its own webhook, and create another one).
func TestStaleSharedList(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "stale")
	ns := s.namespace("a")
	app := s.app("app")
	path := "/apps/" + app + "/"
	proxy := newDelayingProxy(t, s.env.FakeURL)
	s.startManager("stale", "--bitrise-api-url", proxy.url)
	for _, name := range []string{"z", "q"} {
		s.createHook(hookSpec{ns: ns, name: name, app: app, url: "https://hooks.example.com/stale/" + name})
	}
	s.waitConverged("z and q", nil, "")

	// z's update fails (dropping the shared observation of the app) and
	// the answer to its retry's list takes 6 s to come back.
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPut, PathContains: path, Status: http.StatusInternalServerError, Times: 1})
	proxy.delayNext(http.MethodGet, path, 6*time.Second)
	seen := len(s.env.Fake.Requests())
	s.updateHook(ns, "z", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.Events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventPipeline}
	})
	localenv.Eventually(t, pollInterval, 10*time.Second, "z's update refused", func() (bool, string) {
		return localenv.CountCalls(s.env.Fake.Requests()[seen:]).Method(http.MethodPut) > 0, "no PUT yet"
	})
	time.Sleep(200 * time.Millisecond)

	// x arrives with a reconcile requested, so its first pass lists afresh
	// (not through the slow shared list), as one whose create is pending
	// does. (A create-pending marker written by hand is rejected: only the
	// operator can sign one.)
	x := &webhooksv1alpha1.OutgoingWebhook{}
	x.Namespace, x.Name = ns, "x"
	x.Annotations = map[string]string{webhooksv1alpha1.ReconcileRequestedAtAnnotation: "x-first-pass"}
	x.Spec = webhooksv1alpha1.OutgoingWebhookSpec{AppSlug: app, URL: "https://hooks.example.com/stale/x",
		Events: []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild}}
	if err := s.c.Create(s.ctx(), x); err != nil {
		t.Fatal(err)
	}
	localenv.Eventually(t, pollInterval, 5*time.Second, "x created", func() (bool, string) {
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: "x"}, x); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(x.Status.Conditions, webhooksv1alpha1.ConditionReady), conditionSummary(x.Status.Conditions)
	})
	// q's update fails too, dropping the observation x's create updated;
	// then x changes while z's slow list is still in flight.
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPut, PathContains: path, Status: http.StatusInternalServerError, Times: 1})
	s.updateHook(ns, "q", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.Events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventPipeline}
	})
	time.Sleep(300 * time.Millisecond)
	s.updateHook(ns, "x", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.Events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventAll}
	})
	s.waitConvergedOrReport("after the slow list", nil, "")
}

// delayingProxy stands between the manager and the fake and holds back
// chosen answers after the fake computed them, as a slow network would.
type delayingProxy struct {
	url string

	mu     sync.Mutex
	method string
	path   string
	delay  time.Duration
}

func newDelayingProxy(t *testing.T, fakeURL string) *delayingProxy {
	t.Helper()
	target, err := url.Parse(fakeURL)
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(target.Path, "/")
	target.Path = ""
	p := &delayingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = roundTripFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(req)
		if d := p.take(req); d > 0 && err == nil {
			select {
			case <-time.After(d):
			case <-req.Context().Done():
			}
		}
		return resp, err
	})
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	p.url = srv.URL + base
	return p
}

// delayNext holds back the next answer to a request of method whose path
// contains path.
func (p *delayingProxy) delayNext(method, path string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.method, p.path, p.delay = method, path, d
}

func (p *delayingProxy) take(req *http.Request) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.delay == 0 || req.Method != p.method || !strings.Contains(req.URL.Path, p.path) {
		return 0
	}
	d := p.delay
	p.delay = 0
	return d
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
