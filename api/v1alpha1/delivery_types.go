package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// RedeliverAnnotation asks for one delivery, named by its slug, to be
	// sent again (POST .../delivery-items/{slug}/redeliver) whenever its
	// value changes. The handled value is echoed to
	// status.lastHandledRedeliver.
	RedeliverAnnotation = "webhooks.bitrise.io/redeliver"

	// RedeliverFailedSinceAnnotation asks for every failed delivery (no 2xx
	// answer) created at or after its value, an RFC 3339 time, to be sent
	// again, oldest first, at most MaxRedeliveries per request. The handled
	// value is echoed to status.lastHandledRedeliver.
	RedeliverFailedSinceAnnotation = "webhooks.bitrise.io/redeliver-failed-since"

	// MaxRedeliveries bounds the deliveries one redeliver-failed-since
	// request sends again.
	MaxRedeliveries = 50

	// DefaultFailureThreshold is spec.deliveryCheck.failureThreshold when unset.
	DefaultFailureThreshold = 1
)

// DeliveryCheck says how often the webhook's deliveries are read and when
// they make it unhealthy.
type DeliveryCheck struct {
	// Interval is how often the newest deliveries are read (one API call
	// per interval), such as `10m`. At least 1m, at most 24h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="deliveryCheck.interval must be at least 1m"
	// +kubebuilder:validation:XValidation:rule="duration(self) <= duration('24h')",message="deliveryCheck.interval must be at most 24h"
	// +required
	Interval metav1.Duration `json:"interval"`

	// FailureThreshold is how many of the most recent deliveries must all
	// have failed (no 2xx answer) for DeliveriesHealthy to be False.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	// +optional
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// GetFailureThreshold returns the threshold, with the default applied.
func (in *DeliveryCheck) GetFailureThreshold() int {
	if in == nil || in.FailureThreshold < 1 {
		return DefaultFailureThreshold
	}
	return int(in.FailureThreshold)
}

// GetInterval returns the interval, at least one minute (the CRD enforces
// it; this guards objects written before validation).
func (in *DeliveryCheck) GetInterval() time.Duration {
	return max(in.Interval.Duration, time.Minute)
}

// DeliveryRecord is one delivery of the webhook, without anything it sent
// or received: request headers, payload, URL query and response body hold
// the signature and secret header values, and are never copied.
type DeliveryRecord struct {
	// Slug identifies the delivery on Bitrise (the value the
	// webhooks.bitrise.io/redeliver annotation takes).
	Slug string `json:"slug"`

	// At is when Bitrise made the delivery (its created_at).
	// +optional
	At *metav1.Time `json:"at,omitempty"`

	// HTTPStatus is the receiver's HTTP status code; 0 when there was no
	// answer.
	HTTPStatus int32 `json:"httpStatus"`

	// DurationSeconds is how long the receiver took to answer, in seconds.
	DurationSeconds int32 `json:"durationSeconds"`
}

// DeliveryCounts counts deliveries by outcome.
type DeliveryCounts struct {
	// Succeeded counts deliveries answered with a 2xx status.
	Succeeded int32 `json:"succeeded"`
	// Failed counts deliveries answered otherwise, or not answered.
	Failed int32 `json:"failed"`
}
