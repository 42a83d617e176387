# konnect-auth-controller: every target builds what it needs; nothing is installed globally.

SHELL := /usr/bin/env bash -o pipefail
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=$(VERSION)
BIN := $(CURDIR)/bin
GO_TEST_FLAGS ?= -count=1 -timeout=40m
# Where make image writes the OCI layout and the tarballs, and make chart the packaged chart.
IMAGE_OUT ?= $(BIN)/image
CHART_OUT ?= $(BIN)
CHART := charts/konnect-auth-controller
# Each fuzz target runs for a number of executions, not for a duration. With a duration, Go 1.26's
# fuzz coordinator can report its own deadline as the target's failure ("context deadline
# exceeded", no failing input written) when a busy machine slows its workers at the end of the
# window: go.dev/issue/75804, fixed in Go 1.27. A count sets no deadline, so a slow machine only
# takes longer.
FUZZ_EXECS ?= 20000

# The tools each target runs from bin/; hack/build-tools.sh builds those missing (from the Go
# module proxy, several minutes each the first time) and skips those already built. A target
# lists exactly what it runs, so make demo does not spend minutes on helm or kube-controller-manager.
# The demo and the bench start etcd and kube-apiserver and run kubectl (test/controlplane);
# make test also runs kube-controller-manager (test/e2e/{extensions,grants,production},
# test/controlplane), helm (test/e2e/chart) and promtool (test/alerts).
CONTROLPLANE_TOOLS := etcd kube-apiserver kubectl
DEMO_TOOLS := $(CONTROLPLANE_TOOLS)
BENCH_TOOLS := $(CONTROLPLANE_TOOLS)
# The soak deletes whole namespaces: it needs namespace deletion and garbage collection.
SOAK_TOOLS := $(CONTROLPLANE_TOOLS) kube-controller-manager
TEST_TOOLS := $(CONTROLPLANE_TOOLS) kube-controller-manager helm promtool
ALL_TOOLS := $(CONTROLPLANE_TOOLS) kube-controller-manager helm promtool

.PHONY: all
all: build

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kubectl, kube-controller-manager, helm and promtool into bin/ (skips those already built).
	hack/build-tools.sh $(ALL_TOOLS)

.PHONY: helm
helm: ## Build helm (pinned in hack/tools/helm/go.mod) into bin/ (skips it when built).
	hack/build-tools.sh helm

.PHONY: promtool
promtool: ## Build promtool (pinned in hack/tools/promtool/go.mod) into bin/ (skips it when built).
	hack/build-tools.sh promtool

.PHONY: test-alerts
test-alerts: promtool ## Check the chart's alerts and run their unit tests with promtool (make test runs them in go test ./test/alerts).
	$(BIN)/promtool check rules $(CHART)/files/alerts.yaml
	$(BIN)/promtool test rules test/alerts/alerts_test.yaml

# The tools of make test, make demo and make bench (the lists above), as prerequisites.
.PHONY: test-tools demo-tools bench-tools
test-tools:
	hack/build-tools.sh $(TEST_TOOLS)
demo-tools:
	hack/build-tools.sh $(DEMO_TOOLS)
bench-tools:
	hack/build-tools.sh $(BENCH_TOOLS)

.PHONY: generate
generate: ## Regenerate deepcopy, clientset, listers, informers and the CRDs.
	hack/update-codegen.sh

.PHONY: verify
verify: ## Fail if generated code or the CRD is out of date, or Go code is unformatted.
	hack/verify-codegen.sh
	@# Every Go file that is not generated (pkg/generated is the code generators' own output).
	@unformatted=$$(gofmt -l $$(find cmd pkg test hack -name '*.go' -not -path 'pkg/generated/*')) || exit 1; \
	  if [[ -n "$$unformatted" ]]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go vet -C hack/image ./...

.PHONY: build
build: ## Build the controller into bin/konnect-auth-controller.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/konnect-auth-controller ./cmd/controller

.PHONY: unit
unit: ## Unit tests only (no control plane).
	KUBE_CACHE_MUTATION_DETECTOR=true go test $(GO_TEST_FLAGS) -race ./pkg/...

