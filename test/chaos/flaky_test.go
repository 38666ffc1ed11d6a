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

// flakyFaults answer 30% of the requests to the scenario's apps with an
// error: 500, 502, 503, 429 with Retry-After, or a dropped connection, 6%
// each. Faults are tried in order, so each probability is conditional on the
// ones before it not firing.
func flakyFaults(pathContains string) []bitrisefake.Fault {
	const share = 0.06
	kinds := []bitrisefake.Fault{
		{Status: http.StatusInternalServerError},
		{Status: http.StatusBadGateway},
		{Status: http.StatusServiceUnavailable},
		{Status: http.StatusTooManyRequests, RetryAfter: "1"},
		{DropConnection: true},
	}
	for i := range kinds {
		kinds[i].PathContains = pathContains
		kinds[i].Probability = share / (1 - float64(i)*share)
	}
	return kinds
}

// TestFlakyAPI creates, updates, rotates and deletes resources while 30% of
// the API requests fail and every request is slowed down; once the faults
// stop, the remote state must be exactly the desired state.
func TestFlakyAPI(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "flaky")
	nss := []string{s.namespace("x"), s.namespace("y")}
	apps := []string{s.app("app-a"), s.app("app-b"), s.app("app-c")}

	var removers []func()
	for _, f := range flakyFaults("/apps/flaky-") {
		removers = append(removers, s.env.Fake.AddFault(f))
	}
	s.env.Fake.SetLatency(20 * time.Millisecond)
	s.startManager("flaky")

	const n = 40
	eventSets := [][]webhooksv1alpha1.Event{
		{webhooksv1alpha1.EventBuild},
		{webhooksv1alpha1.EventPipeline},
		{webhooksv1alpha1.EventBuild, webhooksv1alpha1.EventPipeline},
		{webhooksv1alpha1.EventAll},
	}
	type hookRef struct{ ns, name, secret string }
	hooks := make([]hookRef, n)
	s.applySecret(nss[1], "shared", newSecretValue("flaky-whsec"), map[string]string{"X-Shared-Token": newSecretValue("flaky-header")})
	for i := range n {
		h := hookSpec{
			ns: nss[i%2], name: fmt.Sprintf("hook-%02d", i), app: apps[i%3],
			url:    fmt.Sprintf("https://hooks.example.com/flaky/%02d/v1", i),
			events: eventSets[i%4],
		}
		if i%5 == 0 {
			h.headers = map[string]string{"X-Team": fmt.Sprintf("team-%d", i)}
		}
		switch {
		case i%10 == 5 && h.ns == nss[1]:
			h.secretRef = "shared"
		case i%6 == 0:
			h.secretRef = h.name + "-secret"
			s.applySecret(h.ns, h.secretRef, newSecretValue("flaky-whsec"), map[string]string{"X-Token": newSecretValue("flaky-header")})
		case i%6 == 2:
			h.secretRef = h.name + "-secret"
			s.applySecret(h.ns, h.secretRef, newSecretValue("flaky-whsec"), nil)
		case i%6 == 4:
			h.secretRef = h.name + "-secret"
			s.applySecret(h.ns, h.secretRef, "", map[string]string{"X-Token": newSecretValue("flaky-header"), "X-Other": newSecretValue("flaky-header")})
		}
		hooks[i] = hookRef{h.ns, h.name, h.secretRef}
		s.createHook(h)
	}

	// Let the creates get under way (and fail) before changing things.
	localenv.Eventually(t, pollInterval, 60*time.Second, "half of the creates attempted", func() (bool, string) {
		c := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/flaky-"))
		return c.POST >= n/2, fmt.Sprintf("%d creates attempted", c.POST)
	})

	deleted := map[string]bool{}
	change := func(update, rotate, remove []int, rotateShared bool) {
		// Spec updates: a new URL, other events, another inline header.
		for _, i := range update {
			s.updateHook(hooks[i].ns, hooks[i].name, func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.URL = fmt.Sprintf("https://hooks.example.com/flaky/%02d/v2", i)
				o.Spec.Events = eventSets[(i+1)%4]
				o.Spec.Headers = map[string]string{"X-Revision": "2"}
			})
		}
		// Secret rotations: a new webhook secret (a replacement), new header
		// values (an update), or both.
		for _, i := range rotate {
			switch i % 6 {
			case 0:
				s.applySecret(hooks[i].ns, hooks[i].secret, newSecretValue("flaky-whsec"), map[string]string{"X-Token": newSecretValue("flaky-header")})
			case 2:
				s.applySecret(hooks[i].ns, hooks[i].secret, newSecretValue("flaky-whsec"), nil)
			case 4:
				s.applySecret(hooks[i].ns, hooks[i].secret, "", map[string]string{"X-Token": newSecretValue("flaky-header")})
			}
		}
		// The shared Secret: both keys, for several resources at once.
		if rotateShared {
			s.applySecret(nss[1], "shared", newSecretValue("flaky-whsec"), map[string]string{"X-Shared-Token": newSecretValue("flaky-header")})
		}
		for _, i := range remove {
			deleted[fmt.Sprintf("https://hooks.example.com/flaky/%02d/v1", i)] = true
			deleted[fmt.Sprintf("https://hooks.example.com/flaky/%02d/v2", i)] = true
			s.deleteHook(hooks[i].ns, hooks[i].name)
		}
	}
	// Wave 1, while the creates are under way.
	change([]int{1, 7, 13}, []int{0, 2, 4}, []int{3, 9, 10}, false)

	// Wave 2, once every resource has a remote webhook, still under faults:
	// updates, replacements and deletions of existing webhooks.
	s.waitAllCreated("every resource created under faults")
	change([]int{19, 25, 31, 37}, []int{12, 14, 16, 26}, []int{22, 28, 33, 37, 39}, true)

	// Keep the faults on while the changes are worked on: until 60 more
	// requests were made, or for 10 s if the operator went quiet (backing
	// off) before.
	before := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/flaky-")).Total
	quietBy := time.Now().Add(10 * time.Second)
	localenv.Eventually(t, pollInterval, 60*time.Second, "the changes worked on under faults", func() (bool, string) {
		c := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/flaky-"))
		return c.Total-before >= 60 || time.Now().After(quietBy), fmt.Sprintf("%d requests since the changes", c.Total-before)
	})

	for _, remove := range removers {
		remove()
	}
	s.env.Fake.SetLatency(0)
	faulted := localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/flaky-"))
	poke := s.pokeAll()
	r := s.waitConverged("after the faults", deleted, poke)
	logf(t, "chaos[flaky]: resources=%d ready=%d remote=%d duplicates=%d orphans=%d leftovers=%d (requests under faults: %d, failed: %d, dropped: %d)",
		r.resources, r.ready, r.remote, r.duplicates, r.orphans, r.leftovers,
		faulted.Total, localenv.CountCalls(s.env.Fake.Requests(), localenv.PathContains("/apps/flaky-")).Failed, faulted.Dropped)
	if r.resources != n-8 {
		t.Errorf("%d resources left, want %d", r.resources, n-8)
	}
	s.checkNoLeaks()
}
