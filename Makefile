# framaspace-operator. The two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
STATE := e2e/.state
OPERATOR := target/debug/framaspace-operator

.PHONY: help build crds lint audit unit test e2e demo demo-stop cluster-up cluster-down tools bench bench-failover bench-upgrade bench-backup bench-cache-cluster bench-sleep bench-talk adoption-sample smoke

help:
	@echo "make demo          local control plane + services, the operator, examples/ until Ready"
	@echo "make test          lint, unit tests, CRD drift check, e2e tests (environment up and down)"
	@echo "make cluster-up    start the local environment (e2e/.state/env, e2e/.state/kubeconfig)"
	@echo "make cluster-down  stop it and remove its state"
	@echo "make crds          regenerate crds/ from the Rust types"
	@echo "make lint          cargo fmt --check, clippy -D warnings, cargo deny (licences, duplicates, sources)"
	@echo "make audit         cargo deny advisories (needs a local copy of the RustSec database)"
	@echo "make bench N=1000  scale benchmark against the local environment (make cluster-up first)"
	@echo "make bench-failover N=1000  leader SIGKILLed with N spaces: takeover, first write, all reconciled"
	@echo "make adoption-sample N=50  an inventory of N existing instances adopted step by step (make cluster-up first)"
	@echo "make bench-backup N=1000   backup and restore of 10 MB, 100 MB, 1 GB databases; N spaces backed up at once"
	@echo "make bench-cache-cluster N=1000  a cluster CachePool's check on six nodes with N users, and a node's heal"
	@echo "make bench-sleep N=1000  N spaces, 30 % used daily: asleep, memory requested before and after, held requests' wait"
	@echo "make bench-talk N=200  N spaces wired to a new calls backend at once: time, API writes per space, replicas, signaling configuration size"
	@echo "make bench-upgrade N=1000  N spaces move to a new Nextcloud, P per DatabasePool (P=50): time, writes, downtime, chart"
	@echo "make smoke         one real space on a real cluster (KUBECONFIG, pushed image): install, WebDAV, bucket, delete"

build:
	$(CARGO) build --locked

crds: build
	$(OPERATOR) crds --dir crds --chart charts/framaspace-operator

# cargo-deny is built once into the tools cache (e2e/versions.env pins it).
CARGO_DENY = $(shell . e2e/lib.sh && echo $$CARGO_DENY_BIN/bin/cargo-deny)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets --all-features -- -D warnings
	@[ -x "$(CARGO_DENY)" ] || e2e/build-tools.sh cargo-deny
	$(CARGO_DENY) --locked check bans licenses sources
	images/nextcloud/check.sh
	@if [ -d "$(ADVISORY_DB)/crates" ]; then $(MAKE) --no-print-directory audit; else echo "lint: no RustSec database copy, advisories not checked (make audit)"; fi

# RustSec advisories, from a local copy of the advisory database (a git checkout of
# rustsec/advisory-db: this machine cannot fetch it): `make audit ADVISORY_DB=/path/to/advisory-db`.
# `make lint` runs it too when a copy is in place.
ADVISORY_DB ?= $(HOME)/.cache/framaspace/advisory-db
ADVISORY_LINK := $(HOME)/.cargo/advisory-dbs/advisory-db-3157b0e258782691
audit:
	@[ -d "$(ADVISORY_DB)/crates" ] || { echo "make audit: no RustSec database at $(ADVISORY_DB)"; exit 1; }
	@mkdir -p $(dir $(ADVISORY_LINK)) && ln -sfn "$(ADVISORY_DB)" "$(ADVISORY_LINK)"
	$(CARGO_DENY) --offline check advisories

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

# One real space on a real cluster (never here: no container runtime), see e2e/smoke.sh.
smoke:
	e2e/smoke.sh

demo: build
	e2e/demo.sh

demo-stop:
	e2e/cluster-down.sh

# The scale benchmark (never part of `make test`): `make cluster-up`, then `make bench N=1000`.
N ?= 10000
bench:
	bench/run.sh $(N)

# Fleet upgrade of N spaces, P per DatabasePool: `make cluster-up`, then `make bench-upgrade N=1000`.
bench-upgrade:
	bench/upgrade.sh $(if $(filter command line,$(origin N)),$(N),1000)

# Backups and restores: one space per database size, then N spaces at once: `make cluster-up`, then `make bench-backup N=1000`.
bench-backup:
	bench/backup.sh $(if $(filter command line,$(origin N)),$(N),1000)

# A cluster CachePool's check with N users, and a node restarted without its aclfile: `make cluster-up`, then `make bench-cache-cluster N=1000`.
bench-cache-cluster:
	bench/cache-cluster.sh $(if $(filter command line,$(origin N)),$(N),1000)

# Adoption of N existing instances, step by step: `make cluster-up`, then `make adoption-sample N=50`.
adoption-sample:
	bench/adoption-sample.sh $(if $(filter command line,$(origin N)),$(N),50)

# Sleeping spaces: N spaces, 30 % used daily, asleep and woken: `make cluster-up`, then `make bench-sleep N=1000`.
bench-sleep:
	bench/sleep.sh $(if $(filter command line,$(origin N)),$(N),1000)

# Talk's wiring: N spaces wait for a calls backend, then one TalkBackend wires them all: `make cluster-up`, then `make bench-talk N=200`.
bench-talk:
	bench/talk.sh $(if $(filter command line,$(origin N)),$(N),200)

# Leader failover with N spaces (fresh environment): `make cluster-down cluster-up bench-failover N=1000`.
bench-failover:
	bench/failover.sh $(if $(filter command line,$(origin N)),$(N),1000)
