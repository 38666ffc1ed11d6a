// Command bench measures the operator at scale: it starts a local control
// plane and the Bitrise API fake, runs the built manager against them,
// creates many OutgoingWebhooks and reports time to Ready, API calls
// against the minimum, steady-state traffic, memory with and without many
// unrelated Secrets, and throughput against the client-side rate limit.
// `make bench` runs it; BENCH_ARGS passes flags, e.g. "-n 100 -apps 5".
//
// It exits non-zero only when it could not measure; a missed target is
// reported as MISS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// params are the flags.
type params struct {
	N, Apps, Namespaces  int
	Interval, Latency    time.Duration
	SteadyIntervals      int
	Secrets, SecretBytes int
	SecretsApplied       bool
	QPS                  float64
	Burst, MaxConcurrent int
	Clients              int
	ConvergeTimeout      time.Duration
	MemSettle            time.Duration
	SteadySlack          float64
	Out                  string
	Manager              string
	// WebhookSecrets gives every webhook a Secret with `secret` and
	// `headers`, as real users do.
	WebhookSecrets bool
	Preset         string
	// RSSTargetMiB bounds the manager's peak RSS.
	RSSTargetMiB float64
	// RestartTimeout bounds the wait for a restarted manager to reconcile
	// every webhook once.
	RestartTimeout time.Duration
	DeliveryCheck  time.Duration
	// Fair runs the fair-share phase (fair.go) after the others; FairOnly
	// runs it alone.
	Fair, FairOnly bool
}

// presets are named sets of flag values; flags given explicitly win.
var presets = map[string]map[string]string{
	// 10,000 webhooks over 100 apps, with the API budget to match. The
	// drift check interval is longer, or 2 cores could not keep up with
	// 1000 reconciles a second; the unrelated Secrets are left out.
	"large": {
		"n": "10000", "apps": "100", "qps": "200", "interval": "1m", "steady-intervals": "2",
		"secrets": "0", "timeout": "30m", "rss-target-mib": "192", "restart-timeout": "10m",
	},
}

