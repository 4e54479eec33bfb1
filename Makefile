# Accord — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HTMX   := portal/static/vendor/htmx.min.js

.PHONY: run test test-postgresql test-sqlite lint bench services install assets clean

install: $(STAMP) $(HTMX)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# htmx is a declared npm dependency (package.json + lockfile), served by the app, never from a CDN.
assets: $(HTMX)
$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(dir $(HTMX))
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

# The embedded default: SQLite under var/, jobs in-process, files on local disk.
run: install
	$(BIN)/accord db upgrade
	$(BIN)/accord demo seed
	$(BIN)/accord serve --host 127.0.0.1 --port 8000

# PostgreSQL and Redis: installed (Debian packages) and started where missing or stopped.
services:
	bash infra/services.sh ensure

# The PostgreSQL + Redis run is the one that counts; the SQLite run keeps the embedded default honest.
# The two runs share nothing (each has its own database, files folder and ports), so they run side by
# side; each one's output is printed whole when it ends.
test: install
	bash infra/services.sh check || bash infra/services.sh ensure
	bash infra/install-browser.sh
	$(MAKE) --no-print-directory -j2 --output-sync=target test-postgresql test-sqlite

test-postgresql: install
	$(BIN)/python -m pytest

test-sqlite: install
	ACCORD_TEST_DATABASE=sqlite $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	bash infra/services.sh check || bash infra/services.sh ensure
	bash infra/install-bench-tools.sh
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) node_modules $(dir $(HTMX)) .pytest_cache .ruff_cache
