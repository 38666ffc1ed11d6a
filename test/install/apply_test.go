package install

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	crdName   = "outgoingwebhooks.webhooks.bitrise.io"
	ccCRDName = "clustercredentials.webhooks.bitrise.io"
)

func TestInstallYAMLApplies(t *testing.T) {
	c := startCluster(t)
	manifests := readFile(t, "dist", "install.yaml")
	objs := parseObjects(t, manifests)
	// A server-side dry run of namespaced objects needs their namespace.
	ns, err := find(t, objs, "Namespace", kustomizeNamespace).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	c.apply(t, ns)
	c.apply(t, manifests)
	c.waitEstablished(t, crdName)
	c.applySamples(t)

	deploy := convert[appsv1.Deployment](t, find(t, objs, "Deployment", kustomizeDeployment))
	// The namespace enforces restricted through its own label.
	checkPodSecurity(t, c, deploy)
	checkManagerAccess(t, c, deploy)

	// The optional NetworkPolicy applies on top of the same objects.
	c.apply(t, networkPolicyLayout(t))
}

func TestChartApplies(t *testing.T) {
	c := startCluster(t)
	for _, tc := range []struct {
		name, release, namespace string
		flags                    []string
	}{
		{name: "defaults", release: "owh", namespace: "owh-system"},
		{
			name: "token value, two replicas, network policy", release: "owh-ha", namespace: "owh-ha",
			flags: []string{"--set-string", "token.value=not-a-real-token", "--set", "replicaCount=2", "--set", "networkPolicy.enabled=true"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.apply(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
`, tc.namespace)))
			manifests := helmTemplate(t, tc.release, tc.namespace, tc.flags...)
			c.apply(t, manifests)
			c.waitEstablished(t, crdName)
			c.applySamples(t)
			deploy := convert[appsv1.Deployment](t, find(t, parseObjects(t, manifests), "Deployment", tc.release+"-bitrise-webhook-operator"))
			checkPodSecurity(t, c, deploy)
			checkManagerAccess(t, c, deploy)
		})
	}
}

func TestHelmInstallUpgradeUninstall(t *testing.T) {
	helmBinary(t)
	c := startCluster(t)
	chart := filepath.Join(root, "dist", "chart")
	helm := func(args ...string) {
		t.Helper()
		if _, stderr, err := runHelm(t, append(args, "--kubeconfig", c.kubeconfig)...); err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
	}
	const fullname = "owh-bitrise-webhook-operator"
	helm("install", "owh", chart, "--namespace", "owh-system", "--create-namespace", "--set-string", "token.value=not-a-real-token")
	c.mustGet(t, "-n", "owh-system", "deployment/"+fullname, "secret/"+fullname+"-token", "service/"+fullname+"-metrics")
	c.waitEstablished(t, crdName)
	c.applySamples(t)

	helm("upgrade", "owh", chart, "--namespace", "owh-system", "--reuse-values", "--set", "replicaCount=2")
	c.mustGet(t, "-n", "owh-system", "poddisruptionbudget/"+fullname)

	helm("uninstall", "owh", "--namespace", "owh-system")
	if out, _, err := c.kubectl(nil, "get", "-n", "owh-system", "deployment", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("after uninstall: deployments %q (%v)", out, err)
	}
	// crds.keep: the CRD, and so every OutgoingWebhook, outlives the release.
	c.mustGet(t, "crd/"+crdName)
}

func (c *cluster) mustGet(t *testing.T, args ...string) {
	t.Helper()
	if _, stderr, err := c.kubectl(nil, append([]string{"get"}, args...)...); err != nil {
		t.Errorf("kubectl get %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
}

func (c *cluster) waitEstablished(t *testing.T, crd string) {
	t.Helper()
	if _, stderr, err := c.kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd); err != nil {
		t.Fatalf("CRD %s not established: %v\n%s", crd, err, stderr)
	}
}

// applySamples checks that the installed CRD accepts config/samples.
func (c *cluster) applySamples(t *testing.T) {
	t.Helper()
	if _, stderr, err := c.kubectl(nil, "apply", "--server-side", "--dry-run=server", "-k", filepath.Join(root, "config", "samples")); err != nil {
		t.Errorf("the samples are rejected: %v\n%s", err, stderr)
	}
}

// checkPodSecurity creates (dry run) a Pod from the Deployment's template in
// its namespace, which must enforce the restricted Pod Security Standard:
// unlike a Deployment, a Pod is rejected when it violates it.
func checkPodSecurity(t *testing.T, c *cluster, deploy *appsv1.Deployment) {
	t.Helper()
	ns, err := c.clientset.CoreV1().Namespaces().Get(t.Context(), deploy.Namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if level := ns.Labels["pod-security.kubernetes.io/enforce"]; level != "restricted" {
		t.Fatalf("namespace %s enforces Pod Security %q, want restricted", ns.Name, level)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "pod-security-check-",
			Namespace:    deploy.Namespace,
			Labels:       deploy.Spec.Template.Labels,
			Annotations:  deploy.Spec.Template.Annotations,
		},
		Spec: *deploy.Spec.Template.Spec.DeepCopy(),
	}
	dryRun := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	if _, err := c.clientset.CoreV1().Pods(pod.Namespace).Create(t.Context(), pod, dryRun); err != nil {
		t.Errorf("the manager's Pod is rejected in a namespace enforcing restricted: %v", err)
	}
	// The check above means something only if admission really enforces.
	weak := pod.DeepCopy()
	weak.Spec.SecurityContext, weak.Spec.Containers[0].SecurityContext = nil, nil
	if _, err := c.clientset.CoreV1().Pods(pod.Namespace).Create(t.Context(), weak, dryRun); err == nil ||
		!strings.Contains(err.Error(), "PodSecurity") {
		t.Errorf("a Pod without security contexts was not refused by Pod Security admission: %v", err)
	}
}

// checkManagerAccess checks, through the API server's authorizer, that the
// manager's ServiceAccount may do what the manager does and no more than
// what its roles grant.
func checkManagerAccess(t *testing.T, c *cluster, deploy *appsv1.Deployment) {
	t.Helper()
	ns := deploy.Namespace
	user := "system:serviceaccount:" + ns + ":" + deploy.Spec.Template.Spec.ServiceAccountName
	owh := "outgoingwebhooks.webhooks.bitrise.io"
	for _, allowed := range [][]string{
		{"list", owh, "--all-namespaces"},
		{"watch", owh, "--all-namespaces"},
		{"patch", owh, "-n", "default"},
		{"patch", owh, "--subresource=status", "-n", "default"},
		{"update", owh, "--subresource=finalizers", "-n", "default"},
		{"get", "secrets", "-n", "default"},
		{"watch", "secrets", "--all-namespaces"},
		{"get", "namespaces"},
		{"create", "events.events.k8s.io", "-n", "default"},
		{"create", "leases.coordination.k8s.io", "-n", ns},
		{"update", "leases.coordination.k8s.io", "-n", ns},
		{"create", "secrets", "-n", ns}, // the digest key, on first start
		{"create", "tokenreviews.authentication.k8s.io"},
		{"create", "subjectaccessreviews.authorization.k8s.io"},
	} {
		if !c.canI(t, user, allowed...) {
			t.Errorf("%s cannot %s", user, strings.Join(allowed, " "))
		}
	}
	for _, denied := range [][]string{
		{"create", "leases.coordination.k8s.io", "-n", "default"},
		{"create", "secrets", "-n", "default"},
		{"delete", owh, "-n", "default"},
		{"create", owh, "-n", "default"},
	} {
		if c.canI(t, user, denied...) {
			t.Errorf("%s can %s", user, strings.Join(denied, " "))
		}
	}
}
