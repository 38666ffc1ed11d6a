package gitops

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

// holdFinalizer is a finalizer of the test's own, which keeps a deleted
// resource visible once the operator has released its finalizer.
const holdFinalizer = "gitops.test/hold"

// liveState brings a real resource into one state through the manager.
type liveState struct {
	name  string
	reach func(t *testing.T, ns string) *unstructured.Unstructured
	// What kstatus (Helm 4, Flux, kpt) and the Argo CD health check compute.
	kstatus     status.Status
	argo        string
	argoMessage string
}

// TestStatusOfLiveObjects drives real resources through the manager into
// each state, and checks what kstatus and the Argo CD health check make of
// them as the API server returns them.
func TestStatusOfLiveObjects(t *testing.T) {
	t.Parallel()
	script := healthScript(t)
	for _, s := range []liveState{
		{name: "new, before the manager saw it", reach: reachNew, kstatus: status.InProgressStatus, argo: "Progressing"},
		{name: "new and suspended", reach: reachNewSuspended, kstatus: status.InProgressStatus, argo: "Suspended"},
		{name: "ready", reach: reachReady, kstatus: status.CurrentStatus, argo: "Healthy", argoMessage: "is in sync"},
		{name: "ready, receiver failing", reach: reachDeliveriesFailing, kstatus: status.CurrentStatus, argo: "Healthy", argoMessage: "is in sync"},
		{name: "suspended once ready", reach: reachSuspendedOnceReady, kstatus: status.InProgressStatus, argo: "Suspended"},
		{
			name: "transient error on the first pass", reach: reachTransientNew,
			kstatus: status.InProgressStatus, argo: "Progressing", argoMessage: "Bitrise API unavailable",
		},
		{
			name: "transient error on a drift check", reach: reachTransientOnceReady,
			kstatus: status.InProgressStatus, argo: "Progressing", argoMessage: "Bitrise API unavailable",
		},
		{name: "stalled: unknown app", reach: reachStalled, kstatus: status.FailedStatus, argo: "Degraded", argoMessage: "was not found"},
		{name: "being deleted", reach: reachDeleting, kstatus: status.TerminatingStatus, argo: "Progressing", argoMessage: "being deleted"},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			u := s.reach(t, newNamespace(t))
			res, err := status.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != s.kstatus {
				t.Errorf("kstatus: %s (%s), want %s; status: %v", res.Status, res.Message, s.kstatus, u.Object["status"])
			}
			h := runArgoHealth(t, script, u.Object)
			if h.Status != s.argo || !strings.Contains(h.Message, s.argoMessage) {
				t.Errorf("Argo CD health: %s %q, want %s with %q", h.Status, h.Message, s.argo, s.argoMessage)
			}
		})
	}
}

// reachNew creates a resource the manager does not watch: as a GitOps tool
// sees it right after applying it.
func reachNew(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "new", readyApp)
	obj.Labels = map[string]string{unwatchedLabel: "true"}
	create(t, obj)
	u := fetch(t, ns, "new")
	if g, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration"); g != -1 {
		t.Errorf("a new resource has status.observedGeneration %d, want the CRD default -1", g)
	}
	return u
}

// reachNewSuspended creates a suspended resource and waits for the manager
// to have handled it (its finalizer): it makes no call and writes no status.
func reachNewSuspended(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "new-suspended", readyApp)
	obj.Spec.Suspend = true
	create(t, obj)
	return waitFor(t, ns, obj.Name, "seen by the manager", func(u *unstructured.Unstructured) bool {
		return slices.Contains(u.GetFinalizers(), webhooksv1alpha1.Finalizer)
	})
}

func reachReady(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "ready", readyApp)
	create(t, obj)
	return waitFor(t, ns, obj.Name, "Ready", handled(webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ReasonSucceeded))
}

func reachSuspendedOnceReady(t *testing.T, ns string) *unstructured.Unstructured {
	reachReady(t, ns)
	patch := []byte(`{"spec":{"suspend":true}}`)
	obj := webhook(ns, "ready", readyApp)
	if err := k8s.Patch(t.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	return fetch(t, ns, obj.Name)
}

func reachTransientNew(t *testing.T, ns string) *unstructured.Unstructured {
	app := "gitops0flaky0" + ns
	env.Fake.AddApp(app, token)
	t.Cleanup(env.Fake.AddFault(unavailable(app)))
	obj := webhook(ns, "flaky", app)
	create(t, obj)
	return waitFor(t, ns, obj.Name, "Reconciling after a 503",
		conditionTrue(webhooksv1alpha1.ConditionReconciling, webhooksv1alpha1.ReasonAPIUnavailable))
}

func reachTransientOnceReady(t *testing.T, ns string) *unstructured.Unstructured {
	app := "gitops0flaky0" + ns
	env.Fake.AddApp(app, token)
	obj := webhook(ns, "flaky", app)
	create(t, obj)
	waitFor(t, ns, obj.Name, "Ready", handled(webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ReasonSucceeded))
	t.Cleanup(env.Fake.AddFault(unavailable(app)))
	requestReconcile(t, obj)
	return waitFor(t, ns, obj.Name, "Reconciling after a 503",
		handled(webhooksv1alpha1.ConditionReconciling, webhooksv1alpha1.ReasonAPIUnavailable))
}

// unavailable makes every read of app's webhooks answer 503.
func unavailable(app string) bitrisefake.Fault {
	return bitrisefake.Fault{Method: "GET", PathContains: "/apps/" + app + "/", Status: 503}
}

// requestReconcile asks for a drift check now, as `flux reconcile` would.
func requestReconcile(t *testing.T, obj client.Object) {
	t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"` + webhooksv1alpha1.ReconcileRequestedAtAnnotation + `":"` +
		time.Now().Format(time.RFC3339Nano) + `"}}}`)
	if err := k8s.Patch(t.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
}

func reachStalled(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "stalled", missingApp)
	create(t, obj)
	return waitFor(t, ns, obj.Name, "Stalled", handled(webhooksv1alpha1.ConditionStalled, webhooksv1alpha1.ReasonAppNotFound))
}

// reachDeleting deletes a Ready resource that holds a finalizer of the
// test's own, and waits for the operator to delete the remote webhook and
// release its finalizer.
func reachDeleting(t *testing.T, ns string) *unstructured.Unstructured {
	obj := webhook(ns, "deleting", readyApp)
	obj.Finalizers = []string{holdFinalizer}
	create(t, obj)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = k8s.Patch(ctx, obj, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
	})
	ready := waitFor(t, ns, obj.Name, "Ready", handled(webhooksv1alpha1.ConditionReady, webhooksv1alpha1.ReasonSucceeded))
	slug, _, _ := unstructured.NestedString(ready.Object, "status", "slug")
	if err := k8s.Delete(t.Context(), obj); err != nil {
		t.Fatal(err)
	}
	u := waitFor(t, ns, obj.Name, "released by the operator", func(u *unstructured.Unstructured) bool {
		return u.GetDeletionTimestamp() != nil && slices.Equal(u.GetFinalizers(), []string{holdFinalizer})
	})
	for _, w := range env.Fake.Webhooks(readyApp) {
		if w.Slug == slug {
			t.Errorf("the operator released its finalizer but remote webhook %s still exists", slug)
		}
	}
	return u
}
