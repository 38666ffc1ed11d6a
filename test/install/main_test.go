package install

import (
	"fmt"
	"os"
	"testing"

	"github.com/bitrise-webhook-operator/operator/test/localenv"
)

// root is the repository root.
var root string

func TestMain(m *testing.M) {
	var err error
	if root, err = localenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
