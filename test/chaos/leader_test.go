package chaos

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// workersStarted is what controller-runtime logs when a controller starts
// reconciling: only the leader gets there.
const workersStarted = "Starting workers"

// TestLeaderHandover runs two replicas with leader election. Only the
// leader reconciles; SIGKILLed mid-burst, it cannot release its Lease, so
// the standby takes over once the Lease expires (15 s by default) and must
// finish the burst without duplicating anything the dead leader created.
func TestLeaderHandover(t *testing.T) {
	if !managerHasFlag("leader-election-namespace") {
		t.Skip("the manager has no --leader-election-namespace: outside a cluster, leader election cannot find a namespace")
	}
	t.Parallel()
	s := newScenario(t, "leader")
	leaseNS := s.namespace("system")
	ns := s.namespace("a")
	apps := []string{s.app("app-a"), s.app("app-b")}
	leaseName := "chaos-" + localenv.RandomHex(6)
	args := []string{"--leader-elect", "--leader-election-id", leaseName, "--leader-election-namespace", leaseNS}
	replicas := []*manager{s.startManager("replica-1", args...), s.startManager("replica-2", args...)}

	var leader, standby *manager
	localenv.Eventually(t, pollInterval, 60*time.Second, "a leader elected", func() (bool, string) {
		var started []*manager
		for _, m := range replicas {
			if strings.Contains(m.Logs.String(), workersStarted) {
				started = append(started, m)
			}
		}
		if len(started) > 1 {
			t.Fatalf("both replicas started their workers")
		}
		if len(started) == 1 {
			leader = started[0]
		}
		return leader != nil, "no replica started its workers"
	})
	standby = replicas[0]
	if leader == replicas[0] {
		standby = replicas[1]
	}
	holder := s.leaseHolder(leaseNS, leaseName)
	logf(t, "chaos[leader]: %s leads (Lease holder %s)", leader.name, holder)

	hook := func(i int) hookSpec {
		name := fmt.Sprintf("hook-%02d", i)
		h := hookSpec{ns: ns, name: name, app: apps[i%2], url: "https://hooks.example.com/leader/" + name}
		if i%2 == 0 {
			h.secretRef = name
			s.applySecret(ns, name, newSecretValue("leader-whsec"), map[string]string{"X-Leader-Token": newSecretValue("leader-header")})
		}
		return h
	}
	const before, after = 20, 10
	seen := len(s.env.Fake.Requests())
	for i := range before {
		s.createHook(hook(i))
	}
	localenv.Eventually(t, time.Millisecond, 60*time.Second, "the leader making 5 creates", func() (bool, string) {
		n := localenv.CountCalls(s.env.Fake.Requests()[seen:]).Method(http.MethodPost)
		return n >= 5, fmt.Sprintf("%d creates", n)
	})
	if strings.Contains(standby.Logs.String(), workersStarted) {
		t.Fatalf("the standby started its workers while the leader was alive")
	}
	leader.Kill()
	killedAt := time.Now()
	logf(t, "chaos[leader]: SIGKILLed %s after %d creates; %d remote webhooks not (yet) in any status.slug",
		leader.name, localenv.CountCalls(s.env.Fake.Requests()[seen:]).Method(http.MethodPost), s.unrecordedRemote())
	// More work arrives while nobody leads.
	for i := before; i < before+after; i++ {
		s.createHook(hook(i))
	}

	localenv.Eventually(t, pollInterval, 60*time.Second, "the standby taking over", func() (bool, string) {
		now := s.leaseHolder(leaseNS, leaseName)
		return now != "" && now != holder && strings.Contains(standby.Logs.String(), workersStarted),
			fmt.Sprintf("Lease holder %q", now)
	})
	takeover := time.Since(killedAt).Round(100 * time.Millisecond)
	rep := s.waitConverged("after the handover", nil, "")
	logf(t, "chaos[leader]: resources=%d ready=%d remote=%d duplicates=%d orphans=%d leftovers=%d (takeover after %s, new holder %s)",
		rep.resources, rep.ready, rep.remote, rep.duplicates, rep.orphans, rep.leftovers, takeover, s.leaseHolder(leaseNS, leaseName))
	if rep.resources != before+after {
		t.Errorf("%d resources, want %d", rep.resources, before+after)
	}
	s.checkNoLeaks()
}

func (s *scenario) leaseHolder(ns, name string) string {
	s.t.Helper()
	var lease coordinationv1.Lease
	if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: name}, &lease); err != nil {
		return ""
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}
