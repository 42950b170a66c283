# Courier: the two commands that matter are `make demo` and `make test`.
# Needs only Python 3.11 and access to the package registries; uv is installed with pip when missing.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: demo smoke test test-unit test-integration test-e2e test-deploy test-compat lint format bench sync uv clean browsers docker-tools

uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv

## Everything, extras included: `local` (embedded PostgreSQL for `courier up`) and `browsers` (Playwright).
sync: uv
	$(UV) sync --frozen --all-extras

## Debian's Chromium (/usr/bin/chromium) for the shipped spec suite and the browser tests; Playwright drives it
## through executable_path (no browser download). The suite's second engine: Debian's WebKitGTK through its
## WebDriver (webkit2gtk-driver's WebKitWebDriver) on a private Xvfb (xvfb). Installed with apt-get when
## missing and allowed (root).
CHROMIUM ?= /usr/bin/chromium
WEBKIT_DRIVER ?= /usr/bin/WebKitWebDriver
BROWSER_PACKAGES := chromium webkit2gtk-driver xvfb
browsers:
	@if [ -x "$(CHROMIUM)" ] && [ -x "$(WEBKIT_DRIVER)" ] && command -v Xvfb >/dev/null 2>&1; then \
	  echo "browsers: $(CHROMIUM), $(WEBKIT_DRIVER) and Xvfb are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "browsers: installing Debian's $(BROWSER_PACKAGES) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) \
	  || echo "browsers: apt-get install $(BROWSER_PACKAGES) failed: their spec cells will be skipped (exit 77), browser tests fail"; \
	else echo "browsers: $(CHROMIUM), $(WEBKIT_DRIVER) or Xvfb is missing and cannot be installed here (needs root and apt-get):" \
	  "run 'apt-get install $(BROWSER_PACKAGES)' as root; until then those spec cells are skipped"; fi

## The deploy tests' tools: Debian's Docker engine, docker-compose (v1), debootstrap (stand-in base images) and
## iptables. Installed with apt-get when missing and allowed (root); the tests start dockerd themselves.
DOCKER_TOOLS := docker.io docker-compose debootstrap iptables
docker-tools:
	@missing=""; \
	for tool in dockerd docker-compose debootstrap iptables; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then echo "docker-tools: dockerd, docker-compose, debootstrap, iptables are installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "docker-tools: missing$$missing; installing $(DOCKER_TOOLS) with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DOCKER_TOOLS); \
	else echo "docker-tools: missing$$missing and cannot install here (needs root and apt-get):" \
	  "run 'apt-get install $(DOCKER_TOOLS)' as root; until then tests/deploy fail"; exit 1; fi

## Run Courier on its embedded default (PostgreSQL + Airflow + demo upstream). Ctrl-C stops everything.
demo: sync browsers
	$(UV) run --frozen courier up

## Start, run every unattended DAG once, print a table, stop.
smoke: sync
	$(UV) run --frozen courier up --smoke

## All five test layers: unit (no I/O), integration (real PostgreSQL, S3 protocol, HTTP), e2e (real Airflow),
## deploy (the image built and docker compose run on a Docker engine, see docs/DEPLOY.md) on uv.lock's newest
## Airflow, then compat: the wheel on the lowest Airflow and newest Python pyproject.toml allows.
test: sync browsers docker-tools
	$(UV) run --frozen pytest tests/unit tests/integration tests/e2e tests/deploy
	$(MAKE) --no-print-directory test-compat

test-unit: sync
	$(UV) run --frozen pytest tests/unit
test-integration: sync
	$(UV) run --frozen pytest tests/integration
test-e2e: sync
	$(UV) run --frozen pytest tests/e2e
test-deploy: sync docker-tools
	$(UV) run --frozen pytest tests/deploy
## The tested range's other end (tests/compat): the built wheel in a fresh virtualenv with the lowest Airflow and
## providers and the newest Python (CPython 3.13, pyenv's or COURIER_COMPAT_PYTHON), cached in .courier/compat
## by the wheel's hash; unit tests, DAG parsing, plugin/provider loading, a stack run, DEPLOY.md's guest install.
test-compat: sync
	$(UV) run --frozen pytest tests/compat

lint: sync
	$(UV) run --frozen ruff check plugins dags tests bench
	$(UV) run --frozen ruff format --check plugins dags tests bench
	$(UV) run --frozen mypy

format: sync
	$(UV) run --frozen ruff check --fix plugins dags tests bench
	$(UV) run --frozen ruff format plugins dags tests bench

## The benchmark of every figure (minutes each); each prints one JSON object with its figures and its same-run baseline.
## The long runs at 100x load are not part of it: `uv run python -m bench.scale` (an hour), see bench/README.md.
bench: sync
	@for script in $$(ls bench/*.py | grep -v "/__init__.py"); do name=$$(basename $$script .py); \
	  echo "== bench.$$name"; $(UV) run --frozen python -m bench.$$name || exit 1; done
	@echo "bench: done. The long runs: uv run python -m bench.scale (COURIER_SCALE=small for a quick one); see bench/README.md"

clean:
	rm -rf .courier .pytest_cache .mypy_cache .ruff_cache
