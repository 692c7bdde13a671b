"""Bad input never gives a 5xx: Schemathesis against the real handlers, in process.

Every operation of the API contract (the 42 of docs/openapi.json, which ``devstack.openapi`` builds
from the handlers' own models; tests/unit/test_openapi.py keeps the file equal to it) is called
through the local API gateway as a WSGI app -- the authorizer and the Lambda handlers of
template.yaml, as ``make run`` serves them -- under moto, with a real tenant key. Path parameters
hit real objects (a connected Visma eAccounting connection with a settlement and a stock
registration, a 24SevenOffice connection with its companies imported and one set up, a Procountor
connection with its payroll setup and a payroll journal, a Uniconta connection syncing customers, whose
notification receiver is called with the tenant and connection it belongs to) as well as unknown ones.

Schemathesis runs its examples, coverage (boundary and negative values of every parameter and
body, other media types, missing parameters) and fuzzing phases, positive and negative data, with
a fixed seed and derandomized, so every run sends the same requests. The check: no 5xx, and a
body that parses wherever the answer says it is JSON. Requests Schemathesis does not make
(bytes that are not UTF-8, deep nesting, huge numbers, multipart without a boundary, wrong content
types, empty bodies, bodies on GETs, far-out dates) are in the second test.
"""
from __future__ import annotations

import json
import zlib
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from werkzeug.test import Client

from conftest import Api, connect
from devstack import openapi, reset_process_caches, samples
from devstack.gateway import LocalGateway
from ledgerbridge.models.common import utcnow
from tests.integration.procountor_helpers import payroll_connection
from tests.integration.tfso_helpers import connect_tfso, import_companies

TENANT = "tenant-fuzz"
OPERATIONS = 43
FJORD = "1100001"  # a client company of the simulator's integration user

CONFIG = {
    "seed": 20261126,
    "suppress-health-check": ["all"],  # in-process calls to moto are not what Hypothesis times
    "generation": {"mode": "all", "max-examples": 25, "deterministic": True, "database": "none",
                   "no-shrink": True},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
               "stateful": {"enabled": False}},
}


def contract() -> dict:
    document = openapi.build()
    assert sum(len(operations) for operations in document["paths"].values()) == OPERATIONS, (
        "an operation came or went: update OPERATIONS and check the fixtures reach it")
    return document


