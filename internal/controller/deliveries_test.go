package controller

import (
	"bytes"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/internal/metrics"
)

// withDeliveryCheck turns the delivery check on, every interval.
func withDeliveryCheck(interval time.Duration, threshold int32) func(*webhooksv1alpha1.OutgoingWebhook) {
	return func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.DeliveryCheck = &webhooksv1alpha1.DeliveryCheck{Interval: metav1.Duration{Duration: interval}, FailureThreshold: threshold}
	}
}

// deliveryCalls counts the fake's delivery-items requests for one app: lists
// (GET .../delivery-items) and redeliveries (POST .../redeliver).
func deliveryCalls(app string) (lists, redeliveries int) {
	for _, r := range fake.Requests() {
		if !strings.Contains(r.Path, "/apps/"+app+"/") {
			continue
		}
		switch {
		case r.Method == "GET" && strings.HasSuffix(r.Path, "/delivery-items"):
			lists++
		case r.Method == "POST" && strings.HasSuffix(r.Path, "/redeliver"):
			redeliveries++
		}
	}
	return lists, redeliveries
}

func deliver(app, webhook string, d bitrisefake.Delivery) string {
	GinkgoHelper()
	slug, err := fake.Deliver(app, webhook, d)
	Expect(err).NotTo(HaveOccurred())
	return slug
}

// waitDeliveriesHealthy waits for the DeliveriesHealthy condition.
func waitDeliveriesHealthy(obj *webhooksv1alpha1.OutgoingWebhook, s metav1.ConditionStatus, reason string) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	var got *webhooksv1alpha1.OutgoingWebhook
	Eventually(func(g Gomega) {
		got = get(obj)
		c := condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(s), c.Message)
		g.Expect(c.Reason).To(Equal(reason))
	}).Should(Succeed())
	return got
}

// annotate sets annotations on the resource.
func annotate(obj *webhooksv1alpha1.OutgoingWebhook, kv ...string) {
	GinkgoHelper()
	patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			o.Annotations[kv[i]] = kv[i+1]
		}
	})
}

func waitRedeliverHandled(obj *webhooksv1alpha1.OutgoingWebhook, value string) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	var got *webhooksv1alpha1.OutgoingWebhook
	Eventually(func(g Gomega) {
		got = get(obj)
		g.Expect(got.Status.LastHandledRedeliver).To(Equal(value))
	}).Should(Succeed())
	return got
}

