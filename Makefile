# The verbs: `make run` (demo on embedded defaults), `make test` (whole suite, embedded and on
# PostgreSQL + Redis), `make lint`, `make bench`. Each bootstraps what it needs; all are safe
# to run twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
SERVICES_ENV := .services.env

.PHONY: run serve test test-js test-embedded test-services lint bench bootstrap services clean

bootstrap: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: bootstrap
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_setup
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The production ASGI server (README "Production server"); configure it with the environment.
serve: bootstrap
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m uvicorn config.asgi:application --host 127.0.0.1 --port $(PORT) \
		--loop uvloop --http httptools --ws websockets-sansio --lifespan off --no-access-log

services:
	bash scripts/services.sh > $(SERVICES_ENV)

test: bootstrap test-js test-embedded test-services

test-js: node_modules/.installed
	node --test tests/js/

test-embedded: $(VENV)/.installed
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python -m pytest -q -m "not services and not browser"

# Everything again on PostgreSQL + Redis. Local hand-over is off so that every delivery goes
# through the Redis channel layer; the multi-process and browser tests run with the defaults.
test-services: bootstrap services
	set -a && . ./$(SERVICES_ENV) && set +a && \
	COBROWSE_LOCAL_HANDOVER=0 $(BIN)/python -m pytest -q -m "not services and not browser" && \
	$(BIN)/python -m pytest -q -m "services or browser"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The benchmark (docs/performance.md): starts its own Redis (port 6390) and server processes,
# uses the database cobrowse_bench on the PostgreSQL of `make services`. BENCH_QUICK=1: short.
bench: bootstrap services
	set -a && . ./$(SERVICES_ENV) && set +a && $(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules $(SERVICES_ENV) .test-db.sqlite3*
