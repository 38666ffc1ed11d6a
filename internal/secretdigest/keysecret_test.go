package secretdigest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func fakeClient(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func TestLoadOrCreateKeyCreatesOnceThenReads(t *testing.T) {
	ctx := context.Background()
	c := fakeClient(t)
	first, created, err := LoadOrCreateKey(ctx, c, "ops", "digest-key")
	if err != nil || !created || len(first) != KeyLen {
		t.Fatalf("first start: key of %d bytes, created %t, err %v", len(first), created, err)
	}
	var stored corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ops", Name: "digest-key"}, &stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored.Data[KeySecretDataKey], first) {
		t.Fatal("the Secret does not hold the key returned")
	}
	again, created, err := LoadOrCreateKey(ctx, c, "ops", "digest-key")
	if err != nil || created || !bytes.Equal(again, first) {
		t.Fatalf("restart: created %t, same key %t, err %v", created, bytes.Equal(again, first), err)
	}
}

func TestLoadOrCreateKeyRefusesABadSecretWithoutShowingIt(t *testing.T) {
	bad := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "digest-key"},
		Data:       map[string][]byte{KeySecretDataKey: []byte("short-and-private")},
	}
	_, _, err := LoadOrCreateKey(context.Background(), fakeClient(t, bad), "ops", "digest-key")
	if err == nil {
		t.Fatal("a 17-byte key was accepted")
	}
	if !strings.Contains(err.Error(), "ops/digest-key") || !strings.Contains(err.Error(), `"key"`) {
		t.Fatalf("the error does not name the Secret and data key: %v", err)
	}
	if strings.Contains(err.Error(), "short-and-private") {
		t.Fatal("the error shows the Secret's value")
	}
}
