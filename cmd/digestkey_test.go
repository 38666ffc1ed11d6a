package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDigestKeyNamespaceOrder(t *testing.T) {
	// A kubeconfig whose context names a namespace: the last resort.
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: ctx, context: {cluster: c, user: u, namespace: from-kubeconfig}}]
current-context: ctx
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	for _, tt := range []struct {
		name                       string
		flag, podNS, leaderElectNS string
		want                       string
	}{
		{"the flag wins", "from-flag", "from-pod", "from-lease", "from-flag"},
		{"then POD_NAMESPACE (the Deployment's downward API)", "", "from-pod", "from-lease", "from-pod"},
		{"then the leader election namespace", "", "", "from-lease", "from-lease"},
		{"then the kubeconfig context's (make dev, the tests)", "", "", "", "from-kubeconfig"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tt.podNS)
			got, err := digestKeyNamespace(digestKeyConfig{namespace: tt.flag, leaderElectionNamespace: tt.leaderElectNS})
			if err != nil || got != tt.want {
				t.Fatalf("namespace %q (%v), want %q", got, err, tt.want)
			}
		})
	}
}
