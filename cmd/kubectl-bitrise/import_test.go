package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise/bitrisefake"
)

const testToken = "plugin-test-token-5e1f"

// runCommand runs `kubectl bitrise args...` in process, with an empty
// kubeconfig so that no local cluster configuration is read.
func runCommand(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("BITRISE_TOKEN", "")
	t.Setenv("BITRISE_API_URL", "")
	var out, errOut bytes.Buffer
	root := newRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func startFake(t *testing.T) (*bitrisefake.Server, string, string) {
	t.Helper()
	fake := bitrisefake.New()
	url := fake.Start()
	t.Cleanup(fake.Close)
	for _, h := range remoteFixture() {
		fake.AddApp(h.App, testToken)
		fake.Seed(h.App, h.Hook, "")
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fake, url, tokenFile
}

func TestImportCommand(t *testing.T) {
	fake, url, tokenFile := startFake(t)
	args := []string{"import", "--app", appIOS + "," + appAndroid, "-n", "ci", "--bitrise-api-url", url}

	out, errOut, err := runCommand(t, append(args, "--token-file", tokenFile)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "import-default.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _, _ := strings.Cut(string(golden), "# notes on stderr:\n"); out != want {
		t.Errorf("stdout differs from the golden manifests:\n%s", out)
	}
	for _, want := range []string{"note: app " + appIOS + ", webhook 01JAAAAAAAAAAAAAAAAAAAAAA3 (https://ship.bitrise.io): skipped: registered by an addon",
		"imported 4 of 8 webhooks from 2 apps into namespace ci"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if n := fake.CountRequests(""); n != 2 || fake.CountRequests("GET") != 2 {
		t.Errorf("want one list per app, got %d requests", n)
	}

	// The token from the environment gives the same output.
	t.Run("env", func(t *testing.T) {
		t.Setenv("BITRISE_TOKEN", testToken)
		var o, e bytes.Buffer
		root := newRootCommand(genericiooptions.IOStreams{Out: &o, ErrOut: &e})
		root.SetArgs(args)
		if err := root.Execute(); err != nil || o.String() != out {
			t.Errorf("with BITRISE_TOKEN: %v\n%s", err, e.String())
		}
	})

	// --output-dir: one file per webhook, owner-only, and a kustomization.
	dir := filepath.Join(t.TempDir(), "out")
	if _, errOut, err := runCommand(t, append(args, "--token-file", tokenFile, "--output-dir", dir)...); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	kustomization, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var joined strings.Builder
	for _, line := range strings.Split(string(kustomization), "\n") {
		file, ok := strings.CutPrefix(line, "  - ")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, file)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", file, fi.Mode().Perm())
		}
		joined.Write(b)
	}
	if joined.String() != out {
		t.Errorf("the files listed in kustomization.yaml differ from stdout:\n%s", kustomization)
	}
}

func TestImportErrors(t *testing.T) {
	fake, url, tokenFile := startFake(t)
	base := []string{"import", "-n", "ci", "--bitrise-api-url", url}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no app", []string{"--token-file", tokenFile}, `required flag(s) "app" not set`},
		{"bad app", []string{"--app", "a/b", "--token-file", tokenFile}, `--app "a/b"`},
		{"bad policy", []string{"--app", appIOS, "--token-file", tokenFile, "--deletion-policy", "Keep"}, "want Orphan or Delete"},
		{"no token", []string{"--app", appIOS}, "no Bitrise API token"},
		{"two sources", []string{"--app", appIOS, "--token-file", tokenFile, "--credentials", "x"}, "exclusive"},
		{"missing file", []string{"--app", appIOS, "--token-file", "/nonexistent/token"}, "--token-file"},
		{"unknown app", []string{"--app", "nope", "--token-file", tokenFile}, "listing the webhooks of app nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runCommand(t, append(base, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error with %q, got %v\n%s", tc.want, err, errOut)
			}
			if out != "" {
				t.Errorf("no manifest on error, got:\n%s", out)
			}
		})
	}

	// A rejected token is not repeated in the error.
	fake.RevokeToken(testToken)
	_, _, err := runCommand(t, append(base, "--app", appIOS, "--token-file", tokenFile)...)
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Errorf("want an error without the token, got %v", err)
	}
}

func TestTokenSecretRef(t *testing.T) {
	obj := func(ref map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"tokenSecretRef": ref}}}
	}
	ref, err := tokenSecretRef(obj(map[string]any{"namespace": "ops", "name": "bitrise"}))
	if err != nil || ref != (secretKeyRef{namespace: "ops", name: "bitrise", key: "token"}) {
		t.Errorf("default key: %+v, %v", ref, err)
	}
	ref, err = tokenSecretRef(obj(map[string]any{"namespace": "ops", "name": "bitrise", "key": "pat"}))
	if err != nil || ref.key != "pat" {
		t.Errorf("explicit key: %+v, %v", ref, err)
	}
	for field, r := range map[string]map[string]any{
		"spec.tokenSecretRef.namespace": {"name": "bitrise"},
		"spec.tokenSecretRef.name":      {"namespace": "ops"},
		"spec.tokenSecretRef.key":       {"namespace": "ops", "name": "x", "key": int64(3)},
	} {
		if _, err := tokenSecretRef(obj(r)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("want an error naming %s, got %v", field, err)
		}
	}
}
