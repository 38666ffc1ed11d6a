package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// converge creates the webhooks and waits until each is Ready for its
// generation. It reports false when the timeout passed first.
func (b *bench) converge(ctx context.Context, tr *tracker, mgr *managerProcess) (bool, error) {
	plans := b.planWebhooks()
	keys := make([]string, len(plans))
	perApp := map[string]int{}
	for i, p := range plans {
		keys[i] = p.key
		perApp[p.app]++
	}

	progress("creating %d webhooks over %d apps and %d namespaces (interval %s, latency %s, api-qps %g, burst %d)",
		b.p.N, b.p.Apps, b.p.Namespaces, b.p.Interval, b.p.Latency, b.p.QPS, b.p.Burst)
	b.env.Fake.ResetRequests()
	tr.updates.Store(0)
	tr.countUpdates.Store(true)
	cpuStart := sampleCPU()
	mgrCPUStart, _ := cpuSeconds(mgr.Pid())
	start := time.Now()
	if err := createWebhooks(ctx, b.kube, plans, b.p.Clients, b.p.WebhookSecrets); err != nil {
		return false, err
	}
	createdIn := time.Since(start)
	progress("created in %s; waiting for Ready", createdIn.Round(time.Millisecond))

	lastReport := time.Now()
	err := waitFor(ctx, mgr, b.p.ConvergeTimeout-time.Since(start), func() (bool, error) {
		ready := tr.countReady(keys)
		if time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			progress("%4.0fs: %d/%d Ready, %d API calls", time.Since(start).Seconds(), ready, len(keys), b.env.Fake.CountRequests(""))
		}
		return ready == len(keys), nil
	})
	if err != nil && !errors.Is(err, localenv.ErrTimeout) {
		return false, err
	}
	cpuEnd := sampleCPU()
	mgrCPUEnd, _ := cpuSeconds(mgr.Pid())
	tr.countUpdates.Store(false)
	c := b.convergenceFigures(tr, plans, perApp, start, cpuStart, cpuEnd)
	c.ManagerCPUSeconds = mgrCPUEnd - mgrCPUStart
	c.ResourceWrites = tr.updates.Load()
	c.WritesPerResource = float64(c.ResourceWrites) / float64(len(plans))
	c.CreateSeconds = createdIn.Seconds()
	if !c.Converged {
		c.Pending = tr.pendingReasons(keys)
	}
	b.res.Convergence = c
	b.res.perApp = perApp
	progress("%d/%d Ready after %.1fs, %d API calls", c.Ready, c.Created, c.TotalSeconds, c.Calls.Total)
	return c.Converged, nil
}

// convergenceFigures computes what the convergence phase reports. It ends
// at the last Ready seen, or at the timeout.
func (b *bench) convergenceFigures(tr *tracker, plans []*webhookPlan, perApp map[string]int, start time.Time, cpuStart, cpuEnd cpuSample) *convergenceFigures {
	c := &convergenceFigures{Created: len(plans), CPU: cpuStart.until(cpuEnd)}
	var toReady []time.Duration
	var readyTimes []time.Time
	for _, p := range plans {
		if at, ok := tr.ready(p.key); ok {
			toReady = append(toReady, at.Sub(p.sentAt))
			readyTimes = append(readyTimes, at)
		}
	}
	c.Ready = len(readyTimes)
	c.Converged = c.Ready == c.Created
	end := cpuEnd.at
	if c.Converged {
		end = slices.MaxFunc(readyTimes, func(a, b time.Time) int { return a.Compare(b) })
	}
	c.TotalSeconds = end.Sub(start).Seconds()
	c.TimeToReady = summarize(toReady)

	reqs := b.env.Fake.Requests()
	c.Calls = localenv.CountCalls(reqs, localenv.Between(start, end))
	c.MinimumCalls = minimumCalls(perApp)
	c.CallRatio = float64(c.Calls.Total) / float64(c.MinimumCalls)
	if b.p.QPS > 0 {
		// What the rate limit alone imposes: the burst is free, the rest
		// comes at qps.
		c.RateLimitSeconds = max(float64(c.Calls.Total-b.p.Burst), 0) / b.p.QPS
		if c.RateLimitSeconds > 0 {
			c.ThroughputRatio = c.TotalSeconds / c.RateLimitSeconds
		}
		if minimum := float64(c.MinimumCalls-b.p.Burst) / b.p.QPS; minimum > 0 {
			c.MinimumRateLimitSeconds = minimum
			c.MinimumThroughputRatio = c.TotalSeconds / minimum
		}
	}
	width := max(10*time.Second, (end.Sub(start) / 20).Round(10*time.Second))
	c.TimelineWidthSeconds = width.Seconds()
	c.Timeline = timeline(reqs, readyTimes, start, end, width)
	return c
}

