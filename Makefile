# receivables — run `make help` for the list of targets.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
JARS := .jars
INPUT ?= data
OUTPUT ?= output
# The shipped sample's own business date (its invoices run to 2024-12-30): `make run` ages
# the sample as of that day. Another INPUT is aged as of today unless AS_OF is given.
SAMPLE_AS_OF := 2024-12-31
AS_OF ?= $(if $(filter data,$(INPUT)),$(SAMPLE_AS_OF),)
AS_OF_FLAG := $(if $(AS_OF),--as-of $(AS_OF),)

.DEFAULT_GOAL := help
.PHONY: help setup check-tools jars cds run test test-unit test-e2e test-cluster test-browser bench bench-nights check-readers demo generate lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: check-tools $(BIN)/receivables jars cds ## create .venv, install the package, fetch Delta's jars, train the JVM's class archive (once)
	@echo "setup complete: $(BIN)/receivables and $(JARS)/ are ready; later runs work offline"

check-tools:
	@command -v java >/dev/null || { echo "setup: Java 17+ is required (java not found on PATH); install a JDK 17, e.g. apt-get install openjdk-17-jdk-headless"; exit 1; }
	@v=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2}' | cut -d. -f1); [ "$$v" -ge 17 ] 2>/dev/null || { echo "setup: Java 17+ is required, found Java $$v"; exit 1; }
	@command -v $(PY) >/dev/null || { echo "setup: Python 3.11 is required ($(PY) not found on PATH)"; exit 1; }

$(BIN)/receivables: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

jars: $(JARS)/.verified ## Delta's jars into ~/.m2 (fetched from Maven Central unless there) and .jars/, checksums verified

$(JARS)/.verified: $(BIN)/receivables src/receivables/jars.py
	$(BIN)/receivables setup-jars --dest $(JARS)
	@touch $@

cds: jars ## class-data sharing archive of the Spark + Delta classes for this JDK (faster JVM start; ~/.cache/receivables)
	$(BIN)/python -m receivables.warmup --if-missing

run: ## process data/ into output/ (the sample as of its own date 2024-12-31; AS_OF=YYYY-MM-DD to choose)
	$(BIN)/receivables run --input-dir $(INPUT) --output-dir $(OUTPUT) $(AS_OF_FLAG)

TEST_WORKERS ?= 2
test: ## run the whole test suite (unit + end-to-end) in TEST_WORKERS processes (default 2)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

test-unit: ## unit tests only
	$(BIN)/pytest -q tests/unit

test-e2e: ## end-to-end tests only
	$(BIN)/pytest -q tests/e2e

INVOICES ?= 1000000
BENCH_FLAGS ?=
bench: ## benchmark nights vs full build vs plain Spark (INVOICES=1000000; BENCH_FLAGS=--big adds the 5x base)
	$(BIN)/python scripts/bench.py --invoices $(INVOICES) $(BENCH_FLAGS)

NIGHTS ?= 22
bench-nights: ## NIGHTS nights in a row on one output (100,000 invoices): does a night cost more as history grows?
	$(BIN)/python scripts/bench_nights.py --nights $(NIGHTS)

READERS := .venv-readers
check-readers: $(READERS)/.installed ## read every table of OUTPUT with delta-rs and DuckDB (own venv; needs PyPI once)
	$(READERS)/bin/python scripts/check_readers.py $(OUTPUT)

$(READERS)/.installed:
	rm -rf $(READERS) && $(PY) -m venv $(READERS)
	$(READERS)/bin/pip install -q 'deltalake[pyarrow]==1.6.6' duckdb==1.4.4 duckdb-ext-delta==1.4.4.20260205
	@touch $@

CHROMIUM ?= /usr/bin/chromium
test-browser: $(BIN)/receivables ## the aging report in headless Chromium (installs Debian's chromium and Playwright once)
	@scripts/install_chromium.sh $(CHROMIUM)
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install -q -e '.[dev,browser]'
	RECEIVABLES_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -q -m browser tests/browser

test-cluster: ## the nightly job through spark-submit on a standalone cluster on loopback
	$(BIN)/pytest -q -m cluster tests/e2e

DEMO ?=
demo: ## simulate four nights on generated data and print the run log (DEMO=dir keeps it there)
	$(BIN)/python -m receivables.demo $(if $(DEMO),--dest $(DEMO),)

generate: ## regenerate the shipped sample in data/ (deterministic; the worst-case shape, every bucket populated)
	$(BIN)/receivables generate --dest $(INPUT) --invoices 10000 --seed 7 --worst-case

lint: ## ruff on src and tests, mypy --strict on src (import cycles: tests/unit/test_layout.py)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean: ## remove output/ and Spark scratch
	rm -rf $(OUTPUT) spark-warehouse metastore_db derby.log
