# The hub of the repository: every package, connector and benchmark is discovered by wildcard,
# so adding `source-foo/pyproject.toml` or `bench/foo.py` needs no edit here.
#
#   make demo    - install what is needed and run the offline pipeline into demo/demo.db
#   make test    - tools + install + lint + every package's tests + repo-level tests
#   make help    - everything else

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
PYTHON ?= python3
TOOLS_VENV := $(ROOT)/.tools/venv
TOOLS_BIN := $(TOOLS_VENV)/bin
TOOLS_STAMP := $(TOOLS_VENV)/.requirements.stamp

export PATH := $(TOOLS_BIN):$(PATH)
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_NO_INTERACTION := 1
export SOPS_DISABLE_VERSION_CHECK := 1
# No desktop keyring on CI machines; Poetry must not wait for one.
export PYTHON_KEYRING_BACKEND ?= keyring.backends.null.Keyring

# Kit first, then the runtime, then every connector (they depend on both through path deps).
_pkgs = $(sort $(patsubst $(ROOT)/%/pyproject.toml,%,$(wildcard $(addprefix $(ROOT)/,$(addsuffix /pyproject.toml,$(1))))))
CONNECTORS := $(call _pkgs,source-* materialize-*)
PACKAGES := $(call _pkgs,estuary-cdk) $(call _pkgs,flowctl) $(CONNECTORS)
# Type-checked: every package whose pyproject.toml configures mypy (the kit, flowctl, connectors).
TYPED_PACKAGES = $(strip $(foreach p,$(PACKAGES),$(if $(shell grep -l '^\[tool\.mypy\]' $(ROOT)/$(p)/pyproject.toml),$(p))))
LINT_PATHS ?= .
DOCKERFILES = $(shell find $(ROOT) \( -name .venv -o -name .git -o -name .tools -o -name node_modules \) -prune -o \
	-type f \( -name Dockerfile -o -name '*.Dockerfile' \) -print | sort)

.PHONY: help tools install lint fmt test test-packages test-repo demo bench new-connector encrypt-config \
	decrypt-config docker-check clean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/' | expand -t 28

# --------------------------------------------------------------------------------------------
# Tools: one shared virtualenv with poetry, ruff, hadolint, sops, pytest (pinned).

tools: $(TOOLS_STAMP) ## Create .tools/venv from tools/requirements.txt

