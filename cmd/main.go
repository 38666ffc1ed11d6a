// Command manager runs the OutgoingWebhook operator.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/controller"
)

const defaultAPIURL = "https://api.bitrise.io/v0.1"

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(webhooksv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr, probeAddr, leaderElectionID string
		apiURL, tokenFile                        string
		enableLeaderElection, secureMetrics      bool
		maxConcurrent                            int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, such as :8443 (HTTPS) or :8080 (HTTP with --metrics-secure=false). 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the health probe endpoint binds to. 0 disables it.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one replica of the manager reconciles at a time.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "outgoingwebhook.webhooks.bitrise.io",
		"The name of the Lease used for leader election.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, behind Kubernetes authentication and authorization.")
	flag.StringVar(&apiURL, "bitrise-api-url", envOr("BITRISE_API_URL", defaultAPIURL),
		"Base URL of the Bitrise API; request paths are appended to it. Env: BITRISE_API_URL.")
	flag.StringVar(&tokenFile, "bitrise-token-file", "",
		"File holding the default Bitrise API token, read on every use so that a rotated token is picked up. Overrides env BITRISE_TOKEN.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 4, "How many OutgoingWebhooks are reconciled at once.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	if err := run(runConfig{
		metricsAddr: metricsAddr, probeAddr: probeAddr, secureMetrics: secureMetrics,
		leaderElection: enableLeaderElection, leaderElectionID: leaderElectionID,
		apiURL: apiURL, tokenFile: tokenFile, maxConcurrent: maxConcurrent,
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

type runConfig struct {
	metricsAddr, probeAddr, leaderElectionID, apiURL, tokenFile string
	secureMetrics, leaderElection                               bool
	maxConcurrent                                               int
}

func run(cfg runConfig) error {
	api, err := bitrise.NewClient(cfg.apiURL, bitrise.WithUserAgent("bitrise-webhook-operator"))
	if err != nil {
		return fmt.Errorf("--bitrise-api-url: %w", err)
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   cfg.metricsAddr,
		SecureServing: cfg.secureMetrics,
		// HTTP/2 is disabled against the HTTP/2 Rapid Reset vulnerabilities.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if cfg.secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		HealthProbeBindAddress: cfg.probeAddr,
		LeaderElection:         cfg.leaderElection,
		LeaderElectionID:       cfg.leaderElectionID,
		// Safe because the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	reconciler := &controller.OutgoingWebhookReconciler{
		Client:       mgr.GetClient(),
		APIReader:    mgr.GetAPIReader(),
		Bitrise:      api,
		DefaultToken: defaultToken(cfg.tokenFile),
		Recorder:     mgr.GetEventRecorder("outgoingwebhook-controller"),
	}
	if err := reconciler.SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: cfg.maxConcurrent}); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager", "bitriseAPI", cfg.apiURL)
	return mgr.Start(ctx)
}

// defaultToken reads the token file on every call when one is given, so a
// rotated Secret mounted as a file is picked up; else env BITRISE_TOKEN.
func defaultToken(file string) controller.TokenSource {
	if file == "" {
		token := strings.TrimSpace(os.Getenv("BITRISE_TOKEN"))
		return func() (string, error) { return token, nil }
	}
	return func() (string, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("reading --bitrise-token-file: %w", err)
		}
		return strings.TrimSpace(string(data)), nil
	}
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
