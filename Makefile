# csi-jfs: the two commands for a fresh machine are `make demo` and `make test`.
# Tools are installed once into $(CACHE) (outside the checkout), keyed by version.
SHELL := /bin/bash
CACHE ?= /var/cache/csi-jfs
export CSI_JFS_CACHE := $(CACHE)
export PATH := $(CACHE)/bin:$(PATH)
DENO := $(CACHE)/bin/deno

.PHONY: all tools deno gen fmt lint check static helm helm-template unit integration hostile sanity soak demo demo-test e2e cluster-up cluster-down compile test bench bench-cluster

all: test

tools:
	@hack/install-tools.sh all >/dev/null

deno:
	@hack/install-tools.sh deno >/dev/null

# Regenerates the TypeScript types from proto/csi.proto (committed; `make check` fails if stale).
gen: deno
	@hack/gen-types.sh

fmt: deno
	$(DENO) fmt

static: deno
	@$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check --quiet main.ts lib/ modes/ tests/ hack/ bench/
	@hack/gen-types.sh --verify

# The Helm chart: helm lint, renders with values switched, and renders against kustomize builds
# (kubectl from the cluster build): the defaults against deploy/, the sidecar injector against
# deploy/ + deploy/sidecar-injector, e2e-values.yaml against tests/e2e/overlay-sidecar and overlay.
# kubectl (kustomize) comes from the cluster's Kubernetes build, cached by version like helm.
helm: deno
	@hack/install-tools.sh helm >/dev/null
	@hack/cluster/build-k8s.sh >/dev/null
	$(DENO) test --quiet -A tests/helm/

# The chart rendered for applying (namespace csi-jfs; HELM_ARGS adds e.g. --set mountMode=process):
# `make -s helm-template | kubectl apply -f -` after `kubectl create namespace csi-jfs`.
helm-template:
	@hack/install-tools.sh helm >/dev/null
	@$(CACHE)/bin/helm template csi-jfs deploy/helm/csi-jfs --namespace csi-jfs $(HELM_ARGS)

unit: deno
	$(DENO) test --quiet -A lib/ modes/ bench/

# Not --quiet: it would swallow what the tests print (race attempts and outcomes, outages, RSS).
integration: tools
	$(DENO) test -A tests/integration/

hostile: tools
	$(DENO) test -A tests/hostile/

sanity: tools
	@tests/sanity/run.sh

# Not in `make test`: the hostile request load against a controller and a node plugin for
# SOAK_SECONDS (default 600); prints the codes and every driver process's RSS at start and end.
soak: tools
	$(DENO) run -A tests/soak/soak.ts

demo: tools
	@hack/demo.sh

demo-test: tools
	$(DENO) test --quiet -A tests/demo/

cluster-up:
	@hack/cluster/up.sh

cluster-down:
	@hack/cluster/down.sh

e2e:
	@tests/e2e/run.sh

# Speed and memory against the floor (bare bind, bare juicefs mount); not part of `make test`.
# Counts (defaults): BENCH_RUNS (100), BENCH_STAGE_RUNS (10), BENCH_CREATE_RUNS (50),
# BENCH_COLD_CREATE_RUNS (= create runs), BENCH_CYCLES (1000), BENCH_LONG_CYCLES (5000),
# BENCH_CONCURRENT (100), BENCH_DD_MIB (1024), BENCH_DD_ROUNDS (5), BENCH_STARTUP_RUNS (10).
# BENCH_NODE_DENO_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the node plugin.
bench: tools
	$(DENO) run -A bench/run.ts

# Row 9: pod start on the test cluster with a warm client vs an emptyDir pod. Runs only when the
# cluster is up and the driver deployed (it never starts or stops them); BENCH_POD_RUNS (10).
bench-cluster: deno
	$(DENO) run -A bench/cluster.ts

# deno compile fetches its runtime (denort) from a server; where that is reachable this builds dist/csi-jfs.
# The worker (lib/fs/fs_worker.ts) is named by URL, so it is included by hand; V8 flags as bin/csi-jfs sets them.
compile: deno
	$(DENO) compile --output dist/csi-jfs --include proto/ --include lib/fs/fs_worker.ts --allow-all \
	  --v8-flags=--max-semi-space-size=1,--optimize-for-size main.ts

# Every tier; the last line adds up the counts ("test: N passed, N failed").
test:
	@hack/test-all.sh
