package controller

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// remoteSecret is the secret the fake stored for a webhook, "" if none.
func remoteSecret(app, slug string) string {
	s, _ := fake.Secret(app, slug)
	return s
}

// Inputs as users really write them: Secrets made with --from-file, YAML
// header values left unquoted, header names in any case.
var _ = Describe("Secret values", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	withCreds := func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
	}
	withSecretRef := func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
	}

	DescribeTable("trims the whitespace a file leaves around a credentialsRef token",
		func(format string) {
			token := secretValue("creds-token")
			credApp := unique("trim-app")
			fake.AddApp(credApp, token)
			createSecret(ns, "creds", map[string]string{"token": strings.Replace(format, "TOKEN", token, 1)})
			obj := createWebhook(ns, credApp, withCreds)
			waitReady(obj)
			Expect(remote(credApp)).To(HaveLen(1))
		},
		Entry("a trailing LF (kubectl create secret --from-file)", "TOKEN\n"),
		Entry("spaces and CRLF", " TOKEN\r\n"),
	)

	It("stalls, naming the Secret and key, on a token with a line break inside, without a request", func() {
		token := secretValue("split-token")
		credApp := unique("split-app")
		fake.AddApp(credApp, token)
		createSecret(ns, "creds", map[string]string{"pat": token[:5] + "\n" + token[5:] + "\n"})
		obj := createWebhook(ns, credApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds", Key: "pat"}
		})
		got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring(`key "pat" of Secret creds`), ContainSubstring("line break")))
		Consistently(func() map[string]int { return appRequests(credApp) }, 2*time.Second).Should(BeEmpty(), "no request, no retry loop")
		expectNoSecretIn(obj)

		updateSecret(ns, "creds", map[string]string{"pat": token + "\n"})
		waitReady(obj)
	})

	It("strips one trailing line ending from the webhook secret, and adding or removing it does not rotate", func() {
		value := secretValue("s3cr3t")
		createSecret(ns, "hook-secret", map[string]string{"secret": value + "\n"})
		obj := createWebhook(ns, app, withSecretRef)
		slug := waitReady(obj).Status.Slug
		Expect(remoteSecret(app, slug)).To(Equal(value), "Bitrise receives the secret without the newline")

		before := writes(app)
		for _, variant := range []string{value, value + "\r\n", value + "\n"} {
			updateSecret(ns, "hook-secret", map[string]string{"secret": variant})
			got := requestReconcile(obj)
			Expect(got.Status.Slug).To(Equal(slug), "no rotation for %q", strings.TrimPrefix(variant, value))
			Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		}
		Expect(writes(app)).To(Equal(before))
		Expect(eventsFor(obj)).NotTo(HaveKey("SecretRotated"))
	})

	It("fails closed on an empty webhook secret: Stalled, the remote webhook untouched", func() {
		value := secretValue("signing")
		createSecret(ns, "hook-secret", map[string]string{"secret": value})
		obj := createWebhook(ns, app, withSecretRef)
		slug := waitReady(obj).Status.Slug
		before := writes(app)

		updateSecret(ns, "hook-secret", map[string]string{"secret": ""})
		got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidSecret)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(`key "secret" of Secret hook-secret is empty`))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(remoteSecret(app, slug)).To(Equal(value), "deliveries stay signed")
		Expect(writes(app)).To(Equal(before))
	})

	It("fails closed on an empty header value from the Secret", func() {
		value := secretValue("auth")
		createSecret(ns, "hook-secret", map[string]string{"headers": "Authorization: " + value})
		obj := createWebhook(ns, app, withSecretRef)
		slug := waitReady(obj).Status.Slug
		before := writes(app)

		updateSecret(ns, "hook-secret", map[string]string{"headers": "Authorization: ''"})
		got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidSecret)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(`header "Authorization": the value is empty`))
		Expect(remote(app)[0].Headers).To(HaveKeyWithValue("Authorization", value))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(writes(app)).To(Equal(before))
	})

	It("sends every YAML scalar of the headers key as its literal text", func() {
		createSecret(ns, "hook-secret", map[string]string{"headers": literalScalars})
		obj := createWebhook(ns, app, withSecretRef)
		waitReady(obj)
		Expect(remote(app)[0].Headers).To(Equal(literalScalarValues))
	})

	It("rejects a header defined inline and in the Secret in another letter case, naming it", func() {
		createSecret(ns, "hook-secret", map[string]string{"headers": "x-team: " + secretValue("team")})
		obj := createWebhook(ns, app, withSecretRef, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-Team": "a"}
		})
		got := waitStalled(obj, webhooksv1alpha1.ReasonInvalidSecret)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(And(
			ContainSubstring(`header "x-team"`), ContainSubstring(`"X-Team"`), ContainSubstring("case-insensitive")))
		Expect(remote(app)).To(BeEmpty())
		expectNoSecretIn(obj)
	})

	It("compares header names case-insensitively when checking drift", func() {
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-Team": "mobile"}
		})
		slug := waitReady(obj).Status.Slug
		// An API that stores header names lower-cased.
		fake.UpdateOutOfBand(app, slug, func(w *bitrise.Webhook) { w.Headers = map[string]string{"x-team": "mobile"} })
		before := writes(app)
		requestReconcile(obj)
		Expect(writes(app)).To(Equal(before), "no PUT for a change of letter case")

		fake.UpdateOutOfBand(app, slug, func(w *bitrise.Webhook) { w.Headers = map[string]string{"x-team": "web"} })
		requestReconcile(obj)
		Expect(appRequests(app)["PUT"]).To(Equal(1), "a changed value is still drift")
		Expect(remote(app)[0].Headers).To(Equal(map[string]string{"X-Team": "mobile"}))
	})
})

