package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/metrics"
)

// Event reasons of the delivery check, on transitions only.
const (
	eventDeliveryFailed    = "DeliveryFailed"
	eventDeliveryRecovered = "DeliveryRecovered"
)

// noDeliveriesMessage is the message of DeliveriesHealthy=Unknown, whether
// the first read found nothing or was deferred: one message, so that the
// first read after a deferral writes nothing.
const noDeliveriesMessage = "No delivery of the webhook seen yet"

// deliveryPageSize is how many of the newest deliveries one check reads:
// enough for recentDeliveries to mean something, and for failureThreshold.
const deliveryPageSize = 10

// afterReconciled runs what follows a successful pass, once the remote
// webhook is known to match the spec: redelivery requests, then the
// delivery check when it is due, or forced by a requested reconcile (or a
// redelivery just sent). next is when the drift check is due; it returns
// when to come back, the earlier of the two checks.
func (r *OutgoingWebhookReconciler) afterReconciled(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, next time.Duration, forced bool) time.Duration {
	if obj.Status.Slug == "" {
		return next
	}
	retry, redelivered := r.handleRedeliver(ctx, obj)
	if retry > 0 {
		next = min(next, retry)
	}
	if obj.Spec.DeliveryCheck == nil {
		forgetDeliveries(obj)
		r.deliveries().forget(obj.UID)
		return next
	}
	due := r.deliveries().dueIn(obj.UID, time.Now())
	if due <= 0 || forced || redelivered {
		r.checkDeliveries(ctx, obj, forced || redelivered)
		due = r.deliveries().dueIn(obj.UID, time.Now())
	}
	return max(nextWake(next, due, obj.Spec.DeliveryCheck.GetInterval()), time.Second)
}

// nextWake is when to come back: at the drift check (next), or at the
// delivery check (due) when that comes first, unless the drift check comes
// soon after it (within a tenth of the delivery interval, the jitter the
// schedule allows anyway): then the delivery check waits for it. A wake
// between two drift checks lists the app's webhooks afresh when the shared
// list is older than half an interval, so waking with the drift check
// saves that list.
func nextWake(next, due, interval time.Duration) time.Duration {
	if due >= next || next-due <= time.Duration(jitterFraction*float64(interval)) {
		return next
	}
	return due
}

// checkDeliveries reads the newest page of the webhook's deliveries (one
// call) into status. A periodic check is a low-priority call, deferred
// while the token is busy with writes or paused; a check the user asked for
// (a requested reconcile, a redelivery) is not. It never fails the pass:
// the deliveries are informational, and a failed read is tried again an
// interval later.
func (r *OutgoingWebhookReconciler) checkDeliveries(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, requested bool) {
	log := logf.FromContext(ctx)
	check := obj.Spec.DeliveryCheck
	tracker := r.deliveries()
	api, err := r.apiFor(ctx, obj)
	if err != nil {
		tracker.checked(obj.UID, time.Now(), check.GetInterval())
		return
	}
	limit := max(deliveryPageSize, check.GetFailureThreshold())
	listCtx := ctx
	if !requested {
		listCtx = bitrise.WithLowPriority(ctx)
	}
	page, err := api.ListDeliveries(listCtx, obj.Status.Slug, bitrise.DeliveryListOptions{Limit: limit})
	_, throttled := bitrise.Throttled(err)
	switch {
	case errors.Is(err, bitrise.ErrDeferred) || throttled:
		// The token's budget is busy with writes, or paused: try again soon.
		log.V(1).Info("delivery check deferred: the API token's rate limit is busy")
		tracker.deferred(obj.UID, time.Now(), check.GetInterval())
		if meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy) == nil {
			setCondition(obj, webhooksv1alpha1.ConditionDeliveriesHealthy, metav1.ConditionUnknown,
				webhooksv1alpha1.ReasonNoDeliveries, noDeliveriesMessage)
		}
		return
	case err != nil:
		// The error text is not surfaced: an answer about deliveries may
		// quote what they carried.
		log.Info("reading the webhook's deliveries failed; trying again at the next delivery check",
			"code", bitrise.StatusCode(err), "retryable", bitrise.IsRetryable(err))
		tracker.checked(obj.UID, time.Now(), check.GetInterval())
		if !bitrise.IsRetryable(err) {
			// Not going away by itself: the user must see it.
			setCondition(obj, webhooksv1alpha1.ConditionDeliveriesHealthy, metav1.ConditionUnknown,
				webhooksv1alpha1.ReasonDeliveryCheckFailed, fmt.Sprintf(
					"Bitrise refused to list the deliveries of webhook %s (%s): the token must be allowed to read them (a personal access or Workspace API token with the Admin role); retried every deliveryCheck.interval",
					obj.Status.Slug, statusText(err)))
		}
		return
	}
	tracker.checked(obj.UID, time.Now(), check.GetInterval())
	items := newestFirst(page.Items)
	succeeded, failed := tracker.observe(obj, items)
	metrics.DeliveriesObserved(succeeded, failed)
	r.applyDeliveries(obj, items, check.GetFailureThreshold())
}

