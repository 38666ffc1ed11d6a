# The OutgoingWebhook operator. `make help` lists the targets.

BIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(BIN)/k8s
CONTROLLER_GEN ?= $(BIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT ?= $(BIN)/golangci-lint
# Built from Go modules with the Go toolchain in use (v2.15 builds with Go 1.26).
GOLANGCI_LINT_VERSION ?= v2.15.0
GO_TEST_FLAGS ?= -timeout 20m

export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)

.PHONY: all
all: build

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods.
	# The DeepCopy generator does not follow type aliases (v1alpha1.HeaderValue).
	GODEBUG=gotypesalias=0 $(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt
	go fmt ./...

.PHONY: vet
vet: ## go vet
	go vet ./...

.PHONY: test
test: envtest-bins vet ## Run every test: unit, envtest specs and the e2e (builds what it needs).
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: envtest-bins ## The inner loop: unit tests of the client, the digests and the desired state, and the controller's envtest specs.
	go test $(GO_TEST_FLAGS) ./internal/...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (.golangci.yml), built from modules into bin/ on first use.
	$(GOLANGCI_LINT) run ./...

.PHONY: dev
dev: envtest-bins build ## Run the operator locally on a local control plane and a Bitrise fake.
	# A built binary rather than `go run`, which exits 1 on Ctrl-C whatever
	# the program does, so that a clean stop is not reported as an error.
	go build -o $(BIN)/dev ./hack/dev
	$(BIN)/dev

##@ Build

.PHONY: build
build: ## Build the manager into bin/manager and the kubectl plugin into bin/kubectl-bitrise.
	go build -o $(BIN)/manager ./cmd
	go build -o $(BIN)/kubectl-bitrise ./cmd/kubectl-bitrise

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver, etcd and kubectl from Go modules into bin/k8s (once).
	hack/build-envtest.sh

$(GOLANGCI_LINT):
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

##@ Install

KUSTOMIZE ?= $(BIN)/kustomize
# Keep in step with sigs.k8s.io/kustomize/api in go.mod (the staleness test
# in test/install builds with that library and compares).
KUSTOMIZE_VERSION ?= v5.8.2
HELM ?= $(BIN)/helm
# test/install reads this line to build the same Helm.
HELM_VERSION ?= v4.3.1
KUBECTL ?= kubectl
IMG ?= ghcr.io/bitrise-webhook-operator/operator:latest

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Write dist/install.yaml and the chart's copies of the CRD and manager role.
	mkdir -p dist dist/chart/files/crds dist/chart/files/rbac
	$(KUSTOMIZE) build config/default > dist/install.yaml
	cat config/default/clustercredentials_example.yaml >> dist/install.yaml
	rm -f dist/chart/files/crds/*.yaml
	cp config/crd/bases/*.yaml dist/chart/files/crds/
	cp config/rbac/role.yaml dist/chart/files/rbac/role.yaml

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart in dist/chart.
	$(HELM) lint --strict dist/chart

.PHONY: docker-build
docker-build: ## Build the manager image, tagged IMG (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: install
install: $(KUSTOMIZE) ## Install the CRD into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: $(KUSTOMIZE) ## Delete the CRD, and with it every OutgoingWebhook.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: $(KUSTOMIZE) ## Deploy the operator (config/default) to the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Delete what deploy created, the CRD included.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Build kustomize from Go modules into bin/ (once).

.PHONY: helm
helm: $(HELM) ## Build helm from Go modules into bin/ (once).

$(KUSTOMIZE):
	GOBIN=$(BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(HELM):
	GOBIN=$(BIN) go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

##@ Benchmark

BENCH_ARGS ?=

.PHONY: bench
bench: envtest-bins ## Measure the operator at scale: time to Ready, API calls, steady state, memory (BENCH_ARGS="-n 100 -apps 5"; -h lists flags).
	go run ./hack/bench $(BENCH_ARGS)
