# Every target installs what it needs: a local .venv, and Debian packages for the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BENCH_STAMP := $(VENV)/.bench-stamp

.PHONY: demo test check lint typecheck docs bench fuzz soak manifests system-deps clean eval-refusal peers test-peers refusal-completions

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/chatcanary demo

system-deps:
	bash scripts/system-deps.sh

# Two workers (pytest-xdist): the suite mostly waits on sockets and subprocesses.
test: $(STAMP) system-deps
	$(BIN)/pytest -q -n 2

lint: $(STAMP)
	$(BIN)/ruff check exporter tests bench grafana scripts
	$(BIN)/ruff format --check exporter tests bench grafana scripts
	$(BIN)/hadolint Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy --strict exporter

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or anchor, or a page
# missing from the nav, fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

check: lint typecheck docs test

# Every benchmark of docs/BENCHMARKS.md (about 30 minutes), then the page; results in
# bench/results/. The proxy's LiteLLM rows need `make peers` first (skipped, and said so,
# without it). `make test` runs each benchmark's quick profile (CHATCANARY_BENCH_QUICK=1).
bench: $(BENCH_STAMP) system-deps
	$(BIN)/python -m bench.timing
	$(BIN)/python -m bench.cost
	$(BIN)/python -m bench.scheduling
	$(BIN)/python -m bench.memory
	$(BIN)/python -m bench.scrape
	$(BIN)/python -m bench.scaling
	$(BIN)/python -m bench.adversarial
	$(BIN)/python -m bench.store
	$(BIN)/python -m bench.proxy
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.refusal.speed
	$(BIN)/python -m bench.slowloris
	$(BIN)/python -m bench.report

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# The refusal classifier against people's labels (docs/REFUSAL.md): agreement, precision and
# recall per language, kind and style beside the prefix baseline, on the frozen test and
# held-out splits, the dev split and the rules' authors' own set; then its speed on one core.
eval-refusal: $(STAMP)
	$(BIN)/python -m bench.refusal.evaluate
	$(BIN)/python -m bench.refusal.speed

# Third-party chat servers in their own cached .venv-peers (llama.cpp + SmolLM2-135M, and
# the LiteLLM proxy).
peers:
	bash scripts/peers.sh

# The canary and judge paths against those real servers (docs/judges.md); not part of
# `make test`: the first `make peers` takes about 10 minutes.
test-peers: $(STAMP) peers
	CHATCANARY_PEERS=$(CURDIR)/.venv-peers $(BIN)/pytest -q tests/peers

# Regenerate the real model completions of the refusal corpus (about 10 minutes): starts
# llama.cpp's server from .venv-peers on a free port, sends bench/refusal/prompts.jsonl.
refusal-completions: $(STAMP) peers
	$(BIN)/python -m bench.refusal.generate --serve --samples 2

# Property-based tests with the long profile (10,000 examples per property), with
# Hypothesis's per-test figures (examples run, time spent).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q --hypothesis-show-statistics tests/fuzz

# Ten minutes of 200 canaries against a faulty simulator; SOAK_ARGS="--duration 60" to shorten.
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

# Regenerate the Kubernetes manifests' generated files (PrometheusRules, dashboards);
# the tests fail while they are stale.
manifests: $(STAMP)
	$(BIN)/python scripts/manifests.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
