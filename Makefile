# bundle-extract developer entry points.  `make check` is what CI runs (through .ci/run).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := check

PYTHON ?= python3
# Where hack/install-tools.sh keeps helm (3), helm4, helmfile and, when needed, kubectl.
BUNDLE_EXTRACT_TOOLS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/bundle-extract/tools
TOOLS_BIN := $(BUNDLE_EXTRACT_TOOLS)/bin
export BUNDLE_EXTRACT_TOOLS
export PATH := $(TOOLS_BIN):$(PATH)
# The helm-diff plugin `make deploy` (helmfile apply) needs, built by hack/build-helm-diff.sh.
export HELM_PLUGINS ?= $(BUNDLE_EXTRACT_TOOLS)/helm-plugins
# helmfile would otherwise look for a newer release of itself on the network.
export HELMFILE_UPGRADE_NOTICE_DISABLED := 1

# --- tooling and tests ---

.PHONY: tools static test check

tools: ## install Debian packages, the project (editable) and helm/helm4/helmfile
	PYTHON=$(PYTHON) bash hack/install-tools.sh

static: ## ruff and mypy
	$(PYTHON) -m ruff check extractor postprocess tests
	$(PYTHON) -m mypy

test: tools ## all tests against the real tools, then lint
	$(PYTHON) -m pytest -q
	$(MAKE) --no-print-directory static

check: test

# --- the main job ---

CONFIG ?= bundles.yaml
OUTPUT ?= $(patsubst %/,%,$(dir $(abspath $(CONFIG))))
BUNDLE ?=
VERSION ?=
MIRROR ?=
# URL_MIRROR="https://raw.githubusercontent.com=http://127.0.0.1:8080": where extraManifests URLs are fetched
URL_MIRROR ?=
# extra helmfile flags for template/lint/deploy (e.g. HELMFILE_ARGS="--selector name=sail-operator")
HELMFILE_ARGS ?=
# extra flags of helmfile apply (e.g. APPLY_ARGS="--skip-diff-on-install")
APPLY_ARGS ?=
HELM ?= $(TOOLS_BIN)/helm
HELMFILE ?= $(TOOLS_BIN)/helmfile
HELMFILE_FILE = $(OUTPUT)/helmfile.yaml.gotmpl
BUNDLE_EXTRACT ?= $(PYTHON) -m extractor
# MIRROR="a=b c=d" -> --mirror a=b --mirror c=d
MIRROR_FLAGS := $(foreach m,$(MIRROR),--mirror $(m)) $(foreach m,$(URL_MIRROR),--url-mirror $(m))
BUNDLE_FLAGS := $(if $(BUNDLE),--bundle $(BUNDLE)) $(if $(VERSION),--version $(VERSION))

.PHONY: update-bundle list-versions helmfile template lint deploy demo demo-tools bench

update-bundle: ## pull bundles from bundles.yaml (BUNDLE=, VERSION=, MIRROR=) and regenerate charts + helmfile
	$(BUNDLE_EXTRACT) update-bundle --config $(CONFIG) --output $(OUTPUT) $(BUNDLE_FLAGS) $(MIRROR_FLAGS)

list-versions: ## print the tags of BUNDLE's image, oldest version first (MIRROR= applies)
	$(if $(BUNDLE),,$(error list-versions needs BUNDLE=<bundles.yaml entry>))
	@$(BUNDLE_EXTRACT) list-versions --config $(CONFIG) --bundle $(BUNDLE) $(MIRROR_FLAGS)

.PHONY: images
images: ## every image the generated charts run, one per line (BUNDLE=, IMAGES_DIR= also writes images.txt/json, skopeo-sync.yaml)
	@$(BUNDLE_EXTRACT) images --config $(CONFIG) --root $(OUTPUT) $(if $(BUNDLE),--bundle $(BUNDLE)) \
		$(if $(IMAGES_DIR),--output $(IMAGES_DIR))

# --- day two: what is new upstream, and what a regeneration changes ---

.PHONY: outdated review verify diff
# review: git refs (or project directories) to compare; empty HEAD = the working tree
BASE ?= HEAD
HEAD ?=
# extra flags, e.g. OUTDATED_ARGS=--json, REVIEW_ARGS=--json
OUTDATED_ARGS ?=
REVIEW_ARGS ?=

outdated: ## newer versions and rebuilt tags of the bundles (BUNDLE=, MIRROR=); exit 3: updates available
	@$(BUNDLE_EXTRACT) outdated --config $(CONFIG) --output $(OUTPUT) $(if $(BUNDLE),--bundle $(BUNDLE)) \
		$(MIRROR_FLAGS) $(OUTDATED_ARGS)

verify: ## regenerate from bundles.lock.yaml's digests into a temp dir and compare with charts/ (exit 1: drift)
	$(BUNDLE_EXTRACT) verify --config $(CONFIG) --output $(OUTPUT) $(MIRROR_FLAGS)

diff: ## helmfile diff (helm-diff): what `make deploy` would change in the cluster
	$(HELMFILE) --helm-binary $(HELM) --file $(HELMFILE_FILE) $(HELMFILE_ARGS) diff

review: ## semantic review report (Markdown) of the generated charts between BASE (HEAD) and HEAD (working tree)
	@$(BUNDLE_EXTRACT) diff --output $(OUTPUT) $(REVIEW_ARGS) $(BASE) $(HEAD)

helmfile: ## regenerate helmfile.yaml.gotmpl from charts/ (no pulling)
	$(BUNDLE_EXTRACT) helmfile --config $(CONFIG) --output $(OUTPUT)

template: ## helmfile template
	$(HELMFILE) --helm-binary $(HELM) --file $(HELMFILE_FILE) $(HELMFILE_ARGS) template

lint: ## helmfile lint
	$(HELMFILE) --helm-binary $(HELM) --file $(HELMFILE_FILE) $(HELMFILE_ARGS) lint

deploy: ## helmfile apply (needs a cluster and the helm-diff plugin)
	$(HELMFILE) --helm-binary $(HELM) --file $(HELMFILE_FILE) $(HELMFILE_ARGS) apply $(APPLY_ARGS)

# --- publishing and uninstall ---

.PHONY: package push destroy
# package/push: where the archives go; push: the OCI repository (REPO=oci://HOST/PATH)
DIST ?= $(OUTPUT)/dist
REPO ?=
# destroy: DELETE_NAMESPACES=1, DELETE_CRDS=1 (refused while custom resources remain unless FORCE=1), KUBE_CONTEXT=
DELETE_NAMESPACES ?=
DELETE_CRDS ?=
# FORCE counts only from the command line: FORCE=1 in the environment is the hack/build-*.sh
# "rebuild" switch and must not turn into destroy --force
FORCE ?=
KUBE_CONTEXT ?=

package: ## helm package every generated chart and its <name>-crds chart into DIST (byte-identical archives)
	$(BUNDLE_EXTRACT) package --config $(CONFIG) --output $(OUTPUT) --dest $(DIST) --helm $(HELM)

push: ## package, then helm push to REPO=oci://HOST/PATH (credentials as for pulls)
	$(BUNDLE_EXTRACT) push --config $(CONFIG) --output $(OUTPUT) --dest $(DIST) --helm $(HELM) \
		$(if $(REPO),--repo $(REPO))

destroy: ## helmfile destroy (BUNDLE=, KUBE_CONTEXT=); DELETE_NAMESPACES=1, DELETE_CRDS=1 [FORCE=1] remove more
	$(BUNDLE_EXTRACT) destroy --config $(CONFIG) --output $(OUTPUT) --helm $(HELM) --helmfile $(HELMFILE) \
		$(if $(BUNDLE),--bundle $(BUNDLE)) $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT)) \
		$(if $(filter 1 true yes,$(DELETE_NAMESPACES)),--delete-namespaces) \
		$(if $(filter 1 true yes,$(DELETE_CRDS)),--delete-crds) \
		$(if $(filter command line,$(origin FORCE)),$(if $(filter 1 true yes,$(FORCE)),--force))

demo-tools: ## install only what the demo needs (docker-registry, the package, helm, helmfile)
	PYTHON=$(PYTHON) bash hack/install-tools.sh --demo

demo: demo-tools ## the main job on an embedded default: local registry + sample bundles -> charts + helmfile -> helmfile template
	$(BUNDLE_EXTRACT) demo --output .demo

bench: tools ## print regeneration times (cold and warm cache) from a loopback registry
	$(PYTHON) hack/bench.py

# olm-extractor for the side-by-side benchmark: OX=<binary>, or OX_SRC=<a copy of its repository>
OX ?=
OX_SRC ?=

.PHONY: bench-vs-ox
bench-vs-ox: tools ## side by side with olm-extractor (OX=binary or OX_SRC=source): medians, ratios, peak RSS
	@ox="$(OX)"; if [ -z "$$ox" ]; then ox=$$(OX_SRC="$(OX_SRC)" bash hack/build-olm-extractor.sh); fi; \
	$(PYTHON) hack/bench_vs_ox.py --ox "$$ox"
