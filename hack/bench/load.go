package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

const (
	warmupNamespace = "bench-warmup"
	warmupApp       = "benchwarmup"
)

func createNamespaces(ctx context.Context, kube client.Client, names []string) error {
	for _, name := range names {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := kube.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", name, err)
		}
	}
	return nil
}

func newWebhook(namespace, name, app string, interval time.Duration) *webhooksv1alpha1.OutgoingWebhook {
	owh := &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: webhooksv1alpha1.OutgoingWebhookSpec{
			AppSlug:  app,
			URL:      fmt.Sprintf("https://hooks.example.com/bench/%s/%s", namespace, name),
			Events:   []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild},
			Interval: &metav1.Duration{Duration: interval},
		},
	}
	withDeliveryCheck(owh)
	return owh
}

// warmUp waits until the manager has reconciled one webhook (its caches are
// synced and its workers run), then deletes it, so that the measurement
// starts with a manager ready to work and nothing left in its queue.
func warmUp(ctx context.Context, kube client.Client, tr *tracker, mgr *managerProcess) error {
	owh := newWebhook(warmupNamespace, "warmup", warmupApp, 10*time.Minute)
	if err := kube.Create(ctx, owh); err != nil {
		return fmt.Errorf("creating the warm-up webhook: %w", err)
	}
	key := warmupNamespace + "/warmup"
	if err := waitFor(ctx, mgr, 2*time.Minute, func() (bool, error) {
		_, ok := tr.ready(key)
		return ok, nil
	}); err != nil {
		return fmt.Errorf("the warm-up webhook did not become Ready: %w", err)
	}
	if err := kube.Delete(ctx, owh); err != nil {
		return err
	}
	return waitFor(ctx, mgr, time.Minute, func() (bool, error) {
		err := kube.Get(ctx, client.ObjectKeyFromObject(owh), &webhooksv1alpha1.OutgoingWebhook{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// webhookPlan is one webhook to create: resource i goes to app i mod K and
// namespace i mod the namespace count.
type webhookPlan struct {
	key    string
	app    string
	owh    *webhooksv1alpha1.OutgoingWebhook
	sentAt time.Time
}

func (b *bench) planWebhooks() []*webhookPlan {
	plans := make([]*webhookPlan, b.p.N)
	for i := range plans {
		ns, app := b.nsNames[i%len(b.nsNames)], b.apps[i%len(b.apps)]
		name := fmt.Sprintf("owh-%05d", i)
		plans[i] = &webhookPlan{key: ns + "/" + name, app: app, owh: newWebhook(ns, name, app, b.p.Interval)}
	}
	return plans
}

// createWebhooks creates the planned webhooks as fast as the client
// goroutines can, noting when each create was sent. With secrets, each
// first gets its Secret, with a webhook secret and one sensitive header
// (what real users set), so that the time to Ready includes the Secret.
func createWebhooks(ctx context.Context, kube client.Client, plans []*webhookPlan, clients int, secrets bool) error {
	return parallel(ctx, len(plans), clients, func(i int) error {
		plans[i].sentAt = time.Now()
		if secrets {
			owh := plans[i].owh
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: owh.Namespace, Name: owh.Name + "-secret"},
				StringData: map[string]string{
					"secret":  randomText(32),
					"headers": "X-Bench-Token: " + randomText(24) + "\n",
				},
			}
			if err := kube.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
			}
			owh.Spec.SecretRef = &webhooksv1alpha1.SecretReference{Name: secret.Name}
		}
		if err := kube.Create(ctx, plans[i].owh); err != nil {
			return fmt.Errorf("creating %s: %w", plans[i].key, err)
		}
		return nil
	})
}

// randomText returns n random hex digits.
func randomText(n int) string {
	return localenv.RandomHex((n + 1) / 2)[:n]
}

// lastAppliedAnnotation is what client-side `kubectl apply` (and tools
// built on it) add to every object: the whole object as applied, data
// included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// createSecrets creates count Secrets that no webhook references, each
// with size bytes of random data, spread over namespaces. With applied, each
// also carries the annotation `kubectl apply` would add.
func createSecrets(ctx context.Context, kube client.Client, namespaces []string, count, size, clients int, applied bool) error {
	return parallel(ctx, count, clients, func(i int) error {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		secret := &corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[i%len(namespaces)], Name: fmt.Sprintf("unrelated-%05d", i)},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{"blob": data},
		}
		if applied {
			manifest, err := json.Marshal(secret)
			if err != nil {
				return err
			}
			secret.Annotations = map[string]string{lastAppliedAnnotation: string(manifest)}
		}
		if err := kube.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating Secret %s: %w", secret.Name, err)
		}
		return nil
	})
}

// parallel runs do(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, do func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}
