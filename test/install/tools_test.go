package install

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// helmBinary returns bin/helm, building the version the Makefile names
// from Go modules when it is missing (a few minutes cold, once).
func helmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Helm, which may have to be built: skipped with -short")
	}
	helmOnce.Do(func() { helmPath, helmErr = buildHelm() })
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

func buildHelm() (string, error) {
	bin := filepath.Join(root, "bin")
	path := filepath.Join(bin, "helm")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	version, err := makefileVariable("HELM_VERSION")
	if err != nil {
		return "", err
	}
	start := time.Now()
	cmd := exec.Command("go", "install", "helm.sh/helm/v4/cmd/helm@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building helm %s (`make helm`): %v\n%s", version, err, out)
	}
	fmt.Fprintf(os.Stderr, "built bin/helm %s in %s\n", version, time.Since(start).Round(time.Second))
	return path, nil
}

// makefileVariable reads a `NAME ?= value` line of the Makefile, so that the
// tests and make use the same tool versions.
func makefileVariable(name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*\?=\s*(\S+)\s*$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("no `%s ?= ...` line in the Makefile", name)
	}
	return string(m[1]), nil
}

// runHelm runs helm with its state in a temporary folder.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// helmTemplate renders dist/chart as release `release` in namespace
// `namespace`, with extra helm flags such as --set.
func helmTemplate(t *testing.T, release, namespace string, flags ...string) []byte {
	t.Helper()
	out, errOut, err := runHelm(t, append([]string{"template", release, filepath.Join(root, "dist", "chart"),
		"--namespace", namespace}, flags...)...)
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(flags, " "), err, errOut)
	}
	return []byte(out)
}
