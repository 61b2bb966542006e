# The verbs: `make run` (demo on embedded defaults, desk and merchant on two ports), `make test` (whole suite, embedded and on
# PostgreSQL + Redis, with the short fault-injection run), `make chaos` (the long one),
# `make lint`, `make bench`. Each bootstraps what it needs; all are safe to run twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
MERCHANT_PORT ?= 8001
SERVICES_ENV := .services.env

.PHONY: run serve webhooks test test-js test-embedded test-services chaos lint bench bootstrap services clean

bootstrap: $(VENV)/.installed node_modules/.installed tests/oidc/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json $(wildcard patches/*.patch)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The OpenID provider of the single sign-on tests (tests/test_sso.py).
tests/oidc/node_modules/.installed: tests/oidc/package.json tests/oidc/package-lock.json
	npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error
	touch $@

# The desk on 127.0.0.1:$(PORT), the demo shop and bank on a second origin,
# 127.0.0.1:$(MERCHANT_PORT), whose pages install the widget with its script tag. Ctrl-C stops both.
run: bootstrap
	$(BIN)/python manage.py migrate --noinput
	DEMO_MERCHANT_ORIGINS=http://127.0.0.1:$(MERCHANT_PORT),http://localhost:$(MERCHANT_PORT) \
		$(BIN)/python manage.py demo_setup
	PORT=$(PORT) MERCHANT_PORT=$(MERCHANT_PORT) PYTHON=$(BIN)/python bash scripts/run-demo.sh

# The production ASGI server (README "Production server"); configure it with the environment.
serve: bootstrap
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python -m uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) \
		--loop uvloop --http httptools --ws config.websocket:WebSocketProtocol --ws-max-size 5242880 --lifespan off --no-access-log

# The webhooks worker (README "Production server"): optional, `make run` works without it.
webhooks: bootstrap
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py webhooks_worker

services:
	bash scripts/services.sh > $(SERVICES_ENV)

test: bootstrap test-js test-embedded test-services

test-js: node_modules/.installed
	node --test tests/js/

test-embedded: $(VENV)/.installed tests/oidc/node_modules/.installed
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -q -m "not services and not browser"

# Everything again on PostgreSQL + Redis. Local hand-over is off so that every delivery goes
# through the Redis channel layer; the multi-process, fault-injection (tests/test_chaos.py, a
# short run of `make chaos`), slow-reader and browser tests run with the defaults.
# Browser tests run in a pytest of their own: Playwright's sync API holds an event loop for the
# whole session, which async tests cannot share.
test-services: bootstrap services
	set -a && . ./$(SERVICES_ENV) && set +a && \
	COBROWSE_LOCAL_HANDOVER=0 $(BIN)/python -m pytest -q -m "not services and not browser" && \
	$(BIN)/python -m pytest -q -m "services and not browser" && \
	bash scripts/browser.sh && \
	$(BIN)/python -m pytest -q -m browser

# The fault-injection suite (docs/reliability.md): three uvicorn servers on PostgreSQL and a
# Redis of its own, faults for CHAOS_SECONDS, then every journal and delivery is checked.
# CHAOS_DATABASE_URL picks another PostgreSQL database than the services' one.
CHAOS_SECONDS ?= 90
chaos: bootstrap services
	set -a && . ./$(SERVICES_ENV) && set +a && \
	$(if $(CHAOS_DATABASE_URL),DATABASE_URL=$(CHAOS_DATABASE_URL)) \
	$(BIN)/python -m chaos --duration $(CHAOS_SECONDS) $(CHAOS_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/python manage.py protocol_files --check

# The benchmark (docs/performance.md): starts its own Redis (port 6390) and server processes,
# uses the databases cobrowse_bench and cobrowse_bench_sharedb on the PostgreSQL of `make
# services`, and ShareDB from npm (bench/sharedb/package-lock.json). BENCH_QUICK=1: short.
bench/sharedb/node_modules/.installed: bench/sharedb/package.json bench/sharedb/package-lock.json
	npm ci --prefix bench/sharedb --no-audit --no-fund --loglevel=error
	touch $@

bench: bootstrap services bench/sharedb/node_modules/.installed
	set -a && . ./$(SERVICES_ENV) && set +a && $(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules bench/sharedb/node_modules $(SERVICES_ENV) .test-db.sqlite3* artifacts/chaos .hypothesis
