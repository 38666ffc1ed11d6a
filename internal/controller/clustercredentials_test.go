package controller

import (
	"time"

	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// newTokenSecret creates, in the suite's operator namespace, a Secret
// holding data, and returns its name.
func newTokenSecret(data map[string]string) string {
	name := unique("cc-token")
	createSecret(suiteTokenNamespace, name, data)
	return name
}

// newCredentials creates a ClusterCredentials whose token Secret holds a
// fresh token (returned), allowing what mutate says (by default: no
// namespace, every app).
func newCredentials(mutate ...func(*webhooksv1alpha1.ClusterCredentials)) (*webhooksv1alpha1.ClusterCredentials, string) {
	token := secretValue("cc-token")
	cc := credentialsObject(newTokenSecret(map[string]string{"token": token}), mutate...)
	Expect(k8s.Create(ctx, cc)).To(Succeed())
	return cc, token
}

func credentialsObject(secretName string, mutate ...func(*webhooksv1alpha1.ClusterCredentials)) *webhooksv1alpha1.ClusterCredentials {
	cc := &webhooksv1alpha1.ClusterCredentials{
		ObjectMeta: metav1.ObjectMeta{Name: unique("cc")},
		Spec: webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef: webhooksv1alpha1.TokenSecretReference{Namespace: suiteTokenNamespace, Name: secretName},
			Apps:           []string{webhooksv1alpha1.AnyApp},
		},
	}
	for _, m := range mutate {
		m(cc)
	}
	return cc
}

func allowNamespaces(names ...string) func(*webhooksv1alpha1.ClusterCredentials) {
	return func(cc *webhooksv1alpha1.ClusterCredentials) { cc.Spec.Namespaces = names }
}

func allowApps(apps ...string) func(*webhooksv1alpha1.ClusterCredentials) {
	return func(cc *webhooksv1alpha1.ClusterCredentials) { cc.Spec.Apps = apps }
}

func selectNamespaces(sel *metav1.LabelSelector) func(*webhooksv1alpha1.ClusterCredentials) {
	return func(cc *webhooksv1alpha1.ClusterCredentials) { cc.Spec.NamespaceSelector = sel }
}

func usingCredentials(name string) func(*webhooksv1alpha1.OutgoingWebhook) {
	return func(o *webhooksv1alpha1.OutgoingWebhook) {
		o.Spec.CredentialsRef = &webhooksv1alpha1.CredentialsReference{
			Kind: webhooksv1alpha1.CredentialsKindClusterCredentials, Name: name,
		}
	}
}

// newLabelledNamespace creates a namespace of the spec's own with labels.
func newLabelledNamespace(labels map[string]string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unique("owh"), Labels: labels}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func getCredentials(name string) *webhooksv1alpha1.ClusterCredentials {
	GinkgoHelper()
	cc := &webhooksv1alpha1.ClusterCredentials{}
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, cc)).To(Succeed())
	return cc
}

