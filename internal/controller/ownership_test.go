package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

var _ = Describe("Ownership of remote webhooks", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("adopts an unowned remote webhook with the same URL instead of duplicating it", func() {
		url := "https://hooks.example.com/adopt-me"
		seeded := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"all"}}, "")
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(seeded.Slug))
		Expect(remoteSlugs(app)).To(Equal([]string{seeded.Slug}))
		Expect(remote(app)[0].Events).To(Equal([]string{"build"}), "the adopted webhook is brought to the spec")
		Expect(appRequests(app)["POST"]).To(BeZero())
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("Adopted"))
	})

	It("replaces an adopted webhook whose secret it cannot know", func() {
		url := "https://hooks.example.com/adopt-with-secret"
		seeded := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"build"}}, "unknown-old")
		s := secretValue("adopted")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		got := waitReady(obj)
		Expect(got.Status.Slug).NotTo(Equal(seeded.Slug))
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}))
		stored, _ := fake.Secret(app, got.Status.Slug)
		Expect(stored).To(Equal(s))
	})

	It("never adopts, modifies or deletes a webhook registered by an addon", func() {
		url := "https://hooks.example.com/addon"
		addon := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"all"}, RegisteredByAddon: true}, "addon-secret")
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		got := waitReady(obj)
		Expect(got.Status.Slug).NotTo(Equal(addon.Slug))
		Expect(remote(app)).To(HaveLen(2))

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		Eventually(func() []string { return remoteSlugs(app) }).Should(Equal([]string{addon.Slug}))
		Expect(remote(app)[0].Events).To(Equal([]string{"all"}))
	})

	It("stalls the later of two resources claiming the same app and URL, naming the other", func() {
		first := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared" })
		waitReady(first)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
		otherNS := newNamespace()
		second := createWebhook(otherNS, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared" })
		got := waitStalled(second, webhooksv1alpha1.ReasonAlreadyManaged)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring(ns + "/" + first.Name))
		Expect(remote(app)).To(HaveLen(1))

		By("deleting the loser leaves the winner's webhook alone")
		Expect(k8s.Delete(ctx, second)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(second), second) }).Should(Satisfy(isNotFound))
		Expect(remoteSlugs(app)).To(Equal([]string{get(first).Status.Slug}))
	})

	It("does not adopt a webhook another resource owns", func() {
		first := createWebhook(ns, app)
		firstSlug := waitReady(first).Status.Slug
		// Another resource of the app with a different URL must not take it.
		second := createWebhook(ns, app)
		Expect(waitReady(second).Status.Slug).NotTo(Equal(firstSlug))
		Expect(remote(app)).To(HaveLen(2))
	})
})

var _ = Describe("Creates whose outcome is unknown", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("never duplicates a webhook whose create response was lost", func() {
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", LoseResponse: true, Times: 1})
		defer remove()
		s := secretValue("lost")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		got := waitReady(obj)
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}))
		Expect(appRequests(app)["POST"]).To(Equal(1), "the lost create is resolved by listing, not by creating again")
		Expect(digests.Check(got.Status.SecretDigest, s)).To(Equal(secretdigest.Match), "the secret sent is known: no rotation")
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
	})

	It("resolves a create-pending marker and digest left by a crash between the create and the status write", func() {
		s := secretValue("crash")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		url := "https://hooks.example.com/crashed"
		// What a manager that died right after its POST leaves behind: the
		// marker and the digest of the secret it sent (written with the
		// finalizer, in one patch), and the remote webhook.
		sent, err := digests.Digest(s)
		Expect(err).NotTo(HaveOccurred())
		created := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"build"}}, s)
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
			o.Finalizers = []string{webhooksv1alpha1.Finalizer}
			o.Annotations = map[string]string{
				webhooksv1alpha1.CreatePendingAnnotation:             url,
				webhooksv1alpha1.CreatePendingSecretDigestAnnotation: sent,
			}
		})
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(created.Slug))
		Expect(writes(app)).To(BeZero(), "the secret sent is known: no rotation, no second create")
		Expect(got.Status.SecretDigest).To(Equal(sent))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingSecretDigestAnnotation))
	})

	It("resolves a create-pending marker left by an earlier version (Argon2id digest in status)", func() {
		s := secretValue("crash")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		url := "https://hooks.example.com/crashed"
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.Suspend = true
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
			o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: url}
		})
		// What a manager of an earlier version that died right after its
		// POST leaves behind: the marker, the Argon2id digest of the secret
		// it sent in status, and the remote webhook.
		digest, err := secretdigest.NewArgon2id(s)
		Expect(err).NotTo(HaveOccurred())
		current := get(obj)
		current.Status.SecretDigest = digest
		Expect(k8s.Status().Update(ctx, current)).To(Succeed())
		created := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"build"}}, s)

		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(created.Slug))
		Expect(remoteSlugs(app)).To(Equal([]string{created.Slug}))
		Expect(writes(app)).To(BeZero())
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Eventually(func() string { return get(obj).Status.SecretDigest }).Should(HavePrefix("$hmac-sha256$"), "re-stamped with the digest key")
		Expect(digests.Check(get(obj).Status.SecretDigest, s)).To(Equal(secretdigest.Match))
	})

	It("finds what a pending create made even when the URL changed since", func() {
		sent := "https://hooks.example.com/before"
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = "https://hooks.example.com/after"
			o.Spec.Suspend = true
			o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: sent}
		})
		created := fake.Seed(app, bitrise.Webhook{URL: sent, Events: []string{"build"}}, "")
		Eventually(func() []string { return get(obj).Finalizers }).Should(ContainElement(webhooksv1alpha1.Finalizer))
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(created.Slug))
		Expect(remote(app)).To(HaveLen(1))
		Expect(remote(app)[0].URL).To(Equal("https://hooks.example.com/after"))
		Expect(appRequests(app)["POST"]).To(BeZero())
	})
})
