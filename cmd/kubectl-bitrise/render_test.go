package main

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	appIOS     = "a1b2c3d4e5f60789"
	appAndroid = "f0e1d2c3b4a59687"
)

func at(day int) time.Time { return time.Date(2026, 3, day, 10, 0, 0, 0, time.UTC) }

// remoteFixture is what two apps have on Bitrise: every case the import
// handles, including those it skips.
func remoteFixture() []appWebhook {
	return []appWebhook{
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA1", URL: "https://hooks.example.com/bitrise/builds",
			Events: []string{"pipeline", "build"}, CreatedAt: at(1),
			Headers: map[string]string{
				"Authorization": "Bearer s3cr3t",
				"X-Team":        "mobile",
				"X-Flag":        "true",
				"X-Zero":        "0123",
				"X-Hash":        "# not a comment",
				"X-Quote":       `say "hi": \o/`,
				"X-Api-Key":     "********",
			}}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA2", URL: "https://chat.example.org/hook",
			Events: []string{"all", "all"}, CreatedAt: at(2)}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA3", URL: "https://ship.bitrise.io/hook",
			Events: []string{"build"}, RegisteredByAddon: true, CreatedAt: at(3)}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA4", URL: "http://plain.example.com/hook",
			Events: []string{"build"}, CreatedAt: at(4)}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA5", URL: "https://hooks.example.com/bitrise/builds",
			Events: []string{"build"}, CreatedAt: at(5)}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA6", URL: "https://odd.example.com/",
			Events: []string{"build", "deploy"}, CreatedAt: at(6)}},
		{appIOS, bitrise.Webhook{Slug: "01JAAAAAAAAAAAAAAAAAAAAAA7", URL: "https://empty.example.com/",
			Events: []string{"build"}, Headers: map[string]string{"X-Empty": ""}, CreatedAt: at(7)}},
		{appAndroid, bitrise.Webhook{Slug: "01JBBBBBBBBBBBBBBBBBBBBBB1", URL: "https://hooks.example.com/bitrise/builds",
			Events: []string{"build"}, Headers: map[string]string{"X-Team": "android"}, CreatedAt: at(8)}},
	}
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		opts   importOptions
	}{
		{"import-default.golden", importOptions{Namespace: "ci", DeletionPolicy: webhooksv1alpha1.DeletionPolicyOrphan}},
		{"import-inline-delete.golden", importOptions{Namespace: "ci", DeletionPolicy: webhooksv1alpha1.DeletionPolicyDelete, InlineHeaders: true}},
		{"import-credentials.golden", importOptions{Namespace: "payments", DeletionPolicy: webhooksv1alpha1.DeletionPolicyOrphan, Credentials: "mobile-team"}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			plan := planImport(remoteFixture(), tc.opts)
			var out bytes.Buffer
			if err := renderAll(&out, plan, tc.opts); err != nil {
				t.Fatal(err)
			}
			out.WriteString("# notes on stderr:\n")
			for _, n := range plan.Notes {
				out.WriteString("# " + n + "\n")
			}
			compareGolden(t, filepath.Join("testdata", tc.golden), out.Bytes())
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kubectl-bitrise -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./cmd/kubectl-bitrise -update rewrites it); got:\n%s", path, got)
	}
}

