package chaos

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// TestConcurrentWriters reconciles resources while three other clients
// write the same objects: another controller merge-patching its own labels
// and annotations without a lock (as most controllers do), a kubectl-like
// client editing labels and spec with optimistic locking, and a client
// holding stale copies whose writes must be refused. The operator's writes
// conflict; it must neither duplicate a webhook nor clobber the others'
// metadata, and must end Ready for the last spec.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	s := newScenario(t, "conflict")
	ns := s.namespace("a")
	apps := []string{s.app("app-a"), s.app("app-b")}
	s.startManager("conflict")

	const n = 20
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("hook-%02d", i)
		h := hookSpec{ns: ns, name: names[i], app: apps[i%2], url: fmt.Sprintf("https://hooks.example.com/conflict/%02d", i)}
		if i%2 == 0 {
			h.secretRef = names[i]
			s.applySecret(ns, names[i], newSecretValue("conflict-whsec"), map[string]string{"X-Conflict-Token": newSecretValue("conflict-header")})
		}
		s.createHook(h)
	}

	ctx, stop := context.WithCancel(s.ctx())
	w := &writers{s: s, ns: ns, names: names, other: map[string]int{}, edits: map[string]int{}, revs: map[string]int{}}
	var wg sync.WaitGroup
	for _, run := range []func(context.Context){w.otherController, w.kubectl, w.staleClient} {
		wg.Go(func() { run(ctx) })
	}
	// Writers race the creates, and keep going for a while after them.
	s.waitAllCreated("every resource created while the writers write")
	time.Sleep(5 * time.Second)
	stop()
	wg.Wait()
	if t.Failed() {
		return
	}

	rep := s.waitConverged("after the writers", nil, "")
	hooks, err := s.hooks()
	if err != nil {
		t.Fatal(err)
	}
	clobbered := 0
	for _, h := range hooks {
		key := h.Name
		if got, want := h.Labels["other.example.com/seen"], w.other[key]; want > 0 && got != strconv.Itoa(want) {
			clobbered++
			t.Errorf("%s: label of the other controller is %q, want %d", key, got, want)
		}
		if got, want := h.Annotations["other.example.com/heartbeat"], w.other[key]; want > 0 && got != strconv.Itoa(want) {
			clobbered++
			t.Errorf("%s: annotation of the other controller is %q, want %d", key, got, want)
		}
		if got, want := h.Labels["kubectl.example.com/edit"], w.edits[key]; want > 0 && got != strconv.Itoa(want) {
			clobbered++
			t.Errorf("%s: label of the kubectl edit is %q, want %d", key, got, want)
		}
		if got, want := h.Spec.Headers["X-Rev"], w.revs[key]; want > 0 && got != strconv.Itoa(want) {
			clobbered++
			t.Errorf("%s: spec.headers.X-Rev is %q, want %d", key, got, want)
		}
		if !slicesContains(h.Finalizers, webhooksv1alpha1.Finalizer) {
			t.Errorf("%s: finalizer lost", key)
		}
	}
	operatorConflicts := 0
	for _, m := range s.managers {
		operatorConflicts += strings.Count(m.Logs.String(), "the object has been modified")
	}
	logf(t, "chaos[conflict]: resources=%d ready=%d remote=%d duplicates=%d orphans=%d clobbered=%d; writes: other=%d kubectl=%d (conflicts retried %d, spec edits %d), stale writes refused=%d accepted=%d; operator conflicts logged=%d",
		rep.resources, rep.ready, rep.remote, rep.duplicates, rep.orphans, clobbered,
		w.otherWrites, w.kubectlWrites, w.kubectlConflicts, w.specEdits, w.staleRefused, w.staleAccepted, operatorConflicts)
	if w.staleRefused == 0 {
		t.Errorf("no stale write was attempted")
	}
	s.checkNoLeaks()
}

// writers are the other clients of TestConcurrentWriters. The maps hold the
// last value each wrote per resource.
type writers struct {
	s     *scenario
	ns    string
	names []string

	mu                                    sync.Mutex
	other, edits, revs                    map[string]int
	otherWrites, kubectlWrites, specEdits int
	kubectlConflicts                      int
	staleRefused, staleAccepted           int
}

func (w *writers) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: w.ns, Name: name}
}

// The writers stop between writes when ctx is done; each write itself runs
// to its end, so that the last value recorded is the last value written.

