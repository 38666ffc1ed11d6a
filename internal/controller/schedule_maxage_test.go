package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

func TestObservationMaxAge(t *testing.T) {
	interval := 10 * time.Minute
	base := func() *webhooksv1alpha1.OutgoingWebhook {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		obj.Generation = 3
		obj.Spec.Interval = &metav1.Duration{Duration: interval}
		obj.Status.Slug = "s1"
		obj.Status.ObservedGeneration = 3
		return obj
	}
	tests := []struct {
		name   string
		mutate func(*webhooksv1alpha1.OutgoingWebhook)
		want   time.Duration
	}{
		{"a drift check of a handled spec reuses the app's list of the last interval", func(*webhooksv1alpha1.OutgoingWebhook) {}, interval},
		{"a spec not handled yet: half an interval", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Generation = 4 }, interval / 2},
		{"no remote webhook yet: half an interval, at least a minute", func(o *webhooksv1alpha1.OutgoingWebhook) { o.Status.Slug = "" }, interval / 2},
		{"no remote webhook, short interval: a minute", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Status.Slug = ""
			o.Spec.Interval = &metav1.Duration{Duration: 10 * time.Second}
		}, time.Minute},
		{"a requested reconcile: a fresh list", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Annotations = map[string]string{webhooksv1alpha1.ReconcileRequestedAtAnnotation: "now"}
		}, 0},
		{"a pending create: a fresh list", func(o *webhooksv1alpha1.OutgoingWebhook) {
			o.Status.Slug = ""
			o.Annotations = map[string]string{webhooksv1alpha1.CreatePendingAnnotation: "https://h.test/x"}
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := base()
			tt.mutate(obj)
			if got := observationMaxAge(obj); got != tt.want {
				t.Errorf("observationMaxAge = %v, want %v", got, tt.want)
			}
		})
	}
}
