package controller

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

// newNamespace creates a namespace of the spec's own.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unique("owh")}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// newApp registers an app on the fake that the suite's token may use.
func newApp() string {
	app := unique("app")
	fake.AddApp(app, suiteToken)
	return app
}

func newWebhook(ns, app string, mutate ...func(*webhooksv1alpha1.OutgoingWebhook)) *webhooksv1alpha1.OutgoingWebhook {
	obj := &webhooksv1alpha1.OutgoingWebhook{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: unique("hook")},
		Spec: webhooksv1alpha1.OutgoingWebhookSpec{
			AppSlug: app,
			URL:     "https://hooks.example.com/" + unique("path"),
			Events:  []webhooksv1alpha1.Event{webhooksv1alpha1.EventBuild},
		},
	}
	for _, m := range mutate {
		m(obj)
	}
	return obj
}

func createWebhook(ns, app string, mutate ...func(*webhooksv1alpha1.OutgoingWebhook)) *webhooksv1alpha1.OutgoingWebhook {
	obj := newWebhook(ns, app, mutate...)
	Expect(k8s.Create(ctx, obj)).To(Succeed())
	return obj
}

func createSecret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data}
	Expect(k8s.Create(ctx, s)).To(Succeed())
	return s
}

func get(obj *webhooksv1alpha1.OutgoingWebhook) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	out := &webhooksv1alpha1.OutgoingWebhook{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
	return out
}

func condition(obj *webhooksv1alpha1.OutgoingWebhook, typ string) *metav1.Condition {
	return meta.FindStatusCondition(obj.Status.Conditions, typ)
}

// waitReady waits until the resource is Ready for its current generation.
func waitReady(obj *webhooksv1alpha1.OutgoingWebhook) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	var got *webhooksv1alpha1.OutgoingWebhook
	Eventually(func(g Gomega) {
		got = get(obj)
		c := condition(got, webhooksv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
	}).Should(Succeed())
	return got
}

// waitStalled waits until the resource is Stalled with the reason.
func waitStalled(obj *webhooksv1alpha1.OutgoingWebhook, reason string) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	var got *webhooksv1alpha1.OutgoingWebhook
	Eventually(func(g Gomega) {
		got = get(obj)
		c := condition(got, webhooksv1alpha1.ConditionStalled)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		ready := condition(got, webhooksv1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(condition(got, webhooksv1alpha1.ConditionReconciling)).To(BeNil())
	}).Should(Succeed())
	return got
}

// requestReconcile sets the reconcile-requested-at annotation and waits
// until the operator has handled it.
func requestReconcile(obj *webhooksv1alpha1.OutgoingWebhook) *webhooksv1alpha1.OutgoingWebhook {
	GinkgoHelper()
	token := time.Now().Format(time.RFC3339Nano)
	patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation] = token
	})
	var got *webhooksv1alpha1.OutgoingWebhook
	Eventually(func(g Gomega) {
		got = get(obj)
		g.Expect(got.Status.LastHandledReconcileAt).To(Equal(token))
	}).Should(Succeed())
	return got
}

func patchWebhook(obj *webhooksv1alpha1.OutgoingWebhook, mutate func(*webhooksv1alpha1.OutgoingWebhook)) {
	GinkgoHelper()
	current := get(obj)
	before := current.DeepCopy()
	mutate(current)
	Expect(k8s.Patch(ctx, current, client.MergeFrom(before))).To(Succeed())
}

func updateSecret(ns, name string, data map[string]string) {
	GinkgoHelper()
	s := &corev1.Secret{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
	s.Data = nil
	s.StringData = data
	Expect(k8s.Update(ctx, s)).To(Succeed())
}

// appRequests returns the fake's requests for one app, by method.
func appRequests(app string) map[string]int {
	counts := map[string]int{}
	for _, r := range fake.Requests() {
		if strings.Contains(r.Path, "/apps/"+app+"/") {
			counts[r.Method]++
		}
	}
	return counts
}

func writes(app string) int {
	c := appRequests(app)
	return c["POST"] + c["PUT"] + c["DELETE"]
}

// eventsFor lists the Events about one resource, as reason -> count.
func eventsFor(obj client.Object) map[string]int {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	out := map[string]int{}
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() {
			count := 1
			if e.Series != nil {
				count = int(e.Series.Count)
			}
			out[e.Reason] += count
		}
	}
	return out
}

// eventNotes returns the notes of the Events about one resource.
func eventNotes(obj client.Object) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() {
			notes = append(notes, e.Reason+": "+e.Note)
		}
	}
	return notes
}

// kstatusOf computes what kstatus (Helm --wait, Flux, kpt) says of the object.
func kstatusOf(obj *webhooksv1alpha1.OutgoingWebhook) status.Status {
	GinkgoHelper()
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(get(obj))
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: raw}
	u.SetAPIVersion(webhooksv1alpha1.GroupVersion.String())
	u.SetKind("OutgoingWebhook")
	res, err := status.Compute(u)
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// remote returns the app's webhooks on the fake.
func remote(app string) []bitrise.Webhook { return fake.Webhooks(app) }

func remoteSlugs(app string) []string {
	var slugs []string
	for _, w := range remote(app) {
		slugs = append(slugs, w.Slug)
	}
	slices.Sort(slugs)
	return slugs
}

// expectNoSecretIn fails when any registered secret value occurs in the
// object's JSON (status included) or in its Events.
func expectNoSecretIn(obj *webhooksv1alpha1.OutgoingWebhook) {
	GinkgoHelper()
	data, err := json.Marshal(get(obj).Status)
	Expect(err).NotTo(HaveOccurred())
	notes := strings.Join(eventNotes(obj), "\n")
	for _, s := range secrets.all() {
		Expect(string(data)).NotTo(ContainSubstring(s))
		Expect(notes).NotTo(ContainSubstring(s))
	}
}
