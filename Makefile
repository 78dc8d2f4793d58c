# Two commands: `make up` runs the product, `make test` runs every check.
# Nothing is needed but Python 3.11 and Node 20 (and, for tests, PostgreSQL and Redis).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
WEBUI_SOURCES := $(shell find webui/src -type f ! -name schema.d.ts 2>/dev/null) webui/index.html \
	webui/vite.config.ts webui/tsconfig.json webui/package.json $(wildcard webui/scripts/*.mjs)
# The web UI's API types are generated from core's OpenAPI document, so its build needs the
# Python runtime and follows changes to core (the API's declarations and every model they use).
API_SOURCES := $(shell find core -name '*.py' 2>/dev/null) scripts/export_openapi.py

.PHONY: up demo test lint typecheck pytest browser webui clean

up: $(VENV)/.runtime webui/dist/index.html
	$(BIN)/zapdesk up

# The whole product against the simulated WhatsApp, with demo customers: no phone needed.
demo: $(VENV)/.runtime webui/dist/index.html
	$(BIN)/zapdesk up --simulate

test: $(VENV)/.dev webui/dist/index.html lint typecheck pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# Migrations (upgrade head + check, on SQLite and PostgreSQL) run inside pytest, per backend.
# The tests run in parallel, one process per core (PYTEST_WORKERS=0 runs them in one process):
# each test has its own databases, Redis prefix, ports and directories.
PYTEST_WORKERS ?= auto
pytest: $(VENV)/.dev browser
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# The browser tests drive Debian's chromium (never a browser downloaded by Playwright). CI
# installs it (as root); elsewhere the browser tests skip, saying how to install it.
browser:
	@if [ "$$CI" = "true" ] && ! command -v chromium >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi

webui: webui/dist/index.html

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

webui/node_modules/.package-lock.json: webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund

webui/dist/index.html: webui/node_modules/.package-lock.json $(WEBUI_SOURCES) $(API_SOURCES) \
		$(VENV)/.runtime
	cd webui && ZAPDESK_PYTHON=$(abspath $(BIN)/python) npm run build

clean:
	rm -rf $(VENV) webui/node_modules webui/dist webui/build webui/src/api/schema.d.ts test-artifacts .pytest_cache .mypy_cache .ruff_cache