.PHONY: fuzz
fuzz: ## Run each fuzz target briefly on top of its committed seed corpus.
	go test -run='^$$' -fuzz='^FuzzNormalize$$' -fuzztime=$(FUZZ_EXECS)x ./pkg/serverurl
	go test -run='^$$' -fuzz='^FuzzClassify$$' -fuzztime=$(FUZZ_EXECS)x ./pkg/konnect/sdkclient
	go test -run='^$$' -fuzz='^FuzzSecretToken$$' -fuzztime=$(FUZZ_EXECS)x ./pkg/controller/credentials

.PHONY: test
test: test-tools build verify ## Everything: generated-code check, unit, fuzz and end-to-end tests against a real apiserver, and a 2-minute soak.
	# client-go's cache mutation detector is on in the tests and in the controllers they start
	# (they inherit the environment): a reconcile that writes to an informer's object panics.
	KUBE_CACHE_MUTATION_DETECTOR=true go test $(GO_TEST_FLAGS) ./cmd/... ./pkg/...
	# One end-to-end package at a time: each runs its own apiserver, and on two cores timing-
	# sensitive fault tests are more reliable when they do not share the CPUs. test/e2e/chart
	# uses bin/helm (built by test-tools); test/e2e/image runs make image twice.
	KUBE_CACHE_MUTATION_DETECTOR=true go test $(GO_TEST_FLAGS) -p 1 ./test/...
	$(MAKE) fuzz
	# The chaos soak, two minutes with seed 1 (make soak runs the 15-minute form).
	$(MAKE) soak-short

.PHONY: demo
demo: demo-tools build ## Run the product on a local control plane: apiserver, controller, Konnect (fake unless KONNECT_TOKEN is set).
	@echo "demo: building test/cmd/demo (the first build takes a few minutes) ..."
	go build -o $(BIN)/demo ./test/cmd/demo
	KONNECT_AUTH_CONTROLLER_BIN=$(BIN)/konnect-auth-controller $(BIN)/demo

.PHONY: bench
bench: bench-tools build ## Measure convergence and cost at 1,000, 5,000 and 10,000 configurations (BENCH_FLAGS to change).
	KONNECT_AUTH_CONTROLLER_BIN=$(BIN)/konnect-auth-controller go run ./test/bench $(BENCH_FLAGS)

# The soak (issue 18): SOAK_DURATION (default 15m) and SOAK_SEED (default from the clock, printed
# at the start so that a failure replays) come from the environment, like the other SOAK_*
# settings test/cmd/soak documents. It ends with one SOAK line and exits non-zero on any violation.
.PHONY: soak-tools soak soak-short
soak-tools:
	hack/build-tools.sh $(SOAK_TOOLS)

soak: soak-tools build ## Chaos soak with an oracle: faults, out-of-band changes, kills; SOAK_DURATION, SOAK_SEED from the environment.
	KONNECT_AUTH_CONTROLLER_BIN=$(BIN)/konnect-auth-controller go run ./test/cmd/soak

soak-short: ## The 2-minute soak with a fixed seed.
	SOAK_DURATION=2m SOAK_SEED=1 $(MAKE) soak

.PHONY: image
image: ## Build the image for linux/amd64 and linux/arm64 without Docker: an OCI layout and docker-load tarballs in $(IMAGE_OUT).
	VERSION='$(VERSION)' LDFLAGS='$(LDFLAGS)' hack/build-image.sh $(IMAGE_OUT)

.PHONY: image-push
image-push: image ## Push the image (both platforms, one index) to IMAGE=registry/repo:tag, with ~/.docker/config.json's credentials.
	@if [[ -z "$(IMAGE)" ]]; then echo "image-push: set IMAGE=registry/repo:tag" >&2; exit 2; fi
	$(IMAGE_OUT)/image-builder push --layout $(IMAGE_OUT)/oci --image $(IMAGE)

.PHONY: chart
chart: helm ## Package the Helm chart (appVersion = VERSION, the image make image builds) into $(CHART_OUT).
	$(BIN)/helm lint --strict $(CHART)
	$(BIN)/helm package $(CHART) --app-version '$(VERSION)' --destination $(CHART_OUT)

.PHONY: image-check
image-check: build
	hack/check-static.sh $(BIN)/konnect-auth-controller

.PHONY: clean
clean:
	rm -rf $(BIN)
