package controller

import (
	"math"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// An interval stored before the CRD bounded it (or written around it) must
// not overflow the jitter into a requeue loop of one second.
func TestHugeIntervalDoesNotOverflowTheJitter(t *testing.T) {
	for _, interval := range []time.Duration{1000 * time.Hour, math.MaxInt64} {
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		obj.Spec.Interval = &metav1.Duration{Duration: interval}
		d := obj.GetInterval().Duration
		if d != webhooksv1alpha1.MaxInterval {
			t.Errorf("interval %v: GetInterval = %v, want MaxInterval", interval, d)
		}
		for range 100 {
			if j := jitter(d); j < d || j > d+d/10 {
				t.Fatalf("interval %v: jitter = %v, want in [%v, %v]", interval, j, d, d+d/10)
			}
		}
		if next := nextDriftCheck(time.Now(), d); next < d-time.Second {
			t.Errorf("interval %v: next drift check in %v, want about %v", interval, next, d)
		}
	}
}
