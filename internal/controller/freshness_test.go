package controller

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

func TestOwnWritesReadsPastAStaleCache(t *testing.T) {
	s := runtime.NewScheme()
	if err := webhooksv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "ns", Name: "hook"}
	live := &webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	live.Status.Slug = "slug-1"
	server := fakeclient.NewClientBuilder().WithScheme(s).WithObjects(live).Build()
	if err := server.Get(context.Background(), key, live); err != nil {
		t.Fatal(err)
	}
	// The cache still holds the copy from before the reconciler's write.
	cached := live.DeepCopy()
	cached.ResourceVersion = "1"
	cached.Status.Slug = ""

	var w ownWrites
	got, err := w.fresh(context.Background(), server, key, cached)
	if err != nil || got != cached {
		t.Fatalf("nothing remembered (a restart): the cached copy is used, got %v, %v", got, err)
	}

	w.wrote(key, live.ResourceVersion)
	got, err = w.fresh(context.Background(), server, key, cached)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Slug != "slug-1" || got.ResourceVersion != live.ResourceVersion {
		t.Errorf("a cached copy older than the last write must be read afresh, got slug %q at %s", got.Status.Slug, got.ResourceVersion)
	}

	upToDate := live.DeepCopy()
	got, err = w.fresh(context.Background(), server, key, upToDate)
	if err != nil || got != upToDate {
		t.Errorf("a cached copy at the last write is used as it is, got %v, %v", got, err)
	}

	if err := server.Delete(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	w.wrote(key, "999")
	got, err = w.fresh(context.Background(), server, key, cached)
	if got != nil || err != nil {
		t.Errorf("a resource gone from the API server: want nil, nil, got %v, %v", got, err)
	}
	if _, remembered := w.versions.Load(key); remembered {
		t.Error("a resource gone is forgotten")
	}
}