var _ = Describe("Delivery health", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("reads no deliveries without spec.deliveryCheck", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 502})
		requestReconcile(obj)
		got := requestReconcile(obj)
		lists, _ := deliveryCalls(app)
		Expect(lists).To(BeZero())
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy)).To(BeNil())
		Expect(got.Status.LastDelivery).To(BeNil())
	})

	It("is Unknown before the first delivery, False on failure and True on recovery, with events on the transitions", func() {
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 0))
		got := waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonNoDeliveries)
		Expect(got.Spec.DeliveryCheck.FailureThreshold).To(BeEquivalentTo(1), "failureThreshold defaults to 1")
		slug := got.Status.Slug

		By("a failed delivery")
		at := time.Date(2026, 3, 1, 12, 4, 11, 0, time.UTC)
		failed := deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 502, Seconds: 10, CreatedAt: at})
		requestReconcile(obj)
		got = waitDeliveriesHealthy(obj, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy).Message).To(Equal("1 of the last 1 deliveries failed; latest at 12:04:11Z answered 502 in 10s"))
		Expect(got.Status.LastDelivery.At.Time.Equal(at)).To(BeTrue(), "at is the delivery's created_at")
		got.Status.LastDelivery.At = nil
		Expect(got.Status.LastDelivery).To(Equal(&webhooksv1alpha1.DeliveryRecord{Slug: failed, HTTPStatus: 502, DurationSeconds: 10}))
		Expect(got.Status.RecentDeliveries).To(Equal(&webhooksv1alpha1.DeliveryCounts{Failed: 1}))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("DeliveryFailed", 1))

		By("staying Ready and Current for kstatus: a receiver outage never fails a deploy")
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(kstatusOf(obj)).To(Equal(status.CurrentStatus))

		By("a second failure: no second Warning")
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 500, Seconds: 1, CreatedAt: at.Add(time.Minute)})
		requestReconcile(obj)
		Eventually(func() string {
			return condition(get(obj), webhooksv1alpha1.ConditionDeliveriesHealthy).Message
		}).Should(HavePrefix("2 of the last 2 deliveries failed"))
		Consistently(func() map[string]int { return eventsFor(obj) }, time.Second).Should(HaveKeyWithValue("DeliveryFailed", 1))

		By("recovery")
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 204, Seconds: 0, CreatedAt: at.Add(2 * time.Minute)})
		requestReconcile(obj)
		got = waitDeliveriesHealthy(obj, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded)
		Expect(got.Status.LastDelivery.HTTPStatus).To(BeEquivalentTo(204))
		Expect(got.Status.RecentDeliveries).To(Equal(&webhooksv1alpha1.DeliveryCounts{Succeeded: 1, Failed: 2}))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("DeliveryRecovered", 1))

		By("writing nothing when nothing changed")
		settled := requestReconcile(obj)
		Consistently(func() string { return get(obj).ResourceVersion }, 2*time.Second).Should(Equal(settled.ResourceVersion))

		By("turning the check off clears what it wrote")
		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.DeliveryCheck = nil })
		Eventually(func(g Gomega) {
			got := get(obj)
			g.Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy)).To(BeNil())
			g.Expect(got.Status.LastDelivery).To(BeNil())
		}).Should(Succeed())
	})

	It("is False only once failureThreshold deliveries in a row failed", func() {
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 3))
		slug := waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonNoDeliveries).Status.Slug
		base := time.Now().Add(-time.Hour).UTC()
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 500, CreatedAt: base})
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 503, CreatedAt: base.Add(time.Minute)})
		requestReconcile(obj)
		got := waitDeliveriesHealthy(obj, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded)
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy).Message).To(HavePrefix("2 of the last 2 deliveries failed, fewer than failureThreshold 3"))

		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 0, NoAnswer: true, CreatedAt: base.Add(2 * time.Minute)})
		requestReconcile(obj)
		got = waitDeliveriesHealthy(obj, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy).Message).To(MatchRegexp(`^3 of the last 3 deliveries failed; latest at \d\d:\d\d:\d\dZ got no answer$`))
		Expect(got.Status.LastDelivery.HTTPStatus).To(BeZero())
	})

	It("reads the deliveries at most once per interval, whatever else triggers a reconcile", func() {
		obj := createWebhook(ns, app, withDeliveryCheck(time.Minute, 1))
		waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonNoDeliveries)
		By("a requested reconcile reads them at once, and the next read is due an interval later")
		requestReconcile(obj)
		lists, _ := deliveryCalls(app)
		Expect(lists).To(BeNumerically(">=", 1))
		By("changing the spec five times within the interval")
		for i := range 5 {
			patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.Headers = map[string]string{"X-Try": string(rune('a' + i))}
			})
			waitReady(obj)
		}
		Eventually(func() []map[string]string {
			var hs []map[string]string
			for _, w := range remote(app) {
				hs = append(hs, w.Headers)
			}
			return hs
		}).Should(ConsistOf(map[string]string{"X-Try": "e"}))
		Consistently(func() int { lists, _ := deliveryCalls(app); return lists }, 3*time.Second).Should(Equal(lists))
	})

	It("keeps lastDelivery across a secret rotation until the new webhook delivers", func() {
		createSecret(ns, "rot", map[string]string{"secret": secretValue("rotating-secret")})
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 1), func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "rot"}
		})
		oldSlug := waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonNoDeliveries).Status.Slug
		old := deliver(app, oldSlug, bitrisefake.Delivery{HTTPStatus: 502, Seconds: 3})
		requestReconcile(obj)
		waitDeliveriesHealthy(obj, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed)

		updateSecret(ns, "rot", map[string]string{"secret": secretValue("rotated-secret")})
		Eventually(func() string { return get(obj).Status.Slug }).ShouldNot(Equal(oldSlug))
		got := requestReconcile(obj)
		Expect(got.Status.LastDelivery.Slug).To(Equal(old), "kept until the new webhook delivers")
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy).Status).To(Equal(metav1.ConditionFalse))

		newer := deliver(app, got.Status.Slug, bitrisefake.Delivery{HTTPStatus: 200})
		requestReconcile(obj)
		got = waitDeliveriesHealthy(obj, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded)
		Expect(got.Status.LastDelivery.Slug).To(Equal(newer))
	})

	It("lets nothing sensitive of a delivery reach status, events, logs or metrics", func() {
		webhookSecret := secretValue("delivery-webhook-secret")
		headerValue := secretValue("delivery-header-token")
		createSecret(ns, "leaky", map[string]string{"secret": webhookSecret, "headers": "Authorization: " + headerValue})
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 1), func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: "leaky"}
		})
		slug := waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonNoDeliveries).Status.Slug

		reg := prometheus.NewRegistry()
		Expect(metrics.Register(reg, k8s)).To(Succeed())
		failuresBefore := counterValue(reg, metrics.DeliveriesObservedName, "failure")

		payload := `{"build_slug":"` + secretValue("payload-secret") + `"}`
		for range 2 {
			deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 500, Payload: payload, ResponseBody: "error: " + secretValue("response-body-secret")})
		}
		requestReconcile(obj)
		waitDeliveriesHealthy(obj, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed)
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey("DeliveryFailed"))
		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, "unknown-"+slug)
		waitRedeliverHandled(obj, "unknown-"+slug)

		By("counting each delivery once in the metrics")
		Expect(counterValue(reg, metrics.DeliveriesObservedName, "failure") - failuresBefore).To(BeEquivalentTo(2))
		requestReconcile(obj)
		Expect(counterValue(reg, metrics.DeliveriesObservedName, "failure")-failuresBefore).To(BeEquivalentTo(2), "read again, not counted again")

		By("scanning status, events, logs and metrics")
		expectNoSecretIn(obj)
		families, err := reg.Gather()
		Expect(err).NotTo(HaveOccurred())
		var text bytes.Buffer
		for _, mf := range families {
			_, err := expfmt.MetricFamilyToText(&text, mf)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(text.String()).To(ContainSubstring(metrics.DeliveryHealthName + `{status="False"}`))
		for _, s := range secrets.all() {
			Expect(text.String()).NotTo(ContainSubstring(s))
			Expect(logs.String()).NotTo(ContainSubstring(s))
		}
		Expect(logs.String()).NotTo(ContainSubstring("Bitrise-Hook-Signature"))
	})
})