$(TOOLS_STAMP): $(ROOT)/tools/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is required ($(PYTHON) is $$($(PYTHON) --version 2>&1)); set PYTHON=python3.11" >&2; exit 1; }
	@test -x $(TOOLS_BIN)/python || $(PYTHON) -m venv $(TOOLS_VENV) || \
		{ rm -rf $(TOOLS_VENV); echo "cannot create a virtualenv: install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
	$(TOOLS_BIN)/python -m pip install --quiet --disable-pip-version-check -r $(ROOT)/tools/requirements.txt
	@touch $@

# --------------------------------------------------------------------------------------------
# Install: `poetry install` in every package (in-project .venv).

install: tools ## poetry install every package (estuary-cdk, flowctl, source-*, materialize-*)
	@for pkg in $(PACKAGES); do $(ROOT)/tools/poetry_install.sh "$(ROOT)/$$pkg"; done

# --------------------------------------------------------------------------------------------
# Lint: ruff over the repository, mypy on every package configuring it ([tool.mypy]), hadolint.

lint: tools ## ruff check + format check, mypy (kit, flowctl, connectors), hadolint
	@cd $(ROOT); status=0; \
	echo "==> ruff check"; ruff check $(LINT_PATHS) || status=1; \
	echo "==> ruff format --check"; ruff format --check $(LINT_PATHS) || status=1; \
	for pkg in $(TYPED_PACKAGES); do \
		echo "==> mypy: $$pkg"; \
		venv="$$($(TOOLS_BIN)/python tools/venvs.py $$pkg)" || { status=1; continue; }; \
		if [ ! -x "$$venv/bin/mypy" ]; then echo "$$pkg has no mypy in its virtualenv (add it to its dev dependencies; make install)" >&2; status=1; continue; fi; \
		(cd "$$pkg" && if grep -Eq '^(packages|files) *=' pyproject.toml; then poetry run mypy; \
			else poetry run mypy -p "$$(echo $$pkg | tr - _)"; fi) || status=1; \
	done; \
	files="$(DOCKERFILES)"; echo "==> hadolint: $$(echo $$files | wc -w) Dockerfiles"; \
	if [ -n "$$files" ]; then hadolint $$files || status=1; fi; \
	exit $$status

fmt: tools ## ruff format + ruff check --fix over the repository (what make lint checks)
	cd $(ROOT) && ruff format . && ruff check --fix .

# --------------------------------------------------------------------------------------------
# Tests: sequential, one suite per package, then the repository's own tests.
# `make test CONNECTOR=source-foo`: only that package (install, lint, its suite).

# Lint and every suite run even when an earlier step fails, so one run shows every problem;
# the exit status is non-zero if any of them failed.
ifneq ($(strip $(CONNECTOR)),)
test: tools
	@test -f "$(ROOT)/$(CONNECTOR)/pyproject.toml" || { echo "make test: no package '$(CONNECTOR)' (CONNECTOR=source-foo)" >&2; exit 2; }
	@$(ROOT)/tools/poetry_install.sh "$(ROOT)/$(CONNECTOR)"
	@status=0; \
	$(MAKE) --no-print-directory lint LINT_PATHS=$(CONNECTOR) TYPED_PACKAGES="$(filter $(CONNECTOR),$(TYPED_PACKAGES))" || status=1; \
	cd $(ROOT) && $(TOOLS_BIN)/python tools/run_suites.py $(CONNECTOR) || status=1; \
	exit $$status
else
test: tools install ## Everything CI runs (or CONNECTOR=source-foo: that one): install, lint, pytest
	@status=0; \
	$(MAKE) --no-print-directory lint || { status=1; echo "==> lint FAILED (tests run anyway)"; }; \
	$(MAKE) --no-print-directory test-images-build || status=1; \
	cd $(ROOT) && $(TOOLS_BIN)/python tools/run_suites.py $(PACKAGES) --repo-tests tests || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (lint or a test suite; see above)"; fi; \
	exit $$status
endif

# The image tests (tests/test_images.py, in the repository suite) run images with buildah; their
# images are built here first, as a step of its own, so its time shows and the suite stays short.
.PHONY: test-images-build
test-images-build: tools
	@if command -v buildah >/dev/null 2>&1; then CONTAINER_ENGINE=buildah $(MAKE) --no-print-directory images; \
	else echo "==> images: not built, and the image tests skip: buildah is not installed (apt-get install buildah)"; fi

test-packages: tools ## Only the packages' pytest suites (assumes make install)
	cd $(ROOT) && $(TOOLS_BIN)/python tools/run_suites.py $(PACKAGES)

test-repo: tools ## Only the repository-level tests in tests/
	cd $(ROOT) && $(TOOLS_BIN)/python tools/run_suites.py --repo-tests tests

# Images: the base image and every connector's image (found by wildcard), built with
# build-local.sh (docker, podman or buildah; CONTAINER_ENGINE picks one), then their sizes and
# start-to-spec times. OCI=<dir> also writes each image as <dir>/<connector>.oci.tar.
.PHONY: images
images: tools ## Build the base image and every connector image; print sizes, start-to-spec (OCI=dir)
	cd $(ROOT) && $(TOOLS_BIN)/python tools/build_images.py $(if $(OCI),--oci-dir $(abspath $(OCI))) $(CONNECTORS)

docker-check: tools ## hadolint, COPY sources, and a no-Docker rehearsal of every connector image
	cd $(ROOT) && hadolint $(DOCKERFILES)
	cd $(ROOT) && $(TOOLS_BIN)/python tools/check_docker_copies.py
	cd $(ROOT) && for c in $(CONNECTORS); do $(TOOLS_BIN)/python tools/image_rehearsal.py $$c; done

# --------------------------------------------------------------------------------------------
# Demo: the quickstart. Offline, ends on its own.

DEMO_PACKAGES := estuary-cdk flowctl source-hello-world materialize-sqlite

demo: tools ## Capture source-hello-world into demo/demo.db (SQLite) through flowctl run, offline
	@for pkg in $(DEMO_PACKAGES); do $(ROOT)/tools/poetry_install.sh "$(ROOT)/$$pkg"; done
	$(TOOLS_BIN)/python $(ROOT)/tools/demo.py

# --------------------------------------------------------------------------------------------
# Benchmarks: every bench/*.py in quick mode, figures printed.

bench: tools ## Run every bench/*.py in quick mode and print their figures
	cd $(ROOT) && $(TOOLS_BIN)/python bench/run_all.py --quick $(BENCH_ARGS)

# --------------------------------------------------------------------------------------------
# Scaffolding and secrets.

new-connector: tools ## Create a connector skeleton: make new-connector NAME=source-foo
	cd $(ROOT) && $(TOOLS_BIN)/python tools/new_connector.py "$(NAME)"

encrypt-config: tools ## sops-encrypt CONNECTOR's config.yaml in place (age, *_sops fields)
	cd $(ROOT) && $(TOOLS_BIN)/python tools/sops_config.py encrypt "$(CONNECTOR)"

decrypt-config: tools ## Print CONNECTOR's decrypted config.yaml (needs its age key)
	cd $(ROOT) && $(TOOLS_BIN)/python tools/sops_config.py decrypt "$(CONNECTOR)"

clean: ## Remove caches (keeps virtualenvs)
	find $(ROOT) \( -name .venv -o -name .tools -o -name .git \) -prune -o \
		\( -name __pycache__ -o -name .pytest_cache -o -name .mypy_cache -o -name .ruff_cache \) -type d -print \
		| xargs rm -rf