// applyDeliveries writes what the items (newest first) say into status and
// the DeliveriesHealthy condition, with an event on a transition to or from
// False.
func (r *OutgoingWebhookReconciler) applyDeliveries(obj *webhooksv1alpha1.OutgoingWebhook, items []bitrise.DeliveryItem, threshold int) {
	before := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy)
	var beforeStatus metav1.ConditionStatus
	if before != nil {
		beforeStatus = before.Status
	}
	if len(items) == 0 {
		// A new webhook (or a new slug after a rotation) with no delivery
		// yet: what the old slug delivered stays until a newer one exists.
		if obj.Status.LastDelivery == nil {
			setCondition(obj, webhooksv1alpha1.ConditionDeliveriesHealthy, metav1.ConditionUnknown,
				webhooksv1alpha1.ReasonNoDeliveries, noDeliveriesMessage)
		}
		return
	}
	latest := items[0]
	if last := obj.Status.LastDelivery; last != nil && last.At != nil && latest.CreatedAt.Before(last.At.Time) {
		return // older than what status shows (a replaced webhook): keep it
	}
	obj.Status.LastDelivery = deliveryRecord(latest)
	obj.Status.RecentDeliveries = countDeliveries(items)
	status, reason, message := deliveryHealth(items, threshold)
	setCondition(obj, webhooksv1alpha1.ConditionDeliveriesHealthy, status, reason, message)
	switch {
	case status == metav1.ConditionFalse && beforeStatus != metav1.ConditionFalse:
		r.event(obj, corev1.EventTypeWarning, eventDeliveryFailed, "%s", message)
	case status == metav1.ConditionTrue && beforeStatus == metav1.ConditionFalse:
		r.event(obj, corev1.EventTypeNormal, eventDeliveryRecovered, "Deliveries succeed again: %s", message)
	}
}

// deliveryHealth computes DeliveriesHealthy from the newest deliveries
// (newest first, at least one): False when the threshold most recent all
// failed.
func deliveryHealth(items []bitrise.DeliveryItem, threshold int) (metav1.ConditionStatus, string, string) {
	streak := 0
	for _, item := range items {
		if item.Succeeded() {
			break
		}
		streak++
	}
	latest := describeDelivery(items[0])
	switch {
	case streak >= threshold:
		return metav1.ConditionFalse, webhooksv1alpha1.ReasonDeliveryFailed,
			fmt.Sprintf("%d of the last %d deliveries failed; latest %s", streak, streak, latest)
	case streak > 0:
		return metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded,
			fmt.Sprintf("%d of the last %d deliveries failed, fewer than failureThreshold %d; latest %s", streak, streak, threshold, latest)
	default:
		return metav1.ConditionTrue, webhooksv1alpha1.ReasonDeliveriesSucceeded, "Latest delivery " + latest
	}
}

// describeDelivery says when a delivery was made and what the receiver
// answered, e.g. "at 12:04:11Z answered 502 in 10s" (the date is in
// status.lastDelivery.at).
func describeDelivery(item bitrise.DeliveryItem) string {
	at := item.CreatedAt.UTC().Format("15:04:05Z07:00")
	if item.HTTPStatus == 0 {
		return fmt.Sprintf("at %s got no answer", at)
	}
	return fmt.Sprintf("at %s answered %d in %ds", at, item.HTTPStatus, item.DurationSeconds)
}

func deliveryRecord(item bitrise.DeliveryItem) *webhooksv1alpha1.DeliveryRecord {
	return &webhooksv1alpha1.DeliveryRecord{
		Slug:            item.Slug,
		At:              apiTime(item.CreatedAt),
		HTTPStatus:      int32(min(max(item.HTTPStatus, 0), 999)),
		DurationSeconds: int32(min(max(item.DurationSeconds, 0), 1<<30)),
	}
}

func countDeliveries(items []bitrise.DeliveryItem) *webhooksv1alpha1.DeliveryCounts {
	counts := &webhooksv1alpha1.DeliveryCounts{}
	for _, item := range items {
		if item.Succeeded() {
			counts.Succeeded++
		} else {
			counts.Failed++
		}
	}
	return counts
}

