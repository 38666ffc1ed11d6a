package main

import (
	"net/url"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

func TestMinimumCalls(t *testing.T) {
	tests := []struct {
		perApp      map[string]int
		wantMinimum int
		wantIdeal   int
	}{
		{map[string]int{"a": 0}, 1, 1},                      // an empty app still takes one page
		{map[string]int{"a": 50}, 51, 1},                    // a full page
		{map[string]int{"a": 51}, 53, 2},                    // one more webhook, one more page
		{map[string]int{"a": 100, "b": 100}, 204, 4},        // two pages per app of 100
		{map[string]int{"a": 34, "b": 33, "c": 33}, 103, 3}, // uneven split
	}
	for _, tt := range tests {
		if got := minimumCalls(tt.perApp); got != tt.wantMinimum {
			t.Errorf("minimumCalls(%v) = %d, want %d", tt.perApp, got, tt.wantMinimum)
		}
		if got := idealListsPerInterval(tt.perApp); got != tt.wantIdeal {
			t.Errorf("idealListsPerInterval(%v) = %d, want %d", tt.perApp, got, tt.wantIdeal)
		}
	}
}

func TestPercentile(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Second)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Second}, {99, 99 * time.Second}, {100, 100 * time.Second}, {0, time.Second}}
	for _, tt := range tests {
		if got := percentile(sorted, tt.p); got != tt.want {
			t.Errorf("percentile(1..100s, %v) = %s, want %s", tt.p, got, tt.want)
		}
	}
}

func TestListGaps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	list := func(app string, at time.Duration, next string) bitrisefake.Request {
		q := url.Values{"limit": {"50"}}
		if next != "" {
			q.Set("next", next)
		}
		return bitrisefake.Request{Method: "GET", Path: "/v0.1/apps/" + app + "/outgoing-webhooks", Query: q, Status: 200, Time: t0.Add(at)}
	}
	reqs := []bitrisefake.Request{
		list("a", 0, ""), list("a", 0, "w50"),
		{Method: "POST", Path: "/v0.1/apps/a/outgoing-webhooks", Status: 201, Time: t0.Add(time.Second)},
		{Method: "POST", Path: "/v0.1/apps/a/outgoing-webhooks", Status: 429, Time: t0.Add(2 * time.Second)},
		list("b", 3*time.Second, ""),
		list("a", 10*time.Second, ""),
		list("b", 15*time.Second, ""),
	}
	gaps := listGaps(reqs)
	if len(gaps) != 2 || gaps[0] != 10*time.Second || gaps[1] != 12*time.Second {
		t.Errorf("listGaps = %v, want [10s 12s]", gaps)
	}
}