// steady watches the converged webhooks for a few intervals: list calls
// per interval, write calls, and writes to the resources themselves.
func (b *bench) steady(ctx context.Context, tr *tracker, mgr *managerProcess) error {
	window := time.Duration(b.p.SteadyIntervals) * b.p.Interval
	progress("steady state: observing for %s (%d intervals)", window, b.p.SteadyIntervals)
	b.env.Fake.ResetRequests()
	tr.updates.Store(0)
	tr.countUpdates.Store(true)
	start := time.Now()
	if err := keepRunning(ctx, mgr, window); err != nil {
		return err
	}
	end := time.Now()
	tr.countUpdates.Store(false)
	reqs := b.env.Fake.Requests()

	s := &steadyFigures{WindowSeconds: end.Sub(start).Seconds(), Intervals: b.p.SteadyIntervals}
	for i := range b.p.SteadyIntervals {
		from := start.Add(time.Duration(i) * b.p.Interval)
		s.ListsPerInterval = append(s.ListsPerInterval, localenv.CountCalls(reqs, localenv.Between(from, from.Add(b.p.Interval-time.Nanosecond))).GET)
	}
	s.Calls = localenv.CountCalls(reqs, localenv.Between(start, end))
	s.ListsPerIntervalMean = float64(s.Calls.GET) / float64(b.p.SteadyIntervals)
	if n := len(s.ListsPerInterval); n > 1 {
		rest := 0
		for _, lists := range s.ListsPerInterval[1:] {
			rest += lists
		}
		s.SettledListsPerInterval = float64(rest) / float64(n-1)
	}
	s.IdealListsPerInterval = idealListsPerInterval(b.res.perApp)
	s.TargetListsPerInterval = float64(s.IdealListsPerInterval) * (1 + b.p.SteadySlack)
	s.ListsPerAppPerInterval = float64(s.Calls.Lists) / float64(b.p.Apps*b.p.SteadyIntervals)
	if gaps := listGaps(reqs); len(gaps) > 0 {
		s.ListGapMinSeconds = gaps[0].Seconds()
		s.ListGapP50Seconds = percentile(gaps, 50).Seconds()
	}
	s.WriteCalls = s.Calls.Writes()
	s.ResourceWrites = tr.updates.Load()
	s.Deliveries = deliveryFiguresOf(b.p, s.Calls.Deliveries, end.Sub(start))
	b.res.Steady = s
	return nil
}

// checkRemote compares the fake's webhooks with the resources: one remote
// webhook per resource, no duplicate URL.
func (b *bench) checkRemote() {
	r := &remoteFigures{Expected: b.p.N}
	for _, app := range b.apps {
		seen := map[string]bool{}
		for _, w := range b.env.Fake.Webhooks(app) {
			r.Found++
			if seen[w.URL] {
				r.Duplicates++
			}
			seen[w.URL] = true
		}
	}
	b.res.Remote = r
}

// memory compares two fresh manager runs that do the same work, one
// without and one with the unrelated Secrets (see memoryMethod); without is
// the restarted manager, run 2.
func (b *bench) memory(ctx context.Context, without *managerProcess) error {
	m := b.res.Memory
	if b.p.Secrets == 0 {
		return nil
	}
	progress("memory: run 2 (the restart) settles without unrelated Secrets, %s", b.p.MemSettle)
	if err := keepRunning(ctx, without, b.p.MemSettle); err != nil {
		return err
	}
	var err error
	if m.WithoutSecrets, err = without.rss(); err != nil {
		return err
	}
	m.RestartCalls = b.env.Fake.CountRequests("")

	progress("memory: creating %d unrelated Secrets of %d bytes (kubectl-applied: %t)", b.p.Secrets, b.p.SecretBytes, b.p.SecretsApplied)
	start := time.Now()
	if err := createSecrets(ctx, b.kube, b.nsNames, b.p.Secrets, b.p.SecretBytes, 2*b.p.Clients, b.p.SecretsApplied); err != nil {
		return err
	}
	m.SecretsCreateSeconds = time.Since(start).Seconds()
	if err := keepRunning(ctx, without, b.p.MemSettle); err != nil {
		return err
	}
	if m.WithSecretsAdded, err = without.rss(); err != nil {
		return err
	}
	if err := without.stop(); err != nil {
		return err
	}

	progress("memory: fresh manager with the Secrets present, %s", b.p.MemSettle)
	with, err := b.settledManager(ctx, "manager-3-with-secrets.log")
	if err != nil {
		return err
	}
	defer func() { _ = with.stop() }()
	if m.WithSecretsRestart, err = with.rss(); err != nil {
		return err
	}
	m.DeltaRestartMiB = m.WithSecretsRestart.PeakMiB - m.WithoutSecrets.PeakMiB
	m.DeltaAddedMiB = m.WithSecretsAdded.PeakMiB - m.WithoutSecrets.PeakMiB
	return nil
}

const memoryMethod = "peak RSS (VmHWM) of fresh manager runs doing the same work for the same time " +
	"(start, reconcile every converged webhook, drift checks): run 2 without unrelated Secrets; the Secrets are then " +
	"created while run 2 goes on (added); run 3 starts with them already present (restart: whatever a start does " +
	"with existing Secrets, such as an initial list, is in it). Delta = peak with - peak without, " +
	"so the binary, the webhooks and their drift checks cancel out."

// settledManager starts a manager and lets it run for the settle time.
func (b *bench) settledManager(ctx context.Context, logName string) (*managerProcess, error) {
	// Metrics on, as in run 2, so that the runs compare.
	addr, err := localenv.FreeAddress()
	if err != nil {
		return nil, err
	}
	args := append(b.managerArgs(), "--metrics-bind-address", addr, "--metrics-secure=false")
	mgr, err := startManager(b.binary, b.env, b.token, args, filepath.Join(b.logDir, logName))
	if err != nil {
		return nil, err
	}
	if err := keepRunning(ctx, mgr, b.p.MemSettle); err != nil {
		_ = mgr.stop()
		return nil, fmt.Errorf("%s: %w", logName, err)
	}
	return mgr, nil
}
