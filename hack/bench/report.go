package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// results is everything measured; it is written as JSON and printed.
type results struct {
	StartedAt   time.Time           `json:"started_at"`
	Machine     machine             `json:"machine"`
	Parameters  parameters          `json:"parameters"`
	Convergence *convergenceFigures `json:"convergence,omitempty"`
	Steady      *steadyFigures      `json:"steady_state,omitempty"`
	Remote      *remoteFigures      `json:"remote,omitempty"`
	Restart     *restartFigures     `json:"restart,omitempty"`
	Memory      *memoryFigures      `json:"memory,omitempty"`
	Fair        *fairFigures        `json:"fair_share,omitempty"`
	Targets     []target            `json:"targets"`

	perApp map[string]int
}

type parameters struct {
	N                      int     `json:"n"`
	Apps                   int     `json:"apps"`
	Namespaces             int     `json:"namespaces"`
	IntervalSeconds        float64 `json:"interval_s"`
	LatencySeconds         float64 `json:"latency_s"`
	APIQPS                 float64 `json:"api_qps"`
	APIBurst               int     `json:"api_burst"`
	MaxConcurrentReconcile int     `json:"max_concurrent_reconciles"`
	ClientGoroutines       int     `json:"client_goroutines"`
	SteadyIntervals        int     `json:"steady_intervals"`
	SteadySlack            float64 `json:"steady_slack"`
	Secrets                int     `json:"secrets"`
	WebhookSecrets         bool    `json:"webhook_secrets"`
	Preset                 string  `json:"preset,omitempty"`
	RSSTargetMiB           float64 `json:"rss_target_mib"`
	SecretBytes            int     `json:"secret_bytes"`
	SecretsApplied         bool    `json:"secrets_kubectl_applied"`
	MemSettleSeconds       float64 `json:"mem_settle_s"`
	TimeoutSeconds         float64 `json:"timeout_s"`
}

type convergenceFigures struct {
	Created       int     `json:"created"`
	Ready         int     `json:"ready"`
	Converged     bool    `json:"converged"`
	CreateSeconds float64 `json:"create_s"`
	// TotalSeconds runs from the first create sent to the last Ready seen.
	TotalSeconds float64        `json:"total_s"`
	TimeToReady  durationStats  `json:"time_to_ready"`
	Calls        localenv.Calls `json:"calls"`
	MinimumCalls int            `json:"minimum_calls"`
	CallRatio    float64        `json:"call_ratio"`
	// RateLimitSeconds is what the rate limit alone imposes on these calls:
	// (calls - burst) / qps.
	RateLimitSeconds float64 `json:"rate_limit_s"`
	ThroughputRatio  float64 `json:"throughput_ratio"`
	// The same for the minimum calls: how much longer than a perfect
	// operator under the same rate limit.
	MinimumRateLimitSeconds float64 `json:"minimum_rate_limit_s"`
	MinimumThroughputRatio  float64 `json:"minimum_throughput_ratio"`
	CPU                     cpuUse  `json:"cpu"`
	// ManagerCPUSeconds is the CPU time the manager used (user+system).
	ManagerCPUSeconds float64 `json:"manager_cpu_s"`
	// ResourceWrites are OutgoingWebhook updates seen by a watch (the
	// creates are not counted); WritesPerResource divides by the count.
	ResourceWrites       int64            `json:"resource_writes"`
	WritesPerResource    float64          `json:"writes_per_resource"`
	TimelineWidthSeconds float64          `json:"timeline_width_s"`
	Timeline             []timelineBucket `json:"timeline"`
	Pending              map[string]int   `json:"pending_by_reason,omitempty"`
}

type steadyFigures struct {
	WindowSeconds        float64 `json:"window_s"`
	Intervals            int     `json:"intervals"`
	ListsPerInterval     []int   `json:"lists_per_interval"`
	ListsPerIntervalMean float64 `json:"lists_per_interval_mean"`
	// SettledListsPerInterval leaves out the first interval, which holds
	// the first drift checks of the webhooks made during convergence.
	SettledListsPerInterval float64 `json:"settled_lists_per_interval,omitempty"`
	IdealListsPerInterval   int     `json:"ideal_lists_per_interval"`
	TargetListsPerInterval  float64 `json:"target_lists_per_interval"`
	// ListsPerAppPerInterval counts whole lists (of any number of pages)
	// of one app per interval: 1 is ideal.
	ListsPerAppPerInterval float64 `json:"lists_per_app_per_interval"`
	// Time between two lists of the same app.
	ListGapMinSeconds float64        `json:"list_gap_min_s"`
	ListGapP50Seconds float64        `json:"list_gap_p50_s"`
	Calls             localenv.Calls `json:"calls"`
	WriteCalls        int            `json:"write_calls"`
	// ResourceWrites counts changes of the OutgoingWebhooks themselves.
	ResourceWrites int64            `json:"resource_writes"`
	Deliveries     *deliveryFigures `json:"deliveries,omitempty"`
}

type remoteFigures struct {
	Expected   int `json:"expected"`
	Found      int `json:"found"`
	Duplicates int `json:"duplicates"`
}

type memoryFigures struct {
	Method      string `json:"method"`
	AfterSteady rss    `json:"after_steady"`
	// RestartRun is run 2 right after its restart measurement.
	RestartRun           rss     `json:"restart_run"`
	WithoutSecrets       rss     `json:"without_secrets"`
	WithSecretsAdded     rss     `json:"with_secrets_added"`
	WithSecretsRestart   rss     `json:"with_secrets_restart"`
	DeltaAddedMiB        float64 `json:"delta_added_mib"`
	DeltaRestartMiB      float64 `json:"delta_restart_mib"`
	SecretsCreateSeconds float64 `json:"secrets_create_s"`
	// RestartCalls are the API calls of a fresh manager over converged
	// webhooks, during its settle time.
	RestartCalls int `json:"restart_calls"`
}

type target struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Goal   string `json:"goal"`
	Status string `json:"status"` // PASS, MISS or SKIP
	Note   string `json:"note,omitempty"`
}

func newResults(p params) *results {
	return &results{StartedAt: time.Now().UTC().Truncate(time.Second), Parameters: parameters{
		N: p.N, Apps: p.Apps, Namespaces: p.Namespaces,
		IntervalSeconds: p.Interval.Seconds(), LatencySeconds: p.Latency.Seconds(),
		APIQPS: p.QPS, APIBurst: p.Burst, MaxConcurrentReconcile: p.MaxConcurrent, ClientGoroutines: p.Clients,
		SteadyIntervals: p.SteadyIntervals, SteadySlack: p.SteadySlack,
		Secrets: p.Secrets, SecretBytes: p.SecretBytes, SecretsApplied: p.SecretsApplied,
		WebhookSecrets: p.WebhookSecrets, Preset: p.Preset, RSSTargetMiB: p.RSSTargetMiB,
		MemSettleSeconds: p.MemSettle.Seconds(), TimeoutSeconds: p.ConvergeTimeout.Seconds(),
	}}
}

// memoryTargetMiB is what unrelated Secrets may add to the manager's peak RSS.
const memoryTargetMiB = 20

// writesPerResourceTarget bounds the API-server writes per created
// resource; restartCPUTarget the CPU-seconds of a restart.
const (
	writesPerResourceTarget = 3
	restartCPUTarget        = 15
)

// throughputTarget bounds convergence time over the rate limit's own time.
const throughputTarget = 1.15

