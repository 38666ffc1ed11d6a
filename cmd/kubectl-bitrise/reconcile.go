package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// pollInterval is how often reconcile reads the resource while it waits.
const pollInterval = 500 * time.Millisecond

// newReconcileCommand is `kubectl bitrise reconcile owh NAME`.
func newReconcileCommand(c *cli) *cobra.Command {
	timeout := 2 * time.Minute
	cmd := &cobra.Command{
		Use:   "reconcile owh NAME",
		Short: "Ask the operator to check an OutgoingWebhook against Bitrise now, and wait for the result",
		Long: `Sets the annotation webhooks.bitrise.io/reconcile-requested-at to the current
time, waits until the operator echoes it in status.lastHandledReconcileAt,
prints the Ready condition, and fails if the resource is not Ready.`,
		Example: `  kubectl bitrise reconcile owh build-notifier -n ci`,
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := splitTarget(args, true)
			if err != nil {
				return err
			}
			if name == "" {
				return errors.New("a NAME is required: kubectl bitrise reconcile owh NAME")
			}
			return runReconcile(cmd.Context(), c, name, timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "how long to wait for the operator to handle the request")
	return cmd
}

// runReconcile requests a reconcile of owh/name with the annotation, polls
// every pollInterval until the operator echoes the request or timeout passes,
// prints the Ready condition, and fails unless it is True. A suspended
// resource fails at once: the operator would never answer.
func runReconcile(ctx context.Context, c *cli, name string, timeout time.Duration) error {
	cl, ns, err := c.clientInNamespace()
	if err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	obj := &webhooksv1alpha1.OutgoingWebhook{}
	if err := cl.Get(ctx, key, obj); err != nil {
		return notFoundOr(err, key)
	}
	if obj.Spec.Suspend {
		return fmt.Errorf("owh/%s in %s is suspended, so the operator does not reconcile it: resume it first (kubectl bitrise resume owh %s)", name, ns, name)
	}
	requested := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		webhooksv1alpha1.ReconcileRequestedAtAnnotation: requested,
	}}})
	if err != nil {
		return err
	}
	if err := cl.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(fieldManager)); err != nil {
		return notFoundOr(err, key)
	}
	fmt.Fprintf(c.streams.Out, "owh/%s: reconcile requested at %s, waiting for the operator\n", name, requested)

	err = wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		if err := cl.Get(ctx, key, obj); err != nil {
			return false, notFoundOr(err, key)
		}
		return obj.Status.LastHandledReconcileAt == requested, nil
	})
	if wait.Interrupted(err) {
		return fmt.Errorf("owh/%s: the operator did not handle the request within %s: is it running, and does it watch namespace %s?", name, timeout, ns)
	}
	if err != nil {
		return err
	}
	ready := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReady)
	fmt.Fprintf(c.streams.Out, "owh/%s: %s\n", name, describeCondition(ready))
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return fmt.Errorf("owh/%s is not Ready", name)
	}
	return nil
}

// describeCondition renders a condition as "Ready=True (Succeeded): message".
func describeCondition(c *metav1.Condition) string {
	if c == nil {
		return "no Ready condition"
	}
	return fmt.Sprintf("%s=%s (%s): %s", c.Type, c.Status, c.Reason, c.Message)
}

// notFoundOr turns a NotFound error into one naming the resource and its
// namespace, and returns other errors unchanged.
func notFoundOr(err error, key client.ObjectKey) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("OutgoingWebhook %s not found in namespace %s", key.Name, key.Namespace)
	}
	return err
}
