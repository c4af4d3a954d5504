# otp-gateway — everything a new machine needs is installed from here (Python 3.11+ only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# What the demo prints: the address a browser on this machine opens (0.0.0.0 listens everywhere).
BASE_URL ?= http://$(if $(filter 0.0.0.0,$(HOST)),127.0.0.1,$(HOST)):$(PORT)
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST := $(BIN)/python -m pytest

.PHONY: run test test-pg test-browser bench lint clean

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## make run: install, create/upgrade the database, seed the demo banks if empty, serve on $(HOST):$(PORT)
run: $(STAMP)
	$(BIN)/otp-gateway init-db
	$(BIN)/otp-gateway demo --if-empty --base-url '$(BASE_URL)'
	GATEWAY_PUBLIC_BASE_URL="$${GATEWAY_PUBLIC_BASE_URL:-$(BASE_URL)}" $(BIN)/otp-gateway serve --host $(HOST) --port $(PORT)

## make test: every test that needs nothing but Python (SQLite, in-memory rate limits)
test: $(STAMP)
	$(PYTEST) -m "not browser" -q

## make test-pg: the database and rate-limit tests again against PostgreSQL and Redis
test-pg: $(STAMP)
	@$(BIN)/python -c "import psycopg; psycopg.connect('$(PG_URL)'.replace('+psycopg', ''), connect_timeout=5).close()" \
		|| { echo "PostgreSQL is not reachable at $(PG_URL)" >&2; exit 1; }
	@$(BIN)/python -c "import redis; redis.Redis.from_url('$(REDIS_URL)', socket_timeout=5).ping()" \
		|| { echo "Redis is not reachable at $(REDIS_URL)" >&2; exit 1; }
	GATEWAY_TEST_DATABASE_URL='$(PG_URL)' GATEWAY_TEST_REDIS_URL='$(REDIS_URL)' $(PYTEST) -m "(db or ratelimit) and not browser" -q

## make test-browser: click through the pages in Debian's Chromium (never a downloaded browser)
test-browser: $(STAMP)
	@test -x /usr/bin/chromium || { echo "/usr/bin/chromium is missing: apt-get install chromium" >&2; exit 1; }
	$(PYTEST) -m browser -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache test-output

## make bench: the verify API against a bare Flask route, same server, same run (BENCH_DB=postgresql+psycopg://…)
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "installing wrk (Debian)"; apt-get install -y -qq wrk >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; }
	$(BIN)/python -m bench.run $(if $(BENCH_DB),--db '$(BENCH_DB)')
