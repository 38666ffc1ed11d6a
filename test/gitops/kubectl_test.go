package gitops

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestKubectlWait waits for Ready as scripts and CI jobs do.
func TestKubectlWait(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	obj := webhook(ns, "waited", slowApp(t, ns))
	create(t, obj)
	start := time.Now()
	if _, err := kubectl(t.Context(), "wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "owh/"+obj.Name); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < slowCreate/2 {
		t.Errorf("kubectl wait returned after %s, before the create could have finished", took)
	}
	if u := fetch(t, ns, obj.Name); !handled("Ready", "Succeeded")(u) {
		t.Errorf("kubectl wait returned but the resource is not Ready: %v", u.Object["status"])
	}
}

// TestKubectlExplain checks that every field is documented in the CRD
// schema, which `kubectl explain` prints.
func TestKubectlExplain(t *testing.T) {
	t.Parallel()
	// The indented lines under DESCRIPTION:, up to a blank line or FIELDS:.
	description := regexp.MustCompile(`DESCRIPTION:\n((?:[ \t]+\S.*\n)+)`)
	for _, field := range []string{
		"outgoingwebhook",
		"outgoingwebhook.spec",
		"outgoingwebhook.spec.appSlug",
		"outgoingwebhook.spec.url",
		"outgoingwebhook.spec.events",
		"outgoingwebhook.spec.headers",
		"outgoingwebhook.spec.secretRef",
		"outgoingwebhook.spec.secretRef.name",
		"outgoingwebhook.spec.credentialsRef",
		"outgoingwebhook.spec.credentialsRef.name",
		"outgoingwebhook.spec.credentialsRef.key",
		"outgoingwebhook.spec.interval",
		"outgoingwebhook.spec.suspend",
		"outgoingwebhook.spec.deletionPolicy",
		"outgoingwebhook.spec.deliveryCheck",
		"outgoingwebhook.spec.deliveryCheck.interval",
		"outgoingwebhook.spec.deliveryCheck.failureThreshold",
		"outgoingwebhook.status",
		"outgoingwebhook.status.observedGeneration",
		"outgoingwebhook.status.slug",
		"outgoingwebhook.status.createdAt",
		"outgoingwebhook.status.updatedAt",
		"outgoingwebhook.status.lastHandledReconcileAt",
		"outgoingwebhook.status.secretDigest",
		"outgoingwebhook.status.lastWrite",
		"outgoingwebhook.status.lastWrite.sent",
		"outgoingwebhook.status.lastWrite.answer",
		"outgoingwebhook.status.lastDelivery",
		"outgoingwebhook.status.lastDelivery.httpStatus",
		"outgoingwebhook.status.recentDeliveries",
		"outgoingwebhook.status.lastHandledRedeliver",
		"outgoingwebhook.status.conditions",
	} {
		t.Run(field, func(t *testing.T) {
			t.Parallel()
			out, err := kubectl(t.Context(), "explain", field)
			if err != nil {
				t.Fatal(err)
			}
			m := description.FindStringSubmatch(out)
			if m == nil || strings.Contains(m[1], "<empty>") || len(strings.Fields(m[1])) < 3 {
				t.Errorf("kubectl explain %s prints no description:\n%s", field, out)
			}
		})
	}
}
