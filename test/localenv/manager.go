package localenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildManager builds the manager binary (go build ./cmd, static as in the
// image) from the repository at root into out.
func BuildManager(root, out string) error {
	cmd := exec.Command("go", "build", "-o", out, "./cmd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd: %w\n%s", err, b)
	}
	return nil
}

// ManagerOptions configure Env.StartManager.
type ManagerOptions struct {
	// Binary is the built manager (see BuildManager).
	Binary string
	// Token, when set, is the Bitrise API token of the default
	// ClusterCredentials: StartManager writes it with
	// ApplyDefaultCredentials before the process starts (the manager takes
	// no token from its environment). Empty leaves the cluster as it is, so
	// that a resource without spec.credentialsRef finds no default unless
	// the test made one.
	Token string
	// Args follow the defaults (--kubeconfig, --bitrise-api-url, and
	// metrics and health probes on port 0, that is off or any free port);
	// a flag given again here wins.
	Args []string
	// Env is added to the environment the manager inherits, as KEY=value.
	Env []string
	// Output receives the manager's stdout and stderr; nil collects them in
	// Manager.Logs.
	Output io.Writer
}

// Manager is one running manager process.
type Manager struct {
	// Logs holds stdout and stderr when ManagerOptions.Output was nil.
	Logs *SyncBuffer

	cmd    *exec.Cmd
	exited chan struct{}

	mu       sync.Mutex
	stopping bool
	onItsOwn bool  // set before exited is closed
	err      error // set before exited is closed
}

// StartManager starts the built manager against this control plane and
// fake, after writing opts.Token as the default ClusterCredentials. Stop it
// with Stop or Kill; both may be called more than once.
func (e *Env) StartManager(opts ManagerOptions) (*Manager, error) {
	if opts.Token != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := e.ApplyDefaultCredentials(ctx, opts.Token)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	m := &Manager{exited: make(chan struct{})}
	out := opts.Output
	if out == nil {
		m.Logs = &SyncBuffer{}
		out = m.Logs
	}
	m.cmd = exec.Command(opts.Binary, append([]string{
		"--kubeconfig", e.Kubeconfig,
		"--bitrise-api-url", e.FakeURL,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
	}, opts.Args...)...)
	// The manager takes its tokens from ClusterCredentials only; a token in
	// the caller's environment (the plugin reads BITRISE_TOKEN) stays out.
	m.cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "BITRISE_TOKEN=")
	}), opts.Env...)
	m.cmd.Stdout, m.cmd.Stderr = out, out
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the manager: %w", err)
	}
	go func() {
		err := m.cmd.Wait()
		m.mu.Lock()
		m.err = err
		m.onItsOwn = !m.stopping
		m.mu.Unlock()
		close(m.exited)
	}()
	return m, nil
}

// Pid is the manager's process id.
func (m *Manager) Pid() int { return m.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (m *Manager) Exited() <-chan struct{} { return m.exited }

// ExitedOnItsOwn reports, once Exited is closed, whether the process exited
// before Stop or Kill was called (a crash or a fatal error).
func (m *Manager) ExitedOnItsOwn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.onItsOwn
}

// Alive returns nil while the process runs, and an error with its exit
// status once it has exited.
func (m *Manager) Alive() error {
	select {
	case <-m.exited:
		m.mu.Lock()
		defer m.mu.Unlock()
		return fmt.Errorf("the manager exited: %v", m.err)
	default:
		return nil
	}
}

// Stop sends SIGTERM (a graceful shutdown: the lease is released) and
// SIGKILL if the process lingers for grace; it returns once the process has
// exited.
func (m *Manager) Stop(grace time.Duration) {
	m.markStopping()
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(grace):
		_ = m.cmd.Process.Signal(syscall.SIGKILL)
		<-m.exited
	}
}

// Kill sends SIGKILL (no graceful shutdown, no lease release) and returns
// once the process has exited.
func (m *Manager) Kill() {
	m.markStopping()
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

func (m *Manager) markStopping() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopping = true
}

// FreeAddress returns a loopback address (host:port) whose port was free a
// moment ago, for the manager's metrics or probes.
func FreeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// SyncBuffer collects a process's output; safe for concurrent use.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Scrape reads the manager's metrics (or any loopback URL it serves) and
// returns the body; an answer other than 200 OK is an error naming the URL
// and the status.
func Scrape(url string) ([]byte, error) {
	resp, err := http.Get(url) //nolint:gosec // a loopback URL the tests made
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
