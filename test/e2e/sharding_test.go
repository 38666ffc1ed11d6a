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
