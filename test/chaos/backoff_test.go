package chaos

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// TestBackoffWhileAFaultPersists holds one fault for 10 s per app and
// counts the requests the operator makes meanwhile: a 503 is retried with
// exponential backoff (no hot loop), a 429 honours Retry-After, and a 401
// stalls the resource until its credentials change. Each resource has its
// own token, so that a pause one of them causes does not slow the others.
func TestBackoffWhileAFaultPersists(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "backoff")
	ns := s.namespace("a")
	s.startManager("backoff")

	// A canary proves the manager is up before the window opens.
	canary := s.app("canary")
	s.createHook(hookSpec{ns: ns, name: "canary", app: canary, url: "https://hooks.example.com/backoff/canary"})
	s.waitConverged("canary", nil, "")

	type subject struct {
		name, app, good, used string
		fault                 *bitrisefake.Fault
		maxRequests           int
		minRequests           int
		wantCondition, reason string
	}
	subjects := []*subject{
		{name: "unavailable", fault: &bitrisefake.Fault{Status: http.StatusServiceUnavailable},
			maxRequests: 20, minRequests: 3,
			wantCondition: webhooksv1alpha1.ConditionReconciling, reason: webhooksv1alpha1.ReasonAPIUnavailable},
		{name: "throttled", fault: &bitrisefake.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2"},
			maxRequests: 7, minRequests: 2,
			wantCondition: webhooksv1alpha1.ConditionReconciling, reason: webhooksv1alpha1.ReasonAPIUnavailable},
		{name: "unauthorized",
			maxRequests: 2, minRequests: 1,
			wantCondition: webhooksv1alpha1.ConditionStalled, reason: webhooksv1alpha1.ReasonAuthenticationFailed},
	}
	removers := map[string]func(){}
	for _, sub := range subjects {
		sub.app = s.app(sub.name)
		sub.good = newSecretValue("backoff-token")
		s.env.Fake.AddApp(sub.app, sub.good)
		sub.used = sub.good
		if sub.fault == nil {
			sub.used = newSecretValue("backoff-token") // unknown to Bitrise: 401
		} else {
			f := *sub.fault
			f.PathContains = "/apps/" + sub.app + "/"
			removers[sub.name] = s.env.Fake.AddFault(f)
		}
		s.applySecretData(ns, sub.name+"-credentials", map[string][]byte{"token": []byte(sub.used)})
	}
	opened := time.Now()
	for _, sub := range subjects {
		s.createHook(hookSpec{ns: ns, name: sub.name, app: sub.app, credentialsRef: sub.name + "-credentials",
			url: "https://hooks.example.com/backoff/" + sub.name})
	}
	const window = 10 * time.Second
	time.Sleep(window)
	closed := time.Now()

	for _, sub := range subjects {
		n := 0
		for _, r := range s.env.Fake.Requests() {
			if strings.Contains(r.Path, "/apps/"+sub.app+"/") && !r.Time.Before(opened) && !r.Time.After(closed) {
				n++
			}
		}
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: sub.name}, obj); err != nil {
			t.Fatal(err)
		}
		logf(t, "chaos[backoff] %s: %d requests in %s (bound %d..%d); conditions %s",
			sub.name, n, window, sub.minRequests, sub.maxRequests, conditionSummary(obj.Status.Conditions))
		if n > sub.maxRequests {
			t.Errorf("%s: %d requests in %s, want at most %d", sub.name, n, window, sub.maxRequests)
		}
		if n < sub.minRequests {
			t.Errorf("%s: %d requests in %s, want at least %d (it must keep trying)", sub.name, n, window, sub.minRequests)
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, sub.wantCondition)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != sub.reason {
			t.Errorf("%s: want %s=True with reason %s, got %s", sub.name, sub.wantCondition, sub.reason, conditionSummary(obj.Status.Conditions))
		}
		if ready := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse {
			t.Errorf("%s: want Ready=False, got %s", sub.name, conditionSummary(obj.Status.Conditions))
		}
	}

	// Recovery. The 401 is fixed by the user rotating the credentials
	// Secret (picked up through the Secret watch), the 429 retries by itself
	// after Retry-After, and the 503, whose backoff may have grown long, is
	// asked for at once the documented way.
	for _, sub := range subjects {
		if remove := removers[sub.name]; remove != nil {
			remove()
		} else {
			s.applySecretData(ns, sub.name+"-credentials", map[string][]byte{"token": []byte(sub.good)})
		}
	}
	poke := fmt.Sprintf(`{"metadata":{"annotations":{%q:"after-503"}}}`, webhooksv1alpha1.ReconcileRequestedAtAnnotation)
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	obj.Namespace, obj.Name = ns, "unavailable"
	if err := s.c.Patch(s.ctx(), obj, client.RawPatch(types.MergePatchType, []byte(poke))); err != nil {
		t.Fatal(err)
	}
	s.waitConverged("after the faults", nil, "")
	s.checkNoLeaks()
}

func conditionSummary(conditions []metav1.Condition) string {
	var parts []string
	for _, c := range conditions {
		parts = append(parts, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