var _ = Describe("HTTP hygiene", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("does not follow a redirect on DELETE: the deletion waits as APIUnavailable", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		remove := fake.AddFault(bitrisefake.Fault{Method: "DELETE", PathContains: "/apps/" + app + "/", Status: 301, Location: "/v0.1/apps/" + app + "/outgoing-webhooks"})
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		Eventually(func(g Gomega) {
			c := condition(get(obj), webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
			g.Expect(c.Message).To(ContainSubstring("301"))
		}).Should(Succeed())
		Expect(remoteSlugs(app)).To(Equal([]string{slug}), "a redirected DELETE is not a deletion")
		Expect(get(obj).Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
		remove()
		waitGone(obj)
		Expect(remote(app)).To(BeEmpty())
	})

	It("caps a huge Retry-After at bitrise.MaxPause", func() {
		token := secretValue("paused-token")
		credApp := unique("paused-app")
		fake.AddApp(credApp, token)
		createSecret(ns, "creds", map[string]string{"token": token})
		remove := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + credApp + "/", Status: 429, RetryAfter: "86400"})
		defer remove()
		obj := createWebhook(ns, credApp, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		Eventually(func(g Gomega) {
			c := condition(get(obj), webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
		}).Should(Succeed())
		Eventually(logs.String).Should(MatchRegexp(`Bitrise API asked to retry later.*"` + obj.Name + `".*"retryAfter": "5m0s"`))
		Expect(logs.String()).NotTo(MatchRegexp(`Bitrise API asked to retry later.*"` + obj.Name + `".*"retryAfter": "24h0m0s"`))
	})

	It("emits one Warning event, and writes the status once, while an error that quotes a new request id is retried", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/", Status: 503, RequestID: true})
		obj := createWebhook(ns, app)
		var rv string
		Eventually(func(g Gomega) {
			got := get(obj)
			c := condition(got, webhooksv1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonAPIUnavailable))
			rv = got.ResourceVersion
		}).Should(Succeed())
		retries := appRequests(app)["GET"]
		time.Sleep(3 * time.Second)
		Expect(appRequests(app)["GET"]).To(BeNumerically(">=", retries+2), "retried meanwhile, each time with a new request id")
		Expect(get(obj).ResourceVersion).To(Equal(rv), "no status write per retry")
		Expect(eventsFor(obj)).To(HaveKeyWithValue(webhooksv1alpha1.ReasonAPIUnavailable, 1))
		remove()
		waitReady(obj)
	})
})

var _ = Describe("Admission of headers and interval", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("rejects with a clear message",
		func(mutate func(*webhooksv1alpha1.OutgoingWebhook), want string) {
			err := k8s.Create(ctx, newWebhook(ns, "some-app", mutate))
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), err.Error())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("interval 1000h", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Interval = &metav1.Duration{Duration: 1000 * time.Hour}
		}, "at most 24h"),
		Entry("LF in a header value", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-A": "a\nX-Injected: b"}
		}, "line break"),
		Entry("CR in a header value", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-A": "a\rb"}
		}, "line break"),
		Entry("a header value over 8 KiB", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-A": strings.Repeat("é", 4097)} // 8194 bytes, 4097 characters
		}, "at most 8 KiB"),
		Entry("a header name twice in another case", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Headers = map[string]string{"X-Team": "a", "x-team": "b"}
		}, "case-insensitive"),
	)

	It("accepts 24h and a header value of exactly 8 KiB", func() {
		obj := newWebhook(ns, "some-app", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.Suspend = true
			o.Spec.Interval = &metav1.Duration{Duration: 24 * time.Hour}
			o.Spec.Headers = map[string]string{"X-A": strings.Repeat("h", 8192), "X-B": "b"}
		})
		Expect(k8s.Create(ctx, obj)).To(Succeed())
	})
})
