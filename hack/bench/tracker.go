package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// tracker watches OutgoingWebhooks and notes when each was first seen
// Ready=True for its current generation (observedGeneration == generation).
// A watch sees each status write as it happens, which polling every 200ms
// would round up, and costs the API server one watch instead of a list of
// every resource five times a second.
type tracker struct {
	mu      sync.Mutex
	readyAt map[string]time.Time
	reason  map[string]string // the latest Ready reason, to explain stragglers

	countUpdates atomic.Bool
	updates      atomic.Int64 // resourceVersion changes while countUpdates
}

func startTracker(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) (*tracker, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &webhooksv1alpha1.OutgoingWebhook{})
	if err != nil {
		return nil, err
	}
	t := &tracker{readyAt: map[string]time.Time{}, reason: map[string]string{}}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { t.see(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			o, okOld := oldObj.(*webhooksv1alpha1.OutgoingWebhook)
			n, okNew := newObj.(*webhooksv1alpha1.OutgoingWebhook)
			if okOld && okNew && o.ResourceVersion != n.ResourceVersion && t.countUpdates.Load() {
				t.updates.Add(1)
			}
			t.see(newObj)
		},
	})
	if err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the tracker's cache did not sync")
	}
	return t, nil
}

func (t *tracker) see(obj any) {
	owh, ok := obj.(*webhooksv1alpha1.OutgoingWebhook)
	if !ok {
		return
	}
	now := time.Now()
	key := owh.Namespace + "/" + owh.Name
	ready := readyCondition(owh)
	t.mu.Lock()
	defer t.mu.Unlock()
	if ready != nil {
		t.reason[key] = ready.Reason
	}
	if ready != nil && ready.Status == metav1.ConditionTrue && owh.Status.ObservedGeneration == owh.Generation {
		if _, seen := t.readyAt[key]; !seen {
			t.readyAt[key] = now
		}
	}
}

func readyCondition(owh *webhooksv1alpha1.OutgoingWebhook) *metav1.Condition {
	for i := range owh.Status.Conditions {
		if owh.Status.Conditions[i].Type == webhooksv1alpha1.ConditionReady {
			return &owh.Status.Conditions[i]
		}
	}
	return nil
}

// ready returns when key was first seen Ready.
func (t *tracker) ready(key string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	at, ok := t.readyAt[key]
	return at, ok
}

// countReady counts the keys seen Ready.
func (t *tracker) countReady(keys []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := t.readyAt[k]; ok {
			n++
		}
	}
	return n
}

// pendingReasons counts the latest Ready reasons of the keys not yet Ready.
func (t *tracker) pendingReasons(keys []string) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for _, k := range keys {
		if _, ok := t.readyAt[k]; ok {
			continue
		}
		reason := t.reason[k]
		if reason == "" {
			reason = "(no Ready condition yet)"
		}
		out[reason]++
	}
	return out
}
