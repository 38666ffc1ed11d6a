// Package install holds the tests of what users install: the kustomize
// layout in config/, dist/install.yaml, the Helm chart in dist/chart and the
// manager image's build. They run against a real kube-apiserver (envtest,
// from bin/k8s) and build kustomize's library and Helm from Go modules.
package install
