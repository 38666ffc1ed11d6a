package localenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// MakefileVariable reads a `NAME ?= value` line of the Makefile at root, so
// that the tests and make use the same tool versions. It fails naming the
// variable when the line is missing.
func MakefileVariable(root, name string) (string, error) {
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

// Tool is a command-line tool the tests run from bin/, built from Go
// modules at the version the Makefile names when it is missing there.
type Tool struct {
	// Name is the binary's name in bin/, such as "helm".
	Name string
	// Package is the Go package to install, without a version, such as
	// "helm.sh/helm/v4/cmd/helm".
	Package string
	// VersionVariable is the Makefile variable holding the version.
	VersionVariable string

	once sync.Once
	path string
	err  error
}

// Path returns root/bin/<Name>, building it with `go install` first when it
// is missing (a few minutes cold). It builds at most once per process; a
// failed build returns the same error on every call.
func (tool *Tool) Path(root string) (string, error) {
	tool.once.Do(func() {
		bin := filepath.Join(root, "bin")
		path := filepath.Join(bin, tool.Name)
		if _, err := os.Stat(path); err == nil {
			tool.path = path
			return
		}
		version, err := MakefileVariable(root, tool.VersionVariable)
		if err != nil {
			tool.err = err
			return
		}
		start := time.Now()
		cmd := exec.Command("go", "install", tool.Package+"@"+version)
		cmd.Env = append(os.Environ(), "GOBIN="+bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			tool.err = fmt.Errorf("building %s %s: %v\n%s", tool.Name, version, err, out)
			return
		}
		fmt.Fprintf(os.Stderr, "built bin/%s %s in %s\n", tool.Name, version, time.Since(start).Round(time.Second))
		tool.path = path
	})
	return tool.path, tool.err
}

// Helm is the Helm the Makefile pins (HELM_VERSION; `make helm`).
var Helm = &Tool{Name: "helm", Package: "helm.sh/helm/v4/cmd/helm", VersionVariable: "HELM_VERSION"}

// ControllerGen is the controller-gen the Makefile pins
// (CONTROLLER_TOOLS_VERSION).
var ControllerGen = &Tool{Name: "controller-gen", Package: "sigs.k8s.io/controller-tools/cmd/controller-gen", VersionVariable: "CONTROLLER_TOOLS_VERSION"}