var _ = Describe("Redelivery", func() {
	var ns, app string
	BeforeEach(func() {
		ns, app = newNamespace(), newApp()
	})

	It("redelivers one delivery by slug, echoes the request and says so in an event", func() {
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 1))
		slug := waitReady(obj).Status.Slug
		failed := deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 502})
		fake.SetReceiver(slug, 200, 1)

		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, failed)
		waitRedeliverHandled(obj, failed)
		_, redeliveries := deliveryCalls(app)
		Expect(redeliveries).To(Equal(1))
		Expect(fake.DeliveryCount(app, slug)).To(Equal(2))
		Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKeyWithValue("Redelivered", 1))
		Expect(strings.Join(eventNotes(obj), "\n")).To(ContainSubstring("Redelivered 1 delivery (" + failed + ")"))

		By("reading the deliveries again at once: the redelivery succeeded")
		got := waitDeliveriesHealthy(obj, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded)
		Expect(got.Status.LastDelivery.HTTPStatus).To(BeEquivalentTo(200))

		By("never again on its own")
		requestReconcile(obj)
		_, redeliveries = deliveryCalls(app)
		Expect(redeliveries).To(Equal(1))
	})

	It("redelivers the failed deliveries since a time, oldest first, with a count", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 500, CreatedAt: since.Add(-time.Minute)}) // before: left alone
		var want []string
		for i, code := range []int{502, 200, 404, 0} {
			d := bitrisefake.Delivery{HTTPStatus: code, NoAnswer: code == 0, CreatedAt: since.Add(time.Duration(i) * time.Minute)}
			s := deliver(app, slug, d)
			if code != 200 {
				want = append(want, s)
			}
		}
		annotate(obj, webhooksv1alpha1.RedeliverFailedSinceAnnotation, since.Format(time.RFC3339))
		waitRedeliverHandled(obj, since.Format(time.RFC3339))

		var order []string
		for _, r := range fake.Requests() {
			if r.Method == "POST" && strings.HasSuffix(r.Path, "/redeliver") && strings.Contains(r.Path, "/apps/"+app+"/") {
				parts := strings.Split(r.Path, "/")
				order = append(order, parts[len(parts)-2])
			}
		}
		Expect(order).To(Equal(want), "the failed ones since the time, oldest first")
		Eventually(func() []string { return eventNotes(obj) }).Should(ContainElement(ContainSubstring("Redelivered 3 failed deliveries since " + since.Format(time.RFC3339))))
	})

	It("echoes both annotations joined by a comma when both are set", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		one := deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 200})
		since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339) // nothing that recent
		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, one, webhooksv1alpha1.RedeliverFailedSinceAnnotation, since)
		waitRedeliverHandled(obj, one+","+since)
		_, redeliveries := deliveryCalls(app)
		Expect(redeliveries).To(Equal(1))
	})

	It("acts only on the annotation that changed: adding one never repeats the other", func() {
		obj := createWebhook(ns, app)
		slug := waitReady(obj).Status.Slug
		one := deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 502})
		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, one)
		waitRedeliverHandled(obj, one)
		_, redeliveries := deliveryCalls(app)
		Expect(redeliveries).To(Equal(1))

		since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339) // nothing that recent
		annotate(obj, webhooksv1alpha1.RedeliverFailedSinceAnnotation, since)
		waitRedeliverHandled(obj, one+","+since)
		_, redeliveries = deliveryCalls(app)
		Expect(redeliveries).To(Equal(1), "the delivery already redelivered is not sent again")
		Expect(fake.DeliveryCount(app, slug)).To(Equal(2))

		By("a new slug is acted on, the unchanged time is not")
		two := deliver(app, slug, bitrisefake.Delivery{HTTPStatus: 500})
		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, two)
		waitRedeliverHandled(obj, two+","+since)
		_, redeliveries = deliveryCalls(app)
		Expect(redeliveries).To(Equal(2))
	})

	It("answers an unknown slug or a bad time with a Warning event, not a Stalled resource", func() {
		obj := createWebhook(ns, app)
		waitReady(obj)
		annotate(obj, webhooksv1alpha1.RedeliverAnnotation, "NO-SUCH-DELIVERY")
		waitRedeliverHandled(obj, "NO-SUCH-DELIVERY")
		Eventually(func() []string { return eventNotes(obj) }).Should(ContainElement(And(
			HavePrefix("RedeliveryFailed: "), ContainSubstring(`no delivery "NO-SUCH-DELIVERY"`))))

		patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
			delete(o.Annotations, webhooksv1alpha1.RedeliverAnnotation)
			o.Annotations[webhooksv1alpha1.RedeliverFailedSinceAnnotation] = "yesterday"
		})
		waitRedeliverHandled(obj, "yesterday")
		Eventually(func() []string { return eventNotes(obj) }).Should(ContainElement(ContainSubstring(`"yesterday" is not an RFC 3339 time`)))

		got := get(obj)
		Expect(condition(got, webhooksv1alpha1.ConditionStalled)).To(BeNil())
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(kstatusOf(obj)).To(Equal(status.CurrentStatus))
		_, redeliveries := deliveryCalls(app)
		Expect(redeliveries).To(Equal(1), "only the unknown slug was tried")
	})
})

