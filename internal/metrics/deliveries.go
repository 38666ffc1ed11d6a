package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// Metric names of the delivery check.
const (
	DeliveriesObservedName = namespace + "_deliveries_observed_total"
	DeliveryHealthName     = namespace + "_delivery_health"
)

var deliveriesObserved = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: DeliveriesObservedName,
	Help: "Webhook deliveries read by delivery checks, each counted once, by result: success (the receiver answered 2xx) or failure.",
}, []string{"result"})

func init() {
	// Both series exist from the start, so that rates and alerts see them.
	deliveriesObserved.WithLabelValues("success")
	deliveriesObserved.WithLabelValues("failure")
}

// DeliveriesObserved counts deliveries seen for the first time.
func DeliveriesObserved(succeeded, failed int) {
	deliveriesObserved.WithLabelValues("success").Add(float64(succeeded))
	deliveriesObserved.WithLabelValues("failure").Add(float64(failed))
}

var deliveryHealthDesc = prometheus.NewDesc(DeliveryHealthName,
	"OutgoingWebhooks with spec.deliveryCheck by the status of their DeliveriesHealthy condition: True, False, or Unknown (no delivery yet, or not checked yet).",
	[]string{"status"}, nil)

var healthStatuses = []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown}

// deliveryHealthCollector counts resources by DeliveriesHealthy at scrape
// time, from the manager's cache.
type deliveryHealthCollector struct{ reader client.Reader }

func (c *deliveryHealthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- deliveryHealthDesc }

func (c *deliveryHealthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list webhooksv1alpha1.OutgoingWebhookList
	if err := c.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(deliveryHealthDesc, err)
		return
	}
	counts := map[metav1.ConditionStatus]int{}
	for i := range list.Items {
		obj := &list.Items[i]
		if obj.Spec.DeliveryCheck == nil {
			continue
		}
		status := metav1.ConditionUnknown
		if c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionDeliveriesHealthy); c != nil {
			status = c.Status
		}
		counts[status]++
	}
	for _, s := range healthStatuses {
		ch <- prometheus.MustNewConstMetric(deliveryHealthDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}
