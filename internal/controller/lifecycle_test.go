package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

var _ = Describe("Creating and updating", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("creates the remote webhook and reports it in status", func() {
		webhookSecret := secretValue("webhook-secret")
		createSecret(ns, "hook-secret", map[string]string{"secret": webhookSecret})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventPipeline, webhooksv1alpha1.EventBuild}
			o.Spec.Headers = map[string]string{"X-Team": "mobile"}
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		Expect(get(obj).Status.ObservedGeneration).To(BeNumerically("<=", 0), "a new object must not read as handled")

		got := waitReady(obj)
		Expect(got.Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Expect(got.Status.Slug).NotTo(BeEmpty())
		Expect(got.Status.CreatedAt).NotTo(BeNil())
		Expect(got.Status.UpdatedAt).NotTo(BeNil())
		Expect(got.Spec.Interval).To(Equal(&metav1.Duration{Duration: 10 * time.Minute}), "interval defaults to 10m")
		Expect(got.Spec.DeletionPolicy).To(Equal(webhooksv1alpha1.DeletionPolicyDelete))

		hooks := remote(app)
		Expect(hooks).To(HaveLen(1))
		Expect(hooks[0].Slug).To(Equal(got.Status.Slug))
		Expect(hooks[0].URL).To(Equal(obj.Spec.URL))
		Expect(hooks[0].Events).To(ConsistOf("build", "pipeline"))
		Expect(hooks[0].Headers).To(Equal(map[string]string{"X-Team": "mobile"}))
		stored, _ := fake.Secret(app, got.Status.Slug)
		Expect(stored).To(Equal(webhookSecret))

		By("keeping only an irreversible digest of the secret")
		Expect(got.Status.SecretDigest).To(HavePrefix("$hmac-sha256$k=" + digests.KeyID() + "$"))
		Expect(digests.Check(got.Status.SecretDigest, webhookSecret)).To(Equal(secretdigest.Match))
		expectNoSecretIn(got)

		Expect(kstatusOf(obj)).To(Equal(status.CurrentStatus))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("Created", 1))
		Expect(appRequests(app)["POST"]).To(Equal(1))
	})

	It("sends the token raw, and the webhook secret as empty when there is none", func() {
		obj := createWebhook(ns, app)
		got := waitReady(obj)
		stored, ok := fake.Secret(app, got.Status.Slug)
		Expect(ok).To(BeTrue())
		Expect(stored).To(BeEmpty())
		Expect(got.Status.SecretDigest).To(BeEmpty())
	})

	It("updates the remote webhook in place when the spec changes", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug

		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Events = []webhooksv1alpha1.Event{webhooksv1alpha1.EventAll}
			o.Spec.URL = "https://other.example.com/hook"
			o.Spec.Headers = map[string]string{"X-Env": "prod"}
		})
		Eventually(func(g Gomega) {
			hooks := remote(app)
			g.Expect(hooks).To(HaveLen(1))
			g.Expect(hooks[0].Slug).To(Equal(slug))
			g.Expect(hooks[0].URL).To(Equal("https://other.example.com/hook"))
			g.Expect(hooks[0].Events).To(Equal([]string{"all"}))
			g.Expect(hooks[0].Headers).To(Equal(map[string]string{"X-Env": "prod"}))
		}).Should(Succeed())
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(slug))
		Expect(appRequests(app)["POST"]).To(Equal(1))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("Updated"))
	})

	It("makes no write call and no status write in steady state", func() {
		obj := createWebhook(ns, app)
		waitReady(obj)
		writesBefore := writes(app)
		listsBefore := appRequests(app)["GET"]

		first := requestReconcile(obj)
		second := requestReconcile(obj)
		Expect(appRequests(app)["GET"]).To(BeNumerically(">=", listsBefore+2), "each requested reconcile checks for drift")
		Expect(writes(app)).To(Equal(writesBefore))

		By("writing nothing after handling a request")
		Consistently(func() string { return get(obj).ResourceVersion }, 2*time.Second).Should(Equal(second.ResourceVersion))
		Expect(first.Status.Conditions).To(Equal(second.Status.Conditions))
		Expect(eventsFor(obj)).To(HaveKeyWithValue("Created", 1))
	})

	It("echoes the reconcile request token to status", func() {
		obj := createWebhook(ns, app)
		waitReady(obj)
		got := requestReconcile(obj)
		Expect(got.Status.LastHandledReconcileAt).To(Equal(got.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation]))
	})

	It("makes no API call while suspended, and resumes after", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })
		Eventually(func() []string { return get(obj).Finalizers }).Should(ContainElement(webhooksv1alpha1.Finalizer))
		Consistently(func() map[string]int { return appRequests(app) }, 2*time.Second).Should(BeEmpty())
		Expect(kstatusOf(obj)).To(Equal(status.InProgressStatus))

		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		waitReady(obj)
		Expect(remote(app)).To(HaveLen(1))
	})

	It("uses the token of credentialsRef instead of the default token", func() {
		token := secretValue("tenant-token")
		tenantApp := unique("tenant-app")
		fake.AddApp(tenantApp, token) // the default token cannot use this app
		createSecret(ns, "bitrise-creds", map[string]string{"api-token": token})
		obj := createWebhook(ns, tenantApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "bitrise-creds", Key: "api-token"}
		})
		waitReady(obj)
		Expect(remote(tenantApp)).To(HaveLen(1))
		expectNoSecretIn(obj)
	})
})

