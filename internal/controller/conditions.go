package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// The three conditions follow kstatus: Ready=True alone is Current,
// Stalled=True is Failed, Reconciling=True is InProgress. Reconciling and
// Stalled are never both True.

func setCondition(obj *webhooksv1alpha1.OutgoingWebhook, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&obj.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.Generation,
	})
}

func markReady(obj *webhooksv1alpha1.OutgoingWebhook, message string) {
	setCondition(obj, webhooksv1alpha1.ConditionReady, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded, message)
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionStalled)
}

func markReconciling(obj *webhooksv1alpha1.OutgoingWebhook, reason, message string) {
	setCondition(obj, webhooksv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, webhooksv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionStalled)
}

// markRetrying is markReconciling for a transient failure retried with
// backoff. While the reason stays the same, the message of the first
// failure is kept: an API that quotes a request id in its error bodies
// would otherwise make every retry write the status (and re-trigger
// watchers) with a new text. Every error is in the log.
func markRetrying(obj *webhooksv1alpha1.OutgoingWebhook, reason, message string) {
	c := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReconciling)
	if c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason {
		message = c.Message
	}
	markReconciling(obj, reason, message)
}

func markStalled(obj *webhooksv1alpha1.OutgoingWebhook, reason, message string) {
	setCondition(obj, webhooksv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, webhooksv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionReconciling)
}

// readyChanged reports whether the Ready condition differs between two
// snapshots in status or reason: the transitions worth an event. A new
// message for the same reason (a retry whose error quotes a request id, a
// Stalled resource whose user fixed one thing but not the next) is not.
func readyChanged(before, after *webhooksv1alpha1.OutgoingWebhook) bool {
	b := meta.FindStatusCondition(before.Status.Conditions, webhooksv1alpha1.ConditionReady)
	a := meta.FindStatusCondition(after.Status.Conditions, webhooksv1alpha1.ConditionReady)
	if a == nil || b == nil {
		return a != b
	}
	return a.Status != b.Status || a.Reason != b.Reason
}