func parseFlags() params {
	var p params
	flag.IntVar(&p.N, "n", 1000, "OutgoingWebhooks to create")
	flag.IntVar(&p.Apps, "apps", 10, "Bitrise apps the webhooks are spread over")
	flag.IntVar(&p.Namespaces, "namespaces", 4, "namespaces the webhooks (and Secrets) are spread over")
	flag.DurationVar(&p.Interval, "interval", 10*time.Second, "spec.interval of every webhook (at least 5s)")
	flag.DurationVar(&p.Latency, "latency", 50*time.Millisecond, "latency the Bitrise fake adds to every request")
	flag.IntVar(&p.SteadyIntervals, "steady-intervals", 4, "intervals to observe in steady state")
	flag.IntVar(&p.Secrets, "secrets", 20000, "unrelated Secrets created for the memory figure (0 skips it)")
	flag.IntVar(&p.SecretBytes, "secret-bytes", 1024, "size of each unrelated Secret's data")
	flag.BoolVar(&p.SecretsApplied, "secrets-applied", false, "give each unrelated Secret the last-applied-configuration annotation of `kubectl apply` (it holds the data)")
	flag.Float64Var(&p.QPS, "qps", bitrise.DefaultQPS, "manager --api-qps (0 disables the rate limit)")
	flag.IntVar(&p.Burst, "burst", bitrise.DefaultBurst, "manager --api-burst")
	flag.IntVar(&p.MaxConcurrent, "max-concurrent-reconciles", 4, "manager --max-concurrent-reconciles")
	flag.IntVar(&p.Clients, "clients", 4, "concurrent client goroutines creating the webhooks")
	flag.DurationVar(&p.ConvergeTimeout, "timeout", 6*time.Minute, "give up waiting for every webhook to be Ready after this")
	flag.DurationVar(&p.MemSettle, "mem-settle", 15*time.Second, "how long each manager run of the memory figure runs before its RSS is read")
	flag.Float64Var(&p.SteadySlack, "steady-slack", 0.15, "steady-state list target: the ideal K*ceil(N/(50K)) plus this fraction")
	flag.StringVar(&p.Manager, "manager", "", "a manager binary to run instead of building ./cmd (to compare builds)")
	flag.StringVar(&p.Out, "out", filepath.Join("bin", "bench", "results.json"), "JSON results file")
	flag.BoolVar(&p.WebhookSecrets, "webhook-secrets", true, "give every webhook a Secret (spec.secretRef) with keys `secret` and `headers` (one header); false: no Secret, the shape of earlier benchmarks")
	flag.Float64Var(&p.RSSTargetMiB, "rss-target-mib", 96, "target for the manager's peak RSS (VmHWM), MiB")
	flag.DurationVar(&p.RestartTimeout, "restart-timeout", 3*time.Minute, "give up waiting for a restarted manager to reconcile every webhook after this")
	flag.StringVar(&p.Preset, "preset", "", "a named set of flags (explicit flags win): large = -n 10000 -apps 100 -qps 200 -interval 1m -steady-intervals 2 -secrets 0 -timeout 30m -rss-target-mib 192")
	flag.DurationVar(&p.DeliveryCheck, "delivery-check", 0, "spec.deliveryCheck.interval of every webhook (0: off, else at least 1m); the steady state then lasts at least two of them")
	flag.BoolVar(&p.Fair, "fair", true, "run the fair-share phase last: a paused token (429 Retry-After: 300) and a burst of 500 webhooks in one namespace, each against a new webhook elsewhere, at --api-qps 10")
	flag.BoolVar(&p.FairOnly, "fair-only", false, "run only the fair-share phase")
	flag.Parse()
	if p.Preset != "" {
		values, ok := presets[p.Preset]
		if !ok {
			fmt.Fprintf(os.Stderr, "bench: unknown -preset %q\n", p.Preset)
			os.Exit(2)
		}
		explicit := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		for name, value := range values {
			if !explicit[name] {
				if err := flag.Set(name, value); err != nil {
					fmt.Fprintf(os.Stderr, "bench: preset %s: %v\n", p.Preset, err)
					os.Exit(2)
				}
			}
		}
	}
	p.SteadyIntervals = max(p.SteadyIntervals, steadyIntervalsForDeliveries(p))
	return p
}

func (p params) validate() error {
	switch {
	case p.N < 1 || p.Apps < 1 || p.Namespaces < 1 || p.Clients < 1:
		return errors.New("-n, -apps, -namespaces and -clients must be at least 1")
	case p.Interval < 5*time.Second:
		return errors.New("-interval must be at least 5s (the CRD's minimum)")
	case p.SteadyIntervals < 1:
		return errors.New("-steady-intervals must be at least 1")
	case p.DeliveryCheck != 0 && p.DeliveryCheck < time.Minute:
		return errors.New("-delivery-check must be 0 or at least 1m (the CRD's minimum)")
	case p.QPS < 0 || p.Burst < 0 || p.Secrets < 0 || p.SecretBytes < 0:
		return errors.New("-qps, -burst, -secrets and -secret-bytes cannot be negative")
	}
	return nil
}

func main() {
	p := parseFlags()
	if err := p.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctrllog.SetLogger(logr.Discard()) // the harness's own informer logs nothing useful
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, p); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one benchmark run: the environment and what was measured.
type bench struct {
	p       params
	env     *localenv.Env
	kube    client.Client
	token   string
	apps    []string
	nsNames []string
	logDir  string
	binary  string
	res     *results
	// fairCreds names the ClusterCredentials of each namespace of the
	// fair-share phase.
	fairCreds map[string]string
}

