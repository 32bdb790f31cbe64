# framaspace-operator. The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STATE := e2e/.state
OPERATOR := target/debug/framaspace-operator

.PHONY: help build crds lint unit test e2e demo demo-stop cluster-up cluster-down tools bench bench-failover

help:
	@echo "make demo          local control plane + services, the operator, examples/ until Ready"
	@echo "make test          lint, unit tests, CRD drift check, e2e tests (environment up and down)"
	@echo "make cluster-up    start the local environment (e2e/.state/env, e2e/.state/kubeconfig)"
	@echo "make cluster-down  stop it and remove its state"
	@echo "make crds          regenerate crds/ from the Rust types"
	@echo "make lint          cargo fmt --check and clippy -D warnings"
	@echo "make bench N=1000  scale benchmark against the local environment (make cluster-up first)"
	@echo "make bench-failover N=1000  leader SIGKILLed with N spaces: takeover, first write, all reconciled"

build:
	$(CARGO) build --locked

crds: build
	$(OPERATOR) crds --dir crds --chart charts/framaspace-operator

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings

unit:
	$(CARGO) test --locked

tools:
	e2e/build-tools.sh all

cluster-up:
	e2e/cluster-up.sh

cluster-down:
	e2e/cluster-down.sh

# Unit tests first (fast, no cluster), then the e2e suites on a fresh environment that is always
# stopped afterwards.
test: lint unit build
	e2e/run-tests.sh

e2e: build
	e2e/run-tests.sh $(SUITES)

demo: build
	e2e/demo.sh

demo-stop:
	e2e/cluster-down.sh

# The scale benchmark (never part of `make test`): `make cluster-up`, then `make bench N=1000`.
N ?= 10000
bench:
	bench/run.sh $(N)

# Leader failover with N spaces (fresh environment): `make cluster-down cluster-up bench-failover N=1000`.
bench-failover:
	bench/failover.sh $(if $(filter command line,$(origin N)),$(N),1000)
