package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/internal/bitrise"
	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

const (
	pluginNS       = "imported"
	pluginAppIOS   = "ios0app0slug0001"
	pluginAppDroid = "droid0app0slug01"
	// gitopsManager stands for a GitOps tool applying with server-side apply.
	gitopsManager = "gitops-controller"
	// hiddenSecret is the secret of a hand-made webhook: Bitrise never
	// returns it, and the import must not replace the webhook for it.
	hiddenSecret = "set-in-the-ui-7f3a"
	receiverAuth = "Bearer receiver-token-91c2"
)

// TestPluginImportAdoptsWithoutWrites is the promise of `kubectl bitrise
// import`: hand-made webhooks (with headers; one an addon's) imported with
// the built plugin and applied with kubectl are adopted by the running
// manager with zero write calls to Bitrise, and are all Ready. Then
// reconcile, suspend (no API calls while suspended), resume and get work
// against the running manager, and suspend leaves the fields of a
// server-side apply manager alone.
func TestPluginImportAdoptsWithoutWrites(t *testing.T) {
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	env.Fake.AddApp(pluginAppIOS, token)
	env.Fake.AddApp(pluginAppDroid, token)
	builds := env.Fake.Seed(pluginAppIOS, bitrise.Webhook{
		URL:       "https://hooks.example.com/bitrise/builds",
		Events:    []string{"pipeline", "build"}, // not in sorted order
		Headers:   map[string]string{"Authorization": receiverAuth, "X-Team": "mobile", "X-Build-Number": "0042"},
		CreatedAt: day(1),
	}, hiddenSecret)
	chat := env.Fake.Seed(pluginAppIOS, bitrise.Webhook{URL: "https://chat.example.org/hook", Events: []string{"all"}, CreatedAt: day(2)}, "")
	addon := env.Fake.Seed(pluginAppIOS, bitrise.Webhook{
		URL: "https://addon.example.net/ship", Events: []string{"build"}, RegisteredByAddon: true, CreatedAt: day(3),
	}, "addon-secret")
	droid := env.Fake.Seed(pluginAppDroid, bitrise.Webhook{
		URL: "https://hooks.example.com/bitrise/builds", Events: []string{"build"},
		Headers: map[string]string{"X-Team": "android"}, CreatedAt: day(4),
	}, "")
	masked := env.Fake.Seed(pluginAppDroid, bitrise.Webhook{
		URL: "https://masked.example.com/hook", Events: []string{"build"},
		Headers: map[string]string{"X-Api-Key": "********"}, CreatedAt: day(5),
	}, "")
	before := snapshot(env)

	bin := t.TempDir()
	manager := buildManager(t, env.Root)
	plugin := filepath.Join(bin, "kubectl-bitrise")
	goBuild(t, env.Root, plugin, "./cmd/kubectl-bitrise")
	mgr := startManager(t, manager, env)
	kubectl(t, env, "create", "namespace", pluginNS)
	env.Fake.ResetRequests()

	// import: one list per app, nothing else.
	manifests, notes := runPlugin(t, env, plugin, 0, "import", "--app", pluginAppIOS, "--app", pluginAppDroid, "-n", pluginNS)
	if n := env.Fake.CountRequests(""); n != 2 || env.Fake.CountRequests("GET") != 2 {
		t.Errorf("import: want 2 list calls, got %d requests", n)
	}
	for _, want := range []string{addon.Slug + " (https://addon.example.net): skipped: registered by an addon", `"X-Api-Key"`, "imported 4 of 5 webhooks from 2 app(s)"} {
		if !strings.Contains(notes, want) {
			t.Errorf("import stderr lacks %q:\n%s", want, notes)
		}
	}
	if strings.Contains(manifests, addon.URL) || strings.Contains(manifests, hiddenSecret) {
		t.Errorf("the output holds the addon's webhook or a secret:\n%s", manifests)
	}
	names := map[string]string{ // slug -> resource name
		builds.Slug: "hooks-example-com-bitrise-builds",
		chat.Slug:   "chat-example-org-hook",
		droid.Slug:  "hooks-example-com-bitrise-builds-" + strings.ToLower(droid.Slug[len(droid.Slug)-8:]),
		masked.Slug: "masked-example-com-hook",
	}
	for _, name := range names {
		if !strings.Contains(manifests, `name: "`+name+`"`) {
			t.Errorf("no resource %s in the output:\n%s", name, manifests)
		}
	}

	// Stable across runs, the same with --output-dir, and with --credentials
	// the same plus a credentialsRef: those are the manifests applied, so
	// that the operator uses the token the import used.
	again, _ := runPlugin(t, env, plugin, 0, "import", "--app", pluginAppIOS, "--app", pluginAppDroid, "-n", pluginNS)
	if again != manifests {
		t.Errorf("a second import differs:\n%s", again)
	}
	manifests = checkCredentials(t, env, plugin, manifests)
	dir := t.TempDir()
	runPlugin(t, env, plugin, 0, "import", "--app", pluginAppIOS, "--app", pluginAppDroid, "-n", pluginNS, "--output-dir", dir)
	kustomized := kubectl(t, env, "kustomize", dir)
	for _, name := range names {
		if !strings.Contains(kustomized, "name: "+name+"\n") {
			t.Errorf("--output-dir: kustomize build lacks %s:\n%s", name, kustomized)
		}
	}

	// Apply as a GitOps tool would, with server-side apply.
	file := filepath.Join(t.TempDir(), "imported.yaml")
	if err := os.WriteFile(file, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	env.Fake.ResetRequests()
	kubectl(t, env, "apply", "--server-side", "--field-manager", gitopsManager, "-f", file)
	kubectl(t, env, "wait", "-n", pluginNS, "--for=condition=Ready", "--timeout=60s",
		"owh/"+names[builds.Slug], "owh/"+names[chat.Slug], "owh/"+names[droid.Slug])
	kubectl(t, env, "wait", "-n", pluginNS, "--timeout=60s",
		`--for=jsonpath={.status.conditions[?(@.type=="Ready")].reason}=InvalidSecret`, "owh/"+names[masked.Slug])
	assertNoWrites(t, env, "adoption")
	if after := snapshot(env); !slices.Equal(after, before) {
		t.Errorf("remote webhooks changed:\nbefore %v\nafter  %v", before, after)
	}
	if s, _ := env.Fake.Secret(pluginAppIOS, builds.Slug); s != hiddenSecret {
		t.Errorf("the hand-made webhook was replaced: its secret is gone")
	}
	for slug, name := range names {
		got := kubectl(t, env, "get", "owh", "-n", pluginNS, name, "-o", "jsonpath={.status.slug}")
		if slug == masked.Slug {
			slug = "" // not adopted until the placeholder is filled in
		}
		if got != slug {
			t.Errorf("owh/%s adopted %q, want %s", name, got, slug)
		}
	}

	// A second import skips the webhooks that OutgoingWebhooks now hold:
	// applying them again would only make resources stalled AlreadyManaged.
	reimport, notes := runPlugin(t, env, plugin, 0, "import", "--app", pluginAppIOS, "--app", pluginAppDroid, "-n", pluginNS)
	for slug, name := range names {
		if slug == masked.Slug {
			continue // not adopted: it is still importable
		}
		if strings.Contains(reimport, `name: "`+name+`"`) {
			t.Errorf("the import after adoption still writes %s:\n%s", name, reimport)
		}
		if want := slug + " ("; !strings.Contains(notes, want) || !strings.Contains(notes, "skipped: already managed by OutgoingWebhook "+pluginNS+"/"+name) {
			t.Errorf("the import after adoption does not say that %s is managed by %s:\n%s", slug, name, notes)
		}
	}

	// reconcile: a fresh list, no write, Ready printed; non-zero exit when not Ready.
	env.Fake.ResetRequests()
	out, _ := runPlugin(t, env, plugin, 0, "reconcile", "owh", names[builds.Slug], "-n", pluginNS)
	if !strings.Contains(out, "Ready=True (Succeeded)") {
		t.Errorf("reconcile output lacks the Ready condition:\n%s", out)
	}
	if env.Fake.CountRequests("GET") == 0 {
		t.Errorf("reconcile did not make the operator list the app afresh")
	}
	out, errOut := runPlugin(t, env, plugin, 1, "reconcile", "outgoingwebhook", names[masked.Slug], "-n", pluginNS, "--timeout", "30s")
	if !strings.Contains(out, "Ready=False (InvalidSecret)") || !strings.Contains(errOut, "is not Ready") {
		t.Errorf("reconcile of a Stalled resource:\n%s\n%s", out, errOut)
	}
	assertNoWrites(t, env, "reconcile")

	// suspend --all: only spec.suspend changes hands.
	out, _ = runPlugin(t, env, plugin, 0, "suspend", "owh", "--all", "-n", pluginNS)
	if strings.Count(out, "suspended") != 4 {
		t.Errorf("suspend --all:\n%s", out)
	}
	target := names[builds.Slug]
	checkOwnership(t, env, target, true)
	// The GitOps tool applies again without forcing: no conflict, and the
	// suspension stays, since its manifest does not set spec.suspend.
	kubectl(t, env, "apply", "--server-side", "--field-manager", gitopsManager, "-f", file)
	if got := kubectl(t, env, "get", "owh", "-n", pluginNS, target, "-o", "jsonpath={.spec.suspend}"); got != "true" {
		t.Errorf("spec.suspend after a new apply = %q", got)
	}
	_, errOut = runPlugin(t, env, plugin, 1, "reconcile", "owh", target, "-n", pluginNS)
	if !strings.Contains(errOut, "is suspended") {
		t.Errorf("reconcile of a suspended resource: %s", errOut)
	}

	// While suspended, a change of the headers Secret and a reconcile
	// request make no API call.
	time.Sleep(time.Second)
	env.Fake.ResetRequests()
	newHeaders := map[string]string{"Authorization": receiverAuth, "X-Build-Number": "0042", "X-Team": "ios"}
	headersYAML, _ := json.Marshal(newHeaders) // JSON is YAML
	secretPatch, _ := json.Marshal(map[string]any{"stringData": map[string]string{"headers": string(headersYAML)}})
	kubectl(t, env, "patch", "secret", "-n", pluginNS, target+"-headers", "--type=merge", "-p", string(secretPatch))
	kubectl(t, env, "annotate", "owh", "-n", pluginNS, target, "--overwrite", "webhooks.bitrise.io/reconcile-requested-at=while-suspended")
	time.Sleep(5 * time.Second)
	if n := env.Fake.CountRequests(""); n != 0 {
		t.Errorf("%d API calls while suspended: %+v", n, env.Fake.Requests())
	}

	// resume: the change is applied; the plugin then owns no field of spec.
	out, _ = runPlugin(t, env, plugin, 0, "resume", "owh", target, "-n", pluginNS)
	if !strings.Contains(out, "owh/"+target+" resumed") {
		t.Errorf("resume output: %s", out)
	}
	runPlugin(t, env, plugin, 0, "reconcile", "owh", target, "-n", pluginNS)
	if hooks := env.Fake.Webhooks(pluginAppIOS); !maps.Equal(findHook(hooks, builds.Slug).Headers, newHeaders) {
		t.Errorf("the change made while suspended was not applied on resume: %+v", findHook(hooks, builds.Slug))
	}
	checkOwnership(t, env, target, false)
	runPlugin(t, env, plugin, 0, "resume", "owh", "-A")

	// get: the table, in one namespace and across all.
	out, _ = runPlugin(t, env, plugin, 0, "get", "-n", pluginNS)
	for _, want := range []string{"NAME", "APP", "URL", "SLUG", "READY", "REASON", "LAST-DELIVERY", "AGE",
		names[chat.Slug], chat.Slug, "Succeeded", "InvalidSecret", pluginAppDroid} {
		if !strings.Contains(out, want) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	out, _ = runPlugin(t, env, plugin, 0, "get", "owh", names[chat.Slug], "-n", pluginNS)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], names[chat.Slug]+" ") {
		t.Errorf("get NAME:\n%s", out)
	}
	out, _ = runPlugin(t, env, plugin, 0, "get", "-A")
	if !strings.HasPrefix(out, "NAMESPACE") || strings.Count(out, pluginNS+" ") != 4 {
		t.Errorf("get -A:\n%s", out)
	}

	checkNoLeaks(t, env, mgr, []string{pluginNS}, map[string]string{
		"API token":             token,
		"webhook secret":        hiddenSecret,
		"header value (Secret)": receiverAuth,
	})
}