// newestFirst sorts by created_at, newest first, whatever the server's order.
func newestFirst(items []bitrise.DeliveryItem) []bitrise.DeliveryItem {
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b bitrise.DeliveryItem) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// forgetDeliveries clears what the delivery check wrote, once it is turned off.
func forgetDeliveries(obj *webhooksv1alpha1.OutgoingWebhook) {
	obj.Status.LastDelivery = nil
	obj.Status.RecentDeliveries = nil
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy)
}

// deliveryTracker remembers, per resource and in memory only (so that the
// steady state writes nothing), when its deliveries are next due and the
// newest delivery already counted in the metrics.
type deliveryTracker struct {
	mu        sync.Mutex
	entries   map[types.UID]*deliveryEntry
	lastPrune time.Time
}

type deliveryEntry struct {
	due     time.Time
	touched time.Time
	// newestAt and seenAtNewest: the newest delivery counted, and the slugs
	// counted with that very timestamp.
	newestAt     time.Time
	seenAtNewest map[string]bool
}

// entryTTL drops the entries of resources not checked for this long (the
// longest deliveryCheck.interval is 24h): deleted resources.
const entryTTL = 48 * time.Hour

func newDeliveryTracker() *deliveryTracker {
	return &deliveryTracker{entries: map[types.UID]*deliveryEntry{}}
}

func (r *OutgoingWebhookReconciler) deliveries() *deliveryTracker {
	r.deliveryOnce.Do(func() {
		if r.deliveryTracker == nil {
			r.deliveryTracker = newDeliveryTracker()
		}
	})
	return r.deliveryTracker
}

// dueIn returns how long until the resource's next check; 0 or less when due.
func (t *deliveryTracker) dueIn(uid types.UID, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[uid]
	if e == nil {
		return 0
	}
	return e.due.Sub(now)
}

// checked schedules the next check one jittered interval from now.
func (t *deliveryTracker) checked(uid types.UID, now time.Time, interval time.Duration) {
	t.schedule(uid, now, now.Add(jitter(interval)))
}

// deferred schedules a check deferred for the rate limit sooner: half the
// interval, between 30s and 5m. Not much sooner: while writes keep the
// token busy (a burst of creates), every deferred resource comes back for
// a reconcile, and those must not crowd the work queue.
func (t *deliveryTracker) deferred(uid types.UID, now time.Time, interval time.Duration) {
	t.schedule(uid, now, now.Add(jitter(min(max(interval/2, 30*time.Second), 5*time.Minute))))
}

func (t *deliveryTracker) schedule(uid types.UID, now, due time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(uid, now)
	e.due = due
}

func (t *deliveryTracker) entry(uid types.UID, now time.Time) *deliveryEntry {
	if now.Sub(t.lastPrune) > time.Hour {
		t.lastPrune = now
		for k, e := range t.entries {
			if now.Sub(e.touched) > entryTTL {
				delete(t.entries, k)
			}
		}
	}
	e := t.entries[uid]
	if e == nil {
		e = &deliveryEntry{}
		t.entries[uid] = e
	}
	e.touched = now
	return e
}

func (t *deliveryTracker) forget(uid types.UID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, uid)
}

// observe counts the items (newest first) not counted before, by outcome,
// and remembers the newest. After a restart, what status.lastDelivery
// shows counts as seen (to the second, its precision).
func (t *deliveryTracker) observe(obj *webhooksv1alpha1.OutgoingWebhook, items []bitrise.DeliveryItem) (succeeded, failed int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(obj.UID, time.Now())
	if e.seenAtNewest == nil {
		e.seenAtNewest = map[string]bool{}
		if last := obj.Status.LastDelivery; last != nil && last.At != nil {
			e.newestAt = last.At.Add(time.Second - time.Nanosecond)
			e.seenAtNewest[last.Slug] = true
		}
	}
	newest, seen := e.newestAt, e.seenAtNewest
	for _, item := range items {
		if item.CreatedAt.Before(newest) || seen[item.Slug] {
			continue
		}
		if item.Succeeded() {
			succeeded++
		} else {
			failed++
		}
		if item.CreatedAt.After(e.newestAt) {
			e.newestAt = item.CreatedAt
			e.seenAtNewest = map[string]bool{}
		}
		if item.CreatedAt.Equal(e.newestAt) {
			e.seenAtNewest[item.Slug] = true
		}
	}
	return succeeded, failed
}
