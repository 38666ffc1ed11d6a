package chaos

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestSIGKILLMidBurst kills the manager with SIGKILL three times, each time
// in the middle of a burst of creates and deletes, and restarts it. Whatever
// a kill interrupted (a create whose answer was never recorded, a deletion
// half done) must be resolved by the next manager: no duplicates, no
// orphans, no leftovers.
func TestSIGKILLMidBurst(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "kill")
	ns := s.namespace("a")
	apps := []string{s.app("app-a"), s.app("app-b")}
	m := s.startManager("kill-0")

	spec := func(name string, i int) hookSpec {
		h := hookSpec{
			ns: ns, name: name, app: apps[i%2],
			url: fmt.Sprintf("https://hooks.example.com/kill/%s", name),
		}
		if i%2 == 0 {
			h.secretRef = name
			s.applySecret(ns, name, newSecretValue("kill-whsec"), map[string]string{"X-Kill-Token": newSecretValue("kill-header")})
		}
		return h
	}
	// The victims, deleted during the bursts.
	var victims []string
	for i := range 10 {
		name := fmt.Sprintf("victim-%02d", i)
		victims = append(victims, name)
		s.createHook(spec(name, i))
	}
	s.waitConverged("victims created", nil, "")

	rounds := []struct {
		deletes int
		method  string // kill once this many requests of method were seen in the round
		after   int
	}{
		{deletes: 3, method: http.MethodPost, after: 1},
		{deletes: 3, method: http.MethodDelete, after: 1},
		{deletes: 4, method: http.MethodPost, after: 6},
	}
	deleted := map[string]bool{}
	created := 0
	for r, round := range rounds {
		seen := len(s.env.Fake.Requests())
		for range round.deletes {
			name := victims[0]
			victims = victims[1:]
			deleted["https://hooks.example.com/kill/"+name] = true
			s.deleteHook(ns, name)
		}
		for range 10 {
			s.createHook(spec(fmt.Sprintf("burst-%02d", created), created))
			created++
		}
		count := func() int { return localenv.CountCalls(s.env.Fake.Requests()[seen:]).Method(round.method) }
		localenv.Eventually(t, time.Millisecond, 60*time.Second, fmt.Sprintf("round %d: %d %s requests", r, round.after, round.method), func() (bool, string) {
			n := count()
			return n >= round.after, fmt.Sprintf("%d seen", n)
		})
		m.Kill()
		unrecorded := s.unrecordedRemote()
		logf(t, "chaos[kill] round %d: SIGKILL after %d %s; at the kill: %d remote webhooks not (yet) in any status.slug",
			r, count(), round.method, unrecorded)
		m = s.startManager(fmt.Sprintf("kill-%d", r+1))
	}

	rep := s.waitConverged("after 3 SIGKILLs", deleted, "")
	if want := len(victims) + created; rep.resources != want {
		t.Errorf("%d resources, want %d (%d victims left, %d created)", rep.resources, want, len(victims), created)
	}
	stats := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/kill-"))
	logf(t, "chaos[kill]: resources=%d ready=%d remote=%d duplicates=%d orphans=%d leftovers=%d (posts=%d deletes=%d)",
		rep.resources, rep.ready, rep.remote, rep.duplicates, rep.orphans, rep.leftovers, stats.POST, stats.DELETE)
	s.checkNoLeaks()
}

// unrecordedRemote counts the remote webhooks of the scenario's apps that
// no resource's status.slug names: creates whose outcome the operator has
// not recorded (yet).
func (s *scenario) unrecordedRemote() int {
	s.t.Helper()
	hooks, err := s.hooks()
	if err != nil {
		s.t.Fatal(err)
	}
	slugs := map[string]bool{}
	for _, h := range hooks {
		slugs[h.Status.Slug] = true
	}
	n := 0
	for _, app := range s.apps {
		for _, w := range s.env.Fake.Webhooks(app) {
			if !slugs[w.Slug] {
				n++
			}
		}
	}
	return n
}
