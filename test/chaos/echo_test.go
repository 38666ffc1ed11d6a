package chaos

import (
	"fmt"
	"net/http"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestErrorBodiesEchoSecrets makes the API answer errors whose bodies
// quote what the request sent: the token (every request), the webhook
// secret (create) and the header values from the Secret (create, update),
// in JSON and in plain text. Those texts reach conditions, events and logs
// only redacted.
func TestErrorBodiesEchoSecrets(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "echo")
	ns := s.namespace("a")
	app := s.app("app")
	s.startManager("echo")

	secret, header := newSecretValue("echo-whsec"), newSecretValue("echo-header")
	s.applySecret(ns, "hook", secret, map[string]string{"X-Echo-Token": header})
	// What a request sent, quoted back.
	sentByList := func() string { return "Authorization: " + s.token }
	sentByUpdate := func() string { return sentByList() + " X-Echo-Token: " + header }
	sentByCreate := func() string { return sentByUpdate() + " secret=" + secret }
	jsonEcho := func(kind, sent string) string {
		return fmt.Sprintf(`{"message":%q}`, kind+": rejected "+sent)
	}
	path := "/apps/" + app + "/"
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: path, Status: http.StatusInternalServerError, Body: jsonEcho("list", sentByList()), Times: 1})
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: path, Status: http.StatusServiceUnavailable, Body: "plain list: " + sentByList(), Times: 1})
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, PathContains: path, Status: http.StatusBadRequest, Body: jsonEcho("create", sentByCreate()), Times: 1})
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, PathContains: path, Status: http.StatusBadGateway, Body: "plain create: " + sentByCreate(), Times: 1})
	s.createHook(hookSpec{ns: ns, name: "hook", app: app, url: "https://hooks.example.com/echo", secretRef: "hook",
		headers: map[string]string{"X-Plain": "not-secret"}})
	s.waitStalled(ns, "hook", webhooksv1alpha1.ReasonInvalidRequest)

	// The header value changes: an update, refused with an echo.
	s.waitConverged("after the create was refused", nil, s.pokeAll())
	header = newSecretValue("echo-header")
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPut, PathContains: path, Status: http.StatusBadRequest, Body: jsonEcho("update", sentByUpdate()), Times: 1})
	s.applySecret(ns, "hook", secret, map[string]string{"X-Echo-Token": header})
	s.waitStalled(ns, "hook", webhooksv1alpha1.ReasonInvalidRequest)

	// The webhook secret changes: a replacement, whose create is refused.
	s.waitConverged("after the update was refused", nil, s.pokeAll())
	secret = newSecretValue("echo-whsec")
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, PathContains: path, Status: http.StatusBadRequest, Body: jsonEcho("replace", sentByCreate()), Times: 1})
	s.applySecret(ns, "hook", secret, map[string]string{"X-Echo-Token": header})
	s.waitStalled(ns, "hook", webhooksv1alpha1.ReasonInvalidRequest)

	// The token is refused, with an echo.
	s.waitConverged("after the replacement was refused", nil, s.pokeAll())
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: path, Status: http.StatusUnauthorized, Body: jsonEcho("auth", sentByList()), Times: 1})
	s.pokeAll()
	s.waitStalled(ns, "hook", webhooksv1alpha1.ReasonAuthenticationFailed)

	s.waitConverged("after every refusal", nil, s.pokeAll())
	s.checkNoLeaks()
}

// waitStalled waits until a resource is Stalled for reason, and scans its
// status at that moment (the condition message is overwritten once it
// recovers).
func (s *scenario) waitStalled(ns, name, reason string) {
	s.t.Helper()
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	localenv.Eventually(s.t, pollInterval, convergeTimeout, name+" stalled with "+reason, func() (bool, string) {
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionStalled)
		return c != nil && c.Reason == reason, conditionSummary(obj.Status.Conditions)
	})
	c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionStalled)
	logf(s.t, "chaos[%s] %s stalled: %s: %s", s.name, name, c.Reason, c.Message)
	s.scanObject("the status of "+ns+"/"+name+" while stalled", obj.Status)
}
