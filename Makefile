# Two commands do all the set-up on a fresh machine:
#   make run   installs what is needed and starts JupyterLab on the demo workspace examples/
#   make test  installs what is needed and runs the whole suite (unit, API, browser)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8888
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install install-amphi run test test-js test-python chromium postgresql bench soak lint clean screenshots

install: $(STAMP)

$(STAMP): pyproject.toml package.json yarn.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q "jupyterlab>=4.4,<5" "hatchling>=1.5" \
		"hatch-jupyter-builder>=0.5" "hatch-nodejs-version>=0.3.2" editables
	cd . && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm install --immutable
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm build
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pip install -q --no-build-isolation -e ".[test,dev]"
	PATH="$(CURDIR)/$(BIN):$$PATH" jupyter labextension develop . --overwrite
	touch $(STAMP)

# Amphi ETL's pipeline editor (labextensions only, no Python dependencies), for the demo and
# for tests/browser/test_amphi_ui.py: installed into a prefix of its own that only `make run`
# and that test put on JUPYTER_PATH, so the other browser tests' JupyterLab (they play Amphi's
# generate-code command with a stand-in) stays without it.
# 0.9.7 pins @jupyterlab/services 7.4 but works with JupyterLab 4.6 (a shared-module warning).
AMPHI_ETL    ?= jupyterlab-amphi==0.9.7
AMPHI_PREFIX := $(VENV)/amphi-etl
AMPHI_STAMP  := $(AMPHI_PREFIX)/.installed

install-amphi: $(AMPHI_STAMP)

$(AMPHI_STAMP): | $(STAMP)
	$(BIN)/python -m pip install -q --no-deps --no-warn-script-location --prefix "$(AMPHI_PREFIX)" "$(AMPHI_ETL)"
	touch $@

# JupyterLab on examples/ with Amphi ETL's editor; scripts/demo.py imports the example jobs of
# examples/scheduler-jobs.yaml once Lab answers (a second start changes nothing) and, on the
# first start, runs a few of them for history. Delete examples/.amphi/ to start afresh.
run: install $(AMPHI_STAMP)
	@echo "Scheduler command line, in another terminal: .venv/bin/amphi-scheduler --help"
	@echo "  e.g. (cd examples && ../.venv/bin/amphi-scheduler jobs list), ... status, ... run JOB --follow"
	JUPYTER_PATH="$(CURDIR)/$(AMPHI_PREFIX)/share/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH}" \
		$(BIN)/python -m scripts.demo --root examples --ip 127.0.0.1 --port $(PORT) $(ROOT_FLAG)

# Debian's Chromium for the browser tests (nothing downloads a browser of its own).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Debian's PostgreSQL (initdb, pg_ctl) for tests/pg: each test session starts a throw-away
# server of its own in a temporary folder (nothing listens on the system's port 5432).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)

test-js: install
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm test

test-python: install install-amphi chromium postgresql
	AMPHI_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest tests

test: test-js test-python

# Browser tests write screenshots into build/screenshots/ (untracked). This runs the browser
# suite and copies them into the tracked docs/screenshots/ on purpose; SHOTS="jobs-light
# run-log-dark" copies only those.
SHOTS ?=
screenshots: install install-amphi chromium
	rm -rf build/screenshots
	SCHEDULER_SCREENSHOTS_DIR="$(CURDIR)/build/screenshots" $(BIN)/python -m pytest -q tests/browser
	mkdir -p docs/screenshots
	cd build/screenshots && cp $(if $(SHOTS),$(addsuffix .png,$(SHOTS)),*.png) "$(CURDIR)/docs/screenshots/"
	@echo "docs/screenshots/ refreshed: review with git status / git diff --stat docs/screenshots"

bench: install
	$(BIN)/python -m benchmarks.run

# The fault and load tests of `make test`, longer: 50 clients for 5 minutes, 20 kill -9
# cycles. Prints the measured figures at the end.
SOAK_SECONDS ?= 300
SOAK_CYCLES ?= 20
soak: install
	AMPHI_SOAK_SECONDS=$(SOAK_SECONDS) AMPHI_SOAK_CYCLES=$(SOAK_CYCLES) $(BIN)/python -m pytest -q \
		tests/api/test_load.py tests/api/test_crash_cycles.py tests/api/test_faults.py

lint: install
	$(BIN)/ruff check pipeline_scheduler tests benchmarks scripts
	PATH="$(CURDIR)/$(BIN):$$PATH" jlpm lint:check

clean:
	rm -rf $(VENV) node_modules lib pipeline_scheduler/labextension tsconfig.tsbuildinfo build