// checkCredentials runs import with --credentials (want is the output with
// BITRISE_TOKEN) against the ClusterCredentials kind localenv installs:
// a missing object, then an app and a namespace the object does not allow
// are refused, naming them, while its token Secret does not exist yet (so
// the refusal comes before the Secret is read); once the namespace is
// selected and the Secret made, the output is want with each
// OutgoingWebhook naming the ClusterCredentials in spec.credentialsRef.
// It returns that output.
func checkCredentials(t *testing.T, env *localenv.Env, plugin, want string) string {
	t.Helper()
	const name = "bitrise"
	args := []string{"import", "--app", pluginAppIOS, "--app", pluginAppDroid, "-n", pluginNS, "--credentials", name}
	_, errOut := runPluginEnv(t, env, plugin, 1, nil, args...)
	if !strings.Contains(errOut, `ClusterCredentials "bitrise" not found`) {
		t.Errorf("--credentials naming a missing object: %s", errOut)
	}
	creds := filepath.Join(t.TempDir(), "creds.yaml")
	apply := func(apps string) {
		t.Helper()
		manifest := "apiVersion: webhooks.bitrise.io/v1alpha1\nkind: ClusterCredentials\nmetadata: {name: " + name + "}\nspec:\n" +
			"  tokenSecretRef: {namespace: bitrise-creds, name: api}\n  namespaceSelector: {matchLabels: {team: imports}}\n  apps: " + apps + "\n"
		if err := os.WriteFile(creds, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl(t, env, "apply", "-f", creds)
	}
	apply("[" + pluginAppIOS + "]")
	_, errOut = runPluginEnv(t, env, plugin, 1, nil, args...)
	if !strings.Contains(errOut, "ClusterCredentials bitrise does not allow app "+pluginAppDroid+" (not in its spec.apps)") {
		t.Errorf("--credentials with an app it does not list: %s", errOut)
	}
	apply("[" + pluginAppIOS + ", " + pluginAppDroid + "]")
	_, errOut = runPluginEnv(t, env, plugin, 1, nil, args...)
	if !strings.Contains(errOut, "ClusterCredentials bitrise does not allow namespace "+pluginNS+" (not in its spec.namespaces, and spec.namespaceSelector does not select it)") {
		t.Errorf("--credentials with a namespace it does not select: %s", errOut)
	}

	kubectl(t, env, "label", "namespace", pluginNS, "team=imports")
	_, errOut = runPluginEnv(t, env, plugin, 1, nil, args...)
	if !strings.Contains(errOut, "its token Secret bitrise-creds/api does not exist") {
		t.Errorf("--credentials whose token Secret is missing: %s", errOut)
	}
	kubectl(t, env, "create", "namespace", "bitrise-creds")
	kubectl(t, env, "create", "secret", "generic", "-n", "bitrise-creds", "api", "--from-literal=token="+token)
	got, errOut := runPluginEnv(t, env, plugin, 0, nil, args...)
	ref := "  credentialsRef:\n    kind: ClusterCredentials\n    name: \"" + name + "\"\n  deletionPolicy:"
	if wantRef := strings.ReplaceAll(want, "  deletionPolicy:", ref); got != wantRef || strings.Count(got, ref) != 4 {
		t.Errorf("--credentials: want the BITRISE_TOKEN output with credentialsRef in each OutgoingWebhook, got:\n%s\n%s", got, errOut)
	}
	if strings.Contains(errOut, token) {
		t.Errorf("the token reached stderr")
	}
	return got
}

// checkOwnership reads managedFields of owh/name: the server-side apply
// manager still owns the fields it applied, and the plugin owns spec.suspend
// (while suspended) and nothing else of spec.
func checkOwnership(t *testing.T, env *localenv.Env, name string, suspended bool) {
	t.Helper()
	raw := kubectl(t, env, "get", "owh", "-n", pluginNS, name, "-o", "jsonpath={.metadata.managedFields}")
	var entries []struct {
		Manager   string
		Operation string
		FieldsV1  map[string]any `json:"fieldsV1"`
	}
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		t.Fatalf("managedFields: %v\n%s", err, raw)
	}
	specOf := func(manager, operation string) map[string]any {
		for _, e := range entries {
			if e.Manager == manager && e.Operation == operation {
				spec, _ := e.FieldsV1["f:spec"].(map[string]any)
				return spec
			}
		}
		return nil
	}
	applied := specOf(gitopsManager, "Apply")
	for _, f := range []string{"f:appSlug", "f:url", "f:events", "f:deletionPolicy", "f:secretRef"} {
		if _, ok := applied[f]; !ok {
			t.Errorf("the apply manager lost %s: %s", f, raw)
		}
	}
	if _, ok := applied["f:suspend"]; ok {
		t.Errorf("the apply manager owns spec.suspend: %s", raw)
	}
	plugin := specOf("kubectl-bitrise", "Update")
	var keys []string
	for k := range plugin {
		keys = append(keys, k)
	}
	want := []string{}
	if suspended {
		want = []string{"f:suspend"}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("the plugin owns spec fields %v, want %v: %s", keys, want, raw)
	}
}

