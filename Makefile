# modelmill developer entry points. Only Python 3.11+ is needed.
# the first of python3, python3.13, python3.12, python3.11 that runs and is >= 3.11
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: run test test-slow check lint bench clean chromium podman image test-image

$(BIN)/activate:
	@test -n "$(PYTHON)" || { echo "modelmill needs Python >= 3.11 on PATH (or set PYTHON=/path/to/python3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[onnx]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet -e '.[dev,optuna,ray,onnx]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/modelmill run

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

# the UI browser tests drive Debian's Chromium (Playwright with executable_path, no browser download)
CHROMIUM ?= /usr/bin/chromium

chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y --no-install-recommends chromium; } || exit 1; \
	  else \
	    echo "$(CHROMIUM) is missing: the UI browser tests need it; install it as root with" \
	         "'apt-get install --no-install-recommends chromium' (or set CHROMIUM=/path)."; \
	    if [ -n "$$CI" ]; then exit 2; fi; \
	    echo "Outside CI the browser tests are skipped."; exit 0; \
	  fi; \
	  test -x "$(CHROMIUM)" || { echo "$(CHROMIUM) is still missing after installing Debian's chromium"; exit 2; }; \
	fi

# the container (Dockerfile): built with docker when `docker info` works, else with Debian's podman
# and runc from a local Debian base image and host-built wheels (scripts/build_image.sh)
podman:
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then exit 0; fi; \
	missing=""; for t in podman runc mmdebstrap; do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's$$missing to build and run the container"; \
	    apt-get install -y podman runc mmdebstrap >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y podman runc mmdebstrap; } || exit 1; \
	  else \
	    echo "missing:$$missing; install as root with 'apt-get install podman runc mmdebstrap'"; exit 2; \
	  fi; \
	fi

image: $(VENV)/.installed podman
	scripts/build_image.sh

# starts the built image, waits for /ready, predicts, checks the user (tests/deploy, marked slow)
test-image: image $(VENV)/.installed-dev
	$(BIN)/pytest -q -m slow tests/deploy

test: lint chromium
	MODELMILL_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -n 2 -q

test-slow: $(VENV)/.installed-dev
	$(BIN)/pytest -n 2 -q -m slow

check: lint
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) .modelmill .pytest_cache .mypy_cache .ruff_cache
