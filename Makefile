# Every target sets itself up on a fresh machine (Python 3.11+ and PyPI are all it needs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
export SAM_CLI_TELEMETRY := 0

.PHONY: python-version setup lock run demo test test-fast screenshots bench chaos lint build openapi clean

# Checked before anything is installed: an older Python would fail a minute into the install and
# leave a broken venv behind. A failed install removes the venv, so the next try starts clean.
python-version:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
	  echo "ledgerbridge needs Python 3.11 or newer (Lambda runs python3.11); '$(PYTHON)' is $$($(PYTHON) --version 2>/dev/null || echo 'not found')."; \
	  echo "Install python3.11 (e.g. apt-get install python3.11 python3.11-venv) and run: make PYTHON=python3.11 $(MAKECMDGOALS)"; \
	  exit 1; }

# The venv installs the lock (runtime + dev, every transitive pin), never a fresh resolution.
$(VENV)/.installed: requirements.lock | python-version
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock || { rm -rf $(VENV); exit 1; }
	@# The project itself, editable and without dependencies (the lock has them): the `ledgerbridge` command.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e . || { rm -rf $(VENV); exit 1; }
	touch $@

# Dependencies are declared in pyproject.toml only; this re-resolves them into the two generated
# files (keeping today's pins where they still fit; `make lock UPGRADE=1` moves them forward).
PIP_COMPILE = $(PY) -m piptools compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)
lock: setup  ## re-resolve pyproject.toml into requirements.lock and layers/shared/requirements.txt
	$(PIP_COMPILE) --extra dev --extra cli --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) --output-file layers/shared/requirements.txt pyproject.toml

setup: $(VENV)/.installed

run: setup  ## the whole hub locally: moto server, the vendor simulators (Visma eAccounting, 24SevenOffice, Procountor, Uniconta), local API gateway, scheduler, worker
	$(PY) -m devstack run

demo: setup  ## scripted end-to-end flow against the local stack; exits 0 when everything checks out
	$(PY) -m devstack demo

test: setup  ## all tests (unit, handlers with moto, OAuth against the simulator, end to end)
	$(PY) -m pytest

test-fast: setup  ## the edit-test loop: unit and simulator tests (under a minute), no moto server, no e2e
	$(PY) -m pytest tests/unit tests/simulators

screenshots: setup  ## the console's browser test, saving its screenshots to docs/console (the README's)
	LB_SCREENSHOTS=$(CURDIR)/docs/console $(PY) -m pytest -q tests/e2e/test_console_browser.py

bench: setup  ## benchmarks; print figures (not part of the tests)
	$(PY) -m bench

DOCUMENTS ?= 1000
chaos: setup  ## duplicates, concurrent presses, redeliveries, vendor faults: asserts exactly once; prints drain times
	$(PY) -m bench.chaos --documents $(DOCUMENTS)

openapi: setup  ## regenerate docs/openapi.json from the API handlers
	$(PY) -m devstack.openapi

# A lint tool's pin, from its pyproject.toml dependency group (tomllib: the venvs' pip predates
# `pip install --group`).
GROUP = $(PYTHON) -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["dependency-groups"][sys.argv[1]]))'

$(SAM_VENV)/.installed: | python-version
	$(PYTHON) -m venv $(SAM_VENV) || { rm -rf $(SAM_VENV); exit 1; }
	$(GROUP) sam | $(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r /dev/stdin || { rm -rf $(SAM_VENV); exit 1; }
	touch $@

# checkov pins its own boto3 (and more), which the runtime pins contradict: a venv of its own,
# installed from pyproject.toml's `checkov` dependency group.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: | python-version
	$(PYTHON) -m venv $(CHECKOV_VENV) || { rm -rf $(CHECKOV_VENV); exit 1; }
	$(GROUP) checkov | $(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r /dev/stdin || { rm -rf $(CHECKOV_VENV); exit 1; }
	touch $@

lint: setup $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed  ## ruff (likely bugs), sam validate --lint, checkov (SAM and checkov have venvs of their own: their pins differ)
	$(VENV)/bin/ruff check .
	$(SAM_VENV)/bin/sam validate --lint --region eu-north-1
	@# Checks accepted as not applying are skipped in template.yaml, each with its reason
	@# (Metadata: checkov: skip). BC_SKIP_MAPPING/--skip-download: no calls home.
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download \
	  --framework cloudformation --file template.yaml

build: $(SAM_VENV)/.installed  ## sam build without Docker (needs python3.11 on PATH)
	$(SAM_VENV)/bin/sam build --region eu-north-1

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam
