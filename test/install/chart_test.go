package install

import (
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// Rendered as release "owh" in namespace "owh-system".
const (
	release  = "owh"
	fullname = "owh-bitrise-webhook-operator"
	chartNS  = "owh-system"
)

func TestHelmLint(t *testing.T) {
	chart := filepath.Join(root, "dist", "chart")
	for _, flags := range [][]string{
		nil,
		{"--set-string", "token.value=x", "--set", "replicaCount=2,networkPolicy.enabled=true,metrics.serviceMonitor.enabled=true,rateLimit.qps=5,rateLimit.burst=10"},
		{"--set", "watchNamespaces={team-a},rbac.secretsAccess=Roles,rbac.aggregateToDefaultRoles=false,token.namespaceSelector=null,token.namespaces={team-a},token.apps={a1b2c3d4e5f60789}"},
	} {
		if out, stderr, err := runHelm(t, append([]string{"lint", "--strict", chart}, flags...)...); err != nil {
			t.Errorf("helm lint --strict %s: %v\n%s%s", strings.Join(flags, " "), err, out, stderr)
		}
	}
}

func TestChartDefaults(t *testing.T) {
	objs := parseObjects(t, helmTemplate(t, release, chartNS))
	deploy := convert[appsv1.Deployment](t, find(t, objs, "Deployment", fullname))
	if deploy.Namespace != chartNS || *deploy.Spec.Replicas != 1 {
		t.Errorf("Deployment %s/%s with %d replicas", deploy.Namespace, deploy.Name, *deploy.Spec.Replicas)
	}
	pod := deploy.Spec.Template.Spec
	manager := pod.Containers[0]
	if want := "ghcr.io/bitrise-webhook-operator/operator:" + chartAppVersion(t); manager.Image != want {
		t.Errorf("image %q, want %q", manager.Image, want)
	}
	wantArgs := []string{
		"--leader-elect",
		"--metrics-bind-address=:8443",
		"--metrics-secure=true",
		"--health-probe-bind-address=:8081",
		"--default-credentials=default",
		"--bitrise-api-url=https://api.bitrise.io/v0.1",
		"--max-concurrent-reconciles=4",
		"--zap-log-level=info",
	}
	if !slices.Equal(manager.Args, wantArgs) {
		t.Errorf("args\n%q, want\n%q", manager.Args, wantArgs)
	}
	checkNoTokenMount(t, deploy)
	find(t, objs, "ServiceAccount", pod.ServiceAccountName)
	// The single-team default: the token Secret of the release namespace,
	// for every namespace and every app.
	cc := clusterCredentials(t, objs, "default")
	if want := (webhooksv1alpha1.TokenSecretReference{Namespace: chartNS, Name: "bitrise-api-token", Key: "token"}); cc.Spec.TokenSecretRef != want {
		t.Errorf("tokenSecretRef %+v, want %+v", cc.Spec.TokenSecretRef, want)
	}
	if sel := cc.Spec.NamespaceSelector; sel == nil || len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 0 ||
		len(cc.Spec.Namespaces) != 0 || !slices.Equal(cc.Spec.Apps, []string{webhooksv1alpha1.AnyApp}) {
		t.Errorf("ClusterCredentials spec %+v, want namespaceSelector {} and apps [*]", cc.Spec)
	}

	// Same hardening as config/manager.
	kustomized := convert[appsv1.Deployment](t, find(t, parseObjects(t, readFile(t, "dist", "install.yaml")), "Deployment", kustomizeDeployment))
	if want := kustomized.Spec.Template.Spec.SecurityContext; !reflect.DeepEqual(pod.SecurityContext, want) {
		t.Errorf("pod securityContext %+v, want %+v", pod.SecurityContext, want)
	}
	if want := kustomized.Spec.Template.Spec.Containers[0].SecurityContext; !reflect.DeepEqual(manager.SecurityContext, want) {
		t.Errorf("container securityContext %+v, want %+v", manager.SecurityContext, want)
	}
	// Same environment: the digest key's namespace, and GOMEMLIMIT from the
	// memory limit in bytes.
	if want := kustomized.Spec.Template.Spec.Containers[0].Env; !reflect.DeepEqual(manager.Env, want) {
		t.Errorf("env %+v, want %+v", manager.Env, want)
	}
	checkMemoryLimitEnv(t, manager)

	svc := convert[corev1.Service](t, find(t, objs, "Service", fullname+"-metrics"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(deploy.Spec.Template.Labels)) {
		t.Errorf("metrics Service selector %v misses the pods %v", svc.Spec.Selector, deploy.Spec.Template.Labels)
	}
	for _, kind := range []string{"Secret", "PodDisruptionBudget", "NetworkPolicy", "ServiceMonitor"} {
		if got := ofKind(objs, kind); len(got) != 0 {
			t.Errorf("a %s is rendered by default", kind)
		}
	}
	for _, name := range []string{crdName, ccCRDName} {
		crd := find(t, objs, "CustomResourceDefinition", name)
		if got := crd.GetAnnotations()["helm.sh/resource-policy"]; got != "keep" {
			t.Errorf("CRD %s resource-policy %q, want keep", name, got)
		}
	}
}

// clusterCredentials returns the ClusterCredentials the chart renders,
// checking that it is a post-install/post-upgrade hook: its CRD is a
// template of the same release, so it cannot be an ordinary resource.
func clusterCredentials(t *testing.T, objs []*unstructured.Unstructured, name string) *webhooksv1alpha1.ClusterCredentials {
	t.Helper()
	obj := find(t, objs, "ClusterCredentials", name)
	if obj.GetAPIVersion() != webhooksv1alpha1.GroupVersion.String() {
		t.Errorf("ClusterCredentials apiVersion %s", obj.GetAPIVersion())
	}
	annotations := obj.GetAnnotations()
	if annotations["helm.sh/hook"] != "post-install,post-upgrade" || annotations["helm.sh/hook-delete-policy"] != "before-hook-creation" {
		t.Errorf("ClusterCredentials annotations %v, want a post-install,post-upgrade hook deleted before its next creation", annotations)
	}
	return convert[webhooksv1alpha1.ClusterCredentials](t, obj)
}

// checkNoTokenMount checks that the manager reads no token from a file:
// every token comes from a ClusterCredentials or a Secret reference.
func checkNoTokenMount(t *testing.T, deploy *appsv1.Deployment) {
	t.Helper()
	pod := deploy.Spec.Template.Spec
	if len(pod.Volumes) != 0 || len(pod.Containers[0].VolumeMounts) != 0 || hasArgPrefix(deploy, "--bitrise-token-file") {
		t.Errorf("token volume or flag: %+v %+v %q", pod.Volumes, pod.Containers[0].VolumeMounts, pod.Containers[0].Args)
	}
}

func TestChartCRDMatchesSource(t *testing.T) {
	objs := parseObjects(t, helmTemplate(t, release, chartNS))
	for name, file := range map[string]string{
		crdName:   "webhooks.bitrise.io_outgoingwebhooks.yaml",
		ccCRDName: "webhooks.bitrise.io_clustercredentials.yaml",
	} {
		rendered := find(t, objs, "CustomResourceDefinition", name)
		source := parseObjects(t, readFile(t, "config", "crd", "bases", file))[0]
		if !reflect.DeepEqual(rendered.Object["spec"], source.Object["spec"]) {
			t.Errorf("the chart's CRD %s spec differs from config/crd/bases", name)
		}
		for k, v := range source.GetAnnotations() {
			if rendered.GetAnnotations()[k] != v {
				t.Errorf("the chart's CRD %s lacks annotation %s: %s", name, k, v)
			}
		}
	}
}

// The chart's roles grant what config/rbac grants.
func TestChartRBACMatchesKustomize(t *testing.T) {
	chartObjs := parseObjects(t, helmTemplate(t, release, chartNS))
	kustomizeObjs := parseObjects(t, readFile(t, "dist", "install.yaml"))
	for kustomizeName, chartSuffix := range map[string]string{
		"manager-role":                   "manager",
		"metrics-auth-role":              "metrics-auth",
		"metrics-reader":                 "metrics-reader",
		"outgoingwebhook-editor-role":    "outgoingwebhook-editor",
		"outgoingwebhook-viewer-role":    "outgoingwebhook-viewer",
		"clustercredentials-admin-role":  "clustercredentials-admin",
		"clustercredentials-viewer-role": "clustercredentials-viewer",
	} {
		want := convert[rbacv1.ClusterRole](t, find(t, kustomizeObjs, "ClusterRole", "bitrise-webhook-operator-"+kustomizeName))
		got := convert[rbacv1.ClusterRole](t, find(t, chartObjs, "ClusterRole", fullname+"-"+chartSuffix))
		if !reflect.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("ClusterRole %s rules\n%+v, want (%s)\n%+v", got.Name, got.Rules, kustomizeName, want.Rules)
		}
		if !reflect.DeepEqual(aggregationLabels(got.Labels), aggregationLabels(want.Labels)) {
			t.Errorf("ClusterRole %s aggregation labels %v, want %v", got.Name, got.Labels, want.Labels)
		}
	}
	for kustomizeName, chartSuffix := range map[string]string{
		"leader-election-role": "leader-election",
		"digest-key-role":      "digest-key",
	} {
		want := convert[rbacv1.Role](t, find(t, kustomizeObjs, "Role", "bitrise-webhook-operator-"+kustomizeName))
		got := convert[rbacv1.Role](t, find(t, chartObjs, "Role", fullname+"-"+chartSuffix))
		if !reflect.DeepEqual(got.Rules, want.Rules) {
			t.Errorf("Role %s rules\n%+v, want (%s)\n%+v", got.Name, got.Rules, kustomizeName, want.Rules)
		}
	}
}

func aggregationLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			out[k] = v
		}
	}
	return out
}

func TestChartValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		check func(t *testing.T, objs []*unstructured.Unstructured)
	}{{
		name:  "token value, two replicas, network policy",
		flags: []string{"--set-string", "token.value=not-a-real-token", "--set", "replicaCount=2,networkPolicy.enabled=true"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			secret := convert[corev1.Secret](t, find(t, objs, "Secret", fullname+"-token"))
			if string(secret.Data["token"]) != "not-a-real-token" || len(secret.Data) != 1 {
				t.Errorf("token Secret data %q", secret.Data)
			}
			deploy := managerDeployment(t, objs)
			checkNoTokenMount(t, deploy)
			if ref := clusterCredentials(t, objs, "default").Spec.TokenSecretRef; ref.Name != fullname+"-token" || ref.Key != "token" || ref.Namespace != chartNS {
				t.Errorf("tokenSecretRef %+v, want the chart's Secret", ref)
			}
			pdb := convert[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", fullname))
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 ||
				!labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(deploy.Spec.Template.Labels)) {
				t.Errorf("PodDisruptionBudget %+v", pdb.Spec)
			}
			checkNetworkPolicy(t, convert[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy", fullname)), deploy, 8443)
		},
	}, {
		name:  "existing Secret with another key",
		flags: []string{"--set", "token.existingSecret=team-token,token.key=pat"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			want := webhooksv1alpha1.TokenSecretReference{Namespace: chartNS, Name: "team-token", Key: "pat"}
			if ref := clusterCredentials(t, objs, "default").Spec.TokenSecretRef; ref != want {
				t.Errorf("tokenSecretRef %+v, want %+v", ref, want)
			}
		},
	}, {
		name:  "no token Secret",
		flags: []string{"--set", "token.existingSecret="},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			deploy := managerDeployment(t, objs)
			checkNoTokenMount(t, deploy)
			if got := ofKind(objs, "ClusterCredentials"); len(got) != 0 {
				t.Errorf("ClusterCredentials without a token Secret: %s", describe(got))
			}
			// A ClusterCredentials of that name made by hand still works.
			checkArgs(t, deploy, "--default-credentials=default")
		},
	}, {
		name: "multi-team credentials: named namespaces and apps",
		flags: []string{"--set", "token.credentialsName=platform,token.namespaceSelector=null",
			"--set", "token.namespaces={platform,platform-ci},token.apps={a1b2c3d4e5f60789,0123456789abcdef}"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkArgs(t, managerDeployment(t, objs), "--default-credentials=platform")
			cc := clusterCredentials(t, objs, "platform")
			if cc.Spec.NamespaceSelector != nil || !slices.Equal(cc.Spec.Namespaces, []string{"platform", "platform-ci"}) ||
				!slices.Equal(cc.Spec.Apps, []string{"a1b2c3d4e5f60789", "0123456789abcdef"}) {
				t.Errorf("ClusterCredentials spec %+v, want no selector, two namespaces, two apps", cc.Spec)
			}
		},
	}, {
		name:  "multi-team credentials: namespaces by label",
		flags: []string{"--set", "token.namespaceSelector.matchLabels.team=mobile,token.apps={a1b2c3d4e5f60789}"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			cc := clusterCredentials(t, objs, "default")
			if sel := cc.Spec.NamespaceSelector; sel == nil || !maps.Equal(sel.MatchLabels, map[string]string{"team": "mobile"}) ||
				len(cc.Spec.Namespaces) != 0 {
				t.Errorf("ClusterCredentials spec %+v, want namespaces labelled team=mobile", cc.Spec)
			}
		},
	}, {
		name:  "watched namespaces",
		flags: []string{"--set", "watchNamespaces={team-a,team-b}"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkArgs(t, managerDeployment(t, objs), "--watch-namespace=team-a,team-b")
			// Secrets still through the ClusterRole: no Role but the
			// release namespace's two.
			if roles := ofKind(objs, "Role"); len(roles) != 2 {
				t.Errorf("Roles: %s", describe(roles))
			}
		},
	}, {
		name:  "aggregation into the built-in roles off",
		flags: []string{"--set", "rbac.aggregateToDefaultRoles=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			for _, role := range ofKind(objs, "ClusterRole") {
				if got := aggregationLabels(role.GetLabels()); len(got) != 0 {
					t.Errorf("ClusterRole %s aggregated: %v", role.GetName(), got)
				}
			}
			find(t, objs, "ClusterRole", fullname+"-outgoingwebhook-editor")
			find(t, objs, "ClusterRole", fullname+"-outgoingwebhook-viewer")
		},
	}, {
		name: "Secret access through Roles",
		flags: []string{"--set", "rbac.secretsAccess=Roles,watchNamespaces={team-a,team-b}",
			"--set", "rbac.secretNamespaces={shared-tokens,team-a}"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkSecretRoles(t, objs, "team-a", "team-b", chartNS, "shared-tokens")
		},
	}, {
		name:  "rate limit",
		flags: []string{"--set", "rateLimit.qps=0.5,rateLimit.burst=10"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkArgs(t, managerDeployment(t, objs), "--api-qps=0.5", "--api-burst=10")
		},
	}, {
		name:  "rate limit qps only",
		flags: []string{"--set", "rateLimit.qps=20"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			deploy := managerDeployment(t, objs)
			checkArgs(t, deploy, "--api-qps=20")
			if hasArgPrefix(deploy, "--api-burst") {
				t.Errorf("--api-burst passed unset: %q", deploy.Spec.Template.Spec.Containers[0].Args)
			}
		},
	}, {
		name: "other settings",
		flags: []string{"--set", "image.tag=v9.9.9,maxConcurrentReconciles=8,logLevel=debug,apiURL=https://bitrise.example.com/v0.1",
			"--set", "extraArgs={--zap-encoder=console}", "--set", "extraEnv[0].name=HTTPS_PROXY,extraEnv[0].value=http://proxy:3128",
			"--set", "leaderElection.id=owh-lock", "--set", "nodeSelector.kubernetes\\.io/os=linux"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			deploy := managerDeployment(t, objs)
			checkArgs(t, deploy, "--max-concurrent-reconciles=8", "--zap-log-level=debug", "--zap-encoder=console",
				"--bitrise-api-url=https://bitrise.example.com/v0.1", "--leader-election-id=owh-lock")
			manager := deploy.Spec.Template.Spec.Containers[0]
			if !strings.HasSuffix(manager.Image, ":v9.9.9") {
				t.Errorf("image %q", manager.Image)
			}
			if n := len(manager.Env); n != 3 || manager.Env[n-1].Name != "HTTPS_PROXY" || manager.Env[n-1].Value != "http://proxy:3128" {
				t.Errorf("env %+v, want POD_NAMESPACE, GOMEMLIMIT, then HTTPS_PROXY", manager.Env)
			}
			if deploy.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
				t.Errorf("nodeSelector %v", deploy.Spec.Template.Spec.NodeSelector)
			}
		},
	}, {
		name:  "service monitor",
		flags: []string{"--set", "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prometheus,metrics.serviceMonitor.interval=30s"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			monitor := find(t, objs, "ServiceMonitor", fullname)
			if monitor.GetAPIVersion() != "monitoring.coreos.com/v1" || monitor.GetLabels()["release"] != "prometheus" {
				t.Errorf("ServiceMonitor %s with labels %v", monitor.GetAPIVersion(), monitor.GetLabels())
			}
			svc := convert[corev1.Service](t, find(t, objs, "Service", fullname+"-metrics"))
			selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
			if len(selector) == 0 || !labels.SelectorFromSet(selector).Matches(labels.Set(svc.Labels)) {
				t.Errorf("ServiceMonitor selector %v misses the Service's labels %v", selector, svc.Labels)
			}
			endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
			if len(endpoints) != 1 {
				t.Fatalf("endpoints %v", endpoints)
			}
			endpoint := endpoints[0].(map[string]any)
			if endpoint["port"] != svc.Spec.Ports[0].Name || endpoint["scheme"] != "https" || endpoint["path"] != "/metrics" ||
				endpoint["interval"] != "30s" || endpoint["bearerTokenFile"] == nil {
				t.Errorf("endpoint %v (Service port %q)", endpoint, svc.Spec.Ports[0].Name)
			}
		},
	}, {
		name:  "plain HTTP metrics",
		flags: []string{"--set", "metrics.secure=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkArgs(t, managerDeployment(t, objs), "--metrics-secure=false")
			// No TokenReviews to make, no metrics-reader to bind: the
			// manager's, and the users' four.
			if roles := ofKind(objs, "ClusterRole"); len(roles) != 5 {
				t.Errorf("ClusterRoles: %s", describe(roles))
			}
			if svc := convert[corev1.Service](t, find(t, objs, "Service", fullname+"-metrics")); svc.Spec.Ports[0].Name != "http" {
				t.Errorf("metrics Service port %q, want http", svc.Spec.Ports[0].Name)
			}
		},
	}, {
		name:  "metrics off",
		flags: []string{"--set", "metrics.enabled=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			checkArgs(t, managerDeployment(t, objs), "--metrics-bind-address=0")
			if len(ofKind(objs, "Service")) != 0 {
				t.Error("a metrics Service without metrics")
			}
		},
	}, {
		name:  "leader election off",
		flags: []string{"--set", "leaderElection.enabled=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			roles := map[string]bool{}
			for _, r := range ofKind(objs, "Role") {
				roles[r.GetName()] = true
			}
			if hasArgPrefix(managerDeployment(t, objs), "--leader-elect") || roles[fullname+"-leader-election"] {
				t.Error("leader election flag or Role rendered while disabled")
			}
			if len(roles) != 1 || !roles[fullname+"-digest-key"] {
				t.Errorf("Roles %v, want the digest key's only", roles)
			}
		},
	}, {
		name:  "CRD not installed",
		flags: []string{"--set", "crds.install=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if len(ofKind(objs, "CustomResourceDefinition")) != 0 {
				t.Error("CRD rendered with crds.install=false")
			}
		},
	}, {
		name:  "CRD not kept",
		flags: []string{"--set", "crds.keep=false"},
		check: func(t *testing.T, objs []*unstructured.Unstructured) {
			if _, ok := find(t, objs, "CustomResourceDefinition", crdName).GetAnnotations()["helm.sh/resource-policy"]; ok {
				t.Error("resource-policy set with crds.keep=false")
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, parseObjects(t, helmTemplate(t, release, chartNS, tc.flags...)))
		})
	}
}

