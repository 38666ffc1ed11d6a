package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
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
	c.waitEstablished(t, crdName, ccCRDName)
	c.applySamples(t)
	// The commented example at the end, uncommented, is accepted as is.
	example := uncommentExample(t, manifests)
	c.apply(t, example)
	cc := convert[webhooksv1alpha1.ClusterCredentials](t, find(t, parseObjects(t, example), "ClusterCredentials", "default"))
	if cc.Spec.TokenSecretRef.Namespace != kustomizeNamespace || cc.Spec.NamespaceSelector == nil {
		t.Errorf("the example ClusterCredentials: %+v", cc.Spec)
	}

	deploy := convert[appsv1.Deployment](t, find(t, objs, "Deployment", kustomizeDeployment))
	// The namespace enforces restricted through its own label.
	checkPodSecurity(t, c, deploy)
	checkManagerAccess(t, c, deploy, nil)

	// The optional NetworkPolicy applies on top of the same objects.
	c.apply(t, networkPolicyLayout(t))
}

func TestChartApplies(t *testing.T) {
	c := startCluster(t)
	for _, tc := range []struct {
		name, release, namespace string
		flags                    []string
		// secretNamespaces: where the manager may read Secrets; nil: all.
		secretNamespaces []string
	}{
		{name: "defaults", release: "owh", namespace: "owh-system"},
		{
			name: "token value, two replicas, network policy", release: "owh-ha", namespace: "owh-ha",
			flags: []string{"--set-string", "token.value=not-a-real-token", "--set", "replicaCount=2", "--set", "networkPolicy.enabled=true",
				"--set", "token.credentialsName=owh-ha"},
		},
		{
			name: "Secret access through Roles", release: "owh-roles", namespace: "owh-roles",
			flags: []string{"--set", "rbac.secretsAccess=Roles,watchNamespaces={team-a,team-b},rbac.secretNamespaces={tokens}",
				"--set", "token.credentialsName=owh-roles,token.namespaceSelector=null,token.namespaces={team-a},token.apps={a1b2c3d4e5f60789}"},
			secretNamespaces: []string{"team-a", "team-b", "owh-roles", "tokens"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.createNamespaces(t, tc.namespace)
			c.createNamespaces(t, tc.secretNamespaces...)
			manifests := helmTemplate(t, tc.release, tc.namespace, tc.flags...)
			c.applyChart(t, manifests)
			c.applySamples(t)
			deploy := convert[appsv1.Deployment](t, find(t, parseObjects(t, manifests), "Deployment", tc.release+"-bitrise-webhook-operator"))
			checkPodSecurity(t, c, deploy)
			checkManagerAccess(t, c, deploy, tc.secretNamespaces)
		})
	}
}

