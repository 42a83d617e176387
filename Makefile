# konnect-auth-controller: every target builds what it needs; nothing is installed globally.

SHELL := /usr/bin/env bash -o pipefail
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=$(VERSION)
BIN := $(CURDIR)/bin
GO_TEST_FLAGS ?= -count=1 -timeout=40m
FUZZTIME ?= 10s

.PHONY: all
all: build

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kubectl and kube-controller-manager into bin/ (skips those already built).
	hack/build-tools.sh

.PHONY: generate
generate: ## Regenerate deepcopy, clientset, listers, informers, apply configurations and the CRD.
	hack/update-codegen.sh

.PHONY: verify
verify: ## Fail if generated code or the CRD is out of date, or Go code is unformatted.
	hack/verify-codegen.sh
	@unformatted=$$(gofmt -l cmd pkg/apis pkg/controller pkg/konnect pkg/serverurl pkg/version test hack/bench 2>/dev/null); \
	  if [[ -n "$$unformatted" ]]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...

.PHONY: build
build: ## Build the controller into bin/konnect-auth-controller.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/konnect-auth-controller ./cmd/controller

.PHONY: unit
unit: ## Unit tests only (no control plane).
	go test $(GO_TEST_FLAGS) -race ./pkg/...

.PHONY: fuzz
fuzz: ## Run each fuzz target briefly on top of its committed seed corpus.
	go test -run='^$$' -fuzz='^FuzzNormalize$$' -fuzztime=$(FUZZTIME) ./pkg/serverurl
	go test -run='^$$' -fuzz='^FuzzClassify$$' -fuzztime=$(FUZZTIME) ./pkg/konnect/sdkclient
	go test -run='^$$' -fuzz='^FuzzSecretToken$$' -fuzztime=$(FUZZTIME) ./pkg/controller

.PHONY: test
test: tools build verify ## Everything: generated-code check, unit, fuzz and end-to-end tests against a real apiserver.
	go test $(GO_TEST_FLAGS) ./cmd/... ./pkg/...
	# One end-to-end package at a time: each runs its own apiserver, and on two cores timing-
	# sensitive fault tests are more reliable when they do not share the CPUs.
	go test $(GO_TEST_FLAGS) -p 1 ./test/...
	$(MAKE) fuzz

.PHONY: demo
demo: tools build ## Run the product on a local control plane: apiserver, controller, Konnect (fake unless KONNECT_TOKEN is set).
	@echo "demo: building test/cmd/demo (the first build takes a few minutes) ..."
	go build -o $(BIN)/demo ./test/cmd/demo
	KONNECT_AUTH_CONTROLLER_BIN=$(BIN)/konnect-auth-controller $(BIN)/demo

.PHONY: bench
bench: tools build ## Measure convergence and cost at 1,000, 5,000 and 10,000 configurations (BENCH_FLAGS to change).
	KONNECT_AUTH_CONTROLLER_BIN=$(BIN)/konnect-auth-controller go run ./test/bench $(BENCH_FLAGS)

.PHONY: image
image: ## Build the container image (needs a Docker engine); image-check proves the binary is static and runs.
	docker build -t konnect-auth-controller:$(VERSION) --build-arg VERSION=$(VERSION) .

.PHONY: image-check
image-check: build
	hack/check-static.sh $(BIN)/konnect-auth-controller

.PHONY: clean
clean:
	rm -rf $(BIN)
