package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// managerProcess is one run of the manager binary, its output in a log file.
type managerProcess struct {
	*localenv.Manager
	log *os.File
}

func startManager(bin string, env *localenv.Env, token string, extra []string, logPath string) (*managerProcess, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	m, err := env.StartManager(localenv.ManagerOptions{
		Binary: bin,
		Token:  token,
		Args:   extra,
		// gctrace prints the live heap after each GC to the log, which tells
		// the Go heap apart from what the runtime keeps of it in RSS.
		Env:    []string{"GODEBUG=gctrace=1"},
		Output: logFile,
	})
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	return &managerProcess{Manager: m, log: logFile}, nil
}

// alive returns an error naming the log when the manager has exited.
func (m *managerProcess) alive() error {
	if err := m.Alive(); err != nil {
		return fmt.Errorf("%w; see %s", err, m.log.Name())
	}
	return nil
}

// stop sends SIGTERM, then SIGKILL after 15s. It is safe to call twice.
func (m *managerProcess) stop() error {
	m.Stop(15 * time.Second)
	return m.log.Close()
}

var gcLine = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// liveHeap reads the gctrace lines of the log: the largest live heap after
// a GC, and the last, in MiB (gctrace's "MB" are 2^20 bytes).
func (m *managerProcess) liveHeap() (maxMiB, lastMiB float64) {
	data, err := os.ReadFile(m.log.Name())
	if err != nil {
		return 0, 0
	}
	for _, match := range gcLine.FindAllSubmatch(data, -1) {
		live, _ := strconv.ParseFloat(string(match[3]), 64)
		maxMiB, lastMiB = max(maxMiB, live), live
	}
	return maxMiB, lastMiB
}

// rss is the resident memory of a process, from /proc/<pid>/status.
type rss struct {
	// PeakMiB is VmHWM, the high-water mark of the resident set.
	PeakMiB float64 `json:"peak_mib"`
	// CurrentMiB is VmRSS.
	CurrentMiB float64 `json:"current_mib"`
	// LiveHeapMaxMiB and LiveHeapLastMiB are the live Go heap after a GC,
	// from gctrace: the largest so far and the latest.
	LiveHeapMaxMiB  float64 `json:"live_heap_max_mib"`
	LiveHeapLastMiB float64 `json:"live_heap_last_mib"`
}

func (m *managerProcess) rss() (rss, error) {
	if err := m.alive(); err != nil {
		return rss{}, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", m.Pid()))
	if err != nil {
		return rss{}, err
	}
	defer func() { _ = f.Close() }()
	var r rss
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmHWM" && key != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		if err != nil {
			return rss{}, fmt.Errorf("parsing %s in /proc/%d/status: %w", key, m.Pid(), err)
		}
		if key == "VmHWM" {
			r.PeakMiB = kb / 1024
		} else {
			r.CurrentMiB = kb / 1024
		}
		found++
	}
	if found != 2 {
		return rss{}, errors.New("VmHWM or VmRSS missing from /proc/<pid>/status")
	}
	r.LiveHeapMaxMiB, r.LiveHeapLastMiB = m.liveHeap()
	return r, sc.Err()
}

// waitFor polls done every 200ms until it is true, the manager exits or
// the timeout passes (then the error wraps localenv.ErrTimeout).
func waitFor(ctx context.Context, mgr *managerProcess, timeout time.Duration, done func() (bool, error)) error {
	return localenv.Poll(ctx, 200*time.Millisecond, timeout, func() (bool, error) {
		ok, err := done()
		if err != nil || ok {
			return ok, err
		}
		return false, mgr.alive()
	})
}

// keepRunning lets the manager run for d, failing if it exits meanwhile.
func keepRunning(ctx context.Context, mgr *managerProcess, d time.Duration) error {
	err := waitFor(ctx, mgr, d, func() (bool, error) { return false, nil })
	if errors.Is(err, localenv.ErrTimeout) {
		return nil
	}
	return err
}
