package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/internal/secretdigest"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// The token of the suite's ClusterCredentials "default", which allows every
// namespace and app; a secret like any other.
const suiteToken = "suite-default-token-0f9e8d"

// Where the suite's token Secret lives, as the operator's own namespace would.
const (
	suiteTokenNamespace = "suite-operator-system"
	suiteTokenSecret    = "bitrise-api-token"
)

var (
	env     *localenv.Env
	k8s     client.Client // direct, uncached: assertions never go through the manager's cache
	fake    *bitrisefake.Server
	ctx     context.Context
	cancel  context.CancelFunc
	logs    = &localenv.SyncBuffer{} // the manager's logs
	scheme  = runtime.NewScheme()
	secrets = &secretRegistry{}
	digests *secretdigest.Digester // the manager's digest key
	// secretReads counts the manager's reads of Secrets from the API server.
	secretReads = &countingReader{counts: map[client.ObjectKey]int{}}
)

func TestController(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "OutgoingWebhook controller suite")
}

var _ = BeforeSuite(func() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	ctrl.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(webhooksv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = localenv.Start(localenv.Options{})
	Expect(err).NotTo(HaveOccurred())
	fake = env.Fake
	secrets.add(suiteToken)

	k8s, err = client.New(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: suiteTokenNamespace}})).To(Succeed())
	createSecret(suiteTokenNamespace, suiteTokenSecret, map[string]string{"token": suiteToken})
	Expect(k8s.Create(ctx, &webhooksv1alpha1.ClusterCredentials{
		ObjectMeta: metav1.ObjectMeta{Name: webhooksv1alpha1.DefaultClusterCredentialsName},
		Spec: webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef:    webhooksv1alpha1.TokenSecretReference{Namespace: suiteTokenNamespace, Name: suiteTokenSecret},
			NamespaceSelector: &metav1.LabelSelector{},
			Apps:              []string{webhooksv1alpha1.AnyApp},
		},
	})).To(Succeed())

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	api, err := bitrise.NewClient(env.FakeURL)
	Expect(err).NotTo(HaveOccurred())
	key, err := secretdigest.NewKey()
	Expect(err).NotTo(HaveOccurred())
	digests, err = secretdigest.NewDigester(key)
	Expect(err).NotTo(HaveOccurred())
	secretReads.Reader = mgr.GetAPIReader()
	tokens := NewClusterTokens()
	cc := &ClusterCredentialsReconciler{Client: mgr.GetClient(), APIReader: secretReads, Tokens: tokens}
	Expect(cc.SetupWithManager(ctx, mgr)).To(Succeed())
	r := &OutgoingWebhookReconciler{
		Digests:     digests,
		Client:      mgr.GetClient(),
		APIReader:   secretReads,
		Bitrise:     api,
		Credentials: tokens,
		Recorder:    mgr.GetEventRecorder("outgoingwebhook-controller"),
	}
	Expect(r.SetupWithManager(ctx, mgr, Options{MaxConcurrentReconciles: 4})).To(Succeed())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	By("checking that no secret value reached the manager's logs")
	for _, s := range secrets.all() {
		Expect(logs.String()).NotTo(ContainSubstring(s), "a secret value was logged")
	}
})

// secretRegistry remembers every secret value the specs use, to check that
// none of them ever shows in logs, events or status.
type secretRegistry struct {
	mu     sync.Mutex
	values []string
}

func (r *secretRegistry) add(v string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, v)
	return v
}

func (r *secretRegistry) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.values...)
}

// countingReader counts the Secrets read through it, by namespace and name,
// and answers 403 Forbidden for those forbid names, as the API server does
// when the operator's RBAC does not reach them.
type countingReader struct {
	client.Reader
	mu        sync.Mutex
	counts    map[client.ObjectKey]int
	forbidden map[client.ObjectKey]bool
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*corev1.Secret); ok {
		c.mu.Lock()
		c.counts[key]++
		forbidden := c.forbidden[key]
		c.mu.Unlock()
		if forbidden {
			return apierrors.NewForbidden(corev1.Resource("secrets"), key.Name, errors.New("RBAC: access denied"))
		}
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// forbid makes reads of the Secret fail with 403 Forbidden, or succeed again.
func (c *countingReader) forbid(namespace, name string, forbidden bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forbidden == nil {
		c.forbidden = map[client.ObjectKey]bool{}
	}
	c.forbidden[client.ObjectKey{Namespace: namespace, Name: name}] = forbidden
}

// reads returns how often the Secret was read.
func (c *countingReader) reads(namespace, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[client.ObjectKey{Namespace: namespace, Name: name}]
}

var uniq = struct {
	sync.Mutex
	n int
}{}

// unique returns a name no other spec uses.
func unique(prefix string) string {
	uniq.Lock()
	defer uniq.Unlock()
	uniq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, GinkgoParallelProcess(), uniq.n)
}

// secretValue returns a fresh secret value, registered for the leak checks.
func secretValue(what string) string {
	return secrets.add(fmt.Sprintf("%s-%s-%d", what, strings.Repeat("x", 4), time.Now().UnixNano()))
}