func TestChartRejectsServiceMonitorWithoutMetrics(t *testing.T) {
	_, stderr, err := runHelm(t, "template", release, filepath.Join(root, "dist", "chart"),
		"--set", "metrics.enabled=false,metrics.serviceMonitor.enabled=true")
	if err == nil || !strings.Contains(stderr, "metrics.serviceMonitor.enabled needs metrics.enabled") {
		t.Errorf("helm template: %v\n%s", err, stderr)
	}
}

// Values the chart cannot honour fail the render, naming what is wrong;
// keys the chart does not know (a typo, a key at the wrong level) are
// rejected by values.schema.json rather than silently ignored.
func TestChartRejectsInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"Roles without watched namespaces", []string{"--set", "rbac.secretsAccess=Roles"},
			"rbac.secretsAccess=Roles needs watchNamespaces"},
		{"Secret namespaces without Roles", []string{"--set", "rbac.secretNamespaces={tokens}"},
			"rbac.secretNamespaces is used only with rbac.secretsAccess=Roles"},
		{"unknown Secret access", []string{"--set", "rbac.secretsAccess=Namespaces"}, "secretsAccess"},
		{"misplaced key", []string{"--set", "rbac.watchNamespaces={team-a}"}, "watchNamespaces"},
		{"misspelt key", []string{"--set", "tokne.value=x"}, "tokne"},
		{"unknown nested key", []string{"--set", "token.namespaceSelector.matchLabel.team=a"}, "matchLabel"},
		{"no app", []string{"--set", "token.apps=null"}, "apps"},
		{"bad app slug", []string{"--set", "token.apps={a b}"}, "apps"},
		{"bad credentials name", []string{"--set", "token.credentialsName=Team_A"}, "credentialsName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := runHelm(t, append([]string{"template", release, filepath.Join(root, "dist", "chart")}, tc.flags...)...)
			if err == nil || !strings.Contains(stderr, tc.want) {
				t.Errorf("helm template %s: %v, want an error naming %q\n%s", strings.Join(tc.flags, " "), err, tc.want, stderr)
			}
		})
	}
	// Values shared with a parent chart stay allowed.
	helmTemplate(t, release, chartNS, "--set", "global.imageRegistry=registry.example.com")
}

