# Set-up and entry points.  `make demo` and `make test` are all a fresh Debian machine
# (as root) needs: both install what they use before running.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

APT_RUNTIME := runc crun slirp4netns tini debian-archive-keyring ca-certificates golang-go python3-venv
APT_TEST    := docker.io docker-registry skopeo umoci apache2-utils gcc g++ libc6-dev \
               libssl-dev busybox-static xz-utils zstd dpkg-dev iproute2 \
               openjdk-17-jdk-headless

.PHONY: all deps deps-test venv demo test lint typecheck unit bench clean

all: test

# apt packages are installed only when one is missing, so repeated runs cost nothing.
deps:
	@missing=$$(for p in $(APT_RUNTIME); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

deps-test: deps
	@missing=$$(for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The classic example, as users know it from docker: examples/hello-go/Dockerfile builds the Go
# program in a builder stage and copies it onto gcr.io/distroless/base.  Here the builder
# (distroless/builder-go:1.24-debian13) and the base are made from Debian packages by their
# built-in recipes; both are built once and then found in the store.
DEMO_ARCH = $$(dpkg --print-architecture)

demo: deps venv
	@$(BIN)/distroless inspect distroless/builder-go:1.24-debian13 >/dev/null 2>&1 || \
	  $(BIN)/distroless bases build builder-go --arch $(DEMO_ARCH)
	@$(BIN)/distroless inspect gcr.io/distroless/base >/dev/null 2>&1 || \
	  $(BIN)/distroless bases build base:latest --arch $(DEMO_ARCH)
	$(BIN)/distroless build -t my-distroless-app examples/hello-go
	$(BIN)/distroless run --rm my-distroless-app

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q -m 'not integration'

test: deps-test venv lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

# Every benchmark in one go; writes bench/results.md, bench/results.json and bench/chart.png.
bench: deps-test venv
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py --out bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
