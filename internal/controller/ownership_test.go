package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	It("stalls the later of two resources claiming the same app and URL, naming the other in its own namespace", func() {
		first := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared-ns" })
		waitReady(first)
		second := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared-ns" })
		got := waitStalled(second, webhooksv1alpha1.ReasonAlreadyManaged)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Message).To(ContainSubstring("OutgoingWebhook " + ns + "/" + first.Name))
		Expect(remote(app)).To(HaveLen(1))
	})

	It("stalls the later of two resources claiming the same app and URL across namespaces, naming nothing of the other", func() {
		first := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared" })
		waitReady(first)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
		otherNS := newNamespace()
		second := createWebhook(otherNS, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/shared" })
		got := waitStalled(second, webhooksv1alpha1.ReasonAlreadyManaged)
		msg := condition(got, webhooksv1alpha1.ConditionReady).Message
		Expect(msg).To(Equal("app " + app + " already has a webhook for this URL managed by another OutgoingWebhook"))
		Expect(condition(got, webhooksv1alpha1.ConditionStalled).Message).To(Equal(msg))
		Eventually(func() []string { return eventNotes(second) }).Should(ContainElement(ContainSubstring("another OutgoingWebhook")))
		for _, note := range eventNotes(second) {
			Expect(note).NotTo(ContainSubstring(ns))
			Expect(note).NotTo(ContainSubstring(first.Name))
		}
		Expect(logs.String()).NotTo(ContainSubstring(ns+"/"+first.Name), "nor at info level in the log")
		Expect(remote(app)).To(HaveLen(1))

		By("deleting the loser leaves the winner's webhook alone")
		Expect(k8s.Delete(ctx, second)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(second), second) }).Should(Satisfy(isNotFound))
		Expect(remoteSlugs(app)).To(Equal([]string{get(first).Status.Slug}))
	})

	It("deletes the claim loser's own webhook when it is deleted, never the winner's", func() {
		url := "https://hooks.example.com/loser-delete"
		winner := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		winnerSlug := waitReady(winner).Status.Slug
		loser := createWebhook(ns, app)
		loserSlug := waitReady(loser).Status.Slug
		// The loser, holding a webhook of its own, switches to the winner's URL.
		patchWebhook(loser, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		got := waitStalled(loser, webhooksv1alpha1.ReasonAlreadyManaged)
		Expect(got.Status.Slug).To(Equal(loserSlug), "it keeps its own webhook")
		Expect(writesTo(app, winnerSlug)).To(BeZero())

		Expect(k8s.Delete(ctx, loser)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(loser), loser) }).Should(Satisfy(isNotFound))
		Expect(remoteSlugs(app)).To(Equal([]string{winnerSlug}))
		Expect(writesTo(app, winnerSlug)).To(BeZero())
		Expect(get(winner).Status.Slug).To(Equal(winnerSlug))
	})

	It("does not let an older resource switching to another team's established URL take it over", func() {
		url := "https://team-b.example.com/established"
		attacker := createWebhook(ns, app)
		waitReady(attacker)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
		teamNS := newNamespace()
		team := createWebhook(teamNS, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		teamSlug := waitReady(team).Status.Slug

		patchWebhook(attacker, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		waitStalled(attacker, webhooksv1alpha1.ReasonAlreadyManaged)
		By("however often the attacker changes its spec while the team changes its own")
		for _, events := range [][]webhooksv1alpha1.Event{{webhooksv1alpha1.EventAll}, {webhooksv1alpha1.EventPipeline}} {
			patchWebhook(attacker, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Events = events })
			patchWebhook(team, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Events = events })
			waitReady(team)
			waitStalled(attacker, webhooksv1alpha1.ReasonAlreadyManaged)
		}
		Expect(get(team).Status.Slug).To(Equal(teamSlug))
		Expect(remote(app)).To(HaveLen(2), "the attacker's own webhook stays its own")
	})

	It("does not let a suspended resource holding no webhook squat a URL", func() {
		url := "https://hooks.example.com/squatted"
		squatter := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.Suspend = true
		})
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
		user := createWebhook(newNamespace(), app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		slug := waitReady(user).Status.Slug

		By("and once resumed, the squatter waits for the claim")
		patchWebhook(squatter, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		waitStalled(squatter, webhooksv1alpha1.ReasonAlreadyManaged)
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
	})

	It("retries a resource waiting for a URL at once when the winner moves to another URL", func() {
		url := "https://hooks.example.com/moving"
		winner := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = url })
		waitReady(winner)
		waiting := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.Interval = &metav1.Duration{Duration: time.Hour}
		})
		waitStalled(waiting, webhooksv1alpha1.ReasonAlreadyManaged)
		patchWebhook(winner, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/moved" })
		Eventually(func(g Gomega) {
			c := condition(get(waiting), webhooksv1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		}, "10s").Should(Succeed())
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
		Expect(eventsFor(obj)).NotTo(HaveKey(eventPendingRejected), "the operator's own marker verifies")
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
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = url
			o.Spec.Suspend = true
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
			o.Finalizers = []string{webhooksv1alpha1.Finalizer}
		})
		writeMarker(obj, true, map[string]string{
			webhooksv1alpha1.CreatePendingAnnotation:             url,
			webhooksv1alpha1.CreatePendingSecretDigestAnnotation: sent,
		})
		created := fake.Seed(app, bitrise.Webhook{URL: url, Events: []string{"build"}}, s)
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(created.Slug))
		Expect(writes(app)).To(BeZero(), "the secret sent is known: no rotation, no second create")
		Expect(got.Status.SecretDigest).To(Equal(sent))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingSecretDigestAnnotation))
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingSignatureAnnotation))
		Expect(eventsFor(obj)).NotTo(HaveKey(eventPendingRejected))
	})

	It("rejects an unsigned create-pending marker of an earlier version, and adopts the webhook of the spec's URL without a duplicate", func() {
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
		// Unsigned, the marker cannot tell the operator's create from a
		// user's hand: the webhook is adopted like one made by hand, and
		// its secret, unknown, is applied by replacing it.
		Expect(got.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey(eventPendingRejected))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("Adopted"))
		Expect(got.Status.Slug).NotTo(Equal(created.Slug), "replaced to apply its secret")
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}), "no duplicate")
		Expect(digests.Check(got.Status.SecretDigest, s)).To(Equal(secretdigest.Match))
		stored, _ := fake.Secret(app, got.Status.Slug)
		Expect(stored).To(Equal(s))
	})

	It("finds what a pending create made even when the URL changed since", func() {
		sent := "https://hooks.example.com/before"
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = sent
			o.Spec.Suspend = true
		})
		Eventually(func() []string { return get(obj).Finalizers }).Should(ContainElement(webhooksv1alpha1.Finalizer))
		// The operator's marker, then a change of the spec: the signature
		// does not cover the generation.
		writeMarker(obj, true, map[string]string{webhooksv1alpha1.CreatePendingAnnotation: sent})
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/after" })
		created := fake.Seed(app, bitrise.Webhook{URL: sent, Events: []string{"build"}}, "")
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(created.Slug))
		Expect(remote(app)).To(HaveLen(1))
		Expect(remote(app)[0].URL).To(Equal("https://hooks.example.com/after"))
		Expect(appRequests(app)["POST"]).To(BeZero())
		Expect(eventsFor(obj)).NotTo(HaveKey(eventPendingRejected))
	})
})