// checkSecretRoles checks rbac.secretsAccess=Roles: the manager's
// ClusterRole reaches no Secret, each namespace gets a Role granting what
// config/rbac/role.yaml grants on Secrets, bound to the manager, and the
// ClusterRole and the Roles together grant exactly what role.yaml grants.
func checkSecretRoles(t *testing.T, objs []*unstructured.Unstructured, namespaces ...string) {
	t.Helper()
	source := convert[rbacv1.ClusterRole](t, parseObjects(t, readFile(t, "config", "rbac", "role.yaml"))[0])
	manager := convert[rbacv1.ClusterRole](t, find(t, objs, "ClusterRole", fullname+"-manager"))
	granted := permissions(manager.Rules)
	for p := range granted {
		if p.resource == "secrets" {
			t.Errorf("the manager's ClusterRole grants %v with rbac.secretsAccess=Roles", p)
		}
	}
	sa := managerDeployment(t, objs).Spec.Template.Spec.ServiceAccountName
	var got []string
	for _, obj := range ofKind(objs, "Role") {
		if obj.GetName() != fullname+"-secrets" {
			continue
		}
		role := convert[rbacv1.Role](t, obj)
		got = append(got, role.Namespace)
		secretPermissions := permissions(role.Rules)
		for p := range secretPermissions {
			if p.resource != "secrets" {
				t.Errorf("Role %s/%s grants %v", role.Namespace, role.Name, p)
			}
			granted[p] = true
		}
		binding := convert[rbacv1.RoleBinding](t, find(t, ofNamespace(objs, role.Namespace), "RoleBinding", role.Name))
		if binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name || len(binding.Subjects) != 1 ||
			binding.Subjects[0].Kind != "ServiceAccount" || binding.Subjects[0].Name != sa || binding.Subjects[0].Namespace != chartNS {
			t.Errorf("RoleBinding %s/%s: %+v %+v", binding.Namespace, binding.Name, binding.RoleRef, binding.Subjects)
		}
	}
	if !slices.Equal(got, namespaces) {
		t.Errorf("Secret Roles in %v, want %v", got, namespaces)
	}
	if want := permissions(source.Rules); !maps.Equal(granted, want) {
		t.Errorf("ClusterRole and Roles grant\n%v, config/rbac/role.yaml\n%v", granted, want)
	}
}

