# Every target sets itself up on a fresh machine (Python 3.11+ and PyPI are all it needs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
export SAM_CLI_TELEMETRY := 0

.PHONY: setup run demo test bench chaos lint build openapi clean

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed

run: setup  ## the whole hub locally: moto server, Visma simulator, local API gateway, scheduler, worker
	$(PY) -m devstack run

demo: setup  ## scripted end-to-end flow against the local stack; exits 0 when everything checks out
	$(PY) -m devstack demo

test: setup  ## all tests (unit, handlers with moto, OAuth against the simulator, end to end)
	$(PY) -m pytest

bench: setup  ## benchmarks; print figures (not part of the tests)
	$(PY) -m bench

DOCUMENTS ?= 1000
chaos: setup  ## duplicates, concurrent presses, redeliveries, vendor faults: asserts exactly once; prints drain times
	$(PY) -m bench.chaos --documents $(DOCUMENTS)

openapi: setup  ## regenerate docs/openapi.json from the API handlers
	$(PY) -m devstack.openapi

$(SAM_VENV)/.installed:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
	touch $@

lint: setup $(SAM_VENV)/.installed  ## ruff (likely bugs) and sam validate --lint (SAM has its own venv: its pins differ)
	$(VENV)/bin/ruff check .
	$(SAM_VENV)/bin/sam validate --lint --region eu-north-1

build: $(SAM_VENV)/.installed  ## sam build without Docker (needs python3.11 on PATH)
	$(SAM_VENV)/bin/sam build --region eu-north-1

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam
