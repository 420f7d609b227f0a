# Two commands do everything on a fresh machine with Python 3.11+, make and git:
#   make demo   set up, then run the example DAG: a forced failure, Airflow's retry, green
#   make test   set up, then run the tests you run after each change (a few minutes)
# Then `make airflow` runs Airflow with its UI on http://127.0.0.1:8080 (Ctrl-C stops it).
.DEFAULT_GOAL := help
.PHONY: help setup proof-setup manifest demo airflow test test-ui test-all bench lint lock clean reset

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROOF_STAMP := $(VENV)/.installed-proof

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: $(STAMP)  ## Create or update .venv from requirements.txt (idempotent)

# Re-installs only when the lock or the package definition changes.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is needed; run with PYTHON=python3.12 (or similar)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@uv="$$(command -v uv || true)"; \
	if [ -z "$$uv" ] && $(BIN)/python -m pip install -q uv >/dev/null 2>&1; then uv=$(BIN)/uv; fi; \
	if [ -n "$$uv" ]; then \
		$$uv pip install -q --python $(BIN)/python -r requirements.txt && \
		$$uv pip install -q --python $(BIN)/python --no-deps -e . ; \
	else \
		echo "uv is unavailable; installing with pip (slower)"; \
		$(BIN)/python -m pip install -q -r requirements.txt && \
		$(BIN)/python -m pip install -q --no-deps -e . ; \
	fi
	@touch $(STAMP)

proof-setup: $(PROOF_STAMP)  ## Also install what proof/ needs (requirements-proof.txt: selenium for the browser test)

$(PROOF_STAMP): requirements-proof.txt $(STAMP)
	@uv="$$(command -v uv || echo $(BIN)/uv)"; \
	if [ -x "$$uv" ]; then $$uv pip install -q --python $(BIN)/python -r requirements-proof.txt; \
	else $(BIN)/python -m pip install -q -r requirements-proof.txt; fi
	@touch $(PROOF_STAMP)

manifest: setup  ## Write transform/target/manifest.json (dbt parse) if a dbt file changed; the Cosmos DAG needs it
	$(BIN)/python -m orchestrate.manifest

demo: manifest  ## Run the example DAG: try 1 fails on purpose, the retry re-runs only what failed
	$(BIN)/python scripts/demo.py

airflow: manifest  ## Run Airflow with its UI on http://127.0.0.1:8080 (AIRFLOW__API__PORT), the demo's home; Ctrl-C stops it
	$(BIN)/python -m orchestrate.local_airflow

test: manifest  ## Run the tests of dags/, orchestrate/ and transform/: unit tests, DAG checks, DAG runs
	$(BIN)/python -m pytest tests -m "not slow" $(PYTEST_ARGS)

test-ui: manifest proof-setup  ## Run the browser test of make airflow's UI (needs Debian's chromium and chromium-driver)
	$(BIN)/python -m pytest proof/ui $(PYTEST_ARGS)

test-all: manifest proof-setup  ## Run every test: tests/, its slow group, and proof/ (a real scheduler, fault trials, the UI)
	$(BIN)/python -m pytest tests proof $(PYTEST_ARGS)

bench: manifest  ## Measure retries, overhead, parse time and Cosmos side by side (slow; not part of test)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: setup  ## Run every pre-commit hook on every file
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

lock: setup  ## Re-compile requirements.txt and requirements-proof.txt from their .in files
	$$(command -v uv || echo $(BIN)/uv) pip compile -q requirements.in -o requirements.txt --python-version 3.11
	$$(command -v uv || echo $(BIN)/uv) pip compile -q requirements-proof.in -c requirements.txt -o requirements-proof.txt --python-version 3.11

reset:  ## Delete local state: Airflow's DB, the warehouse, the dbt API store (.local/), dbt's target/
	rm -rf .local transform/target transform/logs

clean: reset  ## Also delete the virtualenv
	rm -rf $(VENV)
