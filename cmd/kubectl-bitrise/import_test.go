package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	webhooksv1alpha1 "github.com/bitrise-webhook-operator/operator/api/v1alpha1"
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
		"imported 4 of 8 webhooks from 2 app(s) into namespace ci"} {
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

// TestClusterCredentialsToken checks --credentials against a fake cluster:
// an app or namespace the ClusterCredentials does not allow is refused,
// naming it, without reading the token Secret; an allowed one gets the
// token (key "token" by default).
func TestClusterCredentialsToken(t *testing.T) {
	const tokenNS, tokenName = "bitrise-webhook-operator-system", "mobile-team-token"
	mobile := &webhooksv1alpha1.ClusterCredentials{
		ObjectMeta: metav1.ObjectMeta{Name: "mobile-team"},
		Spec: webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef:    webhooksv1alpha1.TokenSecretReference{Namespace: tokenNS, Name: tokenName},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "mobile"}},
			Namespaces:        []string{"payments"},
			Apps:              []string{appIOS, appAndroid},
		},
	}
	anyApp := &webhooksv1alpha1.ClusterCredentials{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec: webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef:    webhooksv1alpha1.TokenSecretReference{Namespace: tokenNS, Name: tokenName, Key: "pat"},
			NamespaceSelector: &metav1.LabelSelector{},
			Apps:              []string{webhooksv1alpha1.AnyApp},
		},
	}
	byName := &webhooksv1alpha1.ClusterCredentials{
		ObjectMeta: metav1.ObjectMeta{Name: "by-name"},
		Spec: webhooksv1alpha1.ClusterCredentialsSpec{
			TokenSecretRef: webhooksv1alpha1.TokenSecretReference{Namespace: tokenNS, Name: tokenName},
			Namespaces:     []string{"payments"},
			Apps:           []string{webhooksv1alpha1.AnyApp},
		},
	}
	objects := []client.Object{mobile, anyApp, byName,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ios", Labels: map[string]string{"team": "mobile"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "web"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tokenNS, Name: tokenName},
			Data: map[string][]byte{"token": []byte(testToken), "pat": []byte("pat-" + testToken)}},
	}
	for _, tc := range []struct {
		name, credentials, namespace string
		apps                         []string
		want                         string // the token, or a part of the error
	}{
		{"listed namespace", "mobile-team", "payments", []string{appIOS}, testToken},
		{"selected namespace", "mobile-team", "ios", []string{appIOS, appAndroid}, testToken},
		{"app not listed", "mobile-team", "payments", []string{appIOS, "other-app", "third-app"},
			"ClusterCredentials mobile-team does not allow app other-app, third-app (not in its spec.apps)"},
		{"namespace not selected", "mobile-team", "web", []string{appIOS},
			"ClusterCredentials mobile-team does not allow namespace web (not in its spec.namespaces, and spec.namespaceSelector does not select it)"},
		{"namespace missing", "mobile-team", "new", []string{appIOS},
			"does not allow namespace new (not in its spec.namespaces, and the namespace does not exist"},
		{"no selector", "by-name", "ios", []string{appIOS},
			"ClusterCredentials by-name does not allow namespace ios (not in its spec.namespaces, and it has no spec.namespaceSelector)"},
		{"no selector, listed", "by-name", "payments", []string{"any"}, testToken},
		{"every namespace and app, explicit key", "default", "not-yet-created", []string{"any"}, "pat-" + testToken},
		{"missing", "nope", "payments", []string{appIOS}, `ClusterCredentials "nope" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secretReads := 0
			cl := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(objects...).
				WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if _, ok := obj.(*corev1.Secret); ok {
						secretReads++
					}
					return c.Get(ctx, key, obj, opts...)
				}}).Build()
			token, err := clusterCredentialsToken(t.Context(), cl, tc.credentials, tc.namespace, tc.apps)
			if strings.Contains(tc.want, testToken) {
				if err != nil || token != tc.want {
					t.Errorf("want the token, got an error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error with %q, got %v", tc.want, err)
			}
			if secretReads != 0 {
				t.Errorf("the token Secret was read %d times before refusing", secretReads)
			}
		})
	}

	// The token Secret at fault is named, its value never.
	empty := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(mobile,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: tokenNS, Name: tokenName}, Data: map[string][]byte{"other": []byte(testToken)}}).Build()
	if _, err := clusterCredentialsToken(t.Context(), empty, "mobile-team", "payments", []string{appIOS}); err == nil ||
		!strings.Contains(err.Error(), tokenNS+"/"+tokenName+` has no key "token"`) || strings.Contains(err.Error(), testToken) {
		t.Errorf("a Secret without the key: %v", err)
	}
	none := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(mobile).Build()
	if _, err := clusterCredentialsToken(t.Context(), none, "mobile-team", "payments", []string{appIOS}); err == nil ||
		!strings.Contains(err.Error(), "its token Secret "+tokenNS+"/"+tokenName+" does not exist") {
		t.Errorf("a missing Secret: %v", err)
	}
}