// judge sets the targets from the figures.
func (r *results) judge() {
	add := func(name, value, goal string, pass bool, note string) {
		status := "MISS"
		if pass {
			status = "PASS"
		}
		r.Targets = append(r.Targets, target{Name: name, Value: value, Goal: goal, Status: status, Note: note})
	}
	skip := func(name, goal, why string) {
		r.Targets = append(r.Targets, target{Name: name, Goal: goal, Status: "SKIP", Note: why})
	}
	c := r.Convergence
	if c == nil {
		r.judgeFair(add)
		return
	}
	add("all webhooks Ready", fmt.Sprintf("%d/%d in %.1fs", c.Ready, c.Created, c.TotalSeconds),
		fmt.Sprintf("%d within %.0fs", c.Created, r.Parameters.TimeoutSeconds), c.Converged, "")
	switch {
	case r.Parameters.APIQPS <= 0:
		skip("convergence / rate-limit time", fmt.Sprintf("<= %.2f", throughputTarget), "the rate limit is disabled (-qps 0)")
	case c.RateLimitSeconds <= 0:
		skip("convergence / rate-limit time", fmt.Sprintf("<= %.2f", throughputTarget), "every call fits in the burst")
	default:
		add("convergence / rate-limit time", fmt.Sprintf("%.2f (%.1fs / %.1fs)", c.ThroughputRatio, c.TotalSeconds, c.RateLimitSeconds),
			fmt.Sprintf("<= %.2f", throughputTarget), c.Converged && c.ThroughputRatio <= throughputTarget,
			fmt.Sprintf("(%d calls - burst %d) / %g qps", c.Calls.Total, r.Parameters.APIBurst, r.Parameters.APIQPS))
	}
	if s := r.Steady; s != nil {
		add("steady list calls per interval", fmt.Sprintf("%.1f (max %d)", s.ListsPerIntervalMean, slices.Max(s.ListsPerInterval)),
			fmt.Sprintf("<= %.1f", s.TargetListsPerInterval), s.ListsPerIntervalMean <= s.TargetListsPerInterval,
			fmt.Sprintf("ideal %d = sum over apps of ceil(n/50), plus %.0f%% slack for jitter and the window's edges", s.IdealListsPerInterval, r.Parameters.SteadySlack*100))
		add("steady write calls", fmt.Sprint(s.WriteCalls), "0", s.WriteCalls == 0, "")
		add("steady writes to resources", fmt.Sprint(s.ResourceWrites), "0", s.ResourceWrites == 0, "OutgoingWebhook updates seen by a watch")
	} else {
		skip("steady state", "", "not converged")
	}
	add("writes per created resource", fmt.Sprintf("%.2f (%d)", c.WritesPerResource, c.ResourceWrites), fmt.Sprintf("<= %d", writesPerResourceTarget),
		c.Converged && c.WritesPerResource <= writesPerResourceTarget,
		"OutgoingWebhook updates seen by a watch during convergence: metadata (finalizer + create-pending marker), metadata (marker removed), status")
	if rs := r.Restart; rs != nil {
		add("restart: writes", fmt.Sprint(rs.ResourceWrites), "0", rs.ResourceWrites == 0, "a fresh manager over Ready webhooks")
		add("restart: lists per app", fmt.Sprintf("%.2f (%d lists)", rs.ListsPerApp, rs.Calls.Lists), "<= 1", rs.ListsPerApp <= 1, "")
		add("restart: manager CPU-seconds", fmt.Sprintf("%.1f (%d reconciles in %.1fs)", rs.CPUSeconds, rs.Reconciles, rs.Seconds),
			fmt.Sprintf("<= %d", restartCPUTarget), rs.CPUSeconds <= restartCPUTarget, "process start to every webhook reconciled once")
	}
	if m := r.Memory; m != nil {
		peak := max(m.AfterSteady.PeakMiB, m.WithoutSecrets.PeakMiB, m.RestartRun.PeakMiB)
		add("manager peak RSS", fmt.Sprintf("%.1f MiB", peak), fmt.Sprintf("<= %.0f MiB", r.Parameters.RSSTargetMiB), peak <= r.Parameters.RSSTargetMiB,
			"VmHWM: convergence and steady state (run 1), restart (run 2)")
	}
	if rem := r.Remote; rem != nil {
		add("one remote webhook per resource", fmt.Sprintf("%d found, %d duplicate URLs", rem.Found, rem.Duplicates),
			fmt.Sprintf("%d, 0 duplicates", rem.Expected), rem.Found == rem.Expected && rem.Duplicates == 0, "")
	}
	switch m := r.Memory; {
	case m == nil:
		skip("memory of unrelated Secrets", "", "not converged")
	case r.Parameters.Secrets == 0:
		skip("memory of unrelated Secrets", "", "-secrets 0")
	default:
		worst := max(m.DeltaRestartMiB, m.DeltaAddedMiB)
		add("memory of unrelated Secrets", fmt.Sprintf("%+.1f MiB restart, %+.1f MiB added", m.DeltaRestartMiB, m.DeltaAddedMiB),
			fmt.Sprintf("< %d MiB", memoryTargetMiB), worst < memoryTargetMiB,
			fmt.Sprintf("%d Secrets of %d bytes; peak RSS deltas", r.Parameters.Secrets, r.Parameters.SecretBytes))
	}
	r.judgeFair(add)
}

// verdict counts the targets by status.
func (r *results) verdict() string {
	count := map[string]int{}
	for _, t := range r.Targets {
		count[t.Status]++
	}
	return fmt.Sprintf("%d PASS, %d MISS, %d SKIP", count["PASS"], count["MISS"], count["SKIP"])
}

