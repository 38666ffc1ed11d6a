package controller

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	fakeclient "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

var _ = Describe("Claimants of an app, from the API server", func() {
	It("are selected by the API server with spec.appSlug, in every namespace", func() {
		app, other := unique("claim-app"), unique("claim-other")
		suspended := func(o *webhooksv1alpha1.OutgoingWebhook) { o.Spec.Suspend = true }
		a := createWebhook(newNamespace(), app, suspended)
		b := createWebhook(newNamespace(), app, suspended)
		createWebhook(newNamespace(), other, suspended)

		lister := &claimantLister{reader: k8s}
		items, err := lister.list(ctx, app)
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, item := range items {
			names = append(names, item.Namespace+"/"+item.Name)
		}
		Expect(names).To(ConsistOf(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
		Expect(lister.fallback.Load()).To(BeFalse(), "the API server supports selectableFields")
	})
})

func TestClaimantListerFallsBackWithoutSelectableFields(t *testing.T) {
	objs := []client.Object{
		&webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "x"}, Spec: webhooksv1alpha1.OutgoingWebhookSpec{AppSlug: "app"}},
		&webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "y"}, Spec: webhooksv1alpha1.OutgoingWebhookSpec{AppSlug: "app"}},
		&webhooksv1alpha1.OutgoingWebhook{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "z"}, Spec: webhooksv1alpha1.OutgoingWebhookSpec{AppSlug: "other"}},
	}
	sch := runtime.NewScheme()
	if err := webhooksv1alpha1.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	selectorLists := 0
	c := fakeclient.NewClientBuilder().WithScheme(sch).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			o := (&client.ListOptions{}).ApplyOptions(opts)
			if o.FieldSelector != nil && !o.FieldSelector.Empty() {
				selectorLists++
				// What an API server without CRD field selectors answers.
				return apierrors.NewBadRequest(`Unable to find "webhooks.bitrise.io/v1alpha1, Resource=outgoingwebhooks" that match label selector "", field selector "spec.appSlug=app": field label not supported: spec.appSlug`)
			}
			return c.List(ctx, list, opts...)
		},
	}).Build()
	lister := &claimantLister{reader: c}
	for range 2 {
		items, err := lister.list(context.Background(), "app")
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 2 || items[0].Spec.AppSlug != "app" || items[1].Spec.AppSlug != "app" {
			t.Fatalf("items = %+v, want the two of app", items)
		}
	}
	if selectorLists != 1 {
		t.Errorf("tried the field selector %d times, want once", selectorLists)
	}

	forbidden := fakeclient.NewClientBuilder().WithScheme(sch).WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return apierrors.NewForbidden(webhooksv1alpha1.GroupVersion.WithResource("outgoingwebhooks").GroupResource(), "", nil)
		},
	}).Build()
	l := &claimantLister{reader: forbidden}
	if _, err := l.list(context.Background(), "app"); err == nil || l.fallback.Load() {
		t.Errorf("a Forbidden answer must be an error, not a fallback: %v", err)
	}
}
