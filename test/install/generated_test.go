package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// The committed CRD, RBAC and DeepCopy must be what controller-gen makes
// of the markers; `make manifests generate` rewrites them.

// controllerGen returns bin/controller-gen, building the version the
// Makefile names (CONTROLLER_TOOLS_VERSION) from Go modules when missing.
func controllerGen(t *testing.T) string {
	t.Helper()
	path, err := localenv.ControllerGen.Path(root)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func runControllerGen(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(controllerGen(t), args...)
	cmd.Dir = dir
	// As `make generate` runs it: the DeepCopy generator does not follow
	// type aliases (v1alpha1.HeaderValue) unless they are resolved away.
	cmd.Env = append(os.Environ(), "GODEBUG=gotypesalias=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestCRDAndRBACMatchTheMarkers(t *testing.T) {
	out := t.TempDir()
	// The arguments of `make manifests`, with the output elsewhere.
	runControllerGen(t, root, "rbac:roleName=manager-role", "crd", "paths=./...",
		"output:crd:artifacts:config="+filepath.Join(out, "crd"), "output:rbac:artifacts:config="+filepath.Join(out, "rbac"))
	generated, err := filepath.Glob(filepath.Join(out, "crd", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("controller-gen made no CRD (%v)", err)
	}
	committed, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if len(committed) != len(generated) {
		t.Errorf("config/crd/bases has %d CRDs, the markers make %d: run `make manifests`", len(committed), len(generated))
	}
	for _, g := range generated {
		checkGenerated(t, g, filepath.Join("config", "crd", "bases", filepath.Base(g)), "make manifests")
	}
	checkGenerated(t, filepath.Join(out, "rbac", "role.yaml"), filepath.Join("config", "rbac", "role.yaml"), "make manifests")
}

func TestDeepCopyMatchesTheTypes(t *testing.T) {
	// controller-gen writes DeepCopy beside the types: run it on a copy of
	// the module's API package.
	work := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", filepath.Join("hack", "boilerplate.go.txt")} {
		copyFile(t, filepath.Join(root, f), filepath.Join(work, f))
	}
	apiFiles, err := filepath.Glob(filepath.Join(root, "api", "v1alpha1", "*.go"))
	if err != nil || len(apiFiles) == 0 {
		t.Fatalf("no Go files in api/v1alpha1 (%v)", err)
	}
	for _, f := range apiFiles {
		if filepath.Base(f) != "zz_generated.deepcopy.go" {
			copyFile(t, f, filepath.Join(work, "api", "v1alpha1", filepath.Base(f)))
		}
	}
	runControllerGen(t, work, "object:headerFile=hack/boilerplate.go.txt", "paths=./api/...")
	checkGenerated(t, filepath.Join(work, "api", "v1alpha1", "zz_generated.deepcopy.go"),
		filepath.Join("api", "v1alpha1", "zz_generated.deepcopy.go"), "make generate")
}

// checkGenerated compares a freshly generated file with the committed one.
func checkGenerated(t *testing.T, generated, committed, command string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, committed))
	if err != nil {
		t.Errorf("%v: run `%s`", err, command)
		return
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from what controller-gen makes of the markers (%s): run `%s`", committed, firstDifference(got, want), command)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