@pytest.fixture
def hub(aws, visma, tfso, procountor, uniconta, monkeypatch):
    """A tenant with a key, a connected Visma connection holding a settlement, a 24SevenOffice
    connection with its companies imported and one set up; the gateway as a WSGI app."""
    from ledgerbridge.repositories import tenants

    # One worker's share of Visma's rate limit is a fifth of it: hundreds of requests would spend
    # most of the run waiting for the client-side limiter, which is not what is tested here.
    monkeypatch.setenv("LB_WORKER_CONCURRENCY", "1")
    reset_process_caches()
    api = Api(TENANT)
    visma_id = connect(api, schedule={"frequency": "daily", "lookback_days": 30})
    status, body = api.call("PUT", f"/connections/{visma_id}/account-setup", samples.account_setup())
    assert status == 200, body
    settlement = samples.settlement(date.today() - timedelta(days=2), 1)
    status, body = api.call("POST", f"/connections/{visma_id}/settlements", settlement)
    assert status == 201, body
    tfso_id, result = connect_tfso(api)
    assert result["ok"], result
    run = import_companies(api, aws, tfso_id)
    status, body = api.call("PUT", f"/connections/{tfso_id}/companies/{FJORD}/reconciliation", {"accounts": ["1920"]})
    assert status == 200, body
    key, local_gateway = tenants.issue_key(TENANT), LocalGateway(stage="test")
    # A stock registration too (through the gateway: its route is the ingest function's), so the
    # document operations (read, replay) meet that kind as well.
    stock = samples.stock_registration(date.today() - timedelta(days=2), "write_off")
    response = Client(local_gateway).post(f"/connections/{visma_id}/stock-registrations", json=stock,
                                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.get_data()
    procountor_id = payroll_connection(api, procountor)
    journal = samples.payroll_journal()
    response = Client(local_gateway).post(f"/connections/{procountor_id}/payroll-journals", json=journal,
                                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.get_data()
    status, created = api.call("POST", "/connections", {"vendor": "uniconta", "name": "Salon"})
    uniconta_id = created["connection_id"]
    assert api.call("PUT", f"/connections/{uniconta_id}/credential", samples.UNICONTA_LOGIN)[1]["ok"]
    status, body = api.call("PUT", f"/connections/{uniconta_id}/customer-sync", samples.customer_sync_setup())
    assert status == 200, body
    response = Client(local_gateway).post(f"/connections/{uniconta_id}/customers",
                                          json={"customers": [samples.salon_customer(1)]},
                                          headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202, response.get_data()
    # Fuzzed credentials never lock the simulator's integration user out (it throttles logins).
    limit, tfso.config.login_limit = tfso.config.login_limit, 10**6
    yield SimpleNamespace(api=api, key=key, gateway=local_gateway,
                          visma_id=visma_id, tfso_id=tfso_id, document_id=settlement["document_id"],
                          run_id=run["document_id"], stock_id=stock["document_id"], procountor_id=procountor_id,
                          payroll_id=journal["document_id"], uniconta_id=uniconta_id)
    tfso.config.login_limit = limit


@pytest.fixture
def api_schema(hub):
    schema = schemathesis.openapi.from_dict(contract(), config=SchemathesisConfig.from_dict(CONFIG))
    schema.config.update(headers={"Authorization": f"Bearer {hub.key}"})
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")

# Operations that would change the shared objects for good: their real targets are throwaways.
DESTRUCTIVE = {("DELETE", "/connections/{connection_id}"), ("PUT", "/connections/{connection_id}/credential")}


def _slot(value: object, choices: int) -> int:
    return zlib.crc32(repr(value).encode()) % choices


def _aim(case, hub) -> None:
    """Send about two in three generated ids to real objects, deterministically (by the generated
    value), and leave the others unknown."""
    params = case.path_parameters
    if not params:
        return
    if "tenant_id" in params and _slot(params["tenant_id"], 3):
        params["tenant_id"] = TENANT
    if "vendor" in params and _slot(params["vendor"], 3):
        params["vendor"] = "uniconta"
    if "connection_id" in params and ("customer" in case.path or "hooks" in case.path):
        if _slot(params["connection_id"], 3):
            params["connection_id"] = hub.uniconta_id
    elif "connection_id" in params:
        slot = _slot(params["connection_id"], 4)
        if slot and (case.method.upper(), case.path) in DESTRUCTIVE:
            vendor = ("visma_eaccounting", "24sevenoffice", "procountor")[slot - 1]
            status, created = hub.api.call("POST", "/connections", {"vendor": vendor, "name": "throwaway"})
            assert status == 201, created
            params["connection_id"] = created["connection_id"]
        elif slot:
            real = (hub.visma_id, hub.tfso_id, hub.procountor_id)
            params["connection_id"] = hub.tfso_id if "company_id" in params else real[slot - 1]
    if "company_id" in params and _slot(params["company_id"], 3):
        params["company_id"] = FJORD
    if "document_id" in params and (slot := _slot(params["document_id"], 5)):
        params["document_id"] = (hub.document_id, hub.run_id, hub.stock_id, hub.payroll_id)[slot - 1]


def problem(status: int, content_type: str, body: bytes) -> str | None:
    if status >= 500:
        return f"HTTP {status}: {body[:300]!r}"
    if content_type.startswith("application/json") and body:
        try:
            json.loads(body)
        except ValueError:
            return f"HTTP {status} says JSON but is not: {body[:300]!r}"
    return None


@schema.parametrize()
def test_no_operation_answers_5xx(case, hub):
    _aim(case, hub)
    response = case.call(app=hub.gateway)
    found = problem(response.status_code, response.headers.get("Content-Type", ""), response.content)
    assert found is None, f"{case.method.upper()} {case.formatted_path}: {found}"


# --- what Schemathesis does not send ----------------------------------------------------------------

def hand_made_cases(hub) -> list[tuple[str, str, str, dict, bytes | None]]:
    visma, tfso, procountor = hub.visma_id, hub.tfso_id, hub.procountor_id
    good = samples.settlement(date.today() - timedelta(days=3), 7)
    settlement = json.dumps(good).encode()
    writes = [
        ("POST", "/connections"),
        ("PUT", f"/connections/{visma}/schedule"),
        ("PUT", f"/connections/{visma}/account-setup"),
        ("PUT", f"/connections/{tfso}/credential"),
        ("PUT", f"/connections/{tfso}/vendor-settings"),
        ("PUT", f"/connections/{tfso}/companies/{FJORD}/reconciliation"),
        ("POST", f"/connections/{tfso}/companies/{FJORD}/refresh"),
        ("POST", f"/connections/{tfso}/balance-refresh"),
        ("POST", f"/connections/{visma}/settlements"),
        ("POST", f"/connections/{visma}/stock-registrations"),
        ("PUT", f"/connections/{procountor}/payroll-setup"),
        ("POST", f"/connections/{procountor}/payroll-journals"),
        ("PUT", f"/connections/{procountor}/api-key"),
        ("PUT", f"/connections/{hub.uniconta_id}/customer-sync"),
        ("POST", f"/connections/{hub.uniconta_id}/customers"),
        ("POST", f"/hooks/uniconta/{TENANT}/{hub.uniconta_id}"),
    ]
    json_type = {"Content-Type": "application/json"}
    bodies = [
        ("non-UTF-8 bytes", json_type, b'{"name": "\xff\xfe\xc3(", "username": "\xe6@x", "accounts": ["\xff"]}'),
        ("latin-1 JSON", json_type, '{"name": "Bakeri Æøå", "password": "æøå"}'.encode("latin-1")),
        ("deep object", json_type, b'{"a":' * 1000 + b"1" + b"}" * 1000),
        ("deep array", json_type, b"[" * 1000 + b"]" * 1000),
        ("very deep array", json_type, b"[" * 200_000 + b"]" * 200_000),
        ("huge integer", json_type, b'{"lookback_days": ' + b"9" * 5000 + b"}"),
        ("huge exponent", json_type, b'{"as_of": 1e999999999, "accounts": [1e999999999], "vat_rate": 1e999999999}'),
        ("tiny exponent", json_type, b'{"rows": [{"kind": "vat", "key": "1e-99999", "vat_rate": 1e-99999}]}'),
        ("NaN", json_type, b'{"lookback_days": NaN, "net": Infinity}'),
        ("empty body", json_type, b""),
        ("whitespace body", json_type, b"  \n"),
        ("JSON null", json_type, b"null"),
        ("JSON string", json_type, b'"x"'),
        ("lone surrogate", json_type, b'{"name": "\\ud800", "username": "a\\udfff@b", "password": "\\udfff"}'),
        ("control characters", json_type, b'{"name": "\\u0000", "username": "a\\u0001@b", "password": "\\u0000"}'),
        ("multipart without boundary", {"Content-Type": "multipart/form-data"}, b"{}"),
        ("multipart with boundary", {"Content-Type": "multipart/form-data; boundary=x"},
         b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nA\r\n--x--\r\n'),
        ("multipart, not Latin-1", {"Content-Type": "multipart/form-data; boundary=x"}, "--x\r\n\u20ac\r\n--x--".encode()),
        ("text/plain", {"Content-Type": "text/plain"}, b'{"name": "x"}'),
        ("form with a JSON body", {"Content-Type": "application/x-www-form-urlencoded"}, settlement),
        ("form fields", {"Content-Type": "application/x-www-form-urlencoded"}, b"name=x&vendor=y"),
        ("octet-stream", {"Content-Type": "application/octet-stream"}, b"\x00\x01\x02\xff"),
        ("no content type", {}, settlement),
        ("odd content type", {"Content-Type": "application/json; charset=latin-1; boundary"}, b"{}"),
        ("bad content type", {"Content-Type": ";;;/"}, b"{}"),
    ]
    cases = [(f"{method} {path} [{label}]", method, path, headers, body)
             for method, path in writes for label, headers, body in bodies]
    for method, path in [("GET", "/connections"), ("GET", f"/connections/{visma}"),
                         ("GET", f"/connections/{visma}/documents"), ("POST", f"/connections/{tfso}/check"),
                         ("POST", f"/connections/{visma}/transfers"), ("DELETE", "/connections/con_unknown")]:
        for label, headers, body in [("JSON body", json_type, settlement),
                                     ("non-UTF-8 body", {"Content-Type": "text/plain"}, b"\xff\xfe"),
                                     ("multipart without boundary", {"Content-Type": "multipart/form-data"}, b"x")]:
            cases.append((f"{method} {path} [{label}]", method, path, headers, body))
    # Valid settlements at the edges: accepted, never a 5xx on the way to S3 and the export log.
    tomorrow = utcnow().date() + timedelta(days=1)  # the latest business date the door takes
    edges = {"tomorrow": {**samples.settlement(tomorrow, 8)},
             "2000-01-01": {**samples.settlement(date(2000, 1, 1), 9)},
             "odd id and names": {**good, "document_id": "a:b.c_d-" + "9" * 120, "register_id": "kasse ☕ 1"}}
    for label, body in edges.items():
        cases.append((f"POST settlements [{label}]", "POST", f"/connections/{visma}/settlements", json_type,
                      json.dumps(body).encode()))
    stock = {"tomorrow": samples.stock_registration(tomorrow, "goods_received", 8),
             "2000-01-01": samples.stock_registration(date(2000, 1, 1), "write_off", 9),
             "zero": samples.stock_registration(tomorrow, "count_adjustment", 10, lines=[("Varer", "5"), ("Kaffe", "-5")]),
             "5,000 lines": samples.stock_registration(tomorrow, "count_adjustment", 11, with_pdf=False,
                                                       lines=[(f"Vare {n} ☕", f"{n % 7 - 3}.99") for n in range(5000)]),
             "the id of a settlement": {**samples.stock_registration(tomorrow, "write_off", 12),
                                        "document_id": hub.document_id},
             "odd note": {**samples.stock_registration(tomorrow, "write_off", 13), "note": "Svinn 🥐\n" * 100}}
    for label, body in stock.items():
        cases.append((f"POST stock-registrations [{label}]", "POST", f"/connections/{visma}/stock-registrations",
                      json_type, json.dumps(body).encode()))
    payroll = {"10,000 lines": {**samples.payroll_journal("run-big", corrections=()), "lines": [
                   {"account": "5000", "debit": f"{n}.25", "period": f"2026-{1 + n % 6:02d}"} for n in range(5000)] + [
                   {"account": "2939", "credit": f"{n}.25", "period": f"2026-{1 + n % 6:02d}"} for n in range(5000)]},
               "the id of a settlement": {**samples.payroll_journal(), "document_id": hub.document_id},
               "odd texts": {**samples.payroll_journal("run-odd"), "run_reference": "Palkat ☕ " + "x" * 50},
               "period 2000-01": samples.payroll_journal("run-2000", year=2000, month=1, corrections=())}
    for label, body in payroll.items():
        cases.append((f"POST payroll-journals [{label}]", "POST", f"/connections/{procountor}/payroll-journals",
                      json_type, json.dumps(body).encode()))
    # Far-out dates, then the operations that compute with them.
    for schedule in ({"from_date": "0001-01-01"}, {"from_date": "9999-12-31"}, {"timezone": "a/" * 200},
                     {"timezone": "../../etc/passwd"}, {"lookback_days": 366, "from_date": "2000-01-01"}):
        cases.append((f"PUT schedule {schedule}", "PUT", f"/connections/{visma}/schedule", json_type,
                      json.dumps(schedule).encode()))
        cases.append((f"POST transfers after {schedule}", "POST", f"/connections/{visma}/transfers", {}, None))
    for dates in ({"as_of": "9999-12-31"}, {"as_of": "0001-01-01"}, {"period_from": "0001-01-01"},
                  {"as_of": "2000-01-01", "period_from": "2000-01-01"}):
        cases.append((f"POST balance-refresh {dates}", "POST", f"/connections/{tfso}/balance-refresh", json_type,
                      json.dumps(dates).encode()))
    queries = {
        f"/connections/{visma}/documents": ["from=0001-01-01&to=9999-12-31", "from=2026-02-01&to=2026-01-01",
                                            "limit=99999999999999999999", "state=nope", "cursor=%FF%FE",
                                            "cursor=" + "A" * 3000, "from=2026-02-30", "cursor=W10%3D"],
        f"/connections/{visma}/catalog": ["date=0001-01-01", "date=9999-12-31", "date=x", "date=2000-01-01"],
        f"/connections/{tfso}/companies/{FJORD}/ledger": ["account=1920&cursor=%00", "account=1920&limit=0",
                                                          "account=%FF", "account=1920&cursor=WzEwMDAwMDAwMDAwMF0="],
    }
    for path, strings in queries.items():
        for query in strings:
            cases.append((f"GET {path}?{query}", "GET", f"{path}?{query}", {}, None))
    long_id = "x" * 3000
    for path in (f"/connections/{long_id}", f"/connections/{visma}/documents/{long_id}",
                 f"/connections/{tfso}/companies/{long_id}"):
        cases.append((f"GET {path[:40]}... (3,000 characters)", "GET", path, {}, None))
    return cases


def test_hand_made_bad_input_never_gives_5xx(hub):
    client = Client(hub.gateway)
    failures = []
    for label, method, path, headers, body in hand_made_cases(hub):
        response = client.open(path, method=method, data=body, headers={"Authorization": f"Bearer {hub.key}",
                                                                         **headers})
        found = problem(response.status_code, response.headers.get("Content-Type", ""), response.get_data())
        if found:
            failures.append(f"{label}: {found}")
    assert not failures, "\n".join(failures)
    # None of that stored a credential: the integration user still passes "Test integration".
    status, result = hub.api.call("POST", f"/connections/{hub.tfso_id}/check")
    assert status == 200 and result["ok"], result
