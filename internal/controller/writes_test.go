package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
)

// watchWrites records every version of the OutgoingWebhooks of a namespace
// that the API server stores after their creation: each is one write.
func watchWrites(ns string) (versions func() []*webhooksv1alpha1.OutgoingWebhook, stop func()) {
	GinkgoHelper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &webhooksv1alpha1.OutgoingWebhookList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	seen := make(chan *webhooksv1alpha1.OutgoingWebhook, 100)
	go func() {
		defer close(seen)
		for e := range w.ResultChan() {
			if o, ok := e.Object.(*webhooksv1alpha1.OutgoingWebhook); ok && e.Type == watch.Modified {
				seen <- o
			}
		}
	}()
	var got []*webhooksv1alpha1.OutgoingWebhook
	return func() []*webhooksv1alpha1.OutgoingWebhook {
		for {
			select {
			case o, ok := <-seen:
				if !ok {
					return got
				}
				got = append(got, o)
			default:
				return got
			}
		}
	}, w.Stop
}

var _ = Describe("Writes to the API server", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("creates a webhook with a secret in three writes: finalizer and marker together, then the outcome", func() {
		s := secretValue("writes")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		versions, stop := watchWrites(ns)
		defer stop()
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		waitReady(obj)
		// Let any write that would follow the Ready one arrive.
		Consistently(func() int { return len(versions()) }, 2*time.Second, 200*time.Millisecond).Should(BeNumerically("<=", 3))
		got := versions()
		Expect(got).To(HaveLen(3), "writes after the create: %d", len(got))

		first := got[0]
		Expect(first.Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer), "the finalizer is in the first write")
		Expect(first.Annotations).To(HaveKeyWithValue(webhooksv1alpha1.CreatePendingAnnotation, obj.Spec.URL), "with the create-pending marker")
		Expect(first.Annotations).To(HaveKey(webhooksv1alpha1.CreatePendingSecretDigestAnnotation), "and the digest of the secret it sends")
		Expect(digests.Check(first.Annotations[webhooksv1alpha1.CreatePendingSecretDigestAnnotation], s)).To(Equal(secretdigest.Match))
		Expect(pendingStateOf(digests, first)).To(Equal(pendingVerified), "and their signature, in the same write")
		Expect(first.Status.Slug).To(BeEmpty())

		last := got[2]
		Expect(last.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingAnnotation))
		Expect(last.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingSecretDigestAnnotation))
		Expect(last.Annotations).NotTo(HaveKey(webhooksv1alpha1.CreatePendingSignatureAnnotation))
		Expect(last.Status.Slug).NotTo(BeEmpty())
		Expect(digests.Check(last.Status.SecretDigest, s)).To(Equal(secretdigest.Match))
		Expect(condition(last, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
	})

	It("re-stamps an Argon2id digest of an earlier version once, without rotating the webhook", func() {
		s := secretValue("upgrade")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		before := waitReady(obj)
		legacy, err := secretdigest.NewArgon2id(s)
		Expect(err).NotTo(HaveOccurred())
		current := get(obj)
		current.Status.SecretDigest = legacy
		Expect(k8s.Status().Update(ctx, current)).To(Succeed())
		writesBefore := writes(app)

		got := requestReconcile(obj)
		Expect(got.Status.Slug).To(Equal(before.Status.Slug), "not rotated")
		Expect(writes(app)).To(Equal(writesBefore))
		Expect(got.Status.SecretDigest).To(HavePrefix("$hmac-sha256$k=" + digests.KeyID() + "$"))
		Expect(digests.Check(got.Status.SecretDigest, s)).To(Equal(secretdigest.Match))
		Expect(eventsFor(obj)).NotTo(HaveKey("SecretDigestRestamped"), "an upgrade is no news")
	})

	It("re-stamps a digest made with a lost key once, with a Warning event, without rotating the webhook", func() {
		s := secretValue("lostkey")
		createSecret(ns, "hook-secret", map[string]string{"secret": s})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hook-secret"}
		})
		before := waitReady(obj)
		oldKey, err := secretdigest.NewKey()
		Expect(err).NotTo(HaveOccurred())
		lost, err := secretdigest.NewDigester(oldKey)
		Expect(err).NotTo(HaveOccurred())
		stale, err := lost.Digest(s)
		Expect(err).NotTo(HaveOccurred())
		current := get(obj)
		current.Status.SecretDigest = stale
		Expect(k8s.Status().Update(ctx, current)).To(Succeed())
		writesBefore := writes(app)

		got := requestReconcile(obj)
		Expect(got.Status.Slug).To(Equal(before.Status.Slug), "not rotated")
		Expect(writes(app)).To(Equal(writesBefore))
		Expect(digests.Check(got.Status.SecretDigest, s)).To(Equal(secretdigest.Match))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("SecretDigestRestamped", 1))
		Expect(logs.String()).To(ContainSubstring("made with a digest key the operator does not have"))

		By("checking the secret normally afterwards: a change rotates")
		s2 := secretValue("lostkey-2")
		updateSecret(ns, "hook-secret", map[string]string{"secret": s2})
		Eventually(func() string { return get(obj).Status.Slug }).ShouldNot(Equal(before.Status.Slug))
		Expect(eventsFor(obj)).To(HaveKeyWithValue("SecretDigestRestamped", 1), "re-stamped once only")
	})
})
