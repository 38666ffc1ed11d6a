package gitops

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// reachDeliveriesFailing makes a Ready webhook with spec.deliveryCheck
// whose receiver answers 502: DeliveriesHealthy=False, which no health
// check reads.
func reachDeliveriesFailing(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "receiver-down", readyApp)
	obj.Spec.DeliveryCheck = &webhooksv1alpha1.DeliveryCheck{Interval: metav1.Duration{Duration: 10 * time.Minute}}
	create(t, obj)
	ready := waitFor(t, ns, obj.Name, "Ready", handled(webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ReasonSucceeded))
	slug, _, _ := unstructured.NestedString(ready.Object, "status", "slug")
	if _, err := env.Fake.Deliver(readyApp, slug, bitrisefake.Delivery{HTTPStatus: 502, Seconds: 10}); err != nil {
		t.Fatal(err)
	}
	requestReconcile(t, obj)
	return waitFor(t, ns, obj.Name, "DeliveriesHealthy=False", func(u *unstructured.Unstructured) bool {
		c := condition(u, webhooksv1alpha1.ConditionDeliveriesHealthy)
		return c != nil && c["status"] == "False" && c["reason"] == webhooksv1alpha1.ReasonDeliveryFailed
	})
}

// TestKubectlWideShowsLastDelivery checks the print column of the last
// delivery's status code.
func TestKubectlWideShowsLastDelivery(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	reachDeliveriesFailing(t, ns)
	out, err := kubectl(t.Context(), "get", "owh", "-o", "wide", "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "LAST-DELIVERY") || !strings.Contains(lines[1], " 502 ") {
		t.Errorf("kubectl get owh -o wide should show LAST-DELIVERY 502:\n%s", out)
	}
}
