# Comptoir: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every check.
# `make run` serves with gunicorn.conf.py (2 gthread workers x 12 threads on 127.0.0.1:8000, one JSON log line per
# request); GUNICORN_WORKERS, GUNICORN_BIND and the rest change it (see that file).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := wsgi.py
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_test

.PHONY: run test test-sqlite test-postgresql install install-dev translations messages lint format bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -f -d app/translations

messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output --ignore-dirs=".venv node_modules" .
	$(BIN)/pybabel update -N --no-wrap -i app/translations/messages.pot -d app/translations

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --silent

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

PYTEST_SQLITE := TEST_DATABASE=sqlite $(BIN)/python -m pytest --durations=15
PYTEST_POSTGRESQL := TEST_DATABASE=postgresql TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest --durations=15

# The two passes run side by side (each is one process, the machine has two cores; each has its own database):
# the SQLite pass prints as it goes, the PostgreSQL pass's output follows it. The checks that cannot depend on the
# database (accessibility, HTML validity) run in the SQLite pass only (tests/conftest.py says so in each pass).
# `make test-sqlite test-postgresql` runs them one after the other.
test: install-dev node_modules/.package-lock.json lint
	@echo "=== test suite on SQLite and on PostgreSQL ($(TEST_POSTGRES_URL)), side by side ==="
	@log=$$(mktemp); started=$$(date +%s); \
	$(PYTEST_POSTGRESQL) >"$$log" 2>&1 & postgresql=$$!; \
	trap 'kill $$postgresql 2>/dev/null; rm -f "$$log"; exit 130' INT TERM; \
	echo "=== SQLite pass (PostgreSQL runs meanwhile; its output follows) ==="; \
	$(PYTEST_SQLITE); sqlite_status=$$?; \
	echo "=== PostgreSQL pass ==="; \
	wait $$postgresql; postgresql_status=$$?; cat "$$log"; rm -f "$$log"; \
	echo "=== SQLite exit $$sqlite_status, PostgreSQL exit $$postgresql_status, both in $$(( $$(date +%s) - started )) s ==="; \
	exit $$(( sqlite_status || postgresql_status ))

test-sqlite: install-dev node_modules/.package-lock.json
	@echo "=== test suite on SQLite ==="
	$(PYTEST_SQLITE)

test-postgresql: install-dev node_modules/.package-lock.json
	@echo "=== test suite on PostgreSQL ($(TEST_POSTGRES_URL)) ==="
	$(PYTEST_POSTGRESQL)

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
