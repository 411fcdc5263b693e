# Throughline: `make demo` runs the main job end to end, `make test` runs the suite.
# Both create the virtual environment on first use; nothing else needs installing.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project -path dbt_project/target -prune -o \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

export THROUGHLINE_WAREHOUSE ?= $(CURDIR)/warehouse.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export PATH := $(CURDIR)/$(BIN):$(PATH)
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: demo test dev bench manifest clean lock chromium nodejs setup-postgres

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

# The dbt manifest is built before Dagster loads the definitions, never at import time.
$(MANIFEST): $(INSTALLED) $(DBT_SOURCES)
	$(BIN)/throughline prepare

manifest: $(MANIFEST)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/throughline demo

# The report's browser test drives headless Chromium, from Debian's package.
chromium:
	command -v chromium >/dev/null || ( $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update && apt-get install -y --no-install-recommends chromium' )

# Segment's Node SDK sends to the collector in tests/collect, run by Debian's Node.js.
nodejs:
	command -v node >/dev/null && command -v npm >/dev/null || ( $$( [ "$$(id -u)" = 0 ] || echo sudo ) sh -c 'apt-get update && apt-get install -y --no-install-recommends nodejs npm' )

# The suite runs every end-to-end scenario on DuckDB and on a throwaway PostgreSQL server
# that it starts itself; this installs Debian's PostgreSQL when its binaries are missing.
setup-postgres:
	sh scripts/postgres-setup.sh

test: $(MANIFEST) chromium nodejs setup-postgres
	$(BIN)/python -m pytest

# The collector (Segment's HTTP Tracking API on 127.0.0.1:8088) runs beside the Dagster UI;
# locally its write key is `local-dev-key` unless THROUGHLINE_COLLECT_WRITE_KEYS says otherwise.
dev: $(MANIFEST) $(DAGSTER_HOME)/dagster.yaml
	THROUGHLINE_COLLECT_WRITE_KEYS="$${THROUGHLINE_COLLECT_WRITE_KEYS:-local-dev-key}" $(BIN)/throughline collect & \
	collector=$$!; trap 'kill $$collector' EXIT INT TERM; $(BIN)/dagster dev -w workspace.yaml

bench: $(MANIFEST)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs warehouse.duckdb demo_data .dagster

# Re-pin every dependency after a change to pyproject.toml.
lock:
	rm -rf /tmp/throughline-lock && $(PYTHON) -m venv /tmp/throughline-lock
	/tmp/throughline-lock/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	( sed -n 1,2p constraints.txt; /tmp/throughline-lock/bin/pip freeze --exclude-editable | grep -v '^-e' ) > constraints.txt.new
	mv constraints.txt.new constraints.txt
