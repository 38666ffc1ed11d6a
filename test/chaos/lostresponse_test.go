package chaos

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestLostCreateResponses loses the answer to half of the creates: the
// webhook exists on Bitrise but the operator never hears of it. The
// create-pending marker must make the next pass adopt it instead of
// creating a second one.
func TestLostCreateResponses(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "lost")
	ns := s.namespace("a")
	apps := []string{s.app("app-a"), s.app("app-b")}
	removeFault := s.env.Fake.AddFault(bitrisefake.Fault{
		Method: http.MethodPost, PathContains: "/apps/lost-", LoseResponse: true, Probability: 0.5,
	})
	s.startManager("lost")

	const n = 20
	for i := range n {
		h := hookSpec{
			ns: ns, name: fmt.Sprintf("hook-%02d", i), app: apps[i%2],
			url:    fmt.Sprintf("https://hooks.example.com/lost/%02d", i),
			events: []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild, webhooksv1alpha1.EventPipeline},
		}
		if i%3 == 0 {
			h.secretRef = h.name
			s.applySecret(ns, h.name, newSecretValue("lost-whsec"),
				map[string]string{"X-Lost-Token": newSecretValue("lost-header")})
		}
		s.createHook(h)
	}
	s.waitConverged("responses lost", nil, "")

	stats := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/lost-"))
	logf(t, "chaos[lost]: resources=%d posts=%d lostResponses=%d deletes=%d puts=%d lists=%d",
		n, stats.POST, stats.LostCreates, stats.DELETE, stats.PUT, stats.Reads())
	if stats.LostCreates == 0 {
		t.Fatalf("no create response was lost: the scenario tested nothing")
	}
	if stats.POST != n {
		t.Errorf("%d creates for %d resources: every create is served, so each lost answer must be adopted, not retried", stats.POST, n)
	}
	if stats.DELETE != 0 {
		t.Errorf("%d deletes: a lost create must not lead to a replacement (the digest of the secret sent was stored before the create)", stats.DELETE)
	}

	removeFault()
	poke := s.pokeAll()
	s.waitConverged("after the fault", nil, poke)
	if after := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/lost-")); after.POST != stats.POST || after.DELETE != 0 {
		t.Errorf("a drift check after convergence changed the remote state: posts %d -> %d, deletes %d",
			stats.POST, after.POST, after.DELETE)
	}
	s.checkNoLeaks()
}

// TestLostCreateThenURLChange loses the answer to a create, keeps the
// outcome unresolved (lists fail), and changes spec.url meanwhile. The
// pending create must be resolved by the URL it was sent with, then
// updated to the new one: no webhook with the old URL may stay behind.
func TestLostCreateThenURLChange(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "losturl")
	ns := s.namespace("a")
	app := s.app("app")
	path := "/apps/" + app + "/"
	// The first list passes (a no-op fault that fires once), the create's
	// answer is lost, and every later list fails until removed.
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: path, Latency: time.Millisecond, Times: 1})
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, PathContains: path, LoseResponse: true, Times: 1})
	failLists := s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: path, Status: http.StatusServiceUnavailable})
	s.startManager("losturl")

	s.createHook(hookSpec{ns: ns, name: "hook", app: app, url: "https://hooks.example.com/lost-url/v1"})
	localenv.Eventually(t, pollInterval, 30*time.Second, "the create answer lost", func() (bool, string) {
		st := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains(path))
		return st.LostCreates == 1, fmt.Sprintf("%d lost creates", st.LostCreates)
	})
	s.updateHook(ns, "hook", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.URL = "https://hooks.example.com/lost-url/v2"
	})
	failLists()
	s.waitConvergedOrReport("after the URL change", map[string]bool{}, s.pokeAll())
	if st := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains(path)); st.POST != 1 || st.PUT != 1 {
		t.Errorf("%d creates and %d updates, want the lost create adopted and updated to the new URL (1 and 1)", st.POST, st.PUT)
	}
	s.checkNoLeaks()
}