var _ = Describe("Secrets", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("reads sensitive headers from the Secret and updates them when the Secret changes", func() {
		v1, v2 := secretValue("auth-header"), secretValue("auth-header")
		createSecret(ns, "hook-secret", map[string]string{"headers": "Authorization: " + v1 + "\nX-Other: \"7\"\n", "token": "unrelated-data"})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
			o.Spec.Headers = map[string]string{"X-Plain": "yes"}
		})
		slug := waitReady(obj).Status.Slug
		Expect(remote(app)[0].Headers).To(Equal(map[string]string{"Authorization": v1, "X-Other": "7", "X-Plain": "yes"}))

		By("changing only the Secret, as JSON this time")
		updateSecret(ns, "hook-secret", map[string]string{"headers": `{"Authorization": "` + v2 + `"}`})
		Eventually(func() map[string]string { return remote(app)[0].Headers }).
			Should(Equal(map[string]string{"Authorization": v2, "X-Plain": "yes"}))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(get(obj).Generation).To(Equal(int64(1)), "the resource itself was not touched")
		expectNoSecretIn(obj)
	})

	It("rotates the webhook secret by replacing the remote webhook, never leaving two", func() {
		s1, s2 := secretValue("rotate"), secretValue("rotate")
		createSecret(ns, "hook-secret", map[string]string{"secret": s1})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		old := waitReady(obj)

		updateSecret(ns, "hook-secret", map[string]string{"secret": s2})
		var rotated *webhooksv1alpha1.OutgoingWebhook
		Eventually(func(g Gomega) {
			rotated = get(obj)
			g.Expect(rotated.Status.Slug).NotTo(BeEmpty())
			g.Expect(rotated.Status.Slug).NotTo(Equal(old.Status.Slug))
			g.Expect(condition(rotated, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
		Expect(remoteSlugs(app)).To(Equal([]string{rotated.Status.Slug}))
		stored, _ := fake.Secret(app, rotated.Status.Slug)
		Expect(stored).To(Equal(s2))
		Expect(digests.Check(rotated.Status.SecretDigest, s2)).To(Equal(secretdigest.Match))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("SecretRotated"))

		By("never having had two remote webhooks: the old one was deleted before the new one was created")
		var order []string
		for _, r := range fake.Requests() {
			if r.Method == "POST" || r.Method == "DELETE" {
				if r.Path == "/v0.1/apps/"+app+"/outgoing-webhooks" || r.Path == "/v0.1/apps/"+app+"/outgoing-webhooks/"+old.Status.Slug {
					order = append(order, r.Method)
				}
			}
		}
		Expect(order).To(Equal([]string{"POST", "DELETE", "POST"}))
		expectNoSecretIn(obj)
	})

	It("is Stalled while the Secret is missing and recovers once it is created", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "later"}
		})
		got := waitStalled(obj, webhooksv1alpha1.ReasonSecretNotFound)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("later"))
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		Expect(kstatusOf(obj)).To(Equal(status.FailedStatus))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue(webhooksv1alpha1.ReasonSecretNotFound, 1))
		Expect(appRequests(app)).To(BeEmpty())

		createSecret(ns, "later", map[string]string{"secret": secretValue("late")})
		waitReady(obj)
		Expect(remote(app)).To(HaveLen(1))
	})

	DescribeTable("rejects a bad Secret with a clear, value-free condition",
		func(data map[string]string, inline map[string]string, wantInMessage string) {
			for _, v := range data {
				secrets.add(v)
			}
			createSecret(ns, "bad", data)
			obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "bad"}
				o.Spec.Headers = inline
			})
			got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidSecret)
			Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(wantInMessage))
			expectNoSecretIn(got)
			Expect(appRequests(app)).To(BeEmpty())
		},
		Entry("neither key", map[string]string{"token": "tok-abc-unrelated"}, nil, "neither key"),
		Entry("headers not a map", map[string]string{"headers": "- leaked-list-value-1\n- two"}, nil, "not a YAML or JSON map"),
		Entry("headers not YAML", map[string]string{"headers": "{broken: [leaked-yaml-value-2"}, nil, "not a YAML or JSON map"),
		Entry("bad header name", map[string]string{"headers": "bad name: leaked-value-3"}, nil, "not a valid HTTP header name"),
		Entry("header defined twice", map[string]string{"headers": "X-Dup: leaked-value-4"}, map[string]string{"X-Dup": "inline"}, "defined both"),
	)

	It("never reads other keys of the Secret into a request", func() {
		token := secretValue("api-token-in-same-secret")
		createSecret(ns, "mixed", map[string]string{"secret": secretValue("s"), "token": token, "extra": token})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "mixed"}
		})
		got := waitReady(obj)
		w := remote(app)[0]
		Expect(w.Headers).To(BeEmpty())
		stored, _ := fake.Secret(app, got.Status.Slug)
		Expect(stored).NotTo(Equal(token))
	})
})