// counterValue reads one series of a counter vector with a single label.
func counterValue(reg *prometheus.Registry, name, label string) float64 {
	GinkgoHelper()
	families, err := reg.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	Fail("no series " + name + " " + label)
	return 0
}

var _ = Describe("Admission of deliveryCheck", func() {
	DescribeTable("rejects an invalid deliveryCheck with a clear message",
		func(mutate func(*webhooksv1alpha1.OutgoingWebhook), want string) {
			obj := newWebhook(newNamespace(), "some-app", mutate)
			err := k8s.Create(ctx, obj)
			Expect(err).To(HaveOccurred())
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), err.Error())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("interval under 1m", withDeliveryCheck(30*time.Second, 1), "deliveryCheck.interval must be at least 1m"),
		Entry("interval over 24h", withDeliveryCheck(25*time.Hour, 1), "deliveryCheck.interval must be at most 24h"),
		Entry("failureThreshold under 1", withDeliveryCheck(time.Minute, -1), "spec.deliveryCheck.failureThreshold"),
		Entry("failureThreshold over 50", withDeliveryCheck(time.Minute, 51), "spec.deliveryCheck.failureThreshold"),
	)
})

var _ = Describe("Delivery check refused", func() {
	It("says so in DeliveriesHealthy, without failing the resource", func() {
		// A token of its own: the first, periodic, delivery check is low
		// priority and deferred while the suite's shared token is busy.
		ns, app, token := newNamespace(), unique("refused-app"), secretValue("refused-token")
		fake.AddApp(app, token)
		createSecret(ns, "creds", map[string]string{"token": token})
		remove := fake.AddFault(bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/outgoing-webhooks/", Status: 403})
		defer remove()
		obj := createWebhook(ns, app, withDeliveryCheck(10*time.Minute, 1), func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{Name: "creds"}
		})
		got := waitDeliveriesHealthy(obj, metav1.ConditionUnknown, webhooksv1alpha1.ReasonDeliveryCheckFailed)
		Expect(condition(got, webhooksv1alpha1.ConditionDeliveriesHealthy).Message).To(ContainSubstring("(403 Forbidden)"))
		Expect(condition(got, webhooksv1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(kstatusOf(obj)).To(Equal(status.CurrentStatus))
	})
})