func run(ctx context.Context, p params) error {
	root, err := localenv.RepoRoot()
	if err != nil {
		return err
	}
	// The binary and the kubeconfig are this run's own; the logs go beside
	// the results.
	tmp, err := os.MkdirTemp("", "owh-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	logDir := filepath.Join(filepath.Dir(p.Out), "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	benchDeliveryCheck = p.DeliveryCheck
	b := &bench{p: p, logDir: logDir, token: "bench-token-" + localenv.RandomHex(6), res: newResults(p)}
	b.res.Machine = describeMachine(root)

	progress("building the manager and starting the control plane")
	built := make(chan error, 1)
	go func() {
		var err error
		b.binary = p.Manager
		if b.binary == "" {
			// CGO_ENABLED=0, as the other tests build it: the build cache is shared.
			b.binary = filepath.Join(tmp, "manager")
			err = localenv.BuildManager(root, b.binary)
		}
		built <- err
	}()
	env, envErr := localenv.Start(localenv.Options{Dir: tmp})
	if buildErr := <-built; buildErr != nil || envErr != nil {
		if envErr == nil {
			_ = env.Stop()
		}
		return errors.Join(buildErr, envErr)
	}
	b.env = env
	defer func() { _ = env.Stop() }()
	if err := b.setup(); err != nil {
		return err
	}
	if !p.FairOnly {
		if err := b.measure(ctx); err != nil {
			return err
		}
	}
	// After measure: its managers are stopped and cannot touch the
	// phase's resources.
	if p.Fair || p.FairOnly {
		if err := b.fairShare(ctx); err != nil {
			return err
		}
	}
	b.res.judge()
	b.res.print(os.Stdout)
	if err := b.res.write(p.Out); err != nil {
		return err
	}
	fmt.Printf("\n%s\nJSON: %s   manager logs: %s\n", b.res.verdict(), p.Out, logDir)
	return nil
}

// setup makes the apps (all reachable with one token unique to this run),
// the latency, the client and the namespaces.
func (b *bench) setup() error {
	suffix := localenv.RandomHex(4)
	for i := range b.p.Apps {
		app := fmt.Sprintf("bench%03d%s", i, suffix)
		b.apps = append(b.apps, app)
		b.env.Fake.AddApp(app, b.token)
	}
	b.env.Fake.AddApp(warmupApp, b.token)
	b.env.Fake.SetLatency(b.p.Latency)

	cfg := rest.CopyConfig(b.env.Config)
	cfg.QPS = -1 // the harness must not be the bottleneck
	kube, err := client.New(cfg, client.Options{Scheme: localenv.Scheme})
	if err != nil {
		return err
	}
	b.kube = kube
	for i := range b.p.Namespaces {
		b.nsNames = append(b.nsNames, fmt.Sprintf("bench-%d", i))
	}
	return createNamespaces(context.Background(), kube, append([]string{warmupNamespace}, b.nsNames...))
}

// measure runs the phases in order; each needs the state the previous left.
func (b *bench) measure(ctx context.Context) error {
	// The tracker's watch ends before the control plane stops.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr, err := startTracker(ctx, b.env.Config, b.kube.Scheme())
	if err != nil {
		return err
	}
	mgr, err := startManager(b.binary, b.env, b.token, b.managerArgs(), filepath.Join(b.logDir, "manager-1-convergence.log"))
	if err != nil {
		return err
	}
	defer func() { _ = mgr.stop() }()
	progress("waiting for the manager to reconcile a warm-up webhook")
	if err := warmUp(ctx, b.kube, tr, mgr); err != nil {
		return err
	}

	converged, err := b.converge(ctx, tr, mgr)
	if err != nil {
		return err
	}
	if !converged {
		progress("not every webhook became Ready: steady state and memory are skipped")
		return nil
	}
	if err := b.steady(ctx, tr, mgr); err != nil {
		return err
	}
	b.checkRemote()
	b.res.Memory = &memoryFigures{Method: memoryMethod}
	if b.res.Memory.AfterSteady, err = mgr.rss(); err != nil {
		return err
	}
	if err := mgr.stop(); err != nil {
		return err
	}
	restarted, err := b.restart(ctx, tr)
	if err != nil {
		return err
	}
	defer func() { _ = restarted.stop() }()
	if b.res.Memory.RestartRun, err = restarted.rss(); err != nil {
		return err
	}
	return b.memory(ctx, restarted)
}

func (b *bench) managerArgs() []string {
	return []string{
		"--api-qps", fmt.Sprint(b.p.QPS),
		"--api-burst", fmt.Sprint(b.p.Burst),
		"--max-concurrent-reconciles", fmt.Sprint(b.p.MaxConcurrent),
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
