package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// Event reasons of redelivery requests.
const (
	eventRedelivered      = "Redelivered"
	eventRedeliveryFailed = "RedeliveryFailed"
)

const (
	// redeliverRetry is when a request that could not start (Bitrise
	// unavailable) is tried again.
	redeliverRetry = 30 * time.Second
	// maxRedeliverPages bounds the pages a redeliver-failed-since request
	// reads (50 deliveries each) looking for failed deliveries.
	maxRedeliverPages = 20
	// maxAnnotationEcho bounds how much of an annotation value an event quotes.
	maxAnnotationEcho = 64
)

// redeliverRequest returns the redelivery asked for by the annotations, as
// echoed to status.lastHandledRedeliver: the value of the one annotation
// set, or both joined by a comma (redeliver first); "" when none is set.
func redeliverRequest(annotations map[string]string) string {
	slug := annotations[webhooksv1alpha1.RedeliverAnnotation]
	since := annotations[webhooksv1alpha1.RedeliverFailedSinceAnnotation]
	switch {
	case slug != "" && since != "":
		return slug + "," + since
	case slug != "":
		return slug
	default:
		return since
	}
}

// handledParts splits status.lastHandledRedeliver into the values of the
// two annotations it echoes (see redeliverRequest): "slug,time", a lone
// RFC 3339 time (redeliver-failed-since), or a lone slug.
func handledParts(handled string) (slug, since string) {
	if slug, since, ok := strings.Cut(handled, ","); ok {
		return slug, since
	}
	if _, err := time.Parse(time.RFC3339, handled); err == nil {
		return "", handled
	}
	return handled, ""
}

// handleRedeliver acts on a redelivery request not handled yet. Each
// annotation is acted on only when its own value changed since it was last
// handled, so that setting one does not repeat the other. It returns when
// to try again if the request could not start (Bitrise unavailable), else
// 0, and whether anything was redelivered. Once it started, the request is
// echoed whatever the outcome, so that a failure is reported once (a
// Warning event) and never retried on its own: a redelivery is not
// idempotent.
func (r *OutgoingWebhookReconciler) handleRedeliver(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook) (time.Duration, bool) {
	request := redeliverRequest(obj.Annotations)
	if request == "" || request == obj.Status.LastHandledRedeliver {
		return 0, false
	}
	api, err := r.apiFor(ctx, obj)
	if err != nil {
		return jitter(redeliverRetry), false
	}
	handledSlug, handledSince := handledParts(obj.Status.LastHandledRedeliver)
	sent, slugDone := 0, false
	if slug := obj.Annotations[webhooksv1alpha1.RedeliverAnnotation]; slug != "" && slug != handledSlug {
		retry, n := r.redeliverOne(ctx, obj, api, slug)
		if retry > 0 {
			return retry, false
		}
		sent, slugDone = n, true
	}
	if since := obj.Annotations[webhooksv1alpha1.RedeliverFailedSinceAnnotation]; since != "" && since != handledSince {
		retry, n := r.redeliverFailedSince(ctx, obj, api, since)
		sent += n
		if retry > 0 {
			if !slugDone {
				return retry, false
			}
			// The single redelivery is done and must not be repeated: the
			// request is handled, and the rest reported.
			r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed,
				"Annotation %s: Bitrise is unavailable, no failed delivery was redelivered; request again",
				webhooksv1alpha1.RedeliverFailedSinceAnnotation)
		}
	}
	obj.Status.LastHandledRedeliver = request
	return 0, sent > 0
}

// redeliverOne sends one delivery again; it returns when to retry (0 when
// handled) and how many deliveries were sent.
func (r *OutgoingWebhookReconciler) redeliverOne(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, api *bitrise.App, slug string) (time.Duration, int) {
	err := api.Redeliver(ctx, obj.Status.Slug, slug)
	switch {
	case err == nil:
		r.event(obj, corev1.EventTypeNormal, eventRedelivered, "Redelivered 1 delivery (%s) of webhook %s", slug, obj.Status.Slug)
		return 0, 1
	case bitrise.IsNotFound(err):
		r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed,
			"Annotation %s: webhook %s has no delivery %q (deliveries of a replaced webhook cannot be redelivered)",
			webhooksv1alpha1.RedeliverAnnotation, obj.Status.Slug, truncate(slug))
	case bitrise.IsRetryable(err):
		logf.FromContext(ctx).Info("redelivery waits: Bitrise is unavailable", "code", bitrise.StatusCode(err))
		return retryAfter(err), 0
	default:
		r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed, "Bitrise refused to redeliver %q: %s", truncate(slug), statusText(err))
	}
	return 0, 0
}

// redeliverFailedSince sends the failed deliveries since value again; it
// returns when to retry (0 when handled) and how many were sent.
func (r *OutgoingWebhookReconciler) redeliverFailedSince(ctx context.Context, obj *webhooksv1alpha1.OutgoingWebhook, api *bitrise.App, value string) (time.Duration, int) {
	since, err := time.Parse(time.RFC3339, value)
	if err != nil {
		r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed,
			"Annotation %s: %q is not an RFC 3339 time, such as 2026-03-01T12:00:00Z",
			webhooksv1alpha1.RedeliverFailedSinceAnnotation, truncate(value))
		return 0, 0
	}
	failed, err := failedSince(ctx, api, obj.Status.Slug, since)
	if err != nil {
		if bitrise.IsRetryable(err) {
			logf.FromContext(ctx).Info("redelivery waits: Bitrise is unavailable", "code", bitrise.StatusCode(err))
			return retryAfter(err), 0
		}
		r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed, "Reading the deliveries to redeliver failed: %s", statusText(err))
		return 0, 0
	}
	since = since.UTC()
	if len(failed) == 0 {
		r.event(obj, corev1.EventTypeNormal, eventRedelivered, "Redelivered 0 deliveries: none failed since %s", since.Format(time.RFC3339))
		return 0, 0
	}
	remaining := len(failed) - webhooksv1alpha1.MaxRedeliveries
	failed = failed[:min(len(failed), webhooksv1alpha1.MaxRedeliveries)]
	sent := 0
	for _, item := range failed {
		err := api.Redeliver(ctx, obj.Status.Slug, item.Slug)
		if bitrise.IsNotFound(err) {
			continue // gone since it was listed
		}
		if err != nil {
			r.event(obj, corev1.EventTypeWarning, eventRedeliveryFailed,
				"Redelivered %d of %d failed deliveries since %s, then Bitrise answered %s; request again with a later time for the rest",
				sent, len(failed), since.Format(time.RFC3339), statusText(err))
			return 0, sent
		}
		sent++
	}
	more := ""
	if remaining > 0 {
		more = fmt.Sprintf("; %d more remain (at most %d per request)", remaining, webhooksv1alpha1.MaxRedeliveries)
	}
	noun := "deliveries"
	if sent == 1 {
		noun = "delivery"
	}
	r.event(obj, corev1.EventTypeNormal, eventRedelivered, "Redelivered %d failed %s since %s, oldest first%s",
		sent, noun, since.Format(time.RFC3339), more)
	return 0, sent
}

// failedSince lists the webhook's failed deliveries created at or after
// since, oldest first. Bitrise lists newest first, so the pages are read
// until one holds nothing that recent.
func failedSince(ctx context.Context, api *bitrise.App, webhook string, since time.Time) ([]bitrise.DeliveryItem, error) {
	var failed []bitrise.DeliveryItem
	next := ""
	for range maxRedeliverPages {
		page, err := api.ListDeliveries(ctx, webhook, bitrise.DeliveryListOptions{Limit: 50, Next: next})
		if err != nil {
			return nil, err
		}
		recent := false
		for _, item := range page.Items {
			if item.CreatedAt.Before(since) {
				continue
			}
			recent = true
			if !item.Succeeded() {
				failed = append(failed, item)
			}
		}
		if !recent || page.Next == "" || page.Next == next {
			break
		}
		next = page.Next
	}
	slices.SortStableFunc(failed, func(a, b bitrise.DeliveryItem) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return failed, nil
}

// statusText describes an API error by its status only: the text of an
// answer about deliveries may quote what they carried.
func statusText(err error) string {
	if code := bitrise.StatusCode(err); code > 0 {
		return fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	var netErr *bitrise.NetworkError
	if errors.As(err, &netErr) {
		return "no answer"
	}
	return "an error"
}

func retryAfter(err error) time.Duration {
	if after := bitrise.RetryAfter(err); after > 0 {
		return after
	}
	return jitter(redeliverRetry)
}

func truncate(s string) string {
	if len(s) <= maxAnnotationEcho {
		return s
	}
	return s[:maxAnnotationEcho] + "…"
}

// redeliverRequested passes updates that change a redelivery annotation.
type redeliverRequested struct{ predicate.Funcs }

func (redeliverRequested) Update(e event.UpdateEvent) bool {
	if e.ObjectOld == nil || e.ObjectNew == nil {
		return false
	}
	return redeliverRequest(e.ObjectOld.GetAnnotations()) != redeliverRequest(e.ObjectNew.GetAnnotations())
}
