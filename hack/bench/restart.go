package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// restartFigures are what a fresh manager costs over webhooks that are all
// Ready: until it has reconciled each once, and the writes it makes.
type restartFigures struct {
	// Seconds from the start of the process until every webhook was
	// reconciled once and its queue was empty.
	Seconds float64 `json:"s"`
	// CPUSeconds the manager used meanwhile (user+system).
	CPUSeconds float64 `json:"cpu_s"`
	// Reconciles counted by controller_runtime_reconcile_total.
	Reconciles int `json:"reconciles"`
	// ResourceWrites are OutgoingWebhook updates seen by a watch, until the
	// end of the measurement.
	ResourceWrites int64          `json:"resource_writes"`
	Calls          localenv.Calls `json:"calls"`
	ListsPerApp    float64        `json:"lists_per_app"`
}

// restart starts a fresh manager (run 2) over the converged webhooks and
// measures it until it has reconciled every one once; it returns it still
// running.
func (b *bench) restart(ctx context.Context, tr *tracker) (*managerProcess, error) {
	addr, err := localenv.FreeAddress()
	if err != nil {
		return nil, err
	}
	progress("restart: a fresh manager over %d Ready webhooks", b.p.N)
	b.env.Fake.ResetRequests()
	tr.updates.Store(0)
	tr.countUpdates.Store(true)
	defer tr.countUpdates.Store(false)
	args := append(b.managerArgs(), "--metrics-bind-address", addr, "--metrics-secure=false")
	mgr, err := startManager(b.binary, b.env, b.token, args, filepath.Join(b.logDir, "manager-2-restart.log"))
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var reconciles int
	err = waitFor(ctx, mgr, b.p.RestartTimeout, func() (bool, error) {
		m, scrapeErr := scrape("http://" + addr + "/metrics")
		if scrapeErr != nil {
			return false, nil //nolint:nilerr // not serving yet: poll again
		}
		reconciles = int(m["controller_runtime_reconcile_total"])
		return reconciles >= b.p.N && m["workqueue_depth"] == 0 && m["controller_runtime_active_workers"] == 0, nil
	})
	if err != nil {
		_ = mgr.stop()
		return nil, fmt.Errorf("restart: %w", err)
	}
	r := &restartFigures{Seconds: time.Since(start).Seconds(), Reconciles: reconciles}
	if secs, ok := cpuSeconds(mgr.Pid()); ok {
		r.CPUSeconds = secs
	}
	// Writes that follow the reconciles (a status patch) land within a
	// moment.
	if err := keepRunning(ctx, mgr, 2*time.Second); err != nil {
		return nil, err
	}
	r.ResourceWrites = tr.updates.Load()
	r.Calls = localenv.CountCalls(b.env.Fake.Requests(), localenv.Between(start, time.Now()))
	r.ListsPerApp = float64(r.Calls.Lists) / float64(b.p.Apps)
	b.res.Restart = r
	progress("restart: %d reconciles in %.1fs, %.1f CPU-seconds, %d writes, %.2f lists per app",
		r.Reconciles, r.Seconds, r.CPUSeconds, r.ResourceWrites, r.ListsPerApp)
	return mgr, nil
}

// scrape reads the manager's metrics of the outgoingwebhook controller:
// the sum of each family's samples for that controller.
func scrape(url string) (map[string]float64, error) {
	body, err := localenv.Scrape(url)
	if err != nil {
		return nil, err
	}
	return parseControllerMetrics(bytes.NewReader(body))
}

// parseControllerMetrics sums, by family, the samples of the Prometheus
// text format that belong to the outgoingwebhook controller.
func parseControllerMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		ours := strings.Contains(labels, `controller="outgoingwebhook"`) || strings.Contains(labels, `name="outgoingwebhook"`)
		if !ok || !ours {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}
