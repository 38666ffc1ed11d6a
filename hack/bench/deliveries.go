package main

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// benchDeliveryCheck is -delivery-check: every webhook created gets it as
// spec.deliveryCheck.interval; 0 leaves the delivery check off.
var benchDeliveryCheck time.Duration

func withDeliveryCheck(owh *webhooksv1alpha1.OutgoingWebhook) {
	if benchDeliveryCheck > 0 {
		owh.Spec.DeliveryCheck = &webhooksv1alpha1.DeliveryCheck{Interval: metav1.Duration{Duration: benchDeliveryCheck}}
	}
}

// steadyIntervalsForDeliveries is how many drift intervals the steady state
// must last to hold two delivery-check intervals.
func steadyIntervalsForDeliveries(p params) int {
	if p.DeliveryCheck <= 0 || p.Interval <= 0 {
		return 0
	}
	return int((2*p.DeliveryCheck + p.Interval - 1) / p.Interval)
}

// deliveryFigures is the cost of the delivery checks in steady state.
type deliveryFigures struct {
	CheckIntervalSeconds float64 `json:"check_interval_s"`
	Calls                int     `json:"calls"`
	// PerCheckInterval is Calls scaled to one deliveryCheck interval; the
	// bound is one per webhook.
	PerCheckInterval float64 `json:"per_check_interval"`
	// Per1000Webhooks scales PerCheckInterval to 1000 webhooks.
	Per1000Webhooks float64 `json:"per_1000_webhooks"`
	Webhooks        int     `json:"webhooks"`
}

func deliveryFiguresOf(p params, calls int, window time.Duration) *deliveryFigures {
	if p.DeliveryCheck <= 0 || window <= 0 {
		return nil
	}
	per := float64(calls) * p.DeliveryCheck.Seconds() / window.Seconds()
	return &deliveryFigures{
		CheckIntervalSeconds: p.DeliveryCheck.Seconds(),
		Calls:                calls,
		PerCheckInterval:     per,
		Per1000Webhooks:      per * 1000 / float64(p.N),
		Webhooks:             p.N,
	}
}

func (d *deliveryFigures) String() string {
	return fmt.Sprintf("%.1f for %d webhooks (bound %d; %.0f per 1000 webhooks), %d calls in the window, interval %s",
		d.PerCheckInterval, d.Webhooks, d.Webhooks, d.Per1000Webhooks, d.Calls, secs(d.CheckIntervalSeconds))
}
