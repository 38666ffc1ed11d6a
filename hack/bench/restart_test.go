package main

import (
	"strings"
	"testing"
)

func TestParseControllerMetricsSumsTheControllersSamples(t *testing.T) {
	text := `# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
# TYPE controller_runtime_reconcile_total counter
controller_runtime_reconcile_total{controller="outgoingwebhook",result="success"} 998
controller_runtime_reconcile_total{controller="outgoingwebhook",result="error"} 2
controller_runtime_reconcile_total{controller="other",result="success"} 50
workqueue_depth{controller="outgoingwebhook",name="outgoingwebhook"} 3
controller_runtime_active_workers{controller="outgoingwebhook"} 1
go_goroutines 120
`
	m, err := parseControllerMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if m["controller_runtime_reconcile_total"] != 1000 || m["workqueue_depth"] != 3 || m["controller_runtime_active_workers"] != 1 {
		t.Fatalf("parsed %v", m)
	}
	if _, ok := m["go_goroutines"]; ok {
		t.Fatal("a sample of no controller was counted")
	}
}
