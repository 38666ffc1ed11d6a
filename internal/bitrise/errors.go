package bitrise

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// APIError is an answer of the API that is not a success, or a success whose
// body could not be used. Message is already redacted and truncated, so it
// may be surfaced in conditions and events.
type APIError struct {
	StatusCode int
	Method     string
	Path       string
	Message    string
	// RetryAfter is the server's Retry-After, zero when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	text := http.StatusText(e.StatusCode)
	if text == "" {
		text = "status"
	}
	s := fmt.Sprintf("bitrise API: %s %s: %d %s", e.Method, e.Path, e.StatusCode, text)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// NetworkError is a request that got no HTTP answer: connection refused or
// dropped, TLS failure, timeout, cancelled context.
type NetworkError struct {
	Method string
	Path   string
	// Err is kept for errors.Is/As (context.Canceled, net.Error, ...).
	Err error
	// text is Err's text, redacted when the error was built.
	text string
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("bitrise API: %s %s: %s", e.Method, e.Path, e.text)
}

func (e *NetworkError) Unwrap() error { return e.Err }

// StatusCode returns the HTTP status of an *APIError in err's chain, or 0.
func StatusCode(err error) int {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// IsNotFound reports a 404: unknown app, unknown webhook, or (on Bitrise) an
// app the token may not see.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

// IsAuthError reports a token that is invalid (401) or lacks access (403).
func IsAuthError(err error) bool {
	code := StatusCode(err)
	return code == http.StatusUnauthorized || code == http.StatusForbidden
}

// IsBadRequest reports a request the API rejected as invalid; sending it again
// unchanged cannot succeed.
func IsBadRequest(err error) bool {
	code := StatusCode(err)
	return code == http.StatusBadRequest || code == http.StatusUnprocessableEntity
}

// IsRetryable reports an error that may go away by itself: 408, 429, 5xx,
// requests without an answer, and requests not sent because the token is
// throttled (*ThrottledError). A cancelled context is not retryable because
// the caller gave up; a timeout is. An unusable 2xx body is not retryable: a
// create may have succeeded, so the caller must list before creating again.
func IsRetryable(err error) bool {
	if _, ok := Throttled(err); ok {
		return true
	}
	var netErr *NetworkError
	if errors.As(err, &netErr) {
		return !errors.Is(err, context.Canceled)
	}
	code := StatusCode(err)
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500 && code <= 599
}

// RetryAfter returns the server's Retry-After of an *APIError in err's chain,
// or the Wait of a *ThrottledError, or 0.
func RetryAfter(err error) time.Duration {
	if wait, ok := Throttled(err); ok {
		return wait
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}