var _ = Describe("Drift", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("corrects a remote webhook changed outside Kubernetes", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-A": "1"}
		})
		slug := waitReady(obj).Status.Slug
		fake.UpdateOutOfBand(app, slug, func(w *bitrise.Webhook) {
			w.URL = "https://attacker.example.com/"
			w.Events = []string{"all"}
			w.Headers = map[string]string{"X-A": "2", "X-B": "3"}
		})
		requestReconcile(obj)
		w := remote(app)[0]
		Expect(w.Slug).To(Equal(slug))
		Expect(w.URL).To(Equal(obj.Spec.URL))
		Expect(w.Events).To(Equal([]string{"build"}))
		Expect(w.Headers).To(Equal(map[string]string{"X-A": "1"}))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("DriftCorrected", 1))
	})

	It("recreates a remote webhook deleted outside Kubernetes", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		Expect(fake.DeleteOutOfBand(app, slug)).To(BeTrue())
		requestReconcile(obj)
		got := waitReady(obj)
		Expect(got.Status.Slug).NotTo(Equal(slug))
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("Recreated"))
	})

	It("recreates a webhook deleted since the shared observation, when an update finds it gone", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		Expect(fake.DeleteOutOfBand(app, slug)).To(BeTrue())
		// A spec change reuses the app's recent observation, which still
		// lists the deleted webhook: the update meets a 404.
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Events = []webhooksv1alpha1.Event{"all"} })
		got := waitReady(obj)
		Expect(got.Status.Slug).NotTo(Equal(slug))
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}))
		Expect(remote(app)[0].Events).To(Equal([]string{"all"}))
		Expect(appRequests(app)["PUT"]).To(Equal(1))
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(got.Status.Slug))
	})

	It("checks for drift every interval without being asked", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Interval = &metav1.Duration{Duration: 5 * time.Second}
		})
		slug := waitReady(obj).Status.Slug
		fake.UpdateOutOfBand(app, slug, func(w *bitrise.Webhook) { w.Events = []string{"pipeline"} })
		Eventually(func() []string { return remote(app)[0].Events }, 15*time.Second).Should(Equal([]string{"build"}))
	})
})
