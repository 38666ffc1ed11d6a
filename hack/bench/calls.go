package main

import (
	"net/http"
	"slices"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// pagesFor is how many list calls one list of an app with n webhooks
// takes: ⌈n/50⌉, and one for an empty app.
func pagesFor(n int) int {
	return max(1, (n+pageLimit-1)/pageLimit)
}

// pageLimit is the API's largest page, which the operator asks for.
const pageLimit = 50

// minimumCalls is the least a converging operator can do: one POST per
// webhook, and one list of each app at its final size (generous: the first
// list of an empty app takes one page).
func minimumCalls(perApp map[string]int) int {
	n := 0
	for _, count := range perApp {
		n += count + pagesFor(count)
	}
	return n
}

// idealListsPerInterval is one list of each app per interval, at ⌈n/50⌉
// pages each.
func idealListsPerInterval(perApp map[string]int) int {
	n := 0
	for _, count := range perApp {
		n += pagesFor(count)
	}
	return n
}

// timelineBucket is what happened in one slice of the convergence.
type timelineBucket struct {
	FromSeconds float64        `json:"from_s"`
	Calls       localenv.Calls `json:"calls"`
	Ready       int            `json:"ready"`
}

// timeline slices [start, end] into buckets of width and counts the calls
// and the resources turning Ready in each.
func timeline(reqs []bitrisefake.Request, readyTimes []time.Time, start, end time.Time, width time.Duration) []timelineBucket {
	n := int(end.Sub(start)/width) + 1
	buckets := make([]timelineBucket, n)
	for i := range buckets {
		buckets[i].FromSeconds = (time.Duration(i) * width).Seconds()
	}
	index := func(t time.Time) int {
		if t.Before(start) || t.After(end) {
			return -1
		}
		return min(int(t.Sub(start)/width), n-1)
	}
	for _, r := range reqs {
		if i := index(r.Time); i >= 0 {
			buckets[i].Calls.Add(r)
		}
	}
	for _, t := range readyTimes {
		if i := index(t); i >= 0 {
			buckets[i].Ready++
		}
	}
	return buckets
}

// listGaps returns the times between consecutive lists of the same app
// (GETs of a first page, by path), sorted.
func listGaps(reqs []bitrisefake.Request) []time.Duration {
	byApp := map[string][]time.Time{}
	for _, r := range reqs {
		if r.Method == http.MethodGet && r.Query.Get("next") == "" && !localenv.IsDeliveryRead(r) {
			byApp[r.Path] = append(byApp[r.Path], r.Time)
		}
	}
	var gaps []time.Duration
	for _, times := range byApp {
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		for i := 1; i < len(times); i++ {
			gaps = append(gaps, times[i].Sub(times[i-1]))
		}
	}
	slices.Sort(gaps)
	return gaps
}