// permission is one verb on one resource of one API group.
type permission struct{ group, resource, verb string }

func permissions(rules []rbacv1.PolicyRule) map[permission]bool {
	out := map[permission]bool{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[permission{g, res, v}] = true
				}
			}
		}
	}
	return out
}

func ofNamespace(objs []*unstructured.Unstructured, namespace string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetNamespace() == namespace {
			out = append(out, o)
		}
	}
	return out
}

func managerDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	return convert[appsv1.Deployment](t, find(t, objs, "Deployment", fullname))
}

func checkArgs(t *testing.T, deploy *appsv1.Deployment, want ...string) {
	t.Helper()
	args := deploy.Spec.Template.Spec.Containers[0].Args
	for _, arg := range want {
		if !slices.Contains(args, arg) {
			t.Errorf("args %q lack %s", args, arg)
		}
	}
}

func hasArgPrefix(deploy *appsv1.Deployment, prefix string) bool {
	return slices.ContainsFunc(deploy.Spec.Template.Spec.Containers[0].Args, func(a string) bool {
		return a == prefix || strings.HasPrefix(a, prefix+"=")
	})
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(readFile(t, "dist", "chart", "Chart.yaml"), &chart); err != nil || chart.AppVersion == "" {
		t.Fatalf("no appVersion in dist/chart/Chart.yaml (%v)", err)
	}
	return chart.AppVersion
}

// checkMemoryLimitEnv checks that GOMEMLIMIT is the container's own memory
// limit in bytes (divisor 1: Go reads a bare number as bytes) and that
// POD_NAMESPACE is the pod's namespace.
func checkMemoryLimitEnv(t *testing.T, c corev1.Container) {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	limit := env["GOMEMLIMIT"].ValueFrom
	if limit == nil || limit.ResourceFieldRef == nil || limit.ResourceFieldRef.Resource != "limits.memory" ||
		limit.ResourceFieldRef.ContainerName != c.Name || limit.ResourceFieldRef.Divisor.String() != "1" {
		t.Errorf("GOMEMLIMIT %+v, want the container's limits.memory with divisor 1", env["GOMEMLIMIT"])
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Error("no memory limit for GOMEMLIMIT to follow")
	}
	ns := env["POD_NAMESPACE"].ValueFrom
	if ns == nil || ns.FieldRef == nil || ns.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE %+v, want the pod's metadata.namespace", env["POD_NAMESPACE"])
	}
}
