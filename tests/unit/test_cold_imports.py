"""Cold start: no function loads 24SevenOffice's SOAP stack (zeep, lxml) when its handler is imported.

Each handler is imported in a fresh interpreter as Lambda does it: PYTHONPATH = the shared layer +
the function's folder, the working directory inside it, no AWS or ledgerbridge settings. zeep and
lxml load only when a 24SevenOffice connection is used (through the connector registry).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))
# Modules the handlers load lazily, at first use: importing them must not pull in zeep either.
LAZY_MODULES = ["ledgerbridge.services.runs", "ledgerbridge.services.companies", "ledgerbridge.worker",
                "ledgerbridge.connectors.registry"]
TWENTYFOURSEVEN = "ledgerbridge.connectors.twentyfourseven"

_PROBE = """
import json, sys
import {module}
loaded = sorted(sys.modules)
print(json.dumps({{
    "zeep": any(m == "zeep" or m.startswith("zeep.") for m in loaded),
    "lxml": any(m == "lxml" or m.startswith("lxml.") for m in loaded),
    "tfso": [m for m in loaded if m.startswith("{tfso}")],
    "connection_models": "ledgerbridge.models.connection" in sys.modules,
}}))
"""


def _env(function_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON"))}
    env.update(PYTHONPATH=os.pathsep.join([str(LAYER)] + ([str(function_dir)] if function_dir else [])),
               POWERTOOLS_TRACE_DISABLED="1", AWS_REGION="eu-north-1", AWS_ACCESS_KEY_ID="x",
               AWS_SECRET_ACCESS_KEY="x")
    return env


@pytest.fixture(scope="module")
def probes() -> dict[str, dict]:
    """Start every probe at once (each a fresh interpreter), then collect: the module stays fast."""
    targets = {f"functions/{d.name}": ("app", d) for d in FUNCTIONS}
    targets.update({module: (module, None) for module in LAZY_MODULES + [TWENTYFOURSEVEN]})
    running = {
        # `-c` puts the working directory first on sys.path: one that is on PYTHONPATH anyway.
        name: subprocess.Popen([sys.executable, "-c", _PROBE.format(module=module, tfso=TWENTYFOURSEVEN)],
                               env=_env(directory), cwd=str(directory or LAYER), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        for name, (module, directory) in targets.items()
    }
    results = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"importing {name} failed: {err[-2000:]}"
        results[name] = json.loads(out.strip().splitlines()[-1])
    return results


def test_every_function_is_probed():
    assert {d.name for d in FUNCTIONS} >= {"authorizer", "ingest", "management_api", "oauth_callback", "scheduler",
                                           "transfer_worker"}


@pytest.mark.parametrize("name", [f"functions/{d.name}" for d in FUNCTIONS] + LAZY_MODULES)
def test_importing_loads_no_soap_stack(probes, name):
    loaded = probes[name]
    assert loaded["tfso"] == [], f"{name} imports 24SevenOffice code at load: {loaded['tfso']}"
    assert not loaded["zeep"], f"{name} loads zeep at import"
    assert not loaded["lxml"], f"{name} loads lxml at import"


def test_the_twentyfourseven_connector_does_load_zeep_and_lxml(probes):
    """The probe can see them: importing the connector package loads both."""
    loaded = probes[TWENTYFOURSEVEN]
    assert loaded["zeep"] and loaded["lxml"]
    assert f"{TWENTYFOURSEVEN}.connector" in loaded["tfso"]


def test_the_scheduler_loads_no_connection_models(probes):
    """It pages the due index and sends one message per connection: the schedule is all it reads of a
    connection (models/schedule.py), so the account, payroll and sync setups' models stay unloaded."""
    assert not probes["functions/scheduler"]["connection_models"]
    assert probes["functions/management_api"]["connection_models"], "the probe can see them where they load"
