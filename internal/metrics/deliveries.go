package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
