# Comptoir: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export FLASK_APP := wsgi.py
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_test

.PHONY: run test install install-dev translations messages lint format bench clean

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
	$(BIN)/gunicorn --workers 2 --worker-class gthread --threads 12 --bind 127.0.0.1:8000 --access-logfile - wsgi:app

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install-dev node_modules/.package-lock.json lint
	@echo "=== test suite on SQLite ==="
	TEST_DATABASE=sqlite $(BIN)/python -m pytest
	@echo "=== test suite on PostgreSQL ($(TEST_POSTGRES_URL)) ==="
	TEST_DATABASE=postgresql TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) $(BIN)/python -m pytest

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache
