package controller

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

var _ = Describe("Finalizer and namespace life cycle", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("restores a finalizer that a replace removed, within seconds", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug

		By("writing the object as kubectl replace does: the same spec, no finalizer")
		generation := get(obj).Generation
		// A raw patch: a typed round trip would rewrite spec.interval ("10m"
		// as "10m0s") and so bump the generation, which replace does not.
		Expect(k8s.Patch(ctx, get(obj), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))).To(Succeed())
		Expect(get(obj).Generation).To(Equal(generation), "the generation does not change")
		Eventually(func() []string { return get(obj).Finalizers }, 5*time.Second).Should(ContainElement(webhooksv1alpha1.Finalizer))

		By("so that a deletion right after still deletes the remote webhook")
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remoteSlugs(app)).NotTo(ContainElement(slug))
	})

	It("releases a suspended resource whose namespace is being deleted, leaving the webhook", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })

		// What namespace deletion does (envtest runs no namespace controller).
		Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitGone(obj)
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		Expect(appRequests(app)["DELETE"]).To(BeZero())
		Expect(logs.String()).To(ContainSubstring("Left remote webhook " + slug + " on Bitrise: its namespace is being deleted and spec.suspend is true"))
	})

	It("keeps a suspended resource in a live namespace waiting", func() {
		obj := createWebhook(ns, app)
		waitReady(obj)
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true })
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		waitStalled(obj, webhooksv1alpha1.ReasonSuspended)
		Consistently(func() []string { return get(obj).Finalizers }, 2*time.Second).Should(ContainElement(webhooksv1alpha1.Finalizer))
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = false })
		waitGone(obj)
		Expect(remote(app)).To(BeEmpty())
	})
})

var _ = DescribeTable("finalizerMissing passes",
	func(deleting, hasFinalizer, want bool) {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		if hasFinalizer {
			obj.Finalizers = []string{webhooksv1alpha1.Finalizer}
		}
		if deleting {
			now := metav1.Now()
			obj.DeletionTimestamp = &now
		}
		old := &webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{webhooksv1alpha1.Finalizer}}}
		Expect(finalizerMissing{}.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: obj})).To(Equal(want))
	},
	Entry("a live object without the finalizer", false, false, true),
	Entry("a live object with it", false, true, false),
	Entry("an object being deleted without it", true, false, false),
)
