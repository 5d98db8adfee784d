# Set-up and entry points.  `make demo` and `make test` are all a fresh Debian machine
# (as root) needs: both install what they use before running.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

APT_RUNTIME := runc crun slirp4netns uidmap tini debian-archive-keyring ca-certificates golang-go python3-venv
APT_TEST    := docker.io docker-registry skopeo umoci apache2-utils gcc g++ libc6-dev \
               libssl-dev busybox-static xz-utils zstd dpkg-dev iproute2 \
               openjdk-17-jdk-headless qemu-user-static binfmt-support openssh-client
# the peers only bench/ compares with (buildah builds, podman runs); no test needs them
APT_BENCH   := buildah podman

.PHONY: all deps deps-test deps-bench venv demo image image-debug test lint typecheck unit bench clean

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

deps-bench: deps-test
	@missing=$$(for p in $(APT_BENCH); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
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

# distroless itself as a distroless image (image/distroless.yaml): the package and its
# dependencies as wheels for the base's Python 3.13, installed with pip into build/image/site,
# on distroless/python3 with runc, tini and slirp4netns from Debian.  The spec is built from
# a copy beside the staged files, on distroless/python3:$(IMAGE_FROM).
# `make image IMAGE=name:tag IMAGE_ROOT=/some/store IMAGE_STAGE=/some/dir` picks the name,
# the store and the staging directory.
IMAGE       ?= distroless:dev
IMAGE_ROOT  ?=
IMAGE_ARCH  := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
IMAGE_PYARCH = $(if $(filter arm64,$(IMAGE_ARCH)),aarch64,x86_64)
IMAGE_STAGE ?= build/image
IMAGE_FROM  ?= latest
IMAGE_GLIBC := 17 28 31 34 35 36 39 41
IMAGE_CLI    = $(BIN)/distroless $(if $(IMAGE_ROOT),--root $(IMAGE_ROOT))

image: deps $(if $(wildcard $(BIN)/distroless),,venv)
	rm -rf $(IMAGE_STAGE)
	$(BIN)/pip wheel -q --no-deps -w $(IMAGE_STAGE)/wheels .
	$(BIN)/pip install -q --target $(IMAGE_STAGE)/site --no-compile --only-binary=:all: \
	  --python-version 3.13 --implementation cp --abi cp313 \
	  $(foreach v,$(IMAGE_GLIBC),--platform manylinux_2_$(v)_$(IMAGE_PYARCH)) \
	  $(IMAGE_STAGE)/wheels/distroless-*.whl
	rm -rf $(IMAGE_STAGE)/site/bin $(IMAGE_STAGE)/site/distroless-*.dist-info/direct_url.json
	sed 's|^base: .*|base: distroless/python3:$(IMAGE_FROM)|' image/distroless.yaml > $(IMAGE_STAGE)/distroless.yaml
	@$(IMAGE_CLI) inspect distroless/python3:$(IMAGE_FROM) >/dev/null 2>&1 || \
	  $(IMAGE_CLI) bases build python3:$(IMAGE_FROM) --arch $(IMAGE_ARCH)
	$(IMAGE_CLI) build --spec $(IMAGE_STAGE)/distroless.yaml -t $(IMAGE)

# The same on distroless/python3:debug, with busybox under /busybox, for CI systems that
# run a job's script through `sh` inside the image.
image-debug:
	$(MAKE) image IMAGE_FROM=debug IMAGE=$(IMAGE)-debug

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/vulture

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest -q -m 'not integration'

# Two pytest workers: most tests wait on a sandbox, an engine or a download, so a second
# worker uses the machine's other core.  Whole files go to one worker (--dist loadfile), so
# a module's fixtures (built bases, a loaded engine) are made once.  TEST_JOBS=0 runs serially.
TEST_JOBS ?= 2

test: deps-test venv lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile)

# Every benchmark in one go; writes bench/results.md, bench/results.json and bench/chart.png.
bench: deps-bench venv
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python bench/run.py --out bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
