package controller

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// expectSteadyState forces two drift checks (each a fresh list) and expects
// no write and no event saying the webhook was changed.
func expectSteadyState(obj *webhooksv1alpha1.OutgoingWebhook, app string) {
	GinkgoHelper()
	expectNoWrites(obj, app)
	Expect(eventsFor(obj)).NotTo(HaveKey(eventDriftCorrected))
	Expect(eventsFor(obj)).NotTo(HaveKey(eventUpdated))
}

// expectNoWrites forces two drift checks and expects no write.
func expectNoWrites(obj *webhooksv1alpha1.OutgoingWebhook, app string) {
	GinkgoHelper()
	before := writes(app)
	for range 2 {
		got := requestReconcile(obj)
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(BeEquivalentTo("True"))
	}
	Expect(writes(app)).To(Equal(before), "steady state writes nothing")
}

var _ = Describe("APIs that store values in another form", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	// withSecretHeader gives the resource a header from its Secret.
	withSecretHeader := func(ns string) func(*webhooksv1alpha1.OutgoingWebhook) {
		name := unique("headers")
		createSecret(ns, name, map[string]string{"headers": "Authorization: Bearer " + secretValue("receiver-token") + "\n"})
		return func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: name}
			o.Spec.Headers = map[string]string{"X-Team": "mobile"}
		}
	}

	DescribeTable("stay in sync with zero writes after the create",
		func(norm bitrisefake.Normalization, url string) {
			fake.SetNormalization(app, norm)
			obj := createWebhook(ns, app, withSecretHeader(ns), func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.URL = strings.Replace(url, "{p}", unique("p"), 1)
			})
			waitReady(obj)
			Expect(appRequests(app)["POST"]).To(Equal(1))
			Expect(writes(app)).To(Equal(1))
			expectSteadyState(obj, app)
			expectNoSecretIn(obj)
		},
		Entry("a lower-cased host", bitrisefake.Normalization{LowerCaseHost: true}, "https://Hooks.Example.COM/{p}"),
		Entry("the default port dropped", bitrisefake.Normalization{DropDefaultPort: true}, "https://hooks.example.com:443/{p}"),
		Entry("a trailing slash stripped", bitrisefake.Normalization{StripTrailingSlash: true}, "https://hooks.example.com/{p}/"),
		Entry("a trailing slash added", bitrisefake.Normalization{AddTrailingSlash: true}, "https://hooks.example.com/{p}"),
		Entry("Secret headers masked", bitrisefake.Normalization{MaskHeaders: []string{"authorization"}}, "https://hooks.example.com/{p}"),
		Entry("Secret headers masked in lists only", bitrisefake.Normalization{MaskHeaders: []string{"Authorization"}, OnlyInLists: true}, "https://hooks.example.com/{p}"),
		Entry("Secret headers omitted", bitrisefake.Normalization{OmitHeaders: []string{"Authorization"}}, "https://hooks.example.com/{p}"),
		Entry("Secret headers omitted in lists only", bitrisefake.Normalization{OmitHeaders: []string{"Authorization"}, OnlyInLists: true}, "https://hooks.example.com/{p}"),
		Entry("all of them in lists, URL forms everywhere", bitrisefake.Normalization{
			LowerCaseHost: true, DropDefaultPort: true, StripTrailingSlash: true, MaskHeaders: []string{"Authorization"}, OnlyInLists: true,
		}, "https://HOOKS.example.com:443/{p}/"),
	)

	It("still corrects real drift, and sends a changed Secret header the API masks", func() {
		fake.SetNormalization(app, bitrisefake.Normalization{LowerCaseHost: true, MaskHeaders: []string{"Authorization"}})
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = "https://Hooks.Example.com/" + unique("drift")
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "hdr"}
		})
		createSecret(ns, "hdr", map[string]string{"headers": "Authorization: " + secretValue("first") + "\n"})
		slug := waitReady(obj).Status.Slug

		fake.UpdateOutOfBand(app, slug, func(w *bitrise.Webhook) { w.Events = []string{"all"} })
		requestReconcile(obj)
		Expect(remote(app)[0].Events).To(Equal([]string{"build"}))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue(eventDriftCorrected, 1))

		second := secretValue("second")
		updateSecret(ns, "hdr", map[string]string{"headers": "Authorization: " + second + "\n"})
		Eventually(func() string { return remote(app)[0].Headers["Authorization"] }).Should(Equal(second))
		Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		// Let the status of that write reach the manager's cache first.
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue(eventDriftCorrected, 2))
		time.Sleep(time.Second)
		expectNoWrites(obj, app)
	})

	It("yields exactly one webhook after a lost create, with no write after it", func() {
		fake.SetNormalization(app, bitrisefake.Normalization{
			LowerCaseHost: true, DropDefaultPort: true, StripTrailingSlash: true, MaskHeaders: []string{"Authorization"},
		})
		remove := fake.AddFault(bitrisefake.Fault{Method: "POST", PathContains: "/apps/" + app + "/", LoseResponse: true, Times: 1})
		defer remove()
		obj := createWebhook(ns, app, withSecretHeader(ns), func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = "https://Hooks.Example.com:443/" + unique("lost") + "/"
		})
		got := waitReady(obj)
		Expect(remoteSlugs(app)).To(Equal([]string{got.Status.Slug}))
		Expect(appRequests(app)["POST"]).To(Equal(1))
		Expect(writes(app)).To(Equal(1), "the webhook the lost create made is taken as its answer")
		expectSteadyState(obj, app)
	})

	It("adopts a webhook whose URL differs only in form", func() {
		path := unique("adopt")
		seeded := fake.Seed(app, bitrise.Webhook{URL: "https://hooks.example.com/" + path, Events: []string{"build"}}, "")
		obj := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = "https://HOOKS.example.com:443/" + path + "/"
		})
		got := waitReady(obj)
		Expect(got.Status.Slug).To(Equal(seeded.Slug))
		Expect(appRequests(app)["POST"]).To(BeZero())
		Expect(remote(app)).To(HaveLen(1))
	})

	It("sees two resources whose URLs differ only in form as one claim", func() {
		path := unique("claim")
		first := createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.URL = "https://hooks.example.com/" + path })
		waitReady(first)
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
		second := createWebhook(newNamespace(), app, func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.URL = "https://Hooks.EXAMPLE.com:443/" + path + "/"
		})
		waitStalled(second, webhooksv1alpha1.ReasonAlreadyManaged)
		Expect(remote(app)).To(HaveLen(1))
	})
})
