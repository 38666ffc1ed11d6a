package controller

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

var _ = Describe("Drift checks at scale", func() {
	It("checks N webhooks of one app with about one list per interval, not N", func() {
		ns, app := newNamespace(), newApp()
		const n = 12
		objs := make([]*webhooksv1alpha1.OutgoingWebhook, n)
		for i := range objs {
			objs[i] = createWebhook(ns, app, func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.Interval = &metav1.Duration{Duration: 5 * time.Second}
				o.Spec.URL = fmt.Sprintf("https://hooks.example.com/scale/%d", i)
			})
		}
		for _, o := range objs {
			waitReady(o)
		}
		Expect(remote(app)).To(HaveLen(n))
		before := appRequests(app)
		time.Sleep(16 * time.Second) // three intervals
		after := appRequests(app)
		lists := after["GET"] - before["GET"]
		By(fmt.Sprintf("%d webhooks made %d list calls in three 5s intervals", n, lists))
		Expect(lists).To(BeNumerically(">=", 2), "drift is still checked every interval")
		Expect(lists).To(BeNumerically("<=", 6), "lists are shared between the resources of one app")
		Expect(writes(app)).To(Equal(before["POST"] + before["PUT"] + before["DELETE"]))
	})
})
