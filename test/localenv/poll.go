package localenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// ErrTimeout is what Poll returns (wrapped, naming the timeout) when its
// condition did not hold in time.
var ErrTimeout = errors.New("timed out")

// Poll calls cond at once and then every interval until it returns true or
// an error. It returns nil when cond held, cond's error as is, ctx's error
// when ctx ends first, and an error wrapping ErrTimeout when timeout passes
// first. It is apimachinery's wait.PollUntilContextCancel with the
// caller's cancellation told apart from the timeout.
func Poll(ctx context.Context, interval, timeout time.Duration, cond func() (bool, error)) error {
	pollCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var condErr error
	err := wait.PollUntilContextCancel(pollCtx, interval, true, func(context.Context) (bool, error) {
		ok, err := cond()
		condErr = err
		return ok, err
	})
	switch {
	case err == nil:
		return nil
	case condErr != nil:
		return condErr
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("%w after %s", ErrTimeout, timeout)
	}
}

// Eventually polls cond every interval until it holds, and fails the test
// (t.Fatalf, so call it from the test's goroutine) when timeout passes or
// the test's context ends first. cond returns whether it holds and, when
// not, why; the last reason is in the failure message, beside what.
func Eventually(t testing.TB, interval, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	last := ""
	err := Poll(t.Context(), interval, timeout, func() (bool, error) {
		ok, why := cond()
		last = why
		return ok, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, ErrTimeout):
		t.Fatalf("%s: not reached within %s: %s", what, timeout, last)
	default:
		t.Fatalf("%s: %v: %s", what, err, last)
	}
}
