# Two commands a newcomer needs: `make run` and `make test`. Both create the
# virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROTOS := $(wildcard proto/openspanner/v1/*.proto)
# The product's official Python client, in a virtual environment of its own:
# it pins protobuf<7 and our stubs need 7.35+, so the two cannot share one.
PRODUCT_CLIENT_VENV ?= .venv-product-client
PRODUCT_CLIENT := open-spanner==0.1.13
PRODUCT_CLIENT_STAMP := $(PRODUCT_CLIENT_VENV)/.installed-stamp

.PHONY: run test test-unit test-integration test-system proto proto-check lint bench clean product-client node-tools dashboard-vendor screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# make runs the server directly (no shell in between), as its only child. One
# SIGTERM to the process group (a supervisor, `kill -TERM -- -PGID`) reaches the
# server twice, because GNU make forwards SIGTERM to its child: the server takes
# a signal within 1 s of the first as the same request, drains once, exits 0
# (make itself then exits by the signal). Ctrl-C's SIGINT is not forwarded.
run: $(STAMP)
	$(BIN)/openspanner serve

# Everything: tests/unit, tests/integration and tests/system (pyproject's testpaths).
test: $(STAMP)
	$(BIN)/python -m pytest

# The three rings on their own. Unit tests start no server process (the embedded
# engine runs in the test's own process) and take under a minute; integration
# tests drive real servers over gRPC and HTTP; system tests add the browser, the
# Node and buf toolchains, the product's client and package builds.
test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

test-system: $(STAMP)
	$(BIN)/python -m pytest tests/system

# Regenerates openspanner/v1 (never edit it by hand); tests/unit/v1/test_proto_stubs.py
# fails when the committed files differ from this output.
proto: $(STAMP)
	$(BIN)/python proto/generate.py .

# Prints ingest throughput, ack latency and memory, import rows/s, unary and
# bulk calls as ratios to limits measured in the same run, query latency over
# 10 million events, then the duplicate look-up per batch at 1 million and 100
# million stored events (10-15 minutes, ~6 GB of disk in a temporary dir); see
# docs/performance.md (streams, import, unary calls, limits, queries and the duplicate
# look-up).
bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/unary.py
	$(BIN)/python bench/limits.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/dedup.py

# buf (lint, breaking) and a Node gRPC client, pinned in tests/node/package-lock.json,
# for tests/system/test_proto_toolchains.py, which runs this target when they are missing.
node-tools:
	npm ci --prefix tests/node --silent --no-audit --no-fund

# proto/ as buf sees it: lint, and no breaking change against the main branch.
proto-check: node-tools
	cd proto && ../tests/node/node_modules/.bin/buf lint
	cd proto && ../tests/node/node_modules/.bin/buf breaking --against '../.git#branch=main,subdir=proto'

# The compatibility tests (tests/product_client.py) run their scripts in it,
# and make it through this target when it is missing.
product-client: $(PRODUCT_CLIENT_STAMP)

$(PRODUCT_CLIENT_STAMP): Makefile
	$(PYTHON) -m venv $(PRODUCT_CLIENT_VENV)
	$(PRODUCT_CLIENT_VENV)/bin/python -m pip install --quiet '$(PRODUCT_CLIENT)'
	touch $(PRODUCT_CLIENT_STAMP)

# The dashboard's chart library (uPlot), fetched with npm at the version pinned in
# openspanner/dashboard/vendor.json and checked against it; `VERSION=x.y.z` moves
# the pin. Only this target needs npm; tests/unit/dashboard/test_files.py fails when
# the committed files differ from the pin.
dashboard-vendor: $(STAMP)
	$(BIN)/python -m openspanner.dashboard.vendor $(if $(VERSION),--version $(VERSION))

# Rewrites docs/screenshots/ (docs/dashboard.md) from the browser tests, which
# otherwise save their screenshots to a temporary dir.
screenshots: $(STAMP)
	OPENSPANNER_SCREENSHOTS=1 $(BIN)/python -m pytest tests/system/test_dashboard.py tests/system/test_dashboard_limits.py \
		tests/system/test_dashboard_alerts.py

# ruff and mypy --strict (pyproject.toml); CI runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check openspanner tests bench
	$(BIN)/mypy openspanner

clean:
	rm -rf $(VENV) $(PRODUCT_CLIENT_VENV) data .pytest_cache
