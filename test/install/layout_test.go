package install

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	kustomizeNamespace  = "bitrise-webhook-operator-system"
	kustomizeDeployment = "bitrise-webhook-operator-controller-manager"
)

func TestDefaultLayoutDeployment(t *testing.T) {
	objs := parseObjects(t, kustomizeBuild(t, filepath.Join(root, "config", "default")))
	ns := find(t, objs, "Namespace", kustomizeNamespace)
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace enforces Pod Security %q, want restricted", got)
	}
	deploy := convert[appsv1.Deployment](t, find(t, objs, "Deployment", kustomizeDeployment))
	if deploy.Namespace != kustomizeNamespace {
		t.Errorf("Deployment in namespace %q", deploy.Namespace)
	}
	pod := deploy.Spec.Template.Spec
	manager := pod.Containers[0]
	if manager.Image != "ghcr.io/bitrise-webhook-operator/operator:latest" {
		t.Errorf("image %q", manager.Image)
	}
	for _, arg := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"} {
		if !slices.Contains(manager.Args, arg) {
			t.Errorf("args %q lack %s", manager.Args, arg)
		}
	}
	// No ambient token: every shared token is a ClusterCredentials.
	if len(pod.Volumes) != 0 || len(manager.VolumeMounts) != 0 || slices.ContainsFunc(manager.Args, func(a string) bool {
		return strings.HasPrefix(a, "--bitrise-token-file")
	}) {
		t.Errorf("the manager still mounts or names a token file: volumes %+v, args %q", pod.Volumes, manager.Args)
	}
	checkMemoryLimitEnv(t, manager)
	if pod.ServiceAccountName != "bitrise-webhook-operator-controller-manager" {
		t.Errorf("ServiceAccount %q", pod.ServiceAccountName)
	}
	find(t, objs, "ServiceAccount", pod.ServiceAccountName)

	podLabels := labels.Set(deploy.Spec.Template.Labels)
	svc := convert[corev1.Service](t, find(t, objs, "Service", "bitrise-webhook-operator-controller-manager-metrics-service"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("metrics Service selector %v does not match the pod labels %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
		t.Errorf("metrics Service ports %+v", svc.Spec.Ports)
	}
	if len(ofKind(objs, "NetworkPolicy")) != 0 {
		t.Error("config/default renders a NetworkPolicy; it should be opt-in")
	}
}

// checkTokenVolume checks that the default token comes from an optional
// Secret mounted where --bitrise-token-file points.
func checkTokenVolume(t *testing.T, pod corev1.PodSpec, secretName, key string) {
	t.Helper()
	i := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == "bitrise-token" })
	if i < 0 {
		t.Fatalf("no bitrise-token volume in %+v", pod.Volumes)
	}
	secret := pod.Volumes[i].Secret
	if secret == nil || secret.SecretName != secretName || secret.Optional == nil || !*secret.Optional ||
		len(secret.Items) != 1 || secret.Items[0].Key != key || secret.Items[0].Path != "token" {
		t.Errorf("bitrise-token volume %+v, want optional Secret %s key %s at path token", pod.Volumes[i], secretName, key)
	}
	mounts := pod.Containers[0].VolumeMounts
	if j := slices.IndexFunc(mounts, func(m corev1.VolumeMount) bool { return m.Name == "bitrise-token" }); j < 0 ||
		mounts[j].MountPath != "/var/run/secrets/bitrise" || !mounts[j].ReadOnly {
		t.Errorf("bitrise-token mount %+v", mounts)
	}
}

// networkPolicyLayout renders config/default with the network-policy line
// uncommented, as its comment tells users to do.
func networkPolicyLayout(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "default", "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	uncommented := strings.Replace(string(data), "#- ../network-policy", "- ../network-policy", 1)
	if uncommented == string(data) {
		t.Fatal("config/default/kustomization.yaml has no `#- ../network-policy` line")
	}
	if err := os.WriteFile(path, []byte(uncommented), 0o644); err != nil {
		t.Fatal(err)
	}
	return kustomizeBuild(t, filepath.Join(dir, "default"))
}

func TestNetworkPolicyLayout(t *testing.T) {
	objs := parseObjects(t, networkPolicyLayout(t))
	policies := ofKind(objs, "NetworkPolicy")
	if len(policies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(policies))
	}
	policy := convert[networkingv1.NetworkPolicy](t, policies[0])
	if policy.Namespace != kustomizeNamespace || policy.Name != "bitrise-webhook-operator-controller-manager" {
		t.Errorf("NetworkPolicy %s/%s", policy.Namespace, policy.Name)
	}
	deploy := convert[appsv1.Deployment](t, find(t, objs, "Deployment", kustomizeDeployment))
	checkNetworkPolicy(t, policy, deploy, 8443)
}

// checkNetworkPolicy checks that the policy selects the manager's pods,
// admits only metrics and lets out only DNS and HTTPS (443, 6443).
func checkNetworkPolicy(t *testing.T, policy *networkingv1.NetworkPolicy, deploy *appsv1.Deployment, metricsPort int) {
	t.Helper()
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !selector.Matches(labels.Set(deploy.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy selector %v misses the pods %v", policy.Spec.PodSelector, deploy.Spec.Template.Labels)
	}
	if !slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) ||
		!slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("policyTypes %v, want Ingress and Egress", policy.Spec.PolicyTypes)
	}
	var ingress []string
	for _, rule := range policy.Spec.Ingress {
		ingress = append(ingress, portsOf(rule.Ports)...)
	}
	if want := []string{"TCP/" + strconv.Itoa(metricsPort)}; !slices.Equal(ingress, want) {
		t.Errorf("ingress ports %v, want %v", ingress, want)
	}
	var egress []string
	for _, rule := range policy.Spec.Egress {
		if len(rule.To) != 0 {
			t.Errorf("egress rule limited to peers %+v; the Bitrise API has no fixed address", rule.To)
		}
		egress = append(egress, portsOf(rule.Ports)...)
	}
	slices.Sort(egress)
	if want := []string{"TCP/443", "TCP/53", "TCP/6443", "UDP/53"}; !slices.Equal(egress, want) {
		t.Errorf("egress ports %v, want %v", egress, want)
	}
}

func portsOf(ports []networkingv1.NetworkPolicyPort) []string {
	var out []string
	for _, p := range ports {
		protocol := corev1.ProtocolTCP
		if p.Protocol != nil {
			protocol = *p.Protocol
		}
		out = append(out, string(protocol)+"/"+p.Port.String())
	}
	return out
}
