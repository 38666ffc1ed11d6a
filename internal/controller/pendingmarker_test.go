package controller

import (
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// writeMarker writes create-pending annotations on obj as a user with edit
// rights could, or, signed, as the operator does (the suite holds the
// manager's digest key).
func writeMarker(obj *webhooksv1alpha1.OutgoingWebhook, signed bool, marker map[string]string) {
	GinkgoHelper()
	patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		for k, v := range marker {
			o.Annotations[k] = v
		}
		if signed {
			signPending(digests, o)
		}
	})
}

// writesTo counts the PUT and DELETE requests on one remote webhook.
func writesTo(app, slug string) int {
	n := 0
	for _, r := range fake.Requests() {
		if strings.Contains(r.Path, "/apps/"+app+"/outgoing-webhooks/"+slug) &&
			(r.Method == http.MethodPut || r.Method == http.MethodDelete) {
			n++
		}
	}
	return n
}

func hasNoMarker(g Gomega, obj *webhooksv1alpha1.OutgoingWebhook) {
	for _, key := range pendingAllKeys {
		g.Expect(get(obj).Annotations).NotTo(HaveKey(key))
	}
}

var _ = Describe("Create-pending markers a user writes", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("neither adopts nor deletes another team's webhook a forged marker points at", func() {
		theirs := fake.Seed(app, bitrise.Webhook{URL: "https://team-b.example.com/hook", Events: []string{"all"}}, "their-secret")
		attacker := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations = map[string]string{
				webhooksv1alpha1.CreatePendingAnnotation:          theirs.URL,
				webhooksv1alpha1.CreatePendingSignatureAnnotation: "$sig-v1$AAAA",
			}
		})
		got := waitReady(attacker)
		Expect(got.Status.Slug).NotTo(Equal(theirs.Slug), "the attacker gets a webhook of its own")
		Eventually(func() map[string]int { return eventsFor(attacker) }).Should(HaveKey(eventPendingRejected))
		Eventually(func(g Gomega) { hasNoMarker(g, attacker) }).Should(Succeed())
		for _, note := range eventNotes(attacker) {
			Expect(note).NotTo(ContainSubstring(theirs.URL), "the event never quotes the values")
		}

		By("deleting the attacker deletes its own webhook only")
		Expect(k8s.Delete(ctx, attacker)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(attacker), attacker) }).Should(Satisfy(isNotFound))
		Expect(remoteSlugs(app)).To(Equal([]string{theirs.Slug}))
		Expect(remote(app)[0].Events).To(Equal([]string{"all"}))
		Expect(writesTo(app, theirs.Slug)).To(BeZero())
	})

	It("does not let a marker written on a resource being deleted steer the deletion", func() {
		theirs := fake.Seed(app, bitrise.Webhook{URL: "https://team-b.example.com/deleted", Events: []string{"all"}}, "")
		attacker := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })
		Eventually(func() []string { return get(attacker).Finalizers }).Should(ContainElement(webhooksv1alpha1.Finalizer))
		Expect(k8s.Delete(ctx, attacker)).To(Succeed())
		waitStalled(attacker, webhooksv1alpha1.ReasonSuspended)
		// The deletion waits on spec.suspend; the user writes a marker
		// pointing at the other team's webhook and lets the deletion go on.
		patchWebhook(attacker, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: theirs.URL}
			o.Spec.Suspend = false
		})
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(attacker), attacker) }).Should(Satisfy(isNotFound))
		Expect(remoteSlugs(app)).To(Equal([]string{theirs.Slug}))
		Expect(writesTo(app, theirs.Slug)).To(BeZero())
	})

	It("rejects a marker copied from another resource, with an event", func() {
		victim := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })
		// The operator's marker as it was on the victim during a create.
		v := get(victim)
		v.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: "https://team-b.example.com/copied"}
		signPending(digests, v)
		Expect(pendingStateOf(digests, v)).To(Equal(pendingVerified), "genuine on the victim")
		handMade := fake.Seed(app, bitrise.Webhook{URL: "https://team-b.example.com/copied", Events: []string{"all"}}, "")

		copier := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Annotations = v.Annotations })
		got := waitReady(copier)
		Expect(got.Status.Slug).NotTo(Equal(handMade.Slug))
		Eventually(func() map[string]int { return eventsFor(copier) }).Should(HaveKeyWithValue(eventPendingRejected, 1))
		Eventually(func(g Gomega) { hasNoMarker(g, copier) }).Should(Succeed())
		Expect(writesTo(app, handMade.Slug)).To(BeZero())
	})

	It("removes a marker a user edits on a live resource at once, and keeps the resource's own webhook", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		other := fake.Seed(app, bitrise.Webhook{URL: "https://team-b.example.com/edited", Events: []string{"all"}}, "")
		writeMarker(obj, false, map[string]string{webhooksv1alpha1.CreatePendingAnnotation: other.URL})
		// No spec change, no requested reconcile: the predicate alone
		// brings the resource back.
		Eventually(func(g Gomega) { hasNoMarker(g, obj) }, "5s").Should(Succeed())
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey(eventPendingRejected))
		Expect(get(obj).Status.Slug).To(Equal(slug))
		Expect(writesTo(app, other.Slug)).To(BeZero())
	})
})
