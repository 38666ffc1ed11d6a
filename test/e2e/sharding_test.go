package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// TestWatchNamespaceAndLabelSelector runs a manager restricted to one
// namespace and one shard label: it must reconcile only what matches.
func TestWatchNamespaceAndLabelSelector(t *testing.T) {
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	env.Fake.AddApp("shard-app", token)

	manifest := `apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: team-b}
`
	for _, hook := range []struct{ ns, name, shard string }{
		{"team-a", "mine", "shard1"},
		{"team-a", "other-shard", "shard2"},
		{"team-a", "unlabelled", ""},
		{"team-b", "other-namespace", "shard1"},
	} {
		labels := "{}"
		if hook.shard != "" {
			labels = "{sharding.fluxcd.io/key: " + hook.shard + "}"
		}
		manifest += `---
apiVersion: webhooks.bitrise.io/v1alpha1
kind: OutgoingWebhook
metadata: {name: ` + hook.name + `, namespace: ` + hook.ns + `, labels: ` + labels + `}
spec: {appSlug: shard-app, url: "https://hooks.example.com/` + hook.ns + `/` + hook.name + `", events: [build]}
`
	}
	file := filepath.Join(t.TempDir(), "shard.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, env, "apply", "-f", file)

	startManager(t, buildManager(t, env.Root), env,
		"--watch-namespace=team-a", "--watch-label-selector=sharding.fluxcd.io/key=shard1",
		"--leader-elect", "--leader-election-id=shard1-operator", "--leader-election-namespace=team-a")
	kubectl(t, env, "wait", "--for=condition=Ready", "--timeout=60s", "-n", "team-a", "owh/mine")

	// Give the manager time to (wrongly) pick up the others, then check.
	time.Sleep(3 * time.Second)
	hooks := env.Fake.Webhooks("shard-app")
	if len(hooks) != 1 || !strings.HasSuffix(hooks[0].URL, "/team-a/mine") {
		t.Fatalf("want only team-a/mine reconciled, got %+v", hooks)
	}
	for _, other := range []string{"team-a/other-shard", "team-a/unlabelled", "team-b/other-namespace"} {
		ns, name, _ := strings.Cut(other, "/")
		if got := kubectl(t, env, "get", "owh", name, "-n", ns, "-o", "jsonpath={.metadata.finalizers}"); got != "" {
			t.Errorf("%s was touched by another shard's manager: finalizers %s", other, got)
		}
	}
	lease := kubectl(t, env, "get", "lease", "shard1-operator", "-n", "team-a", "-o", "jsonpath={.spec.holderIdentity}")
	if lease == "" {
		t.Error("the shard's leader-election Lease has no holder")
	}
}

// TestShardsSeeEachOthersClaims runs two shards (different label selectors)
// whose resources claim the same app and URL: each shard caches only its
// own, yet the later resource must be Stalled AlreadyManaged, and the remote
// webhook written once, with no ping-pong between the shards.
func TestShardsSeeEachOthersClaims(t *testing.T) {
	env, err := localenv.Start(localenv.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	env.Fake.AddApp("contested-app", token)

	manifest := func(ns, shard string) string {
		return `apiVersion: v1
kind: Namespace
metadata: {name: ` + ns + `}
---
apiVersion: v1
kind: Secret
metadata: {name: hook-secret, namespace: ` + ns + `}
stringData: {secret: ` + ns + `-webhook-secret}
---
apiVersion: webhooks.bitrise.io/v1alpha1
kind: OutgoingWebhook
metadata: {name: contested, namespace: ` + ns + `, labels: {sharding.fluxcd.io/key: ` + shard + `}}
spec:
  appSlug: contested-app
  url: https://hooks.example.com/contested
  events: [build]
  interval: 5s
  secretRef: {name: hook-secret}
`
	}
	apply := func(name, content string) {
		file := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		kubectl(t, env, "apply", "-f", file)
	}

	bin := buildManager(t, env.Root)
	for _, shard := range []string{"shard1", "shard2"} {
		startManager(t, bin, env, "--watch-label-selector=sharding.fluxcd.io/key="+shard,
			"--leader-elect", "--leader-election-id="+shard+"-operator", "--leader-election-namespace=default")
	}

	apply("first.yaml", manifest("team-a", "shard1"))
	kubectl(t, env, "wait", "--for=condition=Ready", "--timeout=60s", "-n", "team-a", "owh/contested")
	time.Sleep(1100 * time.Millisecond) // creation timestamps have a one-second resolution
	apply("second.yaml", manifest("team-b", "shard2"))
	kubectl(t, env, "wait", "--for=condition=Stalled", "--timeout=60s", "-n", "team-b", "owh/contested")
	reason := kubectl(t, env, "get", "owh", "contested", "-n", "team-b", "-o", `jsonpath={.status.conditions[?(@.type=="Stalled")].reason}`)
	if reason != "AlreadyManaged" {
		t.Fatalf("the later resource is Stalled %q, want AlreadyManaged", reason)
	}

	// Three drift intervals: time enough for a ping-pong to show.
	time.Sleep(15 * time.Second)
	hooks := env.Fake.Webhooks("contested-app")
	slug := kubectl(t, env, "get", "owh", "contested", "-n", "team-a", "-o", "jsonpath={.status.slug}")
	if len(hooks) != 1 || hooks[0].Slug != slug {
		t.Fatalf("want the one webhook of team-a (%s), got %+v", slug, hooks)
	}
	if s, _ := env.Fake.Secret("contested-app", slug); s != "team-a-webhook-secret" {
		t.Error("the webhook secret is not the first resource's")
	}
	for method, want := range map[string]int{"POST": 1, "PUT": 0, "DELETE": 0} {
		if got := env.Fake.CountRequests(method); got != want {
			t.Errorf("%d %s requests, want %d: the shards fought over the webhook", got, method, want)
		}
	}
	if got := kubectl(t, env, "get", "owh", "-A", "--field-selector", "spec.appSlug=contested-app", "-o", "name"); strings.Count(got, "outgoingwebhook") != 2 {
		t.Errorf("kubectl get owh --field-selector spec.appSlug=... = %q, want both resources", got)
	}
}
