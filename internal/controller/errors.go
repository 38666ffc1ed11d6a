package controller

import (
	"errors"
	"fmt"
	"net/http"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// stalledError is a failure that only the user can fix: it is reported as
// Stalled=True and retried at the resource's interval, not in a hot loop.
type stalledError struct {
	reason  string
	message string
}

func (e *stalledError) Error() string { return e.message }

func stalled(reason, format string, args ...any) error {
	return &stalledError{reason: reason, message: fmt.Sprintf(format, args...)}
}

// classifyAPIError turns an error of the Bitrise API into a stalledError when
// it needs the user, and leaves transient errors (429, 5xx, network) alone.
func classifyAPIError(err error, appSlug string) error {
	var apiErr *bitrise.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch {
	case bitrise.IsAuthError(err):
		return stalled(webhooksv1alpha1.ReasonAuthenticationFailed,
			"Bitrise rejected the API token (%d %s): check the token and that it has the Admin or Owner role on app %s",
			apiErr.StatusCode, http.StatusText(apiErr.StatusCode), appSlug)
	case bitrise.IsNotFound(err):
		return stalled(webhooksv1alpha1.ReasonAppNotFound,
			"Bitrise app %s was not found (404): check spec.appSlug and that the token can see the app", appSlug)
	case bitrise.IsBadRequest(err):
		return stalled(webhooksv1alpha1.ReasonInvalidRequest, "Bitrise rejected the webhook: %s", apiErr.Message)
	}
	return err
}
