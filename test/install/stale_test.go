package install

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The generated files users install must match their sources; `make
// build-installer` rewrites them.

func TestInstallYAMLIsCurrent(t *testing.T) {
	// The build, then the commented example of the token Secret and
	// ClusterCredentials (comments that kustomize would drop).
	want := append(kustomizeBuild(t, filepath.Join(root, "config", "default")), readFile(t, installExample...)...)
	if got := readFile(t, "dist", "install.yaml"); !bytes.Equal(got, want) {
		t.Errorf("dist/install.yaml differs from `kustomize build config/default` and %s (%s): run `make build-installer`",
			filepath.Join(installExample...), firstDifference(got, want))
	}
}

// installExample is the commented example ending dist/install.yaml.
var installExample = []string{"config", "default", "clustercredentials_example.yaml"}

func TestChartCopiesAreCurrent(t *testing.T) {
	sources, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(sources) == 0 {
		t.Fatalf("no CRD in config/crd/bases (%v)", err)
	}
	copies, err := filepath.Glob(filepath.Join(root, "dist", "chart", "files", "crds", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != len(sources) {
		t.Errorf("dist/chart/files/crds has %d CRDs, config/crd/bases %d: run `make build-installer`", len(copies), len(sources))
	}
	for _, src := range sources {
		name := filepath.Base(src)
		checkCopy(t, filepath.Join("config", "crd", "bases", name), filepath.Join("dist", "chart", "files", "crds", name))
	}
	checkCopy(t, filepath.Join("config", "rbac", "role.yaml"), filepath.Join("dist", "chart", "files", "rbac", "role.yaml"))
}

func checkCopy(t *testing.T, source, copied string) {
	t.Helper()
	want := readFile(t, source)
	got, err := os.ReadFile(filepath.Join(root, copied))
	if err != nil {
		t.Errorf("%v: run `make build-installer`", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (%s): run `make build-installer`", copied, source, firstDifference(got, want))
	}
}

// firstDifference names the first line where got and want differ.
func firstDifference(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) && i < len(w); i++ {
		if !bytes.Equal(g[i], w[i]) {
			return fmt.Sprintf("line %d: have %q, want %q", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("have %d lines, want %d", len(g), len(w))
}
