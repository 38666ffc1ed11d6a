// Command manager runs the OutgoingWebhook operator.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/controller"
	"github.com/bitrise-webhook-operator/operator/internal/metrics"
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
		leaderElectionNamespace                  string
		apiURL, defaultCredentials               string
		enableLeaderElection, secureMetrics      bool
		maxConcurrent, apiBurst                  int
		apiQPS                                   float64
		watchNamespaces                          stringList
		watchSelector                            string
		pprofAddr                                string
		digestKey                                digestKeyConfig
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, such as :8443 (HTTPS) or :8080 (HTTP with --metrics-secure=false). 0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the health probe endpoint binds to. 0 disables it.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one replica of the manager reconciles at a time.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "outgoingwebhook.webhooks.bitrise.io",
		"The name of the Lease used for leader election.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease. Default: the manager's own namespace (required when running outside a cluster).")
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS, behind Kubernetes authentication and authorization.")
	flag.StringVar(&apiURL, "bitrise-api-url", envOr("BITRISE_API_URL", defaultAPIURL),
		"Base URL of the Bitrise API; request paths are appended to it. Env: BITRISE_API_URL.")
	flag.StringVar(&defaultCredentials, "default-credentials", webhooksv1alpha1.DefaultClusterCredentialsName,
		"Name of the ClusterCredentials used by OutgoingWebhooks without spec.credentialsRef; it must allow their namespace and app.")
	flag.IntVar(&maxConcurrent, "max-concurrent-reconciles", 4, "How many OutgoingWebhooks are reconciled at once.")
	flag.Float64Var(&apiQPS, "api-qps", bitrise.DefaultQPS,
		"Client-side rate limit of Bitrise API requests per second, per API token (shared by every resource using the token). 0 disables it.")
	flag.IntVar(&apiBurst, "api-burst", bitrise.DefaultBurst, "Burst of the per-token rate limit.")
	flag.Var(&watchNamespaces, "watch-namespace",
		"Only watch OutgoingWebhooks (and Secrets) in this namespace; repeat it, or separate with commas, for several. Default: all namespaces.")
	flag.StringVar(&watchSelector, "watch-label-selector", "",
		"Only watch OutgoingWebhooks matching this label selector (e.g. sharding.fluxcd.io/key=shard1), to split a fleet between operator deployments; give each its own --leader-election-id.")
	flag.StringVar(&digestKey.name, "digest-key-secret", defaultDigestKeySecret,
		"Name of the Secret holding the key of status.secretDigest (data key \"key\"), created with a random key when missing.")
	flag.StringVar(&digestKey.namespace, "digest-key-namespace", "",
		"Namespace of the digest key Secret. Default: env POD_NAMESPACE, else --leader-election-namespace, else the kubeconfig context's (in a cluster: the ServiceAccount's) namespace.")
	flag.BoolVar(&digestKey.inMemory, "digest-key-in-memory", false,
		"Use a random digest key held in memory only, for local runs without a Secret: every restart re-stamps every status.secretDigest once, with a Warning event.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "The address of the pprof endpoint (/debug/pprof), such as 127.0.0.1:6060. 0 disables it.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	digestKey.leaderElectionNamespace = leaderElectionNamespace

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	if err := run(runConfig{
		metricsAddr: metricsAddr, probeAddr: probeAddr, secureMetrics: secureMetrics,
		leaderElection: enableLeaderElection, leaderElectionID: leaderElectionID, leaderElectionNamespace: leaderElectionNamespace,
		apiURL: apiURL, defaultCredentials: defaultCredentials, maxConcurrent: maxConcurrent,
		apiQPS: apiQPS, apiBurst: apiBurst, watchNamespaces: watchNamespaces, watchSelector: watchSelector,
		pprofAddr: pprofAddr, digestKey: digestKey,
	}); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

type runConfig struct {
	metricsAddr, probeAddr, leaderElectionID, apiURL string
	leaderElectionNamespace, defaultCredentials      string
	secureMetrics, leaderElection                    bool
	maxConcurrent, apiBurst                          int
	apiQPS                                           float64
	watchNamespaces                                  []string
	watchSelector                                    string
	pprofAddr                                        string
	digestKey                                        digestKeyConfig
}

func run(cfg runConfig) error {
	api, err := bitrise.NewClient(cfg.apiURL,
		bitrise.WithUserAgent("bitrise-webhook-operator"),
		bitrise.WithRateLimit(cfg.apiQPS, cfg.apiBurst),
		bitrise.WithObserver(metrics.APIObserver{}))
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
	cacheOpts, err := cacheOptions(cfg.watchNamespaces, cfg.watchSelector)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  cfg.probeAddr,
		PprofBindAddress:        cfg.pprofAddr,
		LeaderElection:          cfg.leaderElection,
		LeaderElectionID:        cfg.leaderElectionID,
		LeaderElectionNamespace: cfg.leaderElectionNamespace,
		// Safe because the process exits right after the manager stops.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := metrics.Register(crmetrics.Registry, mgr.GetClient()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	ctx := ctrl.SetupSignalHandler()
	digests, err := loadDigester(ctx, mgr.GetConfig(), cfg.digestKey)
	if err != nil {
		return err
	}
	tokens := controller.NewClusterTokens()
	credentials := &controller.ClusterCredentialsReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Tokens:    tokens,
	}
	if err := credentials.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the ClusterCredentials controller: %w", err)
	}
	reconciler := &controller.OutgoingWebhookReconciler{
		Digests:            digests,
		Client:             mgr.GetClient(),
		APIReader:          mgr.GetAPIReader(),
		Bitrise:            api,
		DefaultCredentials: cfg.defaultCredentials,
		Credentials:        tokens,
		Recorder:           mgr.GetEventRecorder("outgoingwebhook-controller"),
	}
	if err := reconciler.SetupWithManager(ctx, mgr, controller.Options{
		MaxConcurrentReconciles: cfg.maxConcurrent, Namespaces: cfg.watchNamespaces,
		Sharded: len(cfg.watchNamespaces) > 0 || cfg.watchSelector != "",
	}); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager", "bitriseAPI", cfg.apiURL, "defaultCredentials", cfg.defaultCredentials)
	return mgr.Start(ctx)
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// cacheOptions restricts the manager's cache to the watched namespaces and
// the OutgoingWebhooks matching the selector (Flux's sharding convention).
func cacheOptions(namespaces []string, selector string) (cache.Options, error) {
	// The operator never reads managed fields, often the larger part of an
	// object.
	opts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return opts, fmt.Errorf("--watch-label-selector: %w", err)
		}
		opts.ByObject = map[client.Object]cache.ByObject{
			&webhooksv1alpha1.OutgoingWebhook{}: {Label: sel},
		}
	}
	return opts, nil
}

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// flagValue is the value of a flag of the command line, "" when unknown.
func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}
