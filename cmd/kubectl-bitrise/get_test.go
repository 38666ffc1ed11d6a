package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func owhObject(name, ns string, status map[string]any) unstructured.Unstructured {
	return unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "webhooks.bitrise.io/v1alpha1",
		"kind":       "OutgoingWebhook",
		"metadata":   map[string]any{"name": name, "namespace": ns, "creationTimestamp": "2026-03-01T10:00:00Z"},
		"spec":       map[string]any{"appSlug": "a1b2", "url": "https://hooks.example.com/" + name, "events": []any{"build"}},
		"status":     status,
	}}
}

func TestPrintTable(t *testing.T) {
	ready := map[string]any{
		"slug": "01JSLUG",
		"conditions": []any{map[string]any{
			"type": "Ready", "status": "True", "reason": "Succeeded", "message": "in sync",
			"lastTransitionTime": "2026-03-01T10:00:00Z",
		}},
		// Reported by operators that track deliveries; read through JSONPath.
		"lastDelivery": map[string]any{"httpStatus": int64(502)},
	}
	items := []unstructured.Unstructured{
		owhObject("delivered", "ci", ready),
		owhObject("new", "ci", map[string]any{"observedGeneration": int64(-1)}),
	}
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC)

	var out bytes.Buffer
	if err := printTable(&out, items, true, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"NAMESPACE", "NAME", "APP", "URL", "SLUG", "READY", "REASON", "LAST-DELIVERY", "AGE"},
		{"ci", "delivered", "a1b2", "https://hooks.example.com/delivered", "01JSLUG", "True", "Succeeded", "502", "2d"},
		{"ci", "new", "a1b2", "https://hooks.example.com/new", "-", "Unknown", "-", "-", "2d"},
	}
	if len(lines) != len(want) {
		t.Fatalf("want %d lines, got:\n%s", len(want), out.String())
	}
	for i, fields := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(fields, " ") {
			t.Errorf("line %d = %q, want %q", i, got, fields)
		}
	}

	out.Reset()
	if err := printTable(&out, items[:1], false, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "NAMESPACE") || !strings.HasPrefix(out.String(), "NAME ") {
		t.Errorf("without -A there is no NAMESPACE column:\n%s", out.String())
	}
}

func TestSplitTarget(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantWord bool
		name     string
		err      bool
	}{
		{[]string{"owh", "x"}, true, "x", false},
		{[]string{"OutgoingWebhooks", "x"}, true, "x", false},
		{[]string{"outgoingwebhook.webhooks.bitrise.io", "x"}, true, "x", false},
		{[]string{"owh"}, true, "", false},
		{[]string{"x"}, true, "", true},
		{nil, true, "", true},
		{[]string{"x"}, false, "x", false},
		{nil, false, "", false},
		{[]string{"owh", "x", "y"}, false, "", true},
		{[]string{"pods", "x"}, false, "", true},
	} {
		name, err := splitTarget(tc.args, tc.wantWord)
		if name != tc.name || (err != nil) != tc.err {
			t.Errorf("splitTarget(%q, %v) = %q, %v", tc.args, tc.wantWord, name, err)
		}
	}
}
