package install

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The Dockerfile's build command. With no Docker engine to build the image,
// the test runs it less -trimpath: that flag only rewrites file paths, and
// leaving it out shares the compiled packages with test/e2e's build (with it,
// every package is compiled again: minutes on a cold cache).
const dockerBuild = `CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w" -o manager ./cmd`

func TestDockerfileBuildsAStaticManager(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager: skipped with -short")
	}
	dockerfile := string(readFile(t, "Dockerfile"))
	if !strings.Contains(dockerfile, dockerBuild) {
		t.Fatalf("the Dockerfile no longer builds with\n%s\nupdate this test with it", dockerBuild)
	}
	for _, line := range []string{"FROM gcr.io/distroless/static:nonroot", "USER 65532:65532"} {
		if !strings.Contains(dockerfile, "\n"+line+"\n") {
			t.Errorf("the Dockerfile lacks %q", line)
		}
	}

	out := filepath.Join(t.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-ldflags", "-s -w", "-o", out, "./cmd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, output)
	}
	binary, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer binary.Close()
	// distroless/static has no dynamic loader and no libc.
	for _, prog := range binary.Progs {
		if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
			t.Errorf("the manager is dynamically linked (%s program header)", prog.Type)
		}
	}
	if libs, err := binary.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("the manager imports libraries %v (%v)", libs, err)
	}
}

// Every package of the manager must be in the build context the Dockerfile
// copies, and .dockerignore must let it through.
func TestDockerfileCopiesTheManagerSources(t *testing.T) {
	dockerfile := string(readFile(t, "Dockerfile"))
	dockerignore := string(readFile(t, ".dockerignore"))
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd")
	cmd.Dir = root
	output, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dir := range strings.Fields(string(output)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0] + "/"
		if !strings.Contains(dockerfile, "\nCOPY "+top+" "+top+"\n") {
			t.Errorf("the Dockerfile does not copy %s (package %s)", top, rel)
		}
		if !strings.Contains(dockerignore, "\n!"+top+"\n") {
			t.Errorf(".dockerignore does not let %s through", top)
		}
	}
}
