package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// The fair-share phase (issue 9, "Fair share of a shared token") runs its
// own manager at --api-qps fairQPS over namespaces of its own, after the
// other phases, and measures two times to Ready:
//
//   - burst: namespace A creates fairBurst webhooks on a shared token (one
//     ClusterCredentials allowing A and B), then namespace B creates one on
//     the same ClusterCredentials: its time to Ready
//     (target fairBurstTarget), while A's burst is still being worked off;
//     then the time until all of A's are Ready;
//   - paused token: a 429 with Retry-After: 300 pauses token T1, more
//     resources of T1 than the manager has workers are created, then one
//     resource of token T2: its time to Ready (target fairPausedTarget).
//
// Every resource names its token with spec.credentialsRef (kind
// ClusterCredentials, one per token, allowing only the phase's namespaces
// of that token), so the phase needs no default token.
const (
	fairQPS          = 10
	fairBurst        = 500
	fairBurstApps    = 5
	fairPausedTarget = 2 * time.Second
	fairBurstTarget  = 5 * time.Second
	// fairWait bounds each measured wait; a resource not Ready by then is
	// reported as such.
	fairWait = 60 * time.Second
	// fairBurstTimeout bounds the wait for the whole burst: 500 creates
	// and their lists take about a minute at 10 requests a second.
	fairBurstTimeout = 3 * time.Minute
	// fairRetryAfter is the pause the 429 asks for, in seconds.
	fairRetryAfter = "300"
)

// fairFigures are the figures of the fair-share phase. A time to Ready is
// from the create sent to Ready seen; -1 when not Ready within fairWait.
type fairFigures struct {
	QPS int `json:"api_qps"`
	// PausedTokenResources were created on the paused token T1.
	PausedTokenResources int `json:"paused_token_resources"`
	// PausedTokenPassesSeen counts those whose first pass ended (their
	// finalizer stored) before T2's resource was created.
	PausedTokenPassesSeen int `json:"paused_token_passes_seen"`
	// PausedTokenCalls are requests that reached the fake for T1's app:
	// 1 (the 429) when throttled requests are not sent.
	PausedTokenCalls    int     `json:"paused_token_calls"`
	OtherTokenReadySecs float64 `json:"other_token_ready_s"`

	BurstResources      int     `json:"burst_resources"`
	BurstCreateSeconds  float64 `json:"burst_create_s"`
	BurstReadyAtNew     int     `json:"burst_ready_at_new_create"`
	BurstReadyWhenReady int     `json:"burst_ready_when_new_ready"`
	NewNamespaceReadyS  float64 `json:"new_namespace_ready_s"`
	// BurstAllReadySeconds runs from A's first create to its last Ready;
	// -1 when not all were Ready within fairBurstTimeout.
	BurstAllReadySeconds float64 `json:"burst_all_ready_s"`
}

