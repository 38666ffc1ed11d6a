package localenv

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func TestCountCalls(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	req := func(method, path, next string, status int, dropped bool, at int) bitrisefake.Request {
		q := url.Values{}
		if next != "" {
			q.Set("next", next)
		}
		return bitrisefake.Request{Method: method, Path: path, Query: q, Status: status, Dropped: dropped, Time: t0.Add(time.Duration(at) * time.Second)}
	}
	reqs := []bitrisefake.Request{
		req(http.MethodGet, "/v0.1/apps/a/outgoing-webhooks", "", 200, false, 0),
		req(http.MethodGet, "/v0.1/apps/a/outgoing-webhooks", "cursor", 200, false, 1),
		req(http.MethodGet, "/v0.1/apps/a/outgoing-webhooks/s/delivery-items", "", 200, false, 2),
		req(http.MethodPost, "/v0.1/apps/a/outgoing-webhooks", "", 201, true, 3),
		req(http.MethodPost, "/v0.1/apps/b/outgoing-webhooks", "", 503, false, 4),
		req(http.MethodPut, "/v0.1/apps/a/outgoing-webhooks/s", "", 200, false, 5),
		req(http.MethodDelete, "/v0.1/apps/a/outgoing-webhooks/s", "", 0, true, 6),
		req(http.MethodPatch, "/v0.1/apps/a/outgoing-webhooks/s", "", 405, false, 7),
	}
	got := CountCalls(reqs)
	want := Calls{GET: 2, Lists: 1, Deliveries: 1, POST: 2, PUT: 1, DELETE: 1, Other: 1, Failed: 4, Dropped: 2, LostCreates: 1, Total: 8}
	if got != want {
		t.Errorf("CountCalls = %+v, want %+v", got, want)
	}
	if got.Writes() != 5 || got.Reads() != 3 || got.Method(http.MethodGet) != 3 || got.Method(http.MethodPost) != 2 {
		t.Errorf("writes %d, reads %d, GET %d, POST %d; want 5, 3, 3, 2", got.Writes(), got.Reads(), got.Method(http.MethodGet), got.Method(http.MethodPost))
	}
	if c := CountCalls(reqs, PathContains("/apps/b/")); c.Total != 1 || c.POST != 1 || c.Failed != 1 {
		t.Errorf("app b: %+v, want one failed POST", c)
	}
	if c := CountCalls(reqs, PathContains("/apps/a/"), Between(t0.Add(time.Second), t0.Add(3*time.Second))); c.Total != 3 || c.GET != 1 || c.Deliveries != 1 || c.POST != 1 {
		t.Errorf("app a in [1s, 3s]: %+v, want a GET, a delivery read and a POST", c)
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestLeakScannerFindsEveryFormAndNeverPrintsTheValue(t *testing.T) {
	var s LeakScanner
	token := s.NewValue("api-token")
	s.Register("webhook secret", "change-me-please")
	if !strings.HasPrefix(token, "api-token-") || len(token) != len("api-token-")+24 {
		t.Fatalf("NewValue = %q, want api-token- and 24 hex digits", token)
	}
	for _, tc := range []struct {
		name, text string
		want       int
	}{
		{"clean", "nothing to see", 0},
		{"raw", "token=" + token, 1},
		{"std base64", "data: " + base64.StdEncoding.EncodeToString([]byte("change-me-please")), 1},
		{"raw url base64", base64.RawURLEncoding.EncodeToString([]byte(token)), 1},
		{"both raw", token + " " + "change-me-please", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			// A base64 form may match twice: without + or /, the raw URL
			// form is a prefix of the standard one.
			n := s.ScanText(r, "the logs", tc.text)
			if n < tc.want || (tc.want == 0) != (n == 0) || n != len(r.errors) {
				t.Errorf("found %d (%d errors), want %d", n, len(r.errors), tc.want)
			}
			for _, e := range r.errors {
				if strings.Contains(e, token) || strings.Contains(e, "change-me-please") || !strings.Contains(e, "the logs") {
					t.Errorf("error message %q prints the value or omits where", e)
				}
			}
		})
	}
	r := &recorder{TB: t}
	if n := s.ScanObject(r, "a status", map[string]string{"message": "got " + token}); n == 0 {
		t.Errorf("ScanObject found nothing")
	}
	if got := s.Totals().Values; got != 2 {
		t.Errorf("Totals().Values = %d, want 2", got)
	}
}

func TestPoll(t *testing.T) {
	calls := 0
	if err := Poll(t.Context(), time.Millisecond, time.Second, func() (bool, error) { calls++; return calls == 3, nil }); err != nil || calls != 3 {
		t.Errorf("Poll = %v after %d calls, want nil after 3", err, calls)
	}
	if err := Poll(t.Context(), time.Millisecond, 20*time.Millisecond, func() (bool, error) { return false, nil }); !errors.Is(err, ErrTimeout) {
		t.Errorf("Poll of a condition that never holds = %v, want ErrTimeout", err)
	}
	boom := errors.New("boom")
	if err := Poll(t.Context(), time.Millisecond, time.Second, func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("Poll of a failing condition = %v, want its error", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Poll(ctx, time.Millisecond, time.Second, func() (bool, error) { return false, nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Poll with an ended context = %v, want context.Canceled", err)
	}
}
