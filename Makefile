# browserfleet — `make dev` runs the product on this machine, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
APT_PACKAGES := chromium chromium-driver iproute2 openssl util-linux procps curl
export BF_TOOLS_BIN := $(shell bash -c 'source hack/tools-env.sh && echo $$BF_TOOLS_BIN')
# One real node per machine (its iptables chains and pod cgroups are machine-wide): whatever starts one waits for
# this lock. BF_CLUSTER_LOCK_HELD=1 says a caller holds it already (flock is not re-entrant across processes).
CLUSTER_LOCK := $(if $(BF_CLUSTER_LOCK_HELD),,flock /tmp/bf-cluster.lock) env BF_CLUSTER_LOCK_HELD=1

##@ Everyday

# images: browser pods run browserfleet/chrome and browserfleet/browserfleet (the sidecar) on make dev's real node.
# WATCH=0 turns the dev loop off (a saved change of src/ compiled and brought to what runs it).
.PHONY: dev
dev: tools build images ## Run the whole product locally: control plane, a real node, operator, gateway (needs root)
	node dist/dev/main.js $(if $(filter 0,$(WATCH)),,--watch)

.PHONY: test
# Every pod of the suite runs from the images (podman's cache makes an unchanged tree a few seconds; the app image
# rebuilds when src/ changed). On a fresh machine the Go tool build is CPU-bound and the image build mostly waits
# on the Debian and npm mirrors, so the three prerequisites are made side by side.
test: ## Lint, check generated files, and run every test: unit, chrome, store, cluster, dev, chaos (needs root)
	$(MAKE) --no-print-directory -j3 tools build images
	$(MAKE) --no-print-directory lint verify
	$(CLUSTER_LOCK) npx vitest run --project unit --project chrome --project store --project cluster
	@# make dev's own test starts make dev's real node: after the cluster project's node is down (one per machine).
	$(CLUSTER_LOCK) npx vitest run --project dev
	@# The short chaos run has its own control plane and real node too.
	$(CLUSTER_LOCK) npx vitest run --project chaos

# No tools: the unit project needs no Kubernetes binary, no root, no network namespace and no Chromium.
.PHONY: unit
unit: node_modules ## Run the unit tests only (*.test.ts under src/: seconds, any user, no cluster)
	npx vitest run --project unit

# Not part of test (a short run with a fixed seed is: e2e/chaos.test.ts, its own vitest project). Its own control
# plane and real node, and one real node runs per machine: hence the machine-wide lock.
.PHONY: chaos
chaos: tools build images ## Chaos run at full size (CHAOS_SEED, CHAOS_SESSIONS=300, CHAOS_KILLS=30, CHAOS_MINUTES=15; needs root)
	CHAOS_FULL=1 $(CLUSTER_LOCK) npx vitest run --project chaos

.PHONY: bench
# images: the lifecycle and start-latency runs put the operator's pods on a real kubelet with containerd, from
# the chart's images. The machine-wide lock: the real node (one per machine) and a control plane whose load
# would skew the figures of whatever else runs.
bench: tools build images ## Run the benchmarks in bench/ (not part of test; needs root) and print their tables
	npx tsc -p tsconfig.bench.json
	flock /tmp/bf-cluster.lock node dist-bench/bench/main.js

##@ Building

.PHONY: tools
tools: node_modules .apt.stamp ## Install npm and Debian packages, build the Kubernetes binaries (cached)
	@bash hack/build-k8s-tools.sh

# npm install, not npm ci: npm 11 here drops other platforms' optional packages (Biome's) from the lock file
# and then refuses it in `npm ci`. The lock file still pins every version that is installed.
node_modules: package.json package-lock.json
	npm install --no-audit --no-fund
	@touch node_modules

.apt.stamp:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "tools: installing Debian packages: $(APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi
.PHONY: .apt.stamp

.PHONY: build
build: node_modules ## Compile TypeScript to dist/
	npx tsc -p tsconfig.build.json

.PHONY: lint
lint: node_modules ## Type-check, lint (Biome) and check import boundaries (dependency-cruiser)
	npx tsc -p tsconfig.json --noEmit
	npx biome check .
	npx depcruise src e2e bench --config .dependency-cruiser.cjs

.PHONY: format
format: node_modules ## Format and apply safe lint fixes
	npx biome check --write .

.PHONY: manifests
manifests: build ## Regenerate src/api/generated.ts and the chart's CRDs from crds/
	node dist/api/generate.js
	rm -f charts/browserfleet/crds/*.yaml
	cp crds/*.yaml charts/browserfleet/crds/

# Debian packages for the images and the real node (apart from APT_PACKAGES): podman and mmdebstrap build the
# images without a registry; runc, the CNI plugins and iptables run pods under the kubelet and containerd that
# `make tools` builds; nfacct lets hack/real-node.sh remove kube-proxy's packet counters.
NODE_APT_PACKAGES := podman runc containernetworking-plugins mmdebstrap iptables nfacct

# After .apt.stamp: dpkg takes one apt-get at a time (make test builds tools and images side by side).
.node-apt.stamp: .apt.stamp
	@if ! dpkg -s $(NODE_APT_PACKAGES) >/dev/null 2>&1; then \
	  echo "images: installing Debian packages: $(NODE_APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(NODE_APT_PACKAGES) >/dev/null; \
	fi
.PHONY: .node-apt.stamp

# The chart's image names: <repository>:<appVersion>, and appVersion is package.json's version (IMAGE_TAG and
# IMAGE_REPO override them). Base images are made locally, so no registry is needed; on a machine with one,
# `docker build -f Dockerfile.chrome -t browserfleet/chrome:<version> .` works as well.
.PHONY: images
images: .node-apt.stamp ## Build browserfleet/browserfleet:<version> and browserfleet/chrome:<version> with podman (cached)
	@bash hack/build-images.sh browserfleet chrome

.PHONY: verify
verify: node_modules ## Fail if generated files drift from crds/ (a unit test: no cluster is started)
	@npx vitest run --project unit src/api/codegen.test.ts --silent >/dev/null || (echo "generated files are stale: run make manifests" && exit 1)

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_.-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)}' $(MAKEFILE_LIST)