// fairShare runs the phase with a manager of its own.
func (b *bench) fairShare(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr, err := startTracker(ctx, b.env.Config, b.kube.Scheme())
	if err != nil {
		return err
	}
	suffix := localenv.RandomHex(4)
	nsT1, nsT2, nsA, nsB := "fair-t1-"+suffix, "fair-t2-"+suffix, "fair-a-"+suffix, "fair-b-"+suffix
	if err := createNamespaces(ctx, b.kube, []string{nsT1, nsT2, nsA, nsB}); err != nil {
		return err
	}
	t1, t2, shared := "fair-t1-"+localenv.RandomHex(8), "fair-t2-"+localenv.RandomHex(8), "fair-shared-"+localenv.RandomHex(8)
	appT1, appT2, appB := "fairt1"+suffix, "fairt2"+suffix, "fairb"+suffix
	b.env.Fake.AddApp(appT1, t1)
	b.env.Fake.AddApp(appT2, t2)
	b.env.Fake.AddApp(appB, shared)
	var appsA []string
	for i := range fairBurstApps {
		app := fmt.Sprintf("faira%d%s", i, suffix)
		appsA = append(appsA, app)
		b.env.Fake.AddApp(app, shared)
	}
	// One ClusterCredentials per token, as a cluster administrator shares
	// a token: T1 and T2 for one namespace each, the shared one for A and B.
	creds := map[string]string{} // namespace -> ClusterCredentials
	for _, c := range []struct {
		name, token string
		namespaces  []string
	}{
		{"fair-t1-" + suffix, t1, []string{nsT1}},
		{"fair-t2-" + suffix, t2, []string{nsT2}},
		{"fair-shared-" + suffix, shared, []string{nsA, nsB}},
	} {
		if err := b.env.ApplyTokenSecret(ctx, c.name, c.token); err != nil {
			return err
		}
		cc := &webhooksv1alpha1.ClusterCredentials{
			ObjectMeta: metav1.ObjectMeta{Name: c.name},
			Spec: webhooksv1alpha1.ClusterCredentialsSpec{
				TokenSecretRef: webhooksv1alpha1.TokenSecretReference{Namespace: localenv.CredentialsNamespace, Name: c.name},
				Namespaces:     c.namespaces,
				Apps:           []string{webhooksv1alpha1.AnyApp},
			},
		}
		if err := b.kube.Create(ctx, cc); err != nil {
			return fmt.Errorf("creating ClusterCredentials %s: %w", c.name, err)
		}
		for _, ns := range c.namespaces {
			creds[ns] = c.name
		}
	}
	b.fairCreds = creds

	args := []string{
		"--api-qps", fmt.Sprint(fairQPS),
		"--api-burst", fmt.Sprint(b.p.Burst),
		"--max-concurrent-reconciles", fmt.Sprint(b.p.MaxConcurrent),
	}
	mgr, err := startManager(b.binary, b.env, b.token, args, filepath.Join(b.logDir, "manager-4-fair-share.log"))
	if err != nil {
		return err
	}
	defer func() { _ = mgr.stop() }()
	f := &fairFigures{QPS: fairQPS}
	b.res.Fair = f

	// Warm up on T2, so that the times below do not include the start.
	progress("fair share: warming up a manager at --api-qps %d", fairQPS)
	warm := b.fairWebhook(nsT2, "warmup", appT2)
	if err := b.kube.Create(ctx, warm); err != nil {
		return err
	}
	if err := waitFor(ctx, mgr, 2*time.Minute, func() (bool, error) {
		_, ok := tr.ready(nsT2 + "/warmup")
		return ok, nil
	}); err != nil {
		return fmt.Errorf("fair share: the warm-up webhook did not become Ready: %w", err)
	}

	// The burst first, worked off to its end, then the pause: a paused
	// token that held the workers would otherwise stall the burst too.
	if err := b.fairBurst(ctx, tr, mgr, f, nsA, nsB, appsA, appB); err != nil {
		return err
	}
	return b.fairPaused(ctx, tr, mgr, f, nsT1, nsT2, appT1, appT2)
}

func (b *bench) fairPaused(ctx context.Context, tr *tracker, mgr *managerProcess, f *fairFigures, nsT1, nsT2, appT1, appT2 string) error {
	f.PausedTokenResources = 2*b.p.MaxConcurrent + 2
	progress("fair share: a 429 with Retry-After: %s pauses token T1; %d resources of T1, then one of T2", fairRetryAfter, f.PausedTokenResources)
	remove := b.env.Fake.AddFault(bitrisefake.Fault{PathContains: "/apps/" + appT1 + "/", Status: 429, RetryAfter: fairRetryAfter, Times: 1})
	defer remove()
	var keys []client.ObjectKey
	for i := range f.PausedTokenResources {
		owh := b.fairWebhook(nsT1, fmt.Sprintf("paused-%02d", i), appT1)
		if err := b.kube.Create(ctx, owh); err != nil {
			return err
		}
		keys = append(keys, client.ObjectKeyFromObject(owh))
	}
	// Wait (a while, not for ever: a build that holds its workers never
	// gets there) until every one has had its first pass.
	err := waitFor(ctx, mgr, 20*time.Second, func() (bool, error) {
		n, err := b.finalized(ctx, keys)
		f.PausedTokenPassesSeen = n
		return n == len(keys), err
	})
	if err != nil && !errors.Is(err, localenv.ErrTimeout) {
		return err
	}
	other := b.fairWebhook(nsT2, "other-token", appT2)
	ready, err := b.fairReady(ctx, tr, mgr, other)
	if err != nil {
		return err
	}
	f.OtherTokenReadySecs = ready
	f.PausedTokenCalls = len(slices.DeleteFunc(b.env.Fake.Requests(), func(r bitrisefake.Request) bool {
		return !localenv.PathContains("/apps/" + appT1 + "/")(r)
	}))
	progress("fair share: T2's resource Ready in %s (T1: %d/%d passes seen, %d calls reached the fake)",
		readyText(ready), f.PausedTokenPassesSeen, f.PausedTokenResources, f.PausedTokenCalls)
	return nil
}

