package gitops

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// argoHealth is what an Argo CD health script returns.
type argoHealth struct {
	Status  string
	Message string
}

// Argo CD's health status codes; anything else becomes Unknown.
var argoHealthCodes = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

// runArgoHealth runs a health script as Argo CD does (util/lua in argo-cd):
// gopher-lua without the standard libraries except package, base and table,
// a one-second deadline, and the object as the global `obj`.
func runArgoHealth(t *testing.T, script string, obj map[string]any) argoHealth {
	t.Helper()
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("health.lua failed: %v", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health.lua returned %s, want a table", L.Get(-1).Type())
	}
	h := argoHealth{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	if !argoHealthCodes[h.Status] {
		t.Fatalf("health.lua returned status %q, which Argo CD turns into Unknown", h.Status)
	}
	return h
}

// toLua converts a decoded object as Argo CD's decodeValue does.
func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case []any:
		arr := L.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(L, item))
		}
		return arr
	case map[string]any:
		tbl := L.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(L, item))
		}
		return tbl
	}
	return lua.LNil
}

func healthScript(t *testing.T) string {
	t.Helper()
	return string(readRepoFile(t, "dist", "argocd", "health.lua"))
}

// objectIn builds an OutgoingWebhook at generation 2 with the given status
// (nil: none) and changes.
func objectIn(status map[string]any, changes ...func(map[string]any)) map[string]any {
	obj := map[string]any{
		"apiVersion": "webhooks.bitrise.io/v1alpha1",
		"kind":       "OutgoingWebhook",
		"metadata":   map[string]any{"name": "hook", "namespace": "ns", "generation": int64(2)},
		"spec":       map[string]any{"appSlug": "app", "url": "https://hooks.example.com/x", "events": []any{"build"}},
	}
	if status != nil {
		obj["status"] = status
	}
	for _, change := range changes {
		change(obj)
	}
	return obj
}

func statusOf(observedGeneration any, conditions ...map[string]any) map[string]any {
	list := []any{}
	for _, c := range conditions {
		list = append(list, c)
	}
	return map[string]any{"observedGeneration": observedGeneration, "conditions": list}
}

func cond(typ, value, reason, message string) map[string]any {
	return map[string]any{"type": typ, "status": value, "reason": reason, "message": message,
		"lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": int64(2)}
}

func suspended(obj map[string]any) { obj["spec"].(map[string]any)["suspend"] = true }

func deleting(obj map[string]any) {
	obj["metadata"].(map[string]any)["deletionTimestamp"] = "2026-01-01T00:00:00Z"
}

