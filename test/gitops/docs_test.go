package gitops

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
)

// externalSecret is the part of an external-secrets.io/v1 ExternalSecret
// the guide relies on.
type externalSecret struct {
	Spec struct {
		Target struct {
			Name     string `json:"name"`
			Template struct {
				EngineVersion string            `json:"engineVersion"`
				Data          map[string]string `json:"data"`
			} `json:"template"`
		} `json:"target"`
		Data []struct {
			SecretKey string `json:"secretKey"`
		} `json:"data"`
	} `json:"spec"`
}

// docObjects returns the objects of the ```yaml blocks of a document, by kind.
func docObjects(t *testing.T, doc []byte) map[string][][]byte {
	t.Helper()
	blocks := regexp.MustCompile("(?ms)^```yaml\n(.*?)^```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no yaml blocks")
	}
	out := map[string][][]byte{}
	for _, block := range blocks {
		for _, part := range strings.Split(string(block[1]), "\n---\n") {
			var meta metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(part), &meta); err != nil || meta.Kind == "" || meta.APIVersion == "" {
				t.Errorf("a yaml block is not an object (%v):\n%s", err, part)
				continue
			}
			out[meta.Kind] = append(out[meta.Kind], []byte(part))
		}
	}
	return out
}

// TestGitOpsGuide checks the manifests of docs/gitops.md, and follows its
// External Secrets path for real: the Secret the ExternalSecret's template
// renders makes the guide's OutgoingWebhook Ready.
func TestGitOpsGuide(t *testing.T) {
	t.Parallel()
	objects := docObjects(t, readRepoFile(t, "docs", "gitops.md"))
	for kind, want := range map[string]int{"OutgoingWebhook": 1, "Application": 1, "Kustomization": 2, "ExternalSecret": 1} {
		if got := len(objects[kind]); got != want {
			t.Errorf("docs/gitops.md: %d %s manifests, want %d", got, kind, want)
		}
	}

	// The Flux health check names the resource by the CRD's group and version.
	for _, data := range objects["Kustomization"] {
		var k struct {
			Spec struct {
				Wait         bool `json:"wait"`
				HealthChecks []struct {
					APIVersion, Kind string
				} `json:"healthChecks"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			t.Fatal(err)
		}
		if !k.Spec.Wait && len(k.Spec.HealthChecks) == 0 {
			t.Errorf("a Kustomization neither waits nor checks health:\n%s", data)
		}
		for _, hc := range k.Spec.HealthChecks {
			if hc.APIVersion != webhooksv1alpha1.GroupVersion.String() || hc.Kind != "OutgoingWebhook" {
				t.Errorf("healthChecks entry %s %s does not name an OutgoingWebhook", hc.APIVersion, hc.Kind)
			}
		}
	}

	if len(objects["ExternalSecret"]) != 1 || len(objects["OutgoingWebhook"]) != 1 {
		t.FailNow()
	}
	var es externalSecret
	if err := yaml.Unmarshal(objects["ExternalSecret"][0], &es); err != nil {
		t.Fatal(err)
	}
	if es.Spec.Target.Template.EngineVersion != "v2" {
		t.Errorf("the ExternalSecret template uses engine %q, want v2", es.Spec.Target.Template.EngineVersion)
	}
	// Values a secret store may hold, with characters YAML cares about.
	const webhookSecret, receiverToken = "whs: #1 'x' {y}", "rt:42 # [z] *a"
	remote := map[string]string{}
	for _, d := range es.Spec.Data {
		remote[d.SecretKey] = map[string]string{"webhookSecret": webhookSecret, "receiverToken": receiverToken}[d.SecretKey]
	}
	ns := newNamespace(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: es.Spec.Target.Name}, Data: map[string][]byte{}}
	for key, text := range es.Spec.Target.Template.Data {
		tmpl, err := template.New(key).Option("missingkey=error").Parse(text)
		if err != nil {
			t.Fatalf("template of %s: %v", key, err)
		}
		var out bytes.Buffer
		if err := tmpl.Execute(&out, remote); err != nil {
			t.Fatalf("template of %s: %v", key, err)
		}
		secret.Data[key] = out.Bytes()
	}
	keys := make([]string, 0, len(secret.Data))
	for k := range secret.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{webhooksv1alpha1.SecretKeyHeaders, webhooksv1alpha1.SecretKeyWebhookSecret}) {
		t.Errorf("the ExternalSecret makes keys %v, want headers and secret", keys)
	}
	create(t, secret)

	var obj webhooksv1alpha1.OutgoingWebhook
	if err := yaml.UnmarshalStrict(objects["OutgoingWebhook"][0], &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Spec.SecretRef == nil || obj.Spec.SecretRef.Name != es.Spec.Target.Name {
		t.Errorf("the OutgoingWebhook does not reference the ExternalSecret's target %s", es.Spec.Target.Name)
	}
	obj.Namespace = ns
	obj.Spec.AppSlug = readyApp
	create(t, &obj)
	if _, err := kubectl(t.Context(), "wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "owh", "--all"); err != nil {
		t.Fatal(err)
	}
	slug := fetch(t, ns, obj.Name).Object["status"].(map[string]any)["slug"].(string)
	for _, w := range env.Fake.Webhooks(readyApp) {
		if w.Slug != slug {
			continue
		}
		if got := w.Headers["Authorization"]; got != "Bearer "+receiverToken {
			t.Errorf("Authorization header on Bitrise: %q, want %q", got, "Bearer "+receiverToken)
		}
		if got, _ := env.Fake.Secret(readyApp, slug); got != webhookSecret {
			t.Errorf("webhook secret on Bitrise: %q", got)
		}
		return
	}
	t.Errorf("no remote webhook %s", slug)
}
