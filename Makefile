# MinAn 民安. `make demo` sets up everything and starts the platform; `make test` runs every check.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml package.json 2>/dev/null | sha1sum | cut -c1-12)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint typecheck pytest migrations-check assets messages setup serve bench bench-import bench-duty bench-hazards bench-ingest bench-gb clean

demo: setup
	$(BIN)/minan migrate --noinput -v0
	$(BIN)/minan demo-data
	$(BIN)/minan serve --simulate

setup: $(STAMP) assets messages
	@mkdir -p var
	$(BIN)/minan collectstatic --noinput -v0

$(STAMP):
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

# ECharts comes from the npm registry (pinned in package.json) and is served by the project itself.
assets: minan/static/vendor/echarts.min.js
minan/static/vendor/echarts.min.js: package.json
	npm install --no-audit --no-fund --silent
	@mkdir -p minan/static/vendor
	cp node_modules/echarts/dist/echarts.min.js $@

# Compiled with Babel (a Python dependency), so no system gettext is needed to run MinAn.
messages: $(STAMP)
	$(BIN)/pybabel compile -D django -d minan/locale

test: setup lint typecheck migrations-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	MINAN_ENV=test $(BIN)/mypy minan

migrations-check: $(STAMP)
	MINAN_ENV=test $(BIN)/minan makemigrations --check --dry-run

pytest: $(STAMP)
	MINAN_ENV=test $(BIN)/pytest -q -n 2 $(PYTEST_ARGS)

serve: setup
	$(BIN)/minan serve

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/duty_bench.py
	$(BIN)/python bench/hazards_bench.py
	$(BIN)/python bench/mqtt_ingest_bench.py
	$(BIN)/python bench/gb_connections_bench.py

# The Excel import benchmark alone (5,000 rows; part of `make bench`).
bench-import: setup
	$(BIN)/python bench/import_bench.py

# The 包保 figures at national scale alone (40,000 institutions; part of `make bench`).
bench-duty: setup
	$(BIN)/python bench/duty_bench.py

# The hazard deadline sweep with 10,000 open hazards alone (part of `make bench`).
bench-hazards: setup
	$(BIN)/python bench/hazards_bench.py

# MQTT ingest into PostgreSQL against one raw subscriber, and fire-alarm latency (part of `make bench`;
# needs PostgreSQL, BENCH_DATABASE_URL, and the mosquitto binary).
bench-ingest: setup
	$(BIN)/python bench/mqtt_ingest_bench.py

# 5,000 concurrent GB/T 26875.3 connections held by one process (part of `make bench`).
bench-gb: setup
	$(BIN)/python bench/gb_connections_bench.py

clean:
	rm -rf $(VENV) node_modules minan/static/vendor var/static
