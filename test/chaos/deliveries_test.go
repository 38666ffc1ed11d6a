package chaos

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestDeliveriesCarrySecrets turns the delivery check on for a webhook
// whose deliveries carry its secret header, a secret payload and a secret
// response body, makes the delivery endpoints fail with bodies quoting
// them, and asks for redeliveries: nothing of a delivery reaches the
// manager's output, events, status or annotations.
func TestDeliveriesCarrySecrets(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "deliveries")
	ns := s.namespace("a")
	app := s.app("app")
	s.startManager("deliveries")

	secret, header := newSecretValue("delivery-whsec"), newSecretValue("delivery-header")
	s.applySecret(ns, "hook", secret, map[string]string{"X-Delivery-Token": header})
	s.createHook(hookSpec{ns: ns, name: "hook", app: app, url: "https://hooks.example.com/deliveries", secretRef: "hook"})
	s.updateHook(ns, "hook", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.DeliveryCheck = &webhooksv1alpha1.DeliveryCheck{Interval: metav1.Duration{Duration: time.Minute}, FailureThreshold: 2}
	})
	s.waitAllCreated("the webhook created")
	slug := s.deliveriesHealthy(ns, "hook", metav1.ConditionUnknown)

	payload, body := newSecretValue("delivery-payload"), newSecretValue("delivery-response")
	var failed []string
	for range 2 {
		d, err := s.env.Fake.Deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 502, Seconds: 10,
			Payload: fmt.Sprintf(`{"token":%q}`, payload), ResponseBody: "upstream said " + body})
		if err != nil {
			t.Fatal(err)
		}
		failed = append(failed, d)
	}
	// The delivery endpoints fail once each, quoting what deliveries carry.
	echo := fmt.Sprintf(`{"message":"failed: %s %s %s %s"}`, header, payload, body, s.token)
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodGet, PathContains: "/delivery-items", Status: http.StatusInternalServerError, Body: echo, Times: 1})
	s.env.Fake.AddFault(bitrisefake.Fault{Method: http.MethodPost, PathContains: "/redeliver", Status: http.StatusBadRequest, Body: echo, Times: 1})

	s.pokeAll() // the delivery read fails
	s.pokeAll()
	s.deliveriesHealthy(ns, "hook", metav1.ConditionFalse)

	// A refused redelivery, then one by time and one of an unknown slug.
	s.updateHook(ns, "hook", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Annotations[webhooksv1alpha1.RedeliverAnnotation] = failed[0]
	})
	s.waitRedeliverHandled(ns, "hook", failed[0])
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	s.updateHook(ns, "hook", func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Annotations[webhooksv1alpha1.RedeliverAnnotation] = "unknown-" + payload[:8]
		o.Annotations[webhooksv1alpha1.RedeliverFailedSinceAnnotation] = since
	})
	s.waitRedeliverHandled(ns, "hook", "unknown-"+payload[:8]+","+since)
	if n := s.env.Fake.DeliveryCount(app, slug); n != 4 {
		t.Errorf("deliveries after redelivering the 2 failed ones since %s: %d, want 4", since, n)
	}
	s.deliveriesHealthy(ns, "hook", metav1.ConditionTrue)
	s.checkNoLeaks()
}

// deliveriesHealthy waits for the DeliveriesHealthy status and returns the
// resource's remote slug.
func (s *scenario) deliveriesHealthy(ns, name string, want metav1.ConditionStatus) string {
	s.t.Helper()
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	localenv.Eventually(s.t, pollInterval, convergeTimeout, name+" DeliveriesHealthy="+string(want), func() (bool, string) {
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy)
		return c != nil && c.Status == want, conditionSummary(obj.Status.Conditions)
	})
	s.scanObject("the status of "+ns+"/"+name, obj.Status)
	return obj.Status.Slug
}

func (s *scenario) waitRedeliverHandled(ns, name, value string) {
	s.t.Helper()
	localenv.Eventually(s.t, pollInterval, convergeTimeout, name+" redelivery "+value+" handled", func() (bool, string) {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		if err := s.c.Get(s.ctx(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
			return false, err.Error()
		}
		return obj.Status.LastHandledRedeliver == value, "lastHandledRedeliver=" + obj.Status.LastHandledRedeliver
	})
}
