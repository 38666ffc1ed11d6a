package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

var deliveryBase = time.Date(2026, 3, 1, 12, 4, 11, 0, time.UTC)

// deliveries builds items newest first from HTTP statuses, one minute apart.
func deliveries(statuses ...int) []bitrise.DeliveryItem {
	items := make([]bitrise.DeliveryItem, len(statuses))
	for i, s := range statuses {
		items[i] = bitrise.DeliveryItem{Slug: "d" + string(rune('a'+i)), CreatedAt: deliveryBase.Add(-time.Duration(i) * time.Minute), HTTPStatus: s, DurationSeconds: 10}
	}
	return items
}

func TestDeliveryHealth(t *testing.T) {
	tests := []struct {
		name      string
		items     []bitrise.DeliveryItem
		threshold int
		status    metav1.ConditionStatus
		reason    string
		message   string
	}{
		{"latest succeeded", deliveries(200, 502), 1, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded, "Latest delivery at 12:04:11Z answered 200 in 10s"},
		{"latest failed", deliveries(502, 200), 1, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed, "1 of the last 1 deliveries failed; latest at 12:04:11Z answered 502 in 10s"},
		{"three failed, threshold 3", deliveries(502, 500, 404, 200), 3, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed, "3 of the last 3 deliveries failed; latest at 12:04:11Z answered 502 in 10s"},
		{"two failed, threshold 3", deliveries(502, 500, 200), 3, metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded, "2 of the last 2 deliveries failed, fewer than failureThreshold 3; latest at 12:04:11Z answered 502 in 10s"},
		{"no answer", deliveries(0), 1, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed, "1 of the last 1 deliveries failed; latest at 12:04:11Z got no answer"},
		{"3xx is a failure", deliveries(301), 1, metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed, "1 of the last 1 deliveries failed; latest at 12:04:11Z answered 301 in 10s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, reason, message := deliveryHealth(tc.items, tc.threshold)
			if status != tc.status || reason != tc.reason || message != tc.message {
				t.Errorf("got %s %s %q, want %s %s %q", status, reason, message, tc.status, tc.reason, tc.message)
			}
		})
	}
}

func TestNewestFirstSortsWhateverTheServerOrder(t *testing.T) {
	items := deliveries(200, 500, 404)
	reversed := []bitrise.DeliveryItem{items[2], items[0], items[1]}
	got := newestFirst(reversed)
	for i := range items {
		if got[i].Slug != items[i].Slug {
			t.Fatalf("got %v", got)
		}
	}
}

func TestTrackerCountsEachDeliveryOnce(t *testing.T) {
	tr := newDeliveryTracker()
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	obj.UID = types.UID("u1")
	if s, f := tr.observe(obj, deliveries(200, 500)); s != 1 || f != 1 {
		t.Fatalf("first read: %d %d", s, f)
	}
	if s, f := tr.observe(obj, deliveries(200, 500)); s != 0 || f != 0 {
		t.Fatalf("same items again: %d %d, want nothing new", s, f)
	}
	newer := append([]bitrise.DeliveryItem{{Slug: "new", CreatedAt: deliveryBase.Add(time.Minute), HTTPStatus: 502}}, deliveries(200, 500)...)
	if s, f := tr.observe(obj, newer); s != 0 || f != 1 {
		t.Fatalf("one newer failure: %d %d", s, f)
	}
	sameInstant := append([]bitrise.DeliveryItem{{Slug: "twin", CreatedAt: deliveryBase.Add(time.Minute), HTTPStatus: 200}}, newer...)
	if s, f := tr.observe(obj, sameInstant); s != 1 || f != 0 {
		t.Fatalf("a second delivery at the same instant: %d %d", s, f)
	}

	why := "after a restart, what status shows counts as seen"
	restarted := newDeliveryTracker()
	at := metav1.NewTime(deliveryBase)
	obj.Status.LastDelivery = &webhooksv1alpha1.DeliveryRecord{Slug: "da", At: &at, HTTPStatus: 200}
	items := deliveries(200, 500)
	items[0].CreatedAt = deliveryBase.Add(123 * time.Microsecond) // status keeps seconds only
	if s, f := restarted.observe(obj, items); s != 0 || f != 0 {
		t.Fatalf("%s: %d %d", why, s, f)
	}
}

func TestTrackerSchedulesOneCheckPerInterval(t *testing.T) {
	tr := newDeliveryTracker()
	uid := types.UID("u1")
	now := time.Now()
	if d := tr.dueIn(uid, now); d > 0 {
		t.Fatalf("a resource never checked is due now, got %s", d)
	}
	tr.checked(uid, now, 10*time.Minute)
	if d := tr.dueIn(uid, now); d < 10*time.Minute || d > 11*time.Minute {
		t.Fatalf("next check in %s, want 10m plus up to 10%% jitter", d)
	}
	tr.deferred(uid, now, 10*time.Minute)
	if d := tr.dueIn(uid, now); d < 5*time.Minute || d > 330*time.Second {
		t.Fatalf("deferred check in %s, want half the interval (5m)", d)
	}
	tr.deferred(uid, now, time.Minute)
	if d := tr.dueIn(uid, now); d < 30*time.Second || d > 33*time.Second {
		t.Fatalf("deferred check in %s, want at least 30s", d)
	}
	tr.forget(uid)
	if d := tr.dueIn(uid, now); d > 0 {
		t.Fatal("forget drops the schedule")
	}
}

func TestRedeliverRequest(t *testing.T) {
	slug, since := webhooksv1alpha1.RedeliverAnnotation, webhooksv1alpha1.RedeliverFailedSinceAnnotation
	for _, tc := range []struct {
		annotations map[string]string
		want        string
	}{
		{nil, ""},
		{map[string]string{slug: "D1"}, "D1"},
		{map[string]string{since: "2026-03-01T12:00:00Z"}, "2026-03-01T12:00:00Z"},
		{map[string]string{slug: "D1", since: "2026-03-01T12:00:00Z"}, "D1,2026-03-01T12:00:00Z"},
	} {
		if got := redeliverRequest(tc.annotations); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.annotations, got, tc.want)
		}
	}
}

func TestNextWakeJoinsTheDriftCheckWhenItComesSoonAfter(t *testing.T) {
	for _, tc := range []struct {
		next, due, interval, want time.Duration
	}{
		{next: 10 * time.Second, due: 40 * time.Second, interval: time.Minute, want: 10 * time.Second},
		{next: 10 * time.Second, due: 5 * time.Second, interval: time.Minute, want: 10 * time.Second}, // 5s late, within 6s
		{next: 10 * time.Second, due: 3 * time.Second, interval: time.Minute, want: 3 * time.Second},  // 7s late would be too late
		{next: 10 * time.Minute, due: 2 * time.Minute, interval: time.Minute, want: 2 * time.Minute},  // drift far off
		{next: 10 * time.Minute, due: 9 * time.Minute, interval: 10 * time.Minute, want: 10 * time.Minute},
	} {
		if got := nextWake(tc.next, tc.due, tc.interval); got != tc.want {
			t.Errorf("nextWake(%s, %s, %s) = %s, want %s", tc.next, tc.due, tc.interval, got, tc.want)
		}
	}
}