// createNamespaces creates namespaces (if missing) that enforce the
// restricted Pod Security Standard.
func (c *cluster) createNamespaces(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		c.apply(t, []byte(fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    pod-security.kubernetes.io/enforce: restricted
`, name)))
	}
}

// applyChart applies what `helm template` rendered in the order `helm
// install` does: the release's resources, then (the CRDs established) its
// post-install hooks, such as the ClusterCredentials whose CRD is among the
// resources.
func (c *cluster) applyChart(t *testing.T, manifests []byte) {
	t.Helper()
	var resources, hooks bytes.Buffer
	for _, obj := range parseObjects(t, manifests) {
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		out := &resources
		if obj.GetAnnotations()["helm.sh/hook"] != "" {
			out = &hooks
		}
		out.WriteString("---\n")
		out.Write(data)
	}
	c.apply(t, resources.Bytes())
	c.waitEstablished(t, crdName, ccCRDName)
	if hooks.Len() > 0 {
		c.apply(t, hooks.Bytes())
	}
}

// uncommentExample returns the commented example that ends install.yaml,
// from its first `# ---` line, uncommented.
func uncommentExample(t *testing.T, manifests []byte) []byte {
	t.Helper()
	_, example, found := strings.Cut(string(manifests), "\n# ---\n")
	if !found {
		t.Fatal("install.yaml ends with no commented example (no `# ---` line)")
	}
	var out strings.Builder
	out.WriteString("---\n")
	for _, line := range strings.Split(strings.TrimSpace(example), "\n") {
		if line != "#" && !strings.HasPrefix(line, "# ") {
			t.Fatalf("uncommented line %q in the example ending install.yaml", line)
		}
		out.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ") + "\n")
	}
	return []byte(out.String())
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
	// The ClusterCredentials is created on the first install, although its
	// CRD is created by the same install (it is a post-install hook).
	helm("install", "owh", chart, "--namespace", "owh-system", "--create-namespace", "--set-string", "token.value=not-a-real-token")
	c.mustGet(t, "-n", "owh-system", "deployment/"+fullname, "secret/"+fullname+"-token", "service/"+fullname+"-metrics")
	c.waitEstablished(t, crdName, ccCRDName)
	c.applySamples(t)
	cc := c.getClusterCredentials(t, "default")
	if cc.Spec.TokenSecretRef.Name != fullname+"-token" || cc.Spec.TokenSecretRef.Namespace != "owh-system" ||
		!slices.Equal(cc.Spec.Apps, []string{"*"}) {
		t.Errorf("ClusterCredentials after install: %+v", cc.Spec)
	}

	// An upgrade re-creates it (post-upgrade hook, before-hook-creation)
	// with the new values.
	helm("upgrade", "owh", chart, "--namespace", "owh-system", "--reuse-values", "--set", "replicaCount=2",
		"--set", "token.namespaceSelector=null,token.namespaces={team-a},token.apps={a1b2c3d4e5f60789}")
	c.mustGet(t, "-n", "owh-system", "poddisruptionbudget/"+fullname)
	upgraded := c.getClusterCredentials(t, "default")
	if upgraded.Spec.NamespaceSelector != nil || !slices.Equal(upgraded.Spec.Namespaces, []string{"team-a"}) ||
		!slices.Equal(upgraded.Spec.Apps, []string{"a1b2c3d4e5f60789"}) {
		t.Errorf("ClusterCredentials after upgrade: %+v", upgraded.Spec)
	}
	if upgraded.UID == cc.UID {
		t.Error("the ClusterCredentials was updated in place; before-hook-creation should re-create it")
	}
	// An upgrade that changes nothing of it works as well (the hook's
	// object already exists).
	helm("upgrade", "owh", chart, "--namespace", "owh-system", "--reuse-values")
	c.getClusterCredentials(t, "default")

	helm("uninstall", "owh", "--namespace", "owh-system")
	if out, _, err := c.kubectl(nil, "get", "-n", "owh-system", "deployment", "-o", "name"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("after uninstall: deployments %q (%v)", out, err)
	}
	// crds.keep: the CRDs, and so every OutgoingWebhook, outlive the release;
	// so does the ClusterCredentials (a hook is not part of the release),
	// as the chart's README says.
	c.mustGet(t, "crd/"+crdName, "crd/"+ccCRDName, "clustercredentials/default")
}

func (c *cluster) getClusterCredentials(t *testing.T, name string) *webhooksv1alpha1.ClusterCredentials {
	t.Helper()
	out, stderr, err := c.kubectl(nil, "get", "clustercredentials", name, "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get clustercredentials %s: %v\n%s", name, err, stderr)
	}
	var cc webhooksv1alpha1.ClusterCredentials
	if err := json.Unmarshal([]byte(out), &cc); err != nil {
		t.Fatal(err)
	}
	return &cc
}

func (c *cluster) mustGet(t *testing.T, args ...string) {
	t.Helper()
	if _, stderr, err := c.kubectl(nil, append([]string{"get"}, args...)...); err != nil {
		t.Errorf("kubectl get %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
}

func (c *cluster) waitEstablished(t *testing.T, crds ...string) {
	t.Helper()
	for _, crd := range crds {
		if _, stderr, err := c.kubectl(nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crd); err != nil {
			t.Fatalf("CRD %s not established: %v\n%s", crd, err, stderr)
		}
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
// what its roles grant: not the verbs it never uses, and Secrets only in
// secretNamespaces (nil: in every namespace, through the ClusterRole).
func checkManagerAccess(t *testing.T, c *cluster, deploy *appsv1.Deployment, secretNamespaces []string) {
	t.Helper()
	ns := deploy.Namespace
	user := "system:serviceaccount:" + ns + ":" + deploy.Spec.Template.Spec.ServiceAccountName
	owh := "outgoingwebhooks.webhooks.bitrise.io"
	cc := "clustercredentials.webhooks.bitrise.io"
	allowed := [][]string{
		{"list", owh, "--all-namespaces"},
		{"watch", owh, "--all-namespaces"},
		{"patch", owh, "-n", "default"},
		{"patch", owh, "--subresource=status", "-n", "default"},
		{"get", cc},
		{"list", cc},
		{"watch", cc},
		{"patch", cc, "--subresource=status"},
		{"get", "namespaces"},
		{"list", "namespaces"},
		{"watch", "namespaces"},
		{"create", "events.events.k8s.io", "-n", "default"},
		{"get", "leases.coordination.k8s.io", "-n", ns},
		{"create", "leases.coordination.k8s.io", "-n", ns},
		{"update", "leases.coordination.k8s.io", "-n", ns},
		{"create", "events", "-n", ns},  // leader election's event
		{"create", "secrets", "-n", ns}, // the digest key, on first start
		{"get", "secrets", "-n", ns},
		{"create", "tokenreviews.authentication.k8s.io"},
		{"create", "subjectaccessreviews.authorization.k8s.io"},
	}
	denied := [][]string{
		{"create", "leases.coordination.k8s.io", "-n", "default"},
		{"delete", "leases.coordination.k8s.io", "-n", ns},
		{"list", "leases.coordination.k8s.io", "-n", ns},
		{"create", "secrets", "-n", "default"},
		{"update", "secrets", "-n", ns},
		{"delete", owh, "-n", "default"},
		{"create", owh, "-n", "default"},
		{"update", owh, "-n", "default"},
		{"update", owh, "--subresource=status", "-n", "default"},
		{"update", owh, "--subresource=finalizers", "-n", "default"},
		{"create", cc},
		{"update", cc},
		{"patch", cc},
		{"delete", cc},
	}
	if secretNamespaces == nil {
		allowed = append(allowed,
			[]string{"get", "secrets", "-n", "default"},
			[]string{"list", "secrets", "--all-namespaces"},
			[]string{"watch", "secrets", "--all-namespaces"})
	} else {
		for _, secretNS := range secretNamespaces {
			for _, verb := range []string{"get", "list", "watch"} {
				allowed = append(allowed, []string{verb, "secrets", "-n", secretNS})
			}
		}
		denied = append(denied,
			[]string{"get", "secrets", "-n", "default"},
			[]string{"list", "secrets", "--all-namespaces"},
			[]string{"watch", "secrets", "--all-namespaces"})
	}
	for _, args := range allowed {
		if !c.canI(t, user, args...) {
			t.Errorf("%s cannot %s", user, strings.Join(args, " "))
		}
	}
	for _, args := range denied {
		if c.canI(t, user, args...) {
			t.Errorf("%s can %s", user, strings.Join(args, " "))
		}
	}
}
