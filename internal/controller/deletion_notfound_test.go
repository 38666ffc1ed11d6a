package controller

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

var _ = Describe("Deletion after a 404", func() {
	var ns, app, token string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
		// A token of its own that, as on Bitrise, gets 404 for an app it cannot see.
		token = secretValue("hiding-token")
		fake.AddToken(token, app)
		fake.HideApps(token)
		createSecret(ns, "creds", map[string]string{"token": token})
	})
	withCreds := func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
	}

	It("waits, Stalled AppNotFound, when the token can no longer see the app", func() {
		obj := createWebhook(ns, app, withCreds)
		slug := waitReady(obj).Status.Slug
		fake.RevokeAccess(token, app)

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		got := waitStalled(obj, webhooksv1alpha1.ReasonAppNotFound)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring("Cannot delete the remote webhook"), ContainSubstring(app), ContainSubstring("deletionPolicy to Orphan")))
		Expect(got.Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}), "the webhook still delivers, so the resource stays")
		Expect(eventsFor(obj)).NotTo(HaveKey(eventDeleted))

		By("finishing once the token sees the app again")
		fake.AddToken(token, app)
		requestReconcileDeleting(obj)
		waitGone(obj)
		Expect(remote(app)).To(BeEmpty())
	})

	It("waits, Stalled AuthenticationFailed, when the list after the 404 answers 403", func() {
		obj := createWebhook(ns, app, withCreds)
		slug := waitReady(obj).Status.Slug
		removeDelete := fake.AddFault(bitrisefake.Fault{Method: "DELETE", PathContains: "/apps/" + app + "/", Status: 404})
		defer removeDelete()
		removeList := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/", Status: 403})
		defer removeList()

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		got := waitStalled(obj, webhooksv1alpha1.ReasonAuthenticationFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("deletionPolicy to Orphan"))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
	})

	It("releases the resource when the list confirms the webhook is gone", func() {
		obj := createWebhook(ns, app, withCreds)
		slug := waitReady(obj).Status.Slug
		fake.DeleteOutOfBand(app, slug)
		fake.ResetRequests()

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(appRequests(app)).To(HaveKeyWithValue("GET", 1), "the 404 is confirmed by a list")
	})

	It("retries while the webhook is still listed after a 404", func() {
		obj := createWebhook(ns, app, withCreds)
		slug := waitReady(obj).Status.Slug
		removeDelete := fake.AddFault(bitrisefake.Fault{Method: "DELETE", PathContains: "/apps/" + app + "/", Status: 404, Times: 2})
		defer removeDelete()

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remote(app)).To(BeEmpty(), "not released while "+slug+" was still there")
		Expect(appRequests(app)["DELETE"]).To(Equal(3))
	})

	It("does not trust a 404 when a secret rotation deletes the old webhook", func() {
		createSecret(ns, "hook-secret", map[string]string{"secret": secretValue("rotate-404")})
		obj := createWebhook(ns, app, withCreds, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		old := waitReady(obj).Status.Slug
		removeDelete := fake.AddFault(bitrisefake.Fault{Method: "DELETE", PathContains: "/apps/" + app + "/", Status: 404, Times: 2})
		defer removeDelete()

		updateSecret(ns, "hook-secret", map[string]string{"secret": secretValue("rotate-404")})
		Eventually(func(g Gomega) {
			got := get(obj)
			g.Expect(got.Status.Slug).NotTo(BeEmpty())
			g.Expect(got.Status.Slug).NotTo(Equal(old))
			g.Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		Expect(remoteSlugs(app)).To(Equal([]string{get(obj).Status.Slug}), "the old webhook was still listed: it is deleted before the new one is created")
		Expect(appRequests(app)["DELETE"]).To(Equal(3))
	})

	It("leaves nothing pending after a refused create, so deletion calls nothing", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", Status: 400, Body: `{"message":"url is not allowed"}`})
		defer remove()
		obj := createWebhook(ns, app, withCreds)
		got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidRequest)
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Expect(got.Status.LastWrite).To(BeNil())
		fake.ResetRequests()
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(appRequests(app)).To(BeEmpty())
	})

	It("orphans, when the namespace is being deleted, a webhook the token can no longer see", func() {
		obj := createWebhook(ns, app, withCreds)
		slug := waitReady(obj).Status.Slug
		fake.RevokeAccess(token, app)

		Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(logs.String()).To(ContainSubstring("Left remote webhook " + slug + " on Bitrise"))
	})
})

// requestReconcileDeleting sets the reconcile-requested-at annotation of a
// resource being deleted (whose status may never echo it).
func requestReconcileDeleting(obj *webhooksv1alpha1.OutgoingWebhook) {
	GinkgoHelper()
	patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation] = metav1.Now().Format("2006-01-02T15:04:05.000000")
	})
}
