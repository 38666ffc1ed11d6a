package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func waitGone(obj client.Object) {
	GinkgoHelper()
	Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj) }).Should(Satisfy(isNotFound))
}

var _ = Describe("Deletion", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("deletes the remote webhook, then releases the finalizer", func() {
		obj := createWebhook(ns, app)
		waitReady(obj)
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remote(app)).To(BeEmpty())
		Expect(eventsFor(obj)).To(HaveKeyWithValue("Deleted", 1))
	})

	It("counts a remote webhook already gone (404) as deleted", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		fake.DeleteOutOfBand(app, slug)
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
	})

	It("leaves the remote webhook with deletionPolicy Orphan", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.DeletionPolicy = webhooksv1alpha1.DeletionPolicyOrphan
		})
		slug := waitReady(obj).Status.Slug
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(appRequests(app)["DELETE"]).To(BeZero())
	})

	It("says so when the credentials are gone, and finishes once they are back", func() {
		token := secretValue("creds")
		credApp := unique("cred-app")
		fake.AddApp(credApp, token)
		createSecret(ns, "creds", map[string]string{"token": token})
		obj := createWebhook(ns, credApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		waitReady(obj)
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}})).To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())

		waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
		// The Secret's deletion may be handled by a normal pass first
		// ("Secret creds ... not found"): wait for the deletion's message.
		Eventually(func(g Gomega) {
			ready := condition(get(obj), webhooksv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(webhooksv1alpha1.ReasonCredentialsNotFound))
			g.Expect(ready.Message).To(And(
				ContainSubstring("Cannot delete the remote webhook"), ContainSubstring("creds"), ContainSubstring("Orphan")))
		}).Should(Succeed())
		Expect(remote(credApp)).To(HaveLen(1))

		createSecret(ns, "creds", map[string]string{"token": token})
		waitGone(obj)
		Expect(remote(credApp)).To(BeEmpty())
	})

	It("does not wedge a terminating namespace whose credentials are gone", func() {
		token := secretValue("ns-creds")
		credApp := unique("ns-app")
		fake.AddApp(credApp, token)
		createSecret(ns, "creds", map[string]string{"token": token})
		obj := createWebhook(ns, credApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		slug := waitReady(obj).Status.Slug

		// What namespace deletion does (envtest runs no namespace controller).
		Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}})).To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remoteSlugs(credApp)).To(Equal([]string{slug}), "the remote webhook is orphaned, and said so")
		// A terminating namespace refuses new Events, so the log says it too.
		Expect(logs.String()).To(ContainSubstring("Left remote webhook " + slug + " on Bitrise"))
	})

	It("deletes what a create with a lost response made", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", LoseResponse: true})
		obj := createWebhook(ns, app)
		Eventually(func() []string { return get(obj).Finalizers }).Should(ContainElement(webhooksv1alpha1.Finalizer))
		Eventually(func() int { return len(remote(app)) }).Should(Equal(1))
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		remove()
		Expect(remote(app)).To(BeEmpty())
	})
})

var _ = Describe("Errors", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("stalls on a rejected token without a hot loop, and recovers when the Secret is fixed", func() {
		good := secretValue("good-token")
		bad := secretValue("bad-token")
		credApp := unique("auth-app")
		fake.AddApp(credApp, good)
		createSecret(ns, "creds", map[string]string{"token": bad})
		obj := createWebhook(ns, credApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		got := waitStalled(obj, webhooksv1alpha1.ReasonAuthenticationFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("401"))
		Expect(kstatusOf(obj)).To(Equal(status.FailedStatus))
		calls := appRequests(credApp)["GET"]
		Consistently(func() int { return appRequests(credApp)["GET"] }, 3*time.Second).Should(Equal(calls), "no hot loop")
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue(webhooksv1alpha1.ReasonAuthenticationFailed, 1))

		updateSecret(ns, "creds", map[string]string{"token": good})
		waitReady(obj)
		expectNoSecretIn(obj)
	})

	It("stalls on a token without access to the app (403)", func() {
		other := secretValue("other-token")
		fake.AddToken(other) // known to Bitrise, but not on this app
		createSecret(ns, "creds", map[string]string{"token": other})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		got := waitStalled(obj, webhooksv1alpha1.ReasonAuthenticationFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("403"))
	})

	It("stalls on an unknown app (404)", func() {
		obj := createWebhook(ns, unique("no-such-app"))
		got := waitStalled(obj, webhooksv1alpha1.ReasonAppNotFound)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(obj.Spec.AppSlug))
	})

	It("stalls on a missing credentials Secret or key", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds", Key: "pat"}
		})
		waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
		createSecret(ns, "creds", map[string]string{"token": "wrong-key"})
		Eventually(func() string {
			return condition(get(obj), webhooksv1alpha1.ConditionReady).Message
		}).Should(ContainSubstring(`no key "pat"`))
	})

	It("stalls on a 400 from Bitrise with its message", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", Status: 400, Body: `{"message":"url is not allowed"}`})
		defer remove()
		obj := createWebhook(ns, app)
		got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidRequest)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("url is not allowed"))
	})

	It("retries 5xx with backoff as Reconciling, then recovers", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/", Status: 503})
		obj := createWebhook(ns, app)
		Eventually(func(g Gomega) {
			c := condition(get(obj), webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
		}).Should(Succeed())
		Expect(condition(get(obj), webhooksv1alpha1.ConditionStalled)).To(BeNil())
		Expect(kstatusOf(obj)).To(Equal(status.InProgressStatus))

		time.Sleep(4 * time.Second)
		Expect(appRequests(app)["GET"]).To(BeNumerically("<=", 15), "exponential backoff bounds the retries")
		remove()
		waitReady(obj)
	})

	It("honours Retry-After on 429", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/", Status: 429, RetryAfter: "3", Times: 1})
		defer remove()
		start := time.Now()
		obj := createWebhook(ns, app)
		waitReady(obj)
		Expect(time.Since(start)).To(BeNumerically(">=", 3*time.Second))
		Expect(appRequests(app)["GET"]).To(Equal(2))
	})
})

var _ = Describe("Admission", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("rejects invalid resources with a clear message",
		func(mutate func(*webhooksv1alpha1.OutgoingWebhook), want string) {
			obj := newWebhook(ns, "some-app", mutate)
			err := k8s.Create(ctx, obj)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), err.Error())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("http URL", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "http://example.com/x" }, "absolute https:// URL"),
		Entry("relative URL", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "hooks.example.com/x" }, "absolute https:// URL"),
		Entry("no events", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Events = nil }, "events"),
		Entry("unknown event", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Events = []webhooksv1alpha1.Event{"deploy"}
		}, "Unsupported value"),
		Entry("all with others", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Events = []webhooksv1alpha1.Event{"all", "build"}
		}, "'all' cannot be combined"),
		Entry("duplicate events", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Events = []webhooksv1alpha1.Event{"build", "build"}
		}, "Duplicate value"),
		Entry("bad header name", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"Bad Header": "x"}
		}, "valid HTTP header name"),
		Entry("short interval", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Interval = &metav1.Duration{Duration: time.Second}
		}, "at least 5s"),
		Entry("bad deletion policy", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.DeletionPolicy = "Keep" }, "Unsupported value"),
		Entry("empty app", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.AppSlug = "" }, "appSlug"),
	)

	It("keeps appSlug immutable", func() {
		obj := createWebhook(ns, "app-a", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })
		current := get(obj)
		before := current.DeepCopy()
		current.Spec.AppSlug = "app-b"
		err := k8s.Patch(ctx, current, client.MergeFrom(before))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("appSlug is immutable"))
	})
})