func (b *bench) fairBurst(ctx context.Context, tr *tracker, mgr *managerProcess, f *fairFigures, nsA, nsB string, appsA []string, appB string) error {
	f.BurstResources = fairBurst
	progress("fair share: namespace A creates %d webhooks over %d apps on a shared token, then namespace B one", fairBurst, len(appsA))
	plans := make([]*webhookPlan, fairBurst)
	keys := make([]string, fairBurst)
	for i := range plans {
		name := fmt.Sprintf("burst-%03d", i)
		plans[i] = &webhookPlan{key: nsA + "/" + name, owh: b.fairWebhook(nsA, name, appsA[i%len(appsA)])}
		keys[i] = plans[i].key
	}
	start := time.Now()
	if err := createWebhooks(ctx, b.kube, plans, b.p.Clients, false); err != nil {
		return err
	}
	f.BurstCreateSeconds = time.Since(start).Seconds()
	f.BurstReadyAtNew = tr.countReady(keys)
	ready, err := b.fairReady(ctx, tr, mgr, b.fairWebhook(nsB, "newcomer", appB))
	if err != nil {
		return err
	}
	f.NewNamespaceReadyS = ready
	f.BurstReadyWhenReady = tr.countReady(keys)
	progress("fair share: B's webhook Ready in %s; A's burst: %d/%d Ready when B's was created, %d when it was Ready",
		readyText(ready), f.BurstReadyAtNew, fairBurst, f.BurstReadyWhenReady)
	err = waitFor(ctx, mgr, fairBurstTimeout-time.Since(start), func() (bool, error) {
		return tr.countReady(keys) == fairBurst, nil
	})
	if err != nil && !errors.Is(err, localenv.ErrTimeout) {
		return err
	}
	f.BurstAllReadySeconds = -1
	if err == nil {
		f.BurstAllReadySeconds = time.Since(start).Seconds()
	}
	progress("fair share: A's burst: %d/%d Ready after %.1fs", tr.countReady(keys), fairBurst, time.Since(start).Seconds())
	return nil
}

// fairReady creates owh and returns its time to Ready in seconds, or -1
// when it is not Ready within fairWait.
func (b *bench) fairReady(ctx context.Context, tr *tracker, mgr *managerProcess, owh *webhooksv1alpha1.OutgoingWebhook) (float64, error) {
	key := owh.Namespace + "/" + owh.Name
	sent := time.Now()
	if err := b.kube.Create(ctx, owh); err != nil {
		return 0, err
	}
	err := waitFor(ctx, mgr, fairWait, func() (bool, error) {
		_, ok := tr.ready(key)
		return ok, nil
	})
	if errors.Is(err, localenv.ErrTimeout) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	at, _ := tr.ready(key)
	return at.Sub(sent).Seconds(), nil
}

// finalized counts the resources that have the finalizer.
func (b *bench) finalized(ctx context.Context, keys []client.ObjectKey) (int, error) {
	n := 0
	for _, key := range keys {
		var owh webhooksv1alpha1.OutgoingWebhook
		if err := b.kube.Get(ctx, key, &owh); err != nil {
			return 0, err
		}
		if controllerutil.ContainsFinalizer(&owh, webhooksv1alpha1.Finalizer) {
			n++
		}
	}
	return n, nil
}

// fairWebhook is a webhook whose token is the ClusterCredentials that
// fairShare made for its namespace.
func (b *bench) fairWebhook(ns, name, app string) *webhooksv1alpha1.OutgoingWebhook {
	owh := newWebhook(ns, name, app, time.Minute)
	owh.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{
		Kind: webhooksv1alpha1.CredentialsKindClusterCredentials, Name: b.fairCreds[ns],
	}
	return owh
}

func readyText(s float64) string {
	if s < 0 {
		return fmt.Sprintf("not Ready within %s", fairWait)
	}
	return fmt.Sprintf("%.2fs", s)
}

// judgeFair adds the phase's targets.
func (r *results) judgeFair(add func(name, value, goal string, pass bool, note string)) {
	f := r.Fair
	if f == nil {
		return
	}
	add("burst in another namespace: new webhook Ready", readyText(f.NewNamespaceReadyS),
		fmt.Sprintf("< %s", fairBurstTarget), f.NewNamespaceReadyS >= 0 && f.NewNamespaceReadyS < fairBurstTarget.Seconds(),
		fmt.Sprintf("%d webhooks of namespace A on the same ClusterCredentials, %d of them Ready when B's was created, %d when it was Ready; --api-qps %d",
			f.BurstResources, f.BurstReadyAtNew, f.BurstReadyWhenReady, f.QPS))
	add("paused token: another token's resource Ready", readyText(f.OtherTokenReadySecs),
		fmt.Sprintf("<= %s", fairPausedTarget), f.OtherTokenReadySecs >= 0 && f.OtherTokenReadySecs <= fairPausedTarget.Seconds(),
		fmt.Sprintf("429 Retry-After: %s on T1, %d resources of T1 (%d calls reached Bitrise), --api-qps %d", fairRetryAfter, f.PausedTokenResources, f.PausedTokenCalls, f.QPS))
}
