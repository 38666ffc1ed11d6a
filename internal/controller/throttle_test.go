package controller

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func TestFailedThrottledRequeuesWithoutCondition(t *testing.T) {
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	obj.Generation = 2
	markReady(obj, "Webhook abc is in sync")
	before := obj.DeepCopy()
	ctx := logf.IntoContext(t.Context(), logf.Log)
	wrapped := fmt.Errorf("listing: %w", &bitrise.ThrottledError{Wait: 3 * time.Second})
	for range 20 {
		res, err := failed(ctx, obj, wrapped, nil)
		if err != nil {
			t.Fatalf("a throttled pass returned an error (backoff): %v", err)
		}
		if res.RequeueAfter < 3*time.Second || res.RequeueAfter > 3*time.Second+200*time.Millisecond {
			t.Fatalf("requeue after %v, want 3s plus a little jitter", res.RequeueAfter)
		}
	}
	if !equality.Semantic.DeepEqual(before, obj) {
		t.Fatalf("a throttled pass changed the resource: %+v", obj.Status)
	}
	res, err := failed(ctx, obj, &bitrise.ThrottledError{Wait: bitrise.MaxPause, Paused: true}, nil)
	if err != nil || res.RequeueAfter != bitrise.MaxPause {
		t.Fatalf("at MaxPause: %v, %v; want exactly MaxPause", res, err)
	}
}

var _ = Describe("A throttled API token", func() {
	It("holds no worker: a 429 with Retry-After 300 on one token does not delay a resource of another token", func() {
		ns1, ns2 := newNamespace(), newNamespace()
		t1, t2 := secretValue("token-one"), secretValue("token-two")
		app1, app2 := unique("app"), unique("app")
		fake.AddApp(app1, t1)
		fake.AddApp(app2, t2)
		createSecret(ns1, "creds", map[string]string{"token": t1})
		createSecret(ns2, "creds", map[string]string{"token": t2})
		withCreds := func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		}
		remove := fake.AddFault(bitrisefake.Fault{PathContains: "/apps/" + app1 + "/", Status: 429, RetryAfter: "300", Times: 1})
		DeferCleanup(remove)

		first := createWebhook(ns1, app1, withCreds)
		Eventually(func(g Gomega) {
			c := condition(get(first), webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
		}).Should(Succeed())

		// More resources of the paused token than workers (4).
		var throttled []*webhooksv1alpha1.OutgoingWebhook
		for range 6 {
			throttled = append(throttled, createWebhook(ns1, app1, withCreds))
		}
		// Each had its pass: the finalizer is stored by it.
		Eventually(func(g Gomega) {
			for _, o := range throttled {
				g.Expect(get(o).Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
			}
		}).Should(Succeed())

		began := time.Now()
		other := createWebhook(ns2, app2, withCreds)
		Eventually(func(g Gomega) {
			c := condition(get(other), webhooksv1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		GinkgoWriter.Printf("the other token's resource was Ready in %s\n", time.Since(began))

		// The throttled resources sent nothing, and show nothing: no
		// condition, no create-pending marker, no event.
		Consistently(func(g Gomega) {
			g.Expect(appRequests(app1)).To(Equal(map[string]int{"GET": 1}), "only the first list (the 429) reached Bitrise")
			for _, o := range throttled {
				got := get(o)
				g.Expect(got.Status.Conditions).To(BeEmpty())
				g.Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
				g.Expect(eventsFor(o)).To(BeEmpty())
			}
		}).WithTimeout(2 * time.Second).Should(Succeed())
	})
	It("writes no create-pending marker when the token has no room for the create", func() {
		ns := newNamespace()
		token := secretValue("token-room")
		appX, appY := unique("app"), unique("app")
		fake.AddApp(appX, token)
		fake.AddApp(appY, token)
		createSecret(ns, "creds", map[string]string{"token": token})
		withCreds := func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		}
		// appY's webhooks are listed now, so that a new resource of appY
		// goes straight to its create, with no list to be throttled first.
		waitReady(createWebhook(ns, appY, withCreds))
		// A 429 with Retry-After 300 to a create on appX pauses the token.
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + appX + "/", Status: 429, RetryAfter: "300", Times: 1})
		DeferCleanup(remove)
		paused := createWebhook(ns, appX, withCreds)
		Eventually(func(g Gomega) {
			c := condition(get(paused), webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
		}).Should(Succeed())

		versions, stop := watchWrites(ns)
		defer stop()
		obj := createWebhook(ns, appY, withCreds)
		Eventually(func(g Gomega) {
			g.Expect(get(obj).Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			got := get(obj)
			g.Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
			g.Expect(got.Status.Conditions).To(BeEmpty())
		}).WithTimeout(2 * time.Second).Should(Succeed())
		var writes int
		for _, v := range versions() {
			if v.Name == obj.Name {
				writes++
			}
		}
		Expect(writes).To(Equal(1), "only the finalizer is stored: no marker written and removed again")
		Expect(appRequests(appY)["POST"]).To(Equal(1), "only the first resource's create reached Bitrise")
	})
})
