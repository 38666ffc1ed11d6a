package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// TestFailedMapsEveryOutcomeAlike covers the one mapping of failures to
// conditions and results that the normal and the delete path share.
func TestFailedMapsEveryOutcomeAlike(t *testing.T) {
	interval := time.Minute
	describe := func(s *stalledError) string { return "while deleting: " + s.message }
	tests := []struct {
		name          string
		err           error
		wantErr       bool
		wantAfterMin  time.Duration
		wantAfterMax  time.Duration
		wantReason    string // Ready's reason; "" = conditions untouched
		wantMessageIn string
	}{
		{
			name:         "needs the user: Stalled, retried every interval",
			err:          stalled(webhooksv1alpha1.ReasonAppNotFound, "app x was not found"),
			wantAfterMin: interval, wantAfterMax: interval + interval/10,
			wantReason: webhooksv1alpha1.ReasonAppNotFound, wantMessageIn: "while deleting: app x was not found",
		},
		{
			name:         "Retry-After is honoured",
			err:          fmt.Errorf("listing: %w", &bitrise.APIError{StatusCode: 429, RetryAfter: 7 * time.Second}),
			wantAfterMin: 7 * time.Second, wantAfterMax: 7 * time.Second,
			wantReason: webhooksv1alpha1.ReasonAPIUnavailable,
		},
		{
			name:         "Retry-After is capped",
			err:          &bitrise.APIError{StatusCode: 503, RetryAfter: 24 * time.Hour},
			wantAfterMin: bitrise.MaxPause, wantAfterMax: bitrise.MaxPause,
			wantReason: webhooksv1alpha1.ReasonAPIUnavailable,
		},
		{
			name: "a 5xx without Retry-After backs off", err: &bitrise.APIError{StatusCode: 502},
			wantErr: true, wantReason: webhooksv1alpha1.ReasonAPIUnavailable,
		},
		{
			name: "no answer backs off", err: &bitrise.NetworkError{Method: "GET", Path: "/apps", Err: errors.New("connection reset")},
			wantErr: true, wantReason: webhooksv1alpha1.ReasonAPIUnavailable,
		},
		{
			name: "a webhook still listed after a 404 backs off", err: &bitrise.StillListedError{Slug: "s1"},
			wantErr: true, wantReason: webhooksv1alpha1.ReasonAPIUnavailable, wantMessageIn: "still lists it",
		},
		{
			name:    "a Kubernetes error backs off without a condition",
			err:     apierrors.NewConflict(schema.GroupResource{Resource: "outgoingwebhooks"}, "x", errors.New("changed")),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &webhooksv1alpha1.OutgoingWebhook{}
			obj.Spec.Interval = &metav1.Duration{Duration: interval}
			result, err := failed(context.Background(), obj, tt.err, describe)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want an error: %v", err, tt.wantErr)
			}
			if err != nil && result.RequeueAfter != 0 {
				t.Errorf("an error and a RequeueAfter together: the result is ignored")
			}
			if !tt.wantErr && (result.RequeueAfter < tt.wantAfterMin || result.RequeueAfter > tt.wantAfterMax) {
				t.Errorf("RequeueAfter %v, want %v to %v", result.RequeueAfter, tt.wantAfterMin, tt.wantAfterMax)
			}
			ready := meta.FindStatusCondition(obj.Status.Conditions, webhooksv1alpha1.ConditionReady)
			if tt.wantReason == "" {
				if ready != nil {
					t.Errorf("conditions touched: %+v", obj.Status.Conditions)
				}
				return
			}
			if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != tt.wantReason {
				t.Fatalf("Ready %+v, want False %s", ready, tt.wantReason)
			}
			if tt.wantMessageIn != "" && !strings.Contains(ready.Message, tt.wantMessageIn) {
				t.Errorf("message %q, want it to hold %q", ready.Message, tt.wantMessageIn)
			}
		})
	}
}