// waitCredentials waits until the ClusterCredentials' Ready condition, for
// its current generation, has the status and reason.
func waitCredentials(name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	GinkgoHelper()
	var c *metav1.Condition
	Eventually(func(g Gomega) {
		cc := getCredentials(name)
		g.Expect(cc.Status.ObservedGeneration).To(Equal(cc.Generation))
		c = meta.FindStatusCondition(cc.Status.Conditions, webhooksv1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(cc.Generation))
		g.Expect(c.Status).To(Equal(status), c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		stalled := meta.FindStatusCondition(cc.Status.Conditions, webhooksv1alpha1.ConditionStalled)
		g.Expect(stalled != nil && stalled.Status == metav1.ConditionTrue).To(Equal(status != metav1.ConditionTrue))
	}).Should(Succeed())
	return c
}

func patchCredentials(name string, mutate func(*webhooksv1alpha1.ClusterCredentials)) {
	GinkgoHelper()
	cc := getCredentials(name)
	before := cc.DeepCopy()
	mutate(cc)
	Expect(k8s.Patch(ctx, cc, client.MergeFrom(before))).To(Succeed())
}

// expectNoSecretInCredentials fails when a registered secret value occurs in
// the ClusterCredentials' status.
func expectNoSecretInCredentials(name string) {
	GinkgoHelper()
	data, err := json.Marshal(getCredentials(name).Status)
	Expect(err).NotTo(HaveOccurred())
	for _, s := range secrets.all() {
		Expect(string(data)).NotTo(ContainSubstring(s))
	}
}

// stalledMessage is the message of the resource's Stalled condition.
func stalledMessage(obj *webhooksv1alpha1.OutgoingWebhook) string {
	return condition(obj, webhooksv1alpha1.ConditionStalled).Message
}

var _ = Describe("ClusterCredentials", func() {
	var app string
	BeforeEach(func() {
		app = unique("cc-app")
	})

	Describe("allows a namespace", func() {
		It("named in spec.namespaces, for an app of spec.apps", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces("elsewhere", ns), allowApps("other-app", app))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)
			Expect(remote(app)).To(HaveLen(1))
			expectNoSecretIn(obj)
			expectNoSecretInCredentials(cc.Name)
		})

		It("selected by spec.namespaceSelector", func() {
			team := unique("team")
			ns := newLabelledNamespace(map[string]string{"team": team})
			cc, token := newCredentials(selectNamespaces(&metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}),
				allowApps(app))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)
		})

		It("when spec.namespaceSelector is {}, for any app with spec.apps [*]", func() {
			ns := newNamespace()
			cc, token := newCredentials(selectNamespaces(&metav1.LabelSelector{}))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)
		})

		It("without spec.credentialsRef, through the default ClusterCredentials", func() {
			ns := newNamespace()
			fake.AddApp(app, suiteToken)
			obj := createWebhook(ns, app)
			Expect(obj.Spec.CredentialsRef).To(BeNil())
			waitReady(obj)
			Expect(remote(app)).To(HaveLen(1))
		})
	})

	Describe("denies, before any Bitrise call,", func() {
		It("a namespace neither named nor selected (no selector)", func() {
			ns := newLabelledNamespace(map[string]string{"team": "mobile"})
			cc, token := newCredentials(allowNamespaces("payments-secret-team"), allowApps(app))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(stalledMessage(got)).To(Equal("namespace " + ns + " is not allowed by ClusterCredentials " + cc.Name +
				" (spec.namespaces, spec.namespaceSelector)"))
			Expect(fake.Requests()).NotTo(ContainElement(HaveField("Path", ContainSubstring(app))))
			Expect(appRequests(app)).To(BeEmpty())
			Expect(remote(app)).To(BeEmpty())
			expectNoSecretIn(got)
		})

		It("a namespace the selector does not select", func() {
			ns := newLabelledNamespace(map[string]string{"team": "web"})
			cc, token := newCredentials(selectNamespaces(&metav1.LabelSelector{MatchLabels: map[string]string{"team": "mobile"}}))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(stalledMessage(got)).NotTo(ContainSubstring("mobile"))
			Expect(appRequests(app)).To(BeEmpty())
		})

		It("an app not in spec.apps, naming no other app", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns), allowApps("the-other-teams-app"))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(stalledMessage(got)).To(Equal("app " + app + " is not in spec.apps of ClusterCredentials " + cc.Name))
			Expect(appRequests(app)).To(BeEmpty())
			Eventually(func() map[string]int { return eventsFor(obj) }).Should(HaveKey(webhooksv1alpha1.ReasonCredentialsNotAllowed))
			expectNoSecretIn(got)
		})

		It("a ClusterCredentials that does not exist, until it is created", func() {
			ns := newNamespace()
			fake.AddApp(app, suiteToken)
			name := unique("later-cc")
			obj := createWebhook(ns, app, usingCredentials(name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
			Expect(stalledMessage(got)).To(ContainSubstring("ClusterCredentials " + name + " named by spec.credentialsRef was not found"))
			Expect(appRequests(app)).To(BeEmpty())

			By("recovering as soon as it is created, without waiting for the interval")
			cc := credentialsObject(suiteTokenSecret, allowNamespaces(ns))
			cc.Name = name
			Expect(k8s.Create(ctx, cc)).To(Succeed())
			waitReady(obj)
		})
	})

	It("reads the token Secret once for all the resources using it, not once per reconcile", func() {
		ns := newNamespace()
		cc, token := newCredentials(allowNamespaces(ns))
		fake.AddApp(app, token)
		waitCredentials(cc.Name, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded)
		before := secretReads.reads(suiteTokenNamespace, cc.Spec.TokenSecretRef.Name)
		const n = 20
		objs := make([]*webhooksv1alpha1.OutgoingWebhook, n)
		for i := range objs {
			objs[i] = createWebhook(ns, app, usingCredentials(cc.Name))
		}
		for _, obj := range objs {
			waitReady(obj)
		}
		requestReconcile(objs[0])
		reads := secretReads.reads(suiteTokenNamespace, cc.Spec.TokenSecretRef.Name) - before
		GinkgoWriter.Printf("token Secret reads for %d resources (%d reconciles or more): %d\n", n, n+1, reads)
		Expect(reads).To(BeZero())
	})

	It("rejects credentialsRef.key with kind ClusterCredentials at admission", func() {
		ns := newNamespace()
		obj := newWebhook(ns, app, usingCredentials("default"))
		obj.Spec.CredentialsRef.Key = "token"
		err := k8s.Create(ctx, obj)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("credentialsRef.key cannot be set with kind ClusterCredentials"))
	})

	Describe("Ready condition", func() {
		It("is True with a usable token, and the token is nowhere in the status", func() {
			cc, _ := newCredentials()
			c := waitCredentials(cc.Name, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded)
			Expect(c.Message).To(ContainSubstring(cc.Spec.TokenSecretRef.Name))
			expectNoSecretInCredentials(cc.Name)
		})

		It("is TokenSecretNotFound while the Secret is missing; its users are CredentialsNotFound without learning the Secret; both recover", func() {
			ns := newNamespace()
			token := secretValue("late-cc-token")
			fake.AddApp(app, token)
			secretName := unique("late-token")
			cc := credentialsObject(secretName, allowNamespaces(ns))
			Expect(k8s.Create(ctx, cc)).To(Succeed())
			c := waitCredentials(cc.Name, metav1.ConditionFalse, webhooksv1alpha1.ReasonTokenSecretNotFound)
			Expect(c.Message).To(ContainSubstring(suiteTokenNamespace + "/" + secretName))

			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
			Expect(stalledMessage(got)).To(ContainSubstring("ClusterCredentials " + cc.Name))
			Expect(stalledMessage(got)).NotTo(Or(ContainSubstring(secretName), ContainSubstring(suiteTokenNamespace)))
			Expect(appRequests(app)).To(BeEmpty())

			createSecret(suiteTokenNamespace, secretName, map[string]string{"token": token})
			waitCredentials(cc.Name, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded)
			waitReady(obj)
			expectNoSecretIn(obj)
		})

		It("is TokenKeyMissing while the key is missing, and its users recover once it is set", func() {
			ns := newNamespace()
			token := secretValue("keyed-cc-token")
			fake.AddApp(app, token)
			secretName := newTokenSecret(map[string]string{"other": "x"})
			cc := credentialsObject(secretName, allowNamespaces(ns), func(cc *webhooksv1alpha1.ClusterCredentials) {
				cc.Spec.TokenSecretRef.Key = "pat"
			})
			Expect(k8s.Create(ctx, cc)).To(Succeed())
			c := waitCredentials(cc.Name, metav1.ConditionFalse, webhooksv1alpha1.ReasonTokenKeyMissing)
			Expect(c.Message).To(ContainSubstring(`"pat"`))
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
			Expect(appRequests(app)).To(BeEmpty())

			updateSecret(suiteTokenNamespace, secretName, map[string]string{"pat": token})
			waitCredentials(cc.Name, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded)
			waitReady(obj)
		})

		It("is TokenSecretForbidden, saying whom to grant what, while the operator may not read the Secret", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns))
			fake.AddApp(app, token)
			waitCredentials(cc.Name, metav1.ConditionTrue, webhooksv1alpha1.ReasonSucceeded)
			secretName := cc.Spec.TokenSecretRef.Name
			secretReads.forbid(suiteTokenNamespace, secretName, true)
			DeferCleanup(secretReads.forbid, suiteTokenNamespace, secretName, false)

			By("re-reading it when the Secret changes")
			updateSecret(suiteTokenNamespace, secretName, map[string]string{"token": token, "touched": "yes"})
			c := waitCredentials(cc.Name, metav1.ConditionFalse, webhooksv1alpha1.ReasonTokenSecretForbidden)
			Expect(c.Message).To(And(ContainSubstring(suiteTokenNamespace+"/"+secretName),
				ContainSubstring("grant the operator's ServiceAccount read access"), ContainSubstring("namespace "+suiteTokenNamespace)))
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)
			Expect(stalledMessage(got)).NotTo(ContainSubstring(secretName))
			Expect(appRequests(app)).To(BeEmpty())
		})

		It("is TokenInvalid for a token with a line break inside, without quoting it", func() {
			bad := secrets.add("first-half-of-token\nsecond-half")
			cc := credentialsObject(newTokenSecret(map[string]string{"token": bad}))
			Expect(k8s.Create(ctx, cc)).To(Succeed())
			waitCredentials(cc.Name, metav1.ConditionFalse, webhooksv1alpha1.ReasonTokenInvalid)
			expectNoSecretInCredentials(cc.Name)
			data, err := json.Marshal(getCredentials(cc.Name).Status)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(data)).NotTo(ContainSubstring("half"))
		})

		It("is InvalidNamespaceSelector for a selector that does not parse, which then selects no namespace", func() {
			ns := newLabelledNamespace(map[string]string{"team": "mobile"})
			named := newNamespace()
			cc, token := newCredentials(allowNamespaces(named), selectNamespaces(&metav1.LabelSelector{
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Matches", Values: []string{"mobile"}}},
			}))
			fake.AddApp(app, token)
			waitCredentials(cc.Name, metav1.ConditionFalse, webhooksv1alpha1.ReasonInvalidNamespaceSelector)

			denied := createWebhook(ns, app, usingCredentials(cc.Name))
			waitStalled(denied, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			By("still serving the namespaces named in spec.namespaces")
			waitReady(createWebhook(named, app, usingCredentials(cc.Name)))
		})
	})

	Describe("picks policy changes up without waiting for the interval", func() {
		It("allows a namespace once it is labelled", func() {
			team := unique("team")
			ns := newNamespace()
			cc, token := newCredentials(selectNamespaces(&metav1.LabelSelector{MatchLabels: map[string]string{"team": team}}))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(appRequests(app)).To(BeEmpty())

			namespace := &corev1.Namespace{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, namespace)).To(Succeed())
			before := namespace.DeepCopy()
			namespace.Labels["team"] = team
			Expect(k8s.Patch(ctx, namespace, client.MergeFrom(before))).To(Succeed())
			waitReady(obj)
		})

		It("stalls a resource whose app is withdrawn, keeps its webhook, and waits on deletion with the Orphan advice", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns), allowApps(app))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			slug := waitReady(obj).Status.Slug

			patchCredentials(cc.Name, func(cc *webhooksv1alpha1.ClusterCredentials) { cc.Spec.Apps = []string{"another-app"} })
			got := waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(stalledMessage(got)).To(Equal("app " + app + " is not in spec.apps of ClusterCredentials " + cc.Name))
			Expect(remoteSlugs(app)).To(Equal([]string{slug}))

			Expect(k8s.Delete(ctx, obj)).To(Succeed())
			Eventually(func(g Gomega) {
				got := get(obj)
				c := condition(got, webhooksv1alpha1.ConditionStalled)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Reason).To(Equal(webhooksv1alpha1.ReasonCredentialsNotAllowed))
				g.Expect(c.Message).To(And(ContainSubstring("Cannot delete the remote webhook"),
					ContainSubstring("not in spec.apps of ClusterCredentials "+cc.Name), ContainSubstring("deletionPolicy to Orphan")))
			}).Should(Succeed())
			Expect(get(obj).Finalizers).To(ContainElement(webhooksv1alpha1.Finalizer))
			Expect(remoteSlugs(app)).To(Equal([]string{slug}))
			Expect(appRequests(app)["DELETE"]).To(BeZero())

			patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
				o.Spec.DeletionPolicy = webhooksv1alpha1.DeletionPolicyOrphan
			})
			waitGone(obj)
			Expect(remoteSlugs(app)).To(Equal([]string{slug}))
		})

		It("orphans, when the namespace is being deleted, a webhook whose namespace is no longer allowed", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			slug := waitReady(obj).Status.Slug

			patchCredentials(cc.Name, func(cc *webhooksv1alpha1.ClusterCredentials) { cc.Spec.Namespaces = []string{"another-namespace"} })
			waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotAllowed)
			Expect(k8s.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
			Expect(k8s.Delete(ctx, obj)).To(Succeed())
			waitGone(obj)
			Expect(remoteSlugs(app)).To(Equal([]string{slug}))
			Expect(appRequests(app)["DELETE"]).To(BeZero())
			Expect(logs.String()).To(ContainSubstring("Left remote webhook " + slug + " on Bitrise"))
		})

		It("uses a rotated token as soon as the token Secret changes", func() {
			ns := newNamespace()
			cc, oldToken := newCredentials(allowNamespaces(ns))
			fake.AddApp(app, oldToken)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)

			fake.RevokeAccess(oldToken, app)
			requestReconcile(obj)
			waitStalled(obj, webhooksv1alpha1.ReasonAuthenticationFailed)

			newToken := secretValue("rotated-cc-token")
			fake.AddToken(newToken, app)
			updateSecret(suiteTokenNamespace, cc.Spec.TokenSecretRef.Name, map[string]string{"token": newToken})
			waitReady(obj)
			expectNoSecretIn(obj)
			expectNoSecretInCredentials(cc.Name)
		})

		It("keeps its users Ready when it is deleted and re-created within the grace, as helm upgrade replaces its hook", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)
			readyStatus := func() metav1.ConditionStatus {
				if c := condition(get(obj), webhooksv1alpha1.ConditionReady); c != nil {
					return c.Status
				}
				return ""
			}

			Expect(k8s.Delete(ctx, getCredentials(cc.Name))).To(Succeed())
			// A pass of a user while its ClusterCredentials is missing.
			requested := time.Now().Format(time.RFC3339Nano)
			patchWebhook(obj, func(o *webhooksv1alpha1.OutgoingWebhook) {
				if o.Annotations == nil {
					o.Annotations = map[string]string{}
				}
				o.Annotations[webhooksv1alpha1.ReconcileRequestedAtAnnotation] = requested
			})
			Consistently(readyStatus, 3*time.Second, 200*time.Millisecond).Should(Equal(metav1.ConditionTrue))

			again := credentialsObject(cc.Spec.TokenSecretRef.Name, allowNamespaces(ns))
			again.Name = cc.Name
			Expect(k8s.Create(ctx, again)).To(Succeed())
			Consistently(readyStatus, credentialsReplacementGrace, 500*time.Millisecond).Should(Equal(metav1.ConditionTrue))
			// The pass is not lost: it ran once the ClusterCredentials was back.
			Eventually(func() string { return get(obj).Status.LastHandledReconcileAt }).Should(Equal(requested))
			Expect(eventsFor(obj)).NotTo(HaveKey(webhooksv1alpha1.ReasonCredentialsNotFound))
		})

		It("stalls the users of a deleted ClusterCredentials, and recovers them when it is back", func() {
			ns := newNamespace()
			cc, token := newCredentials(allowNamespaces(ns))
			fake.AddApp(app, token)
			obj := createWebhook(ns, app, usingCredentials(cc.Name))
			waitReady(obj)

			Expect(k8s.Delete(ctx, getCredentials(cc.Name))).To(Succeed())
			waitStalled(obj, webhooksv1alpha1.ReasonCredentialsNotFound)

			again := credentialsObject(cc.Spec.TokenSecretRef.Name, allowNamespaces(ns))
			again.Name = cc.Name
			Expect(k8s.Create(ctx, again)).To(Succeed())
			waitReady(obj)
		})
	})
})