func TestArgoHealthLua(t *testing.T) {
	script := healthScript(t)
	t.Run("the sandbox has no string library, as in Argo CD", func(t *testing.T) {
		h := runArgoHealth(t, `hs = {status = "Healthy", message = type(string)} return hs`, map[string]any{})
		if h.Message != "nil" {
			t.Errorf("type(string) is %s", h.Message)
		}
	})
	const (
		inSync   = "Webhook abc is in sync"
		notFound = "Bitrise app app was not found (404): check spec.appSlug"
		retrying = "Bitrise API unavailable, retrying with backoff: 503"
	)
	ready := cond("Ready", "True", "Succeeded", inSync)
	for _, tc := range []struct {
		name        string
		obj         map[string]any
		want        string
		wantMessage string
	}{
		{name: "no status", obj: objectIn(nil), want: "Progressing"},
		{name: "new: observedGeneration -1", obj: objectIn(statusOf(int64(-1))), want: "Progressing"},
		{name: "ready for an older generation", obj: objectIn(statusOf(int64(1), ready)), want: "Progressing", wantMessage: "Waiting for the operator"},
		{
			name: "transient error on the first pass of the generation",
			obj: objectIn(statusOf(int64(-1),
				cond("Ready", "False", "APIUnavailable", retrying), cond("Reconciling", "True", "APIUnavailable", retrying))),
			want: "Progressing", wantMessage: retrying,
		},
		{
			name: "reconciling for an older generation",
			obj: objectIn(statusOf(int64(1), func() map[string]any {
				c := cond("Reconciling", "True", "APIUnavailable", retrying)
				c["observedGeneration"] = int64(1)
				return c
			}())),
			want: "Progressing", wantMessage: "Waiting for the operator",
		},
		{name: "ready", obj: objectIn(statusOf(int64(2), ready)), want: "Healthy", wantMessage: inSync},
		{
			name: "stalled",
			obj: objectIn(statusOf(int64(2),
				cond("Ready", "False", "AppNotFound", notFound), cond("Stalled", "True", "AppNotFound", notFound))),
			want: "Degraded", wantMessage: notFound,
		},
		{
			name: "stalled without a Ready condition",
			obj:  objectIn(statusOf(int64(2), cond("Stalled", "True", "SecretNotFound", "Secret s was not found"))),
			want: "Degraded", wantMessage: "Secret s was not found",
		},
		{
			name: "reconciling after a transient error",
			obj: objectIn(statusOf(int64(2),
				cond("Ready", "False", "APIUnavailable", retrying), cond("Reconciling", "True", "APIUnavailable", retrying))),
			want: "Progressing", wantMessage: retrying,
		},
		{
			name: "not ready, neither reconciling nor stalled",
			obj:  objectIn(statusOf(int64(2), cond("Ready", "False", "Progressing", "Creating the remote webhook"))),
			want: "Progressing", wantMessage: "Creating the remote webhook",
		},
		{name: "no conditions at the current generation", obj: objectIn(statusOf(int64(2))), want: "Progressing"},
		{name: "suspended", obj: objectIn(statusOf(int64(2), ready), suspended), want: "Suspended", wantMessage: "suspend"},
		{name: "suspended before the first pass", obj: objectIn(statusOf(int64(-1)), suspended), want: "Suspended"},
		{name: "being deleted", obj: objectIn(statusOf(int64(2), ready), deleting), want: "Progressing", wantMessage: "being deleted"},
		{
			name: "deletion waiting for the user",
			obj: objectIn(statusOf(int64(2),
				cond("Ready", "False", "Suspended", "Deletion waits: spec.suspend is true"),
				cond("Stalled", "True", "Suspended", "Deletion waits: spec.suspend is true")), suspended, deleting),
			want: "Progressing", wantMessage: "being deleted: Deletion waits",
		},
		{
			// Numbers decoded as json.Number reach Lua as strings.
			name: "generations as strings",
			obj: objectIn(statusOf(json.Number("2"), ready), func(obj map[string]any) {
				obj["metadata"].(map[string]any)["generation"] = json.Number("2")
			}),
			want: "Healthy", wantMessage: inSync,
		},
		{
			name: "generations as floats",
			obj: objectIn(statusOf(float64(2), ready), func(obj map[string]any) {
				obj["metadata"].(map[string]any)["generation"] = float64(2)
			}),
			want: "Healthy",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runArgoHealth(t, script, tc.obj)
			if got.Status != tc.want || !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("got %s %q, want %s with a message containing %q", got.Status, got.Message, tc.want, tc.wantMessage)
			}
			if got.Message == "" {
				t.Errorf("empty message for %s", got.Status)
			}
		})
	}
}

// TestArgoConfigMapPatches checks that both argocd-cm patches carry
// health.lua verbatim, and applies the recommended one as its comment says.
func TestArgoConfigMapPatches(t *testing.T) {
	script := healthScript(t)
	const key = "resource.customizations.health.webhooks.bitrise.io_OutgoingWebhook"

	var patch corev1.ConfigMap
	if err := yaml.UnmarshalStrict(readRepoFile(t, "dist", "argocd", "argocd-cm-patch.yaml"), &patch); err != nil {
		t.Fatal(err)
	}
	if patch.Name != "argocd-cm" || patch.Data[key] != script {
		t.Errorf("argocd-cm-patch.yaml: want ConfigMap argocd-cm with key %s holding health.lua verbatim", key)
	}

	var legacy corev1.ConfigMap
	if err := yaml.UnmarshalStrict(readRepoFile(t, "dist", "argocd", "argocd-cm-patch-legacy.yaml"), &legacy); err != nil {
		t.Fatal(err)
	}
	var customizations map[string]struct {
		HealthLua string `json:"health.lua"`
	}
	if err := yaml.UnmarshalStrict([]byte(legacy.Data["resource.customizations"]), &customizations); err != nil {
		t.Fatal(err)
	}
	if customizations["webhooks.bitrise.io/OutgoingWebhook"].HealthLua != script {
		t.Errorf("argocd-cm-patch-legacy.yaml: resource.customizations lacks health.lua verbatim: %v", customizations)
	}

	// `kubectl patch --patch-file` onto an existing argocd-cm, as documented.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}
	if err := k8s.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	existing := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: "argocd"},
		Data:       map[string]string{"url": "https://argocd.example.com"},
	}
	if err := k8s.Delete(t.Context(), existing); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	create(t, existing)
	if _, err := kubectl(t.Context(), "-n", "argocd", "patch", "configmap", "argocd-cm",
		"--patch-file", repoPath("dist", "argocd", "argocd-cm-patch.yaml")); err != nil {
		t.Fatal(err)
	}
	var patched corev1.ConfigMap
	if err := k8s.Get(t.Context(), client.ObjectKeyFromObject(existing), &patched); err != nil {
		t.Fatal(err)
	}
	if patched.Data[key] != script || patched.Data["url"] != "https://argocd.example.com" {
		t.Errorf("after kubectl patch, argocd-cm data keys: %v", keys(patched.Data))
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
