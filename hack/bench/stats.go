package main

import (
	"math"
	"slices"
	"time"
)

// durationStats summarises per-resource times to Ready, in seconds.
type durationStats struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_s"`
	P99   float64 `json:"p99_s"`
	Max   float64 `json:"max_s"`
}

func summarize(ds []time.Duration) durationStats {
	if len(ds) == 0 {
		return durationStats{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return durationStats{
		Count: len(sorted),
		P50:   percentile(sorted, 50).Seconds(),
		P99:   percentile(sorted, 99).Seconds(),
		Max:   sorted[len(sorted)-1].Seconds(),
	}
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
