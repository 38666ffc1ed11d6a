package install

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// helmBinary returns bin/helm, building the version the Makefile names
// from Go modules when it is missing (a few minutes cold, once).
func helmBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Helm, which may have to be built: skipped with -short")
	}
	path, err := localenv.Helm.Path(root)
	if err != nil {
		t.Fatal(err)
	}
	return path
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