// otherController merge-patches its own label and annotation, without a
// resourceVersion, every 10 ms, round-robin over the resources.
func (w *writers) otherController(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		name := w.names[i%len(w.names)]
		value := strconv.Itoa(i + 1)
		patch := fmt.Sprintf(`{"metadata":{"labels":{"other.example.com/seen":%q},"annotations":{"other.example.com/heartbeat":%q}}}`, value, value)
		obj := &webhooksv1alpha1.OutgoingWebhook{}
		obj.Namespace, obj.Name = w.ns, name
		if err := w.s.c.Patch(w.s.ctx(), obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			w.s.t.Errorf("other controller: patching %s: %v", name, err)
			return
		}
		w.mu.Lock()
		w.other[name] = i + 1
		w.otherWrites++
		w.mu.Unlock()
		sleep(ctx, 10*time.Millisecond)
	}
}

// kubectl reads, edits and updates with optimistic locking, retrying on a
// conflict as kubectl edit or a GitOps tool's update would; every fourth
// edit changes the spec (a new generation).
func (w *writers) kubectl(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		name := w.names[(i*7)%len(w.names)]
		value := i + 1
		editSpec := i%4 == 0
		attempts := 0
		err := retry.RetryOnConflict(conflictBackoff, func() error {
			attempts++
			obj := &webhooksv1alpha1.OutgoingWebhook{}
			if err := w.s.c.Get(w.s.ctx(), w.key(name), obj); err != nil {
				return err
			}
			if obj.Labels == nil {
				obj.Labels = map[string]string{}
			}
			obj.Labels["kubectl.example.com/edit"] = strconv.Itoa(value)
			if editSpec {
				if obj.Spec.Headers == nil {
					obj.Spec.Headers = map[string]string{}
				}
				obj.Spec.Headers["X-Rev"] = strconv.Itoa(value)
			}
			return w.s.c.Update(w.s.ctx(), obj)
		})
		if err != nil {
			w.s.t.Errorf("kubectl: updating %s: %v", name, err)
			return
		}
		w.mu.Lock()
		w.edits[name] = value
		if editSpec {
			w.revs[name] = value
			w.specEdits++
		}
		w.kubectlWrites++
		w.kubectlConflicts += attempts - 1
		w.mu.Unlock()
		sleep(ctx, 30*time.Millisecond)
	}
}

// staleClient holds a copy, lets the object move on, then writes the copy
// back: a status update and a spec update, both of which the API server
// must refuse with a conflict.
func (w *writers) staleClient(ctx context.Context) {
	for i := 0; ctx.Err() == nil; i++ {
		name := w.names[(i*3)%len(w.names)]
		stale := &webhooksv1alpha1.OutgoingWebhook{}
		if err := w.s.c.Get(w.s.ctx(), w.key(name), stale); err != nil {
			w.s.t.Errorf("stale client: reading %s: %v", name, err)
			return
		}
		bump := fmt.Sprintf(`{"metadata":{"labels":{"stale.example.com/bump":"%d"}}}`, i)
		if err := w.s.c.Patch(w.s.ctx(), stale.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(bump))); err != nil {
			w.s.t.Errorf("stale client: bumping %s: %v", name, err)
			return
		}
		statusWrite := stale.DeepCopy()
		statusWrite.Status.Slug = "stale-slug-must-not-land"
		statusWrite.Status.Conditions = []metav1.Condition{{
			Type: webhooksv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "Stale",
			Message: "written from a stale copy", LastTransitionTime: metav1.Now(),
		}}
		specWrite := stale.DeepCopy()
		specWrite.Spec.URL = "https://hooks.example.com/conflict/stale-url-must-not-land"
		for _, write := range []func() error{
			func() error { return w.s.c.Status().Update(w.s.ctx(), statusWrite) },
			func() error { return w.s.c.Update(w.s.ctx(), specWrite) },
		} {
			err := write()
			w.mu.Lock()
			switch {
			case apierrors.IsConflict(err):
				w.staleRefused++
			case err == nil:
				w.staleAccepted++
				w.s.t.Errorf("stale client: a write of %s with a stale resourceVersion was accepted", name)
			default:
				w.s.t.Errorf("stale client: writing %s: %v", name, err)
			}
			w.mu.Unlock()
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