func (r *results) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func (r *results) print(out io.Writer) {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	p, m := r.Parameters, r.Machine
	section := func(title string) { fmt.Fprintf(w, "\n%s\n", title) }
	row := func(name, format string, args ...any) {
		fmt.Fprintf(w, "  %s\t%s\n", name, fmt.Sprintf(format, args...))
	}

	section("Machine")
	row("cpu", "%d x %s", m.NProc, m.CPUModel)
	row("memory", "%.1f GiB", m.MemoryGiB)
	row("go / kernel", "%s / %s", m.GoVersion, m.Kernel)
	row("load average at start", "%s", m.LoadAverage)
	row("commit", "%s", m.Commit)

	section("Parameters")
	row("webhooks / apps / namespaces", "%d / %d / %d", p.N, p.Apps, p.Namespaces)
	row("interval / fake latency", "%s / %s", secs(p.IntervalSeconds), secs(p.LatencySeconds))
	row("unrelated Secrets", "%d of %d bytes (kubectl-applied annotation: %t)", p.Secrets, p.SecretBytes, p.SecretsApplied)
	row("webhook Secrets", "%t (each webhook: a Secret with `secret` and one header)", p.WebhookSecrets)
	row("manager", "--api-qps %g --api-burst %d --max-concurrent-reconciles %d", p.APIQPS, p.APIBurst, p.MaxConcurrentReconcile)

	if c := r.Convergence; c != nil {
		section("Convergence")
		row("created", "%d in %.1fs (%d client goroutines)", c.Created, c.CreateSeconds, p.ClientGoroutines)
		row("Ready", "%d/%d", c.Ready, c.Created)
		row("total (first create -> last Ready)", "%.1fs", c.TotalSeconds)
		row("time to Ready p50 / p99 / max (create sent -> Ready seen)", "%.1fs / %.1fs / %.1fs", c.TimeToReady.P50, c.TimeToReady.P99, c.TimeToReady.Max)
		row("API calls", "%s", c.Calls)
		row("minimum (N POSTs + sum of ceil(n/50) lists)", "%d", c.MinimumCalls)
		row("actual / minimum", "%.2f", c.CallRatio)
		if c.RateLimitSeconds > 0 {
			row("rate-limit time (calls - burst) / qps", "%.1fs", c.RateLimitSeconds)
			row("convergence / rate-limit time", "%.2f", c.ThroughputRatio)
		}
		if c.MinimumRateLimitSeconds > 0 {
			row("same for the minimum calls", "%.2f (%.1fs / %.1fs)", c.MinimumThroughputRatio, c.TotalSeconds, c.MinimumRateLimitSeconds)
		}
		row("CPU (cores busy, average)", "%s", c.CPU)
		row("manager CPU", "%.1f s", c.ManagerCPUSeconds)
		row("writes to the resources", "%d, %.2f per resource", c.ResourceWrites, c.WritesPerResource)
		for reason, n := range c.Pending {
			row("not Ready: "+reason, "%d", n)
		}
		fmt.Fprintf(w, "\n  timeline (%s buckets)\tGET\tPOST\tPUT\tDELETE\tfailed\tReady\n", secs(c.TimelineWidthSeconds))
		for _, b := range c.Timeline {
			fmt.Fprintf(w, "  %5.0fs\t%d\t%d\t%d\t%d\t%d\t%d\n", b.FromSeconds, b.Calls.GET, b.Calls.POST, b.Calls.PUT, b.Calls.DELETE, b.Calls.Failed, b.Ready)
		}
	}
	if s := r.Steady; s != nil {
		section("Steady state")
		row("window", "%.1fs (%d intervals)", s.WindowSeconds, s.Intervals)
		row("list calls (GETs) per interval", "%v (mean %.1f; ideal %d, target <= %.1f)", s.ListsPerInterval, s.ListsPerIntervalMean, s.IdealListsPerInterval, s.TargetListsPerInterval)
		if s.Intervals > 1 {
			row("  without the first interval", "mean %.1f", s.SettledListsPerInterval)
		}
		row("lists of each app per interval", "%.2f (ideal 1); time between two lists of an app: min %.1fs, median %.1fs",
			s.ListsPerAppPerInterval, s.ListGapMinSeconds, s.ListGapP50Seconds)
		row("API calls", "%s", s.Calls)
		row("write calls", "%d", s.WriteCalls)
		row("writes to the resources", "%d", s.ResourceWrites)
		if d := s.Deliveries; d != nil {
			row("delivery-item lists per deliveryCheck interval", "%s", d)
		}
	}
	if rem := r.Remote; rem != nil {
		section("Remote state")
		row("webhooks on the fake", "%d (expected %d, %d duplicate URLs)", rem.Found, rem.Expected, rem.Duplicates)
	}
	if rs := r.Restart; rs != nil {
		section("Restart over Ready webhooks (run 2)")
		row("every webhook reconciled once", "%d reconciles in %.1fs", rs.Reconciles, rs.Seconds)
		row("manager CPU", "%.1f s", rs.CPUSeconds)
		row("API calls", "%s (%.2f lists per app)", rs.Calls, rs.ListsPerApp)
		row("writes to the resources", "%d", rs.ResourceWrites)
	}
	if mem := r.Memory; mem != nil {
		section("Memory (manager RSS)")
		row("after steady state (run 1)", "%s", mem.AfterSteady)
		row("run 2 after its restart", "%s", mem.RestartRun)
		if p.Secrets > 0 {
			row("run 2, no unrelated Secrets", "%s  (%d API calls while settling)", mem.WithoutSecrets, mem.RestartCalls)
			row(fmt.Sprintf("run 2, after %d Secrets added", p.Secrets), "%s  (created in %.1fs)", mem.WithSecretsAdded, mem.SecretsCreateSeconds)
			row("run 3, started with the Secrets", "%s", mem.WithSecretsRestart)
			row("delta: restart / added", "%+.1f MiB / %+.1f MiB peak RSS (%.1f / %.1f KiB per Secret)", mem.DeltaRestartMiB, mem.DeltaAddedMiB,
				mem.DeltaRestartMiB*1024/float64(p.Secrets), mem.DeltaAddedMiB*1024/float64(p.Secrets))
			row("method", "%s", wrap(mem.Method, 100, "\t"))
		}
	}

	if f := r.Fair; f != nil {
		section(fmt.Sprintf("Fair share of a shared token (its own manager, --api-qps %d)", f.QPS))
		row("burst: namespace A, one shared token", "%d webhooks over %d apps, created in %.1fs; %d Ready when B's was created, %d when it was Ready",
			f.BurstResources, fairBurstApps, f.BurstCreateSeconds, f.BurstReadyAtNew, f.BurstReadyWhenReady)
		row("  a new webhook in namespace B: time to Ready", "%s (target < %s)", readyText(f.NewNamespaceReadyS), fairBurstTarget)
		if f.BurstAllReadySeconds >= 0 {
			row("  all of A's Ready", "%.1fs after A's first create", f.BurstAllReadySeconds)
		} else {
			row("  all of A's Ready", "not within %s", fairBurstTimeout)
		}
		row("paused token T1 (429, Retry-After: "+fairRetryAfter+")", "%d resources, %d first passes seen, %d calls reached Bitrise", f.PausedTokenResources, f.PausedTokenPassesSeen, f.PausedTokenCalls)
		row("  a resource of token T2: time to Ready", "%s (target <= %s)", readyText(f.OtherTokenReadySecs), fairPausedTarget)
	}

	section("Targets")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "  %s\t%s\t%s\t(goal %s)", t.Status, t.Name, t.Value, t.Goal)
		if t.Note != "" {
			fmt.Fprintf(w, "  %s", t.Note)
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
}

func (r rss) String() string {
	return fmt.Sprintf("peak %.1f MiB, current %.1f MiB; live heap max %.0f, last %.0f MiB", r.PeakMiB, r.CurrentMiB, r.LiveHeapMaxMiB, r.LiveHeapLastMiB)
}

func (u cpuUse) String() string {
	parts := []string{}
	for _, name := range slices.Sorted(maps.Keys(u.ByProcess)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", name, u.ByProcess[name]))
	}
	parts = append(parts, fmt.Sprintf("other processes %.2f", u.OtherCores))
	return strings.Join(parts, ", ") + fmt.Sprintf(" (machine %.2f)", u.MachineCores)
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).String()
}

// wrap breaks text into lines of at most width, continuing with indent.
func wrap(text string, width int, indent string) string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	lines = append(lines, line)
	return strings.Join(lines, "\n  "+indent)
}
