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

func markStalled(obj *webhooksv1alpha1.OutgoingWebhook, reason, message string) {
	setCondition(obj, webhooksv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	setCondition(obj, webhooksv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(&obj.Status.Conditions, webhooksv1alpha1.ConditionReconciling)
}

// readyChanged reports whether the Ready condition differs between two
// snapshots in status, reason or message: the transitions worth an event.
func readyChanged(before, after *webhooksv1alpha1.OutgoingWebhook) bool {
	b := meta.FindStatusCondition(before.Status.Conditions, webhooksv1alpha1.ConditionReady)
	a := meta.FindStatusCondition(after.Status.Conditions, webhooksv1alpha1.ConditionReady)
	if a == nil || b == nil {
		return a != b
	}
	return a.Status != b.Status || a.Reason != b.Reason || a.Message != b.Message
}