func assertNoWrites(t *testing.T, env *localenv.Env, phase string) {
	t.Helper()
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if n := env.Fake.CountRequests(method); n != 0 {
			t.Errorf("%s: %d %s calls to the Bitrise API, want none", phase, n, method)
		}
	}
}

// snapshot renders every remote webhook of both apps, to compare.
func snapshot(env *localenv.Env) []string {
	var out []string
	for _, app := range []string{pluginAppIOS, pluginAppDroid} {
		for _, h := range env.Fake.Webhooks(app) {
			b, _ := json.Marshal(h)
			out = append(out, string(b))
		}
	}
	return out
}

func day(n int) time.Time { return time.Date(2026, 1, n, 12, 0, 0, 0, time.UTC) }

func findHook(hooks []bitrise.Webhook, slug string) bitrise.Webhook {
	for _, h := range hooks {
		if h.Slug == slug {
			return h
		}
	}
	return bitrise.Webhook{}
}

func goBuild(t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// runPlugin runs the plugin with the env's kubeconfig and fake, and the
// token in BITRISE_TOKEN; it fails the test unless the exit code is
// wantCode. It returns stdout and stderr.
func runPlugin(t *testing.T, env *localenv.Env, plugin string, wantCode int, args ...string) (string, string) {
	t.Helper()
	return runPluginEnv(t, env, plugin, wantCode, []string{"BITRISE_TOKEN=" + token}, args...)
}

func runPluginEnv(t *testing.T, env *localenv.Env, plugin string, wantCode int, extraEnv []string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(plugin, append(args, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(withoutToken(os.Environ()), "BITRISE_API_URL="+env.FakeURL, "HOME="+t.TempDir())
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("kubectl-bitrise %s: %v", strings.Join(args, " "), err)
	}
	if code != wantCode {
		t.Fatalf("kubectl-bitrise %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func withoutToken(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "BITRISE_TOKEN=") || strings.HasPrefix(kv, "BITRISE_API_URL=")
	})
}
