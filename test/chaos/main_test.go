package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

var (
	// managerBin is the manager, built once for the whole package.
	managerBin string
	// managerHelp is its --help text, to use flags only once they exist.
	managerHelp string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := localenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "owh-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()

	managerBin = filepath.Join(dir, "manager")
	if err := localenv.BuildManager(root, managerBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// --help exits with status 0 or 2 depending on the flag package; only
	// the text matters.
	help, _ := exec.Command(managerBin, "--help").CombinedOutput()
	managerHelp = string(help)

	code := m.Run()
	printLeakSummary()
	return code
}

// managerHasFlag reports whether the built manager knows --name.
func managerHasFlag(name string) bool {
	return strings.Contains(managerHelp, "-"+name+" ") || strings.Contains(managerHelp, "-"+name+"\n")
}