// TestRenderedManifestsMatchRemote checks the promise behind "zero writes":
// read back as the API server and the operator would, every imported
// resource has the remote webhook's URL, set of events and exact headers
// (inline plus Secret), and no secret. Masked values are empty, which the
// operator refuses (InvalidSecret) instead of sending.
func TestRenderedManifestsMatchRemote(t *testing.T) {
	for _, tc := range []struct {
		inline      bool
		credentials string
	}{{false, ""}, {true, ""}, {false, "mobile-team"}} {
		inline := tc.inline
		opts := importOptions{Namespace: "ci", DeletionPolicy: webhooksv1alpha1.DeletionPolicyOrphan, InlineHeaders: inline, Credentials: tc.credentials}
		plan := planImport(remoteFixture(), opts)
		var out bytes.Buffer
		if err := renderAll(&out, plan, opts); err != nil {
			t.Fatal(err)
		}
		owhs, secrets := decodeDocuments(t, out.String())
		if len(owhs) != 4 {
			t.Fatalf("inline=%v: want 4 OutgoingWebhooks, got %d", inline, len(owhs))
		}
		for _, p := range plan.Webhooks {
			o, ok := owhs[p.Name]
			if !ok {
				t.Fatalf("no OutgoingWebhook %s", p.Name)
			}
			if o.Namespace != "ci" || o.Spec.AppSlug != p.App || o.Spec.URL != p.Hook.URL || o.Spec.DeletionPolicy != webhooksv1alpha1.DeletionPolicyOrphan {
				t.Errorf("%s: metadata or spec wrong: %+v", p.Name, o)
			}
			if ref := o.Spec.CredentialsRef; tc.credentials == "" && ref != nil ||
				tc.credentials != "" && (ref == nil || *ref != webhooksv1alpha1.CredentialsReference{Kind: webhooksv1alpha1.CredentialsKindClusterCredentials, Name: tc.credentials}) {
				t.Errorf("%s: credentialsRef %+v, want ClusterCredentials %q", p.Name, ref, tc.credentials)
			}
			events := []string{}
			for _, e := range o.Spec.Events {
				events = append(events, string(e))
			}
			remote := slices.Compact(slices.Sorted(slices.Values(p.Hook.Events)))
			if !slices.Equal(slices.Sorted(slices.Values(events)), remote) {
				t.Errorf("%s: events %v, remote %v", p.Name, events, p.Hook.Events)
			}
			headers := maps.Clone(o.Spec.Headers)
			if headers == nil {
				headers = map[string]string{}
			}
			var masked []string
			if o.Spec.SecretRef != nil {
				s := secrets[o.Spec.SecretRef.Name]
				if s == nil {
					t.Fatalf("%s: Secret %s not rendered", p.Name, o.Spec.SecretRef.Name)
				}
				if _, has := s.StringData[webhooksv1alpha1.SecretKeyWebhookSecret]; has || len(s.StringData) != 1 {
					t.Errorf("%s: the Secret must hold key headers only: %v", p.Name, slices.Collect(maps.Keys(s.StringData)))
				}
				var fromSecret map[string]any
				if err := yaml.Unmarshal([]byte(s.StringData[webhooksv1alpha1.SecretKeyHeaders]), &fromSecret); err != nil {
					t.Fatalf("%s: headers key: %v", p.Name, err)
				}
				for k, v := range fromSecret {
					if v == "" {
						masked = append(masked, k)
						continue
					}
					str, ok := v.(string)
					if !ok {
						t.Errorf("%s: header %s read back as %T, not a string", p.Name, k, v)
					}
					headers[k] = str
				}
			}
			for _, k := range masked {
				headers[k] = p.Hook.Headers[k]
			}
			slices.Sort(masked)
			if !slices.Equal(masked, p.Masked) {
				t.Errorf("%s: masked %v, want %v", p.Name, masked, p.Masked)
			}
			if !maps.Equal(headers, p.Hook.Headers) && (len(headers) > 0 || len(p.Hook.Headers) > 0) {
				t.Errorf("inline=%v %s: headers read back %q, remote %q", inline, p.Name, headers, p.Hook.Headers)
			}
			if inline && len(o.Spec.Headers) == 0 && len(p.Hook.Headers) > len(p.Masked) {
				t.Errorf("%s: --inline-headers left plain headers out of spec.headers", p.Name)
			}
		}
	}
}

func decodeDocuments(t *testing.T, stream string) (map[string]*webhooksv1alpha1.OutgoingWebhook, map[string]*corev1.Secret) {
	t.Helper()
	owhs := map[string]*webhooksv1alpha1.OutgoingWebhook{}
	secrets := map[string]*corev1.Secret{}
	for _, doc := range strings.Split(stream, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		switch meta.Kind {
		case "OutgoingWebhook":
			o := &webhooksv1alpha1.OutgoingWebhook{}
			if err := yaml.UnmarshalStrict([]byte(doc), o); err != nil {
				t.Fatalf("OutgoingWebhook: %v\n%s", err, doc)
			}
			owhs[o.Name] = o
		case "Secret":
			s := &corev1.Secret{}
			if err := yaml.UnmarshalStrict([]byte(doc), s); err != nil {
				t.Fatalf("Secret: %v\n%s", err, doc)
			}
			secrets[s.Name] = s
		default:
			t.Fatalf("unexpected document kind %q:\n%s", meta.Kind, doc)
		}
	}
	return owhs, secrets
}

func TestIsMasked(t *testing.T) {
	for v, want := range map[string]bool{"": true, "*": true, "********": true, "a*": false, " ": false, "secret": false} {
		if isMasked(v) != want {
			t.Errorf("isMasked(%q) = %v", v, !want)
		}
	}
}
