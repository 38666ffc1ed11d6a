# The OutgoingWebhook operator. `make help` lists the targets.

BIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(BIN)/k8s
CONTROLLER_GEN ?= $(BIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0
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
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt
	go fmt ./...

.PHONY: vet
vet: ## go vet
	go vet ./...

.PHONY: test
test: envtest-bins vet ## Run every test: unit, envtest specs and the e2e (builds what it needs).
	go test $(GO_TEST_FLAGS) ./...

.PHONY: dev
dev: envtest-bins build ## Run the operator locally on a local control plane and a Bitrise fake.
	go run ./hack/dev

##@ Build

.PHONY: build
build: ## Build the manager binary into bin/manager.
	go build -o $(BIN)/manager ./cmd

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver, etcd and kubectl from Go modules into bin/k8s (once).
	hack/build-envtest.sh

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
