"""docs/openapi.json is the contract: the local stack answers what it says, nothing else.

Schemathesis generates requests for every operation of the committed document (examples,
coverage -- boundary and negative values, other media types --, and fuzzing, positive and
negative data; seeded and derandomized) and sends them over HTTP to the local runtime
(tests/contract/local_stack.py, in a subprocess as `make run` runs it: the local API gateway, the
authorizer and every function in containers of their own, moto's server, both vendor
simulators), with one tenant's key. About two in three generated ids are aimed at real objects
(a connected Visma eAccounting connection with a settlement and a stock registration, a
24SevenOffice connection with its companies imported and one set up), the rest stay unknown.

Every answer must be no 5xx, a status code the operation declares, the declared content type and
headers, and a body valid against the declared schema (ErrorBody for every refusal). The number of
examples per operation is bounded: the run takes about a minute or two on two cores.
"""
from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import schemathesis
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "openapi.json"

CONFIG = {
    "seed": 20261126,
    "suppress-health-check": ["all"],  # requests through the local runtime are not what Hypothesis times
    "generation": {"mode": "all", "max-examples": 6, "deterministic": True, "database": "none",
                   "no-shrink": True},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
}
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]

# Operations that would change the shared objects for good: their real targets are throwaways.
DESTRUCTIVE = {("DELETE", "/connections/{connection_id}"), ("PUT", "/connections/{connection_id}/credential")}


@pytest.fixture(scope="module")
def stack():
    import tempfile
    import threading

    # The stack's logs go to a file, and its standard output is drained: a pipe nobody reads fills up
    # (64 KiB), and then every function that logs blocks on its write (the receiver logs each refusal).
    errors = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen([sys.executable, "-m", "tests.contract.local_stack"], cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors)
    try:
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=30)
            errors.seek(0)
            pytest.fail(f"the local stack did not start:\n{errors.read()[-4000:]}")
        threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
        objects = SimpleNamespace(**json.loads(line))
        objects.client = httpx.Client(base_url=objects.url, timeout=60,
                                      headers={"Authorization": f"Bearer {objects.key}"})
        yield objects
        objects.client.close()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def api_schema(stack):
    schema = schemathesis.openapi.from_dict(json.loads(CONTRACT.read_text()),
                                            config=SchemathesisConfig.from_dict(CONFIG))
    schema.config.update(base_url=stack.url, headers={"Authorization": f"Bearer {stack.key}"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def _slot(value: object, choices: int) -> int:
    return zlib.crc32(repr(value).encode()) % choices


def _aim(case, stack) -> None:
    """Send about two in three generated ids to real objects, deterministically, the others unknown."""
    params = case.path_parameters
    if not params:
        return
    payroll = "/payroll-" in case.path or "/api-key" in case.path
    customers = "customer" in case.path or case.path.startswith("/hooks/")
    if "tenant_id" in params and _slot(params["tenant_id"], 3):
        params["tenant_id"] = stack.tenant_id
    if "vendor" in params and _slot(params["vendor"], 3):
        params["vendor"] = "uniconta"
    if "connection_id" in params and customers:
        if _slot(params["connection_id"], 3):  # customer sync meets the Uniconta connection (and unknown ones)
            params["connection_id"] = stack.uniconta_id
    elif "connection_id" in params and (slot := _slot(params["connection_id"], 3)):
        if (case.method.upper(), case.path) in DESTRUCTIVE:
            vendor = ("visma_eaccounting", "24sevenoffice")[slot - 1]
            created = stack.client.post("/connections", json={"vendor": vendor, "name": "throwaway"})
            assert created.status_code == 201, created.text
            params["connection_id"] = created.json()["connection_id"]
        elif payroll:  # payroll operations meet the Procountor connection (and an unknown one)
            params["connection_id"] = stack.procountor_id
        else:
            both = (stack.visma_id, stack.tfso_id)
            params["connection_id"] = stack.tfso_id if "company_id" in params else both[slot - 1]
    if "company_id" in params and _slot(params["company_id"], 3):
        params["company_id"] = stack.company_id
    if "document_id" in params and (slot := _slot(params["document_id"], 5)):
        params["document_id"] = (stack.document_id, stack.run_id, stack.stock_id, stack.payroll_document_id)[slot - 1]


@pytest.mark.e2e
@schema.parametrize()
def test_every_answer_is_what_the_contract_says(case, stack):
    _aim(case, stack)
    response = case.call(allow_redirects=False)
    case.validate_response(response, checks=CHECKS)
