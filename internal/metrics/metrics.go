// Package metrics defines the operator's Prometheus metrics, beside
// controller-runtime's own (reconcile counts and durations, workqueue).
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

const namespace = "bitrise_webhooks"

// Metric names, as dashboards and alerts use them.
const (
	APIRequestsName      = namespace + "_api_requests_total"
	APIDurationName      = namespace + "_api_request_duration_seconds"
	RateLimitWaitName    = namespace + "_api_rate_limit_wait_seconds"
	ResourcesName        = namespace + "_resources"
	DriftCorrectionsName = namespace + "_drift_corrections_total"
	SecretRotationsName  = namespace + "_secret_rotations_total"
)

var (
	apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: APIRequestsName,
		Help: "Requests to the Bitrise API by method, path template and HTTP status code (\"error\" when there was no answer).",
	}, []string{"method", "route", "code"})
	apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    APIDurationName,
		Help:    "Latency of requests to the Bitrise API.",
		Buckets: []float64{0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"method", "route"})
	rateLimitWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    RateLimitWaitName,
		Help:    "Time requests waited for the per-token client-side rate limit or a pause asked by the API (Retry-After, X-RateLimit-*).",
		Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300},
	})
	driftCorrections = prometheus.NewCounter(prometheus.CounterOpts{
		Name: DriftCorrectionsName,
		Help: "Remote webhooks corrected or recreated after a change made outside Kubernetes.",
	})
	secretRotations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: SecretRotationsName,
		Help: "Remote webhooks replaced to apply a new webhook secret.",
	})
)

// Register adds the metrics to reg; reader lists OutgoingWebhooks (the
// manager's cache) for the resources-by-condition gauge at scrape time.
func Register(reg prometheus.Registerer, reader client.Reader) error {
	for _, c := range []prometheus.Collector{apiRequests, apiDuration, rateLimitWait, driftCorrections, secretRotations, &resourcesCollector{reader: reader},
		deliveriesObserved} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// DriftCorrected counts one correction of drift.
func DriftCorrected() { driftCorrections.Inc() }

// SecretRotated counts one replacement for a new secret.
func SecretRotated() { secretRotations.Inc() }

// APIObserver feeds the API metrics from the Bitrise client.
type APIObserver struct{}

// RequestDone records one request.
func (APIObserver) RequestDone(method, route string, status int, latency time.Duration) {
	code := "error"
	if status > 0 {
		code = strconv.Itoa(status)
	}
	apiRequests.WithLabelValues(method, route, code).Inc()
	apiDuration.WithLabelValues(method, route).Observe(latency.Seconds())
}

// Throttled records one wait for the rate limit.
func (APIObserver) Throttled(wait time.Duration) { rateLimitWait.Observe(wait.Seconds()) }

// Conditions reported by the resources gauge.
var gaugeConditions = []string{
	webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ConditionStalled,
	webhooksv1alpha1.ConditionReconciling, webhooksv1alpha1.ReasonSuspended,
}

var resourcesDesc = prometheus.NewDesc(ResourcesName,
	"OutgoingWebhooks by condition: Ready, Stalled or Reconciling (the condition is True), or Suspended (spec.suspend).",
	[]string{"condition"}, nil)

// resourcesCollector counts resources at scrape time, from the manager's
// cache, with one list for both gauges: by condition (ResourcesName) and,
// of those with spec.deliveryCheck, by DeliveriesHealthy (DeliveryHealthName).
type resourcesCollector struct{ reader client.Reader }

func (c *resourcesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- resourcesDesc
	ch <- deliveryHealthDesc
}

func (c *resourcesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(resourcesDesc, err)
		ch <- prometheus.NewInvalidMetric(deliveryHealthDesc, err)
		return
	}
	counts := map[string]int{}
	health := map[metav1.ConditionStatus]int{}
	for i := range list.Items {
		obj := &list.Items[i]
		if obj.Spec.Suspend {
			counts[webhooksv1alpha1.ReasonSuspended]++
		}
		for _, typ := range gaugeConditions[:3] {
			if meta.IsStatusConditionPresentAndEqual(obj.Status.Conditions, typ, metav1.ConditionTrue) {
				counts[typ]++
			}
		}
		if obj.Spec.DeliveryCheck != nil {
			status := metav1.ConditionUnknown
			if c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy); c != nil {
				status = c.Status
			}
			health[status]++
		}
	}
	for _, cond := range gaugeConditions {
		ch <- prometheus.MustNewConstMetric(resourcesDesc, prometheus.GaugeValue, float64(counts[cond]), cond)
	}
	for _, s := range healthStatuses {
		ch <- prometheus.MustNewConstMetric(deliveryHealthDesc, prometheus.GaugeValue, float64(health[s]), string(s))
	}
}
