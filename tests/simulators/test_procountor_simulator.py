"""Tests of the Procountor simulator, driven over HTTP with httpx like a real client."""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # project root, for `import simulators`

from simulators.procountor import Fault, ProcountorSimulator, SimulatorConfig  # noqa: E402
from simulators.procountor.app import to_json  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-local", "local-secret"
REDIRECT_URI = "http://127.0.0.1:9999/oauth/callback"
USER, PASSWORD = "demo@palkka.example", "demo-password"
DEMO = "Palkkatoimisto Demo Oy"        # every 2026 period open
OTHER = "Rakennus Esimerkki Oy"        # January 2026 closed

# One client for the browser-like and token calls: building a client per call costs more than the call.
WEB = httpx.Client(timeout=5)


@pytest.fixture
def sim():
    with ProcountorSimulator() as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    with authorized(sim, DEMO) as client:
        yield client


def authorized(sim: ProcountorSimulator, company: str) -> httpx.Client:
    token = sim.issue_token(company)["access_token"]
    return httpx.Client(base_url=f"{sim.base_url}/api", headers={"Authorization": f"Bearer {token}"}, timeout=5)


def post_json(client: httpx.Client, url: str, body: dict, **kwargs) -> httpx.Response:
    """POST with Decimals written as exact JSON numbers (the way a careful client does it)."""
    return client.post(url, content=to_json(body), headers={"Content-Type": "application/json"}, **kwargs)


def journal(name: str = "PAY-2026-06 2026-06", receipt_date: str = "2026-06-30", lines=None, **extra) -> dict:
    lines = lines if lines is not None else [("5000", "3200.00"), ("6410", "60.80"), ("2931", "-640.00"),
                                             ("2933", "-60.80"), ("2939", "-2560.00")]
    return {"type": "JOURNAL", "name": name, "receiptDate": receipt_date, "vatType": "PURCHASE", "vatStatus": 2,
            "transactions": [{"transactionType": "ENTRY", "account": account, "accountingValue": Decimal(value),
                              "vatPercent": 0, "description": f"row {n}"}
                             for n, (account, value) in enumerate(lines)],
            **extra}


def errors_of(response: httpx.Response, status: int) -> list[dict]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errors"} and body["errors"], body
    assert all(e["status"] == status and isinstance(e["message"], str) for e in body["errors"])
    return body["errors"]


def field_messages(response: httpx.Response, status: int = 400) -> set[tuple[str | None, str]]:
    return {(e.get("field"), e["message"]) for e in errors_of(response, status)}


# ---------------------------------------------------------------------------------------------
# Sign-in with the company pick
# ---------------------------------------------------------------------------------------------

def sign_in_params(state: str | None = "st-1", redirect_uri: str = REDIRECT_URI) -> dict:
    params = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri}
    if state is not None:
        params["state"] = state
    return params


def sign_in(sim: ProcountorSimulator, company: str | None, path: str = "/login", state: str | None = "st-1",
            username: str = USER, password: str = PASSWORD, redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    """Drives the sign-in page: credentials, then the company pick. Returns the final answer."""
    params = sign_in_params(state, redirect_uri)
    page = WEB.get(f"{sim.base_url}{path}", params=params)
    assert page.status_code == 200 and 'name="password"' in page.text, page.text
    picked = WEB.post(f"{sim.base_url}{path}", data={**params, "username": username, "password": password,
                                                       "action": "login"})
    assert picked.status_code == 200 and 'name="company"' in picked.text, picked.text
    if company is None:
        return picked
    ticket = re.search(r'name="login_ticket" value="([^"]+)"', picked.text).group(1)
    return WEB.post(f"{sim.base_url}{path}", data={**params, "login_ticket": ticket, "action": "select",
                                                     "company": str(sim.company_id(company))})


def code_from(response: httpx.Response, state: str | None = "st-1", redirect_uri: str = REDIRECT_URI) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query.get("state") == ([state] if state is not None else None)
    return query["code"][0]


def token_call(sim: ProcountorSimulator, auth: tuple[str, str] | None = None, **form: str) -> httpx.Response:
    if auth is None:
        form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return WEB.post(f"{sim.base_url}/api/oauth/token", data=form, auth=auth)


def exchange(sim: ProcountorSimulator, code: str, redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    return token_call(sim, grant_type="authorization_code", code=code, redirect_uri=redirect_uri)


def company_of(sim: ProcountorSimulator, access_token: str) -> httpx.Response:
    return WEB.get(f"{sim.base_url}/api/company", headers={"Authorization": f"Bearer {access_token}"})


def test_sign_in_lists_the_users_companies_and_the_pick_decides_the_grant(sim):
    picker = sign_in(sim, None)
    assert DEMO in picker.text and OTHER in picker.text and "3141592-6" in picker.text
    for company in (OTHER, DEMO):
        tokens = exchange(sim, code_from(sign_in(sim, company))).json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 3600 and tokens["refresh_token"]
        info = company_of(sim, tokens["access_token"]).json()
        assert info["name"] == company and info["id"] == sim.company_id(company)


def test_state_is_echoed_verbatim_and_left_out_when_not_sent(sim):
    tricky = "con_42:tenant/å&x=1"
    code_from(sign_in(sim, DEMO, state=tricky), state=tricky)
    code_from(sign_in(sim, DEMO, state=None), state=None)


def test_a_company_the_user_does_not_reach_cannot_be_picked(sim):
    params = sign_in_params()
    picked = sign_in(sim, None, username="single@esimerkki.example", password="single-password")
    assert OTHER in picked.text and DEMO not in picked.text
    ticket = re.search(r'name="login_ticket" value="([^"]+)"', picked.text).group(1)
    refused = WEB.post(f"{sim.base_url}/login", data={**params, "login_ticket": ticket,
                                                        "company": str(sim.company_id(DEMO))})
    assert refused.status_code == 200 and "Choose one of your companies" in refused.text
    # A ticket is single use.
    replay = WEB.post(f"{sim.base_url}/login", data={**params, "login_ticket": ticket,
                                                       "company": str(sim.company_id(OTHER))})
    assert replay.status_code == 200 and "sign-in expired" in replay.text


def test_wrong_password_cancel_and_wrong_response_type(sim):
    params = sign_in_params()
    wrong = WEB.post(f"{sim.base_url}/login", data={**params, "username": USER, "password": "nope"})
    assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
    cancelled = WEB.post(f"{sim.base_url}/login", data={**params, "action": "cancel"})
    assert cancelled.status_code == 302
    assert parse_qs(urlsplit(cancelled.headers["Location"]).query) == {"error": ["access_denied"], "state": ["st-1"]}
    token_type = WEB.get(f"{sim.base_url}/login", params={**params, "response_type": "token"})
    assert parse_qs(urlsplit(token_type.headers["Location"]).query)["error"] == ["unsupported_response_type"]


def test_one_redirect_uri_per_client_and_no_query_string():
    config = SimulatorConfig()
    config.clients[CLIENT_ID]["redirect_uri"] = REDIRECT_URI
    with ProcountorSimulator(config) as sim:
        base = sign_in_params()
        for bad in (REDIRECT_URI + "?tenant=t1", "http://127.0.0.1:9999/other", "https://evil.example/cb"):
            refused = WEB.get(f"{sim.base_url}/login", params={**base, "redirect_uri": bad})
            assert refused.status_code == 400 and "Location" not in refused.headers, bad
        query_refused = WEB.get(f"{sim.base_url}/login", params={**base, "redirect_uri": REDIRECT_URI + "?x=1"})
        assert "without a query string" in query_refused.text
        unknown = WEB.get(f"{sim.base_url}/login", params={**base, "client_id": "nope"})
        assert unknown.status_code == 400 and "Location" not in unknown.headers
        code = code_from(sign_in(sim, DEMO))
        assert exchange(sim, code, redirect_uri="http://127.0.0.1:9999/other").json() == {"error": "invalid_grant"}


def test_without_a_registered_uri_the_first_one_used_becomes_the_clients_only_one(sim):
    code_from(sign_in(sim, DEMO))
    other = WEB.get(f"{sim.base_url}/login", params=sign_in_params(redirect_uri="http://localhost:7000/cb"))
    assert other.status_code == 400 and "not the one registered" in other.text
    sim.reset()
    code_from(sign_in(sim, DEMO, redirect_uri="http://localhost:7000/cb"), redirect_uri="http://localhost:7000/cb")


def test_code_is_single_use_expires_and_needs_the_client(sim):
    code = code_from(sign_in(sim, DEMO))
    bad_secret = token_call(sim, auth=(CLIENT_ID, "wrong"), grant_type="authorization_code", code=code,
                            redirect_uri=REDIRECT_URI)
    assert bad_secret.status_code == 401 and bad_secret.json() == {"error": "invalid_client"}
    basic = token_call(sim, auth=(CLIENT_ID, CLIENT_SECRET), grant_type="authorization_code", code=code,
                       redirect_uri=REDIRECT_URI)
    assert basic.status_code == 200 and basic.headers["Cache-Control"] == "no-store"
    reused = exchange(sim, code)
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}
    late = code_from(sign_in(sim, DEMO))
    sim.advance_clock(301)
    assert exchange(sim, late).json() == {"error": "invalid_grant"}


def test_token_endpoint_wants_a_form_and_a_known_grant(sim):
    as_json = WEB.post(f"{sim.base_url}/api/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    assert token_call(sim, grant_type="password").json() == {"error": "unsupported_grant_type"}


def test_refresh_rotates_the_refresh_token_and_the_old_one_is_dead(sim):
    first = exchange(sim, code_from(sign_in(sim, OTHER))).json()
    second = token_call(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert company_of(sim, rotated["access_token"]).json()["name"] == OTHER   # stays bound to the picked company
    replay = token_call(sim, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_grant"}
    assert sim.state.refresh_token_reuse_attempts == 1
    assert token_call(sim, grant_type="refresh_token", refresh_token=rotated["refresh_token"]).status_code == 200


def test_refresh_token_expires_unused_and_non_rotating_mode_keeps_it():
    with ProcountorSimulator(SimulatorConfig(refresh_token_ttl=600)) as sim:
        tokens = sim.issue_token(DEMO)
        sim.advance_clock(601)
        expired = token_call(sim, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert expired.status_code == 400 and expired.json() == {"error": "invalid_grant"}
    with ProcountorSimulator(SimulatorConfig(refresh_token_rotates=False)) as sim:
        tokens = sim.issue_token(DEMO)
        for _ in range(2):
            again = token_call(sim, grant_type="refresh_token", refresh_token=tokens["refresh_token"]).json()
            assert again["refresh_token"] == tokens["refresh_token"]


def test_access_token_expires_and_the_api_answers_401_in_procountor_shape(sim):
    token = sim.issue_token(DEMO)["access_token"]
    assert company_of(sim, token).status_code == 200
    sim.advance_clock(3601)
    expired = company_of(sim, token)
    assert errors_of(expired, 401) == [{"status": 401, "message": "UNAUTHORIZED"}]
    assert "invalid_token" in expired.headers["WWW-Authenticate"]
    assert WEB.get(f"{sim.base_url}/api/company").status_code == 401


def test_logout_ends_the_access_token(sim):
    token = sim.issue_token(DEMO)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert WEB.post(f"{sim.base_url}/logout", headers=headers).status_code == 200
    assert company_of(sim, token).status_code == 401


def test_legacy_authz_post_with_company_id(sim):
    # GET shows the same sign-in page as /login; the deprecated POST takes username, password and company at once.
    assert 'name="password"' in WEB.get(f"{sim.base_url}/api/oauth/authz", params=sign_in_params()).text
    response = WEB.post(f"{sim.base_url}/api/oauth/authz",
                          params={"response_type": "code", "client_id": CLIENT_ID, "state": "legacy"},
                          data={"response_type": "code", "username": USER, "password": PASSWORD,
                                "company": str(sim.company_id(OTHER)), "redirect_uri": REDIRECT_URI})
    tokens = exchange(sim, code_from(response, state="legacy")).json()
    assert company_of(sim, tokens["access_token"]).json()["name"] == OTHER


# ---------------------------------------------------------------------------------------------
# Machine to machine: API key, then client_credentials + api_key for each access token
# ---------------------------------------------------------------------------------------------

def client_credentials(sim: ProcountorSimulator, api_key: str, **overrides: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "api_key": api_key, "redirect_uri": REDIRECT_URI, **overrides}
    return token_call(sim, **{k: v for k, v in form.items() if v is not None})


def test_keylogin_gives_an_api_key_for_the_picked_company_then_client_credentials(sim):
    code = code_from(sign_in(sim, OTHER, path="/keylogin"))
    swapped = exchange(sim, code)
    assert swapped.status_code == 200 and set(swapped.json()) == {"api_key"}
    api_key = swapped.json()["api_key"]
    assert api_key.count(".") == 2   # JWT-shaped like Procountor's keys
    first = client_credentials(sim, api_key)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert "refresh_token" not in tokens and tokens["expires_in"] == 3600
    assert company_of(sim, tokens["access_token"]).json()["name"] == OTHER
    # The key is long-lived: every new access token comes from it again.
    sim.advance_clock(3601)
    assert company_of(sim, tokens["access_token"]).status_code == 401
    assert company_of(sim, client_credentials(sim, api_key).json()["access_token"]).status_code == 200


def test_client_credentials_rules(sim):
    api_key = sim.issue_api_key(DEMO)
    assert client_credentials(sim, api_key).status_code == 200   # binds the client's redirect URI
    assert client_credentials(sim, api_key, redirect_uri=None).json()["error"] == "invalid_request"
    assert client_credentials(sim, "", redirect_uri=REDIRECT_URI).json()["error"] == "invalid_request"
    assert client_credentials(sim, api_key, redirect_uri="http://127.0.0.1:1/x").json()["error"] == "invalid_grant"
    assert client_credentials(sim, api_key + "x").json()["error"] == "invalid_grant"
    wrong_client = token_call(sim, auth=(CLIENT_ID, "nope"), grant_type="client_credentials", api_key=api_key,
                              redirect_uri=REDIRECT_URI)
    assert wrong_client.status_code == 401


def test_a_revoked_api_key_stops_working_and_its_tokens_die(sim):
    api_key = sim.issue_api_key(DEMO)
    token = client_credentials(sim, api_key).json()["access_token"]
    revoked = WEB.delete(f"{sim.base_url}/_sim/api-keys/{api_key}")
    assert revoked.status_code == 200
    assert company_of(sim, token).status_code == 401
    assert client_credentials(sim, api_key).json() == {"error": "invalid_grant"}


def test_redirect_uri_not_required_for_client_credentials_when_configured_so():
    with ProcountorSimulator(SimulatorConfig(client_credentials_requires_redirect_uri=False)) as sim:
        assert client_credentials(sim, sim.issue_api_key(DEMO), redirect_uri=None).status_code == 200


# ---------------------------------------------------------------------------------------------
# Company, chart, fiscal years, dimensions
# ---------------------------------------------------------------------------------------------

def test_company_and_session_info(sim, api):
    company = api.get("/company").json()
    assert company["businessIdentifier"] == {"brnType": "YHD", "code": "3141592-6"}
    assert company["companyCurrency"] == "EUR" and company["country"] == "FINLAND"
    session = api.get("/sessioninfo").json()
    assert session["companyId"] == sim.company_id(DEMO) and session["name"] == DEMO
    with authorized(sim, OTHER) as other:
        assert other.get("/company").json()["businessIdentifier"]["code"] == "2718281-8"


def test_chart_of_accounts(api):
    accounts = {a["ledgerAccountCode"]: a for a in api.get("/coa").json()["ledgerAccounts"]}
    assert accounts["5000"] == {"ledgerAccountCode": "5000", "name": "Palkat ja palkkiot", "active": True,
                                "translations": [{"languageCode": "en", "translation": "Salaries and fees"}]}
    assert accounts["5990"]["active"] is False
    assert "translations" not in accounts["2939"]


def test_fiscal_years_with_periods_and_their_status(sim, api):
    years = api.get("/fiscalyears").json()["fiscalYears"]
    assert [fy["startDate"] for fy in years] == ["2027-01-01", "2026-01-01", "2025-01-01"]   # newest first
    fy2026 = years[1]
    assert fy2026["isOpen"] is True and len(fy2026["trackingPeriods"]) == 12
    assert [p["startDate"] for p in fy2026["trackingPeriods"]][:2] == ["2026-01-01", "2026-02-01"]
    assert {p["status"] for p in fy2026["trackingPeriods"]} == {"OPEN"}
    assert years[2]["isOpen"] is False
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", fy2026["modified"])
    with authorized(sim, OTHER) as other:
        periods = other.get("/fiscalyears").json()["fiscalYears"][1]["trackingPeriods"]
        assert [p["status"] for p in periods[:3]] == ["CLOSED", "OPEN", "OPEN"]
        assert periods[0]["endDate"] == "2026-01-31"


def test_tracking_period_can_only_go_from_open_to_pending(api):
    fy2026 = api.get("/fiscalyears").json()["fiscalYears"][1]
    march = fy2026["trackingPeriods"][2]
    url = f"/fiscalyears/{fy2026['id']}/trackingPeriods/{march['id']}"
    assert api.put(url, json={"status": "PENDING"}).status_code == 200
    assert api.get("/fiscalyears").json()["fiscalYears"][1]["trackingPeriods"][2]["status"] == "PENDING"
    assert field_messages(api.put(url, json={"status": "OPEN"}), 409) == {("status", "STATUS_CHANGE_NOT_ALLOWED")}
    errors_of(api.put(f"/fiscalyears/{fy2026['id']}/trackingPeriods/1", json={"status": "PENDING"}), 404)


def test_dimensions_with_items_active_and_inactive(sim, api):
    dimensions = {d["name"]: d for d in api.get("/dimensions").json()}
    assert set(dimensions) == {"Kustannuspaikka", "Projekti"}
    items = {i["codeName"]: i for i in dimensions["Kustannuspaikka"]["items"]}
    assert "status" not in items["100"] and items["900"]["status"] == "P"   # inactive items carry "P"
    by_name = api.get("/dimensions", params={"name": "kustannus"}).json()
    assert [d["name"] for d in by_name] == ["Kustannuspaikka"]
    by_item = api.get("/dimensions", params={"codeName": "P-2"}).json()
    assert [(d["name"], [i["codeName"] for i in d["items"]]) for d in by_item] == [("Projekti", ["P-2"])]
    one = api.get(f"/dimensions/{dimensions['Projekti']['id']}").json()
    assert one["name"] == "Projekti" and len(one["items"]) == 2
    errors_of(api.get("/dimensions/999"), 404)
    with authorized(sim, OTHER) as other:
        assert {d["name"] for d in other.get("/dimensions").json()} == {"Kustannuspaikka", "Kustannusyksikkö"}


def test_dimension_items_can_be_created_renamed_and_inactivated(api):
    cost_centre = api.get("/dimensions", params={"name": "Kustannuspaikka"}).json()[0]
    created = api.post(f"/dimensions/{cost_centre['id']}/items", json={"codeName": "400", "description": "Uusi"})
    assert created.status_code == 200
    item = created.json()
    assert isinstance(item["id"], int) and item["codeName"] == "400" and "status" not in item
    duplicate = api.post(f"/dimensions/{cost_centre['id']}/items", json={"codeName": "400"})
    assert field_messages(duplicate) == {("codeName", "DUPLICATE_CODE_NAME")}
    assert field_messages(api.post(f"/dimensions/{cost_centre['id']}/items", json={})) == {("codeName", "REQUIRED")}
    inactivated = api.put(f"/dimensions/{cost_centre['id']}/items",
                          json={"id": item["id"], "codeName": "400", "status": "P"})
    assert inactivated.json()["status"] == "P"
    errors_of(api.put(f"/dimensions/{cost_centre['id']}/items", json={"id": 1, "codeName": "x"}), 404)
    errors_of(api.post("/dimensions/999/items", json={"codeName": "x"}), 404)
    assert api.put(f"/dimensions/{cost_centre['id']}", json={"name": "Kustannuspaikat"}).json() == {
        "name": "Kustannuspaikat"}


def test_vat_defaults(api):
    vats = api.get("/vats/default").json()
    assert [p["vatPercent"] for p in vats["vatInformation"][0]["percentages"]] == [25.5, 14, 10, 0]
    assert {s["vatStatus"] for s in vats["vatStatuses"]} >= {1, 2}


# ---------------------------------------------------------------------------------------------
# Posting journals
# ---------------------------------------------------------------------------------------------

def test_balanced_journal_is_created_unfinished(sim, api):
    cost_centre = 301
    body = journal()
    body["transactions"][0]["dimensionItemValues"] = [
        {"dimensionId": cost_centre, "itemId": 3011, "value": Decimal("1200.00")},
        {"dimensionId": cost_centre, "itemId": 3012, "value": Decimal("2000.00")}]
    response = post_json(api, "/ledgerreceipts", body)
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["status"] == "UNFINISHED" and receipt["type"] == "JOURNAL"
    assert receipt["name"] == "PAY-2026-06 2026-06" and receipt["receiptDate"] == "2026-06-30"
    assert isinstance(receipt["id"], int) and isinstance(receipt["invoiceId"], int)
    assert receipt["receiptNumber"] == 3   # two receipts existed before
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", receipt["version"])
    assert all(isinstance(t["id"], int) for t in receipt["transactions"])
    assert '"accountingValue": 3200.00' in response.text and '"accountingValue": -2560.00' in response.text
    assert receipt["attachments"] == []
    stored = sim.receipts(DEMO, type="JOURNAL")[-1]
    assert stored["id"] == receipt["id"] and stored["transactions"][0]["accountingValue"] == Decimal("3200.00")
    assert stored["transactions"][0]["dimensionItemValues"][1] == {"dimensionId": 301, "itemId": 3012,
                                                                   "value": Decimal("2000.00")}
    fetched = api.get(f"/ledgerreceipts/{receipt['id']}")
    assert fetched.json() == receipt


def test_there_is_no_idempotency_an_identical_resend_is_a_second_receipt(sim, api):
    first = post_json(api, "/ledgerreceipts", journal(name="PAY-TWICE 2026-06")).json()
    second = post_json(api, "/ledgerreceipts", journal(name="PAY-TWICE 2026-06")).json()
    assert first["id"] != second["id"] and second["receiptNumber"] == first["receiptNumber"] + 1
    assert [r["name"] for r in sim.receipts(DEMO)].count("PAY-TWICE 2026-06") == 2


def test_concurrent_posts_get_distinct_ids_and_numbers(sim, api):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: post_json(api, "/ledgerreceipts", journal(name=f"PAR-{n}")), range(16)))
    assert {a.status_code for a in answers} == {200}
    receipts = [a.json() for a in answers]
    assert len({r["id"] for r in receipts}) == 16
    assert sorted(r["receiptNumber"] for r in receipts) == list(range(3, 19))


def test_unbalanced_journal_is_refused_and_nothing_is_stored(sim, api):
    before = len(sim.receipts(DEMO))
    body = journal(lines=[("5000", "100.00"), ("2939", "-99.99")])
    assert field_messages(post_json(api, "/ledgerreceipts", body)) == {("transactions", "RECEIPT_NOT_BALANCED")}
    assert len(sim.receipts(DEMO)) == before


def test_create_reconciliation_adds_the_balancing_row(api):
    body = journal(lines=[("1910", "-100.00"), ("5000", "99.99")])
    body["transactions"][0]["transactionType"] = "REVERSING_ENTRY"
    receipt = post_json(api, "/ledgerreceipts", body, params={"createReconciliation": "true"}).json()
    last = receipt["transactions"][-1]
    assert last["transactionType"] == "RECONCILIATION_ENTRY" and last["account"] == "1910"
    assert Decimal(str(last["accountingValue"])) == Decimal("0.01")


def test_vat_counts_in_the_balance(api):
    # accountingValue is net: 100.00 at 25.5 % is 125.50 gross.
    body = journal(lines=[("5000", "100.00"), ("2871", "-125.50")])
    body["transactions"][0]["vatPercent"] = Decimal("25.5")
    assert post_json(api, "/ledgerreceipts", body).status_code == 200
    body["transactions"][0]["vatPercent"] = Decimal("24")
    assert ("transactions[0].vatPercent", "VAT_PERCENT_NOT_ALLOWED") in field_messages(
        post_json(api, "/ledgerreceipts", body))


def test_accounts_must_exist_and_be_active_and_all_errors_come_together(api):
    body = journal(lines=[("5001", "10.00"), ("5990", "5.00"), ("2939", "-15.00")])
    body["name"] = "x" * 81
    assert field_messages(post_json(api, "/ledgerreceipts", body)) == {
        ("transactions[0].account", "LEDGER_ACCOUNT_NOT_FOUND"),
        ("transactions[1].account", "LEDGER_ACCOUNT_INACTIVE"),
        ("name", "TOO_LONG"),
    }


def test_dimension_values_are_validated(api):
    def with_dimensions(values):
        body = journal(lines=[("5000", "100.00"), ("2939", "-100.00")])
        body["transactions"][0]["dimensionItemValues"] = values
        return field_messages(post_json(api, "/ledgerreceipts", body))

    prefix = "transactions[0].dimensionItemValues"
    assert with_dimensions([{"dimensionId": 999, "itemId": 3011, "value": 100}]) == {
        (f"{prefix}[0].dimensionId", "DIMENSION_NOT_FOUND")}
    assert with_dimensions([{"dimensionId": 301, "itemId": 3021, "value": 100}]) == {
        (f"{prefix}[0].itemId", "DIMENSION_ITEM_NOT_FOUND")}   # an item of another dimension
    assert with_dimensions([{"dimensionId": 301, "itemId": 3019, "value": 100}]) == {
        (f"{prefix}[0].itemId", "DIMENSION_ITEM_INACTIVE")}
    assert with_dimensions([{"dimensionId": 301, "itemId": 3011, "value": Decimal("60.00")},
                            {"dimensionId": 301, "itemId": 3012, "value": Decimal("39.99")}]) == {
        (prefix, "DIMENSION_VALUES_DO_NOT_MATCH_TRANSACTION")}
    assert with_dimensions([{"dimensionId": 301, "itemId": 3011, "value": 50},
                            {"dimensionId": 301, "itemId": 3011, "value": 50}]) >= {
        (f"{prefix}[1]", "DUPLICATE_DIMENSION_ITEM")}
    assert with_dimensions([{"dimensionId": 301, "value": 100}]) == {(f"{prefix}[0].itemId", "REQUIRED")}


def test_closed_period_refuses_with_closed_fiscal_period_until_reopened(sim):
    with authorized(sim, OTHER) as other:
        january = journal(name="PAY-2026-06 2026-01", receipt_date="2026-01-31")
        assert field_messages(post_json(other, "/ledgerreceipts", january)) == {
            ("receiptDate", "CLOSED_FISCAL_PERIOD")}
        assert sim.receipts(OTHER) == []
        assert post_json(other, "/ledgerreceipts", journal(receipt_date="2026-02-28")).status_code == 200
        assert field_messages(post_json(other, "/ledgerreceipts", journal(receipt_date="2025-12-31"))) == {
            ("receiptDate", "CLOSED_FISCAL_PERIOD")}   # the closed fiscal year
        assert field_messages(post_json(other, "/ledgerreceipts", journal(receipt_date="2031-01-31"))) == {
            ("receiptDate", "NO_FISCAL_YEAR")}

        reopened = WEB.post(f"{sim.base_url}/_sim/periods",
                              json={"company": OTHER, "period": "2026-01", "status": "OPEN"})
        assert reopened.status_code == 200 and reopened.json()["status"] == "OPEN"
        assert post_json(other, "/ledgerreceipts", january).status_code == 200

        sim.set_period_status(OTHER, "2026-02", "PENDING")   # pending is not open
        assert field_messages(post_json(other, "/ledgerreceipts", journal(receipt_date="2026-02-10"))) == {
            ("receiptDate", "CLOSED_FISCAL_PERIOD")}


def test_required_fields_and_formats(api):
    assert field_messages(post_json(api, "/ledgerreceipts", {"type": "JOURNAL"})) == {
        ("name", "REQUIRED"), ("receiptDate", "REQUIRED"), ("vatType", "REQUIRED"), ("vatStatus", "REQUIRED"),
        ("transactions", "REQUIRED")}
    assert field_messages(post_json(api, "/ledgerreceipts", journal(type="SALES_INVOICE"))) == {
        ("type", "TYPE_NOT_ALLOWED")}
    assert field_messages(post_json(api, "/ledgerreceipts", journal(receiptDate="30.06.2026"))) == {
        ("receiptDate", "INVALID_FORMAT")}
    assert field_messages(post_json(api, "/ledgerreceipts", journal(transactions=[]))) == {
        ("transactions", "REQUIRED")}

    as_string = journal()
    as_string["transactions"][0]["accountingValue"] = "3200.00"   # money must be a JSON number
    assert field_messages(post_json(api, "/ledgerreceipts", as_string)) == {
        ("transactions[0].accountingValue", "INVALID_FORMAT")}
    no_vat = journal()
    del no_vat["transactions"][1]["vatPercent"]   # required by Procountor's own spec
    assert field_messages(post_json(api, "/ledgerreceipts", no_vat)) == {("transactions[1].vatPercent", "REQUIRED")}
    reversing_with_vat = journal(lines=[("1910", "-100.00"), ("5000", "100.00")])
    reversing_with_vat["transactions"][0].update(transactionType="REVERSING_ENTRY", vatStatus=1)
    assert field_messages(post_json(api, "/ledgerreceipts", reversing_with_vat)) == {
        ("transactions[0]", "VAT_NOT_ALLOWED_FOR_TRANSACTION_TYPE")}
    assert field_messages(post_json(api, "/ledgerreceipts", journal(vatStatus=6))) == {
        ("vatStatus", "VAT_STATUS_NOT_ALLOWED")}   # a sales-only status on a purchase receipt

    broken = api.post("/ledgerreceipts", content=b'{"type": "JOURNAL",', headers={"Content-Type": "application/json"})
    assert field_messages(broken) == {(None, "INVALID_JSON")}


def test_sub_cent_amounts_are_refused_or_rounded_as_configured(api):
    three_decimals = ('{"type":"JOURNAL","name":"r","receiptDate":"2026-06-30","vatType":"PURCHASE","vatStatus":2,'
                      '"transactions":[{"transactionType":"ENTRY","account":"5000","accountingValue":10.005,'
                      '"vatPercent":0},{"transactionType":"ENTRY","account":"2939","accountingValue":-10.01,'
                      '"vatPercent":0}]}')
    refused = api.post("/ledgerreceipts", content=three_decimals, headers={"Content-Type": "application/json"})
    assert field_messages(refused) == {("transactions[0].accountingValue", "TOO_MANY_DECIMALS")}
    with ProcountorSimulator(SimulatorConfig(sub_cent_values="round")) as rounding:
        with authorized(rounding, DEMO) as client:
            answer = client.post("/ledgerreceipts", content=three_decimals,
                                 headers={"Content-Type": "application/json"})
            assert answer.status_code == 200 and '"accountingValue": 10.01' in answer.text


def test_companies_are_isolated(sim, api):
    receipt = post_json(api, "/ledgerreceipts", journal()).json()
    with authorized(sim, OTHER) as other:
        errors_of(other.get(f"/ledgerreceipts/{receipt['id']}"), 404)
        assert other.get("/ledgerreceipts").json()["meta"]["totalCount"] == 0
        errors_of(other.put(f"/ledgerreceipts/{receipt['id']}/approve"), 404)


# ---------------------------------------------------------------------------------------------
# Search and paging
# ---------------------------------------------------------------------------------------------

def post_run(api: httpx.Client, reference: str, months: list[int]) -> list[dict]:
    receipts = []
    for month in months:
        body = journal(name=f"{reference} 2026-{month:02d}", receipt_date=f"2026-{month:02d}-28")
        response = post_json(api, "/ledgerreceipts", body)
        assert response.status_code == 200, response.text
        receipts.append(response.json())
    return receipts


def test_search_filters_by_type_date_status_and_created_window(sim, api):
    sim.advance_clock(5)   # the seeded receipts were created earlier
    created_from = sim.state.local_now()
    ours = post_run(api, "PAY-2026-06", [1, 2, 3, 4, 5, 6])
    sim.advance_clock(5)
    created_after = sim.state.local_now()

    journals = api.get("/ledgerreceipts", params={"types": "JOURNAL", "size": 200}).json()
    assert journals["meta"]["totalCount"] == 7   # ours and the seeded manual one
    assert {r["type"] for r in journals["results"]} == {"JOURNAL"}
    assert set(journals["results"][0]) == {"id", "type", "status", "name", "receiptDate", "receiptNumber",
                                           "invoiceNumber", "created", "version"}
    june = api.get("/ledgerreceipts", params={"types": "JOURNAL", "startDate": "2026-06-01",
                                              "endDate": "2026-06-30"}).json()["results"]
    assert sorted(r["name"] for r in june) == ["PAY-2026-06 2026-06", "Palkat 2026-06 (käsin)"]
    window = api.get("/ledgerreceipts", params={"createdStartDate": created_from,
                                                "createdEndDate": created_after}).json()["results"]
    assert sorted(r["id"] for r in window) == sorted(r["id"] for r in ours)
    both = api.get("/ledgerreceipts", params=[("types", "JOURNAL"), ("types", "SALES_INVOICE")]).json()
    assert both["meta"]["totalCount"] == 8
    approved = api.get("/ledgerreceipts", params={"status": "APPROVED"}).json()["results"]
    assert {r["name"] for r in approved} == {"Myyntilasku 1001", "Palkat 2026-06 (käsin)"}
    # There is no search by name: the parameter is ignored, so a client must match names itself.
    ignored = api.get("/ledgerreceipts", params={"name": "PAY-2026-06 2026-03"}).json()
    assert ignored["meta"]["totalCount"] == 8


def test_paging_order_and_previous_id(api):
    post_run(api, "PAY-A", list(range(1, 13)))
    first = api.get("/ledgerreceipts", params={"types": "JOURNAL", "size": 5}).json()
    assert first["meta"] == {"pageNumber": 0, "pageSize": 5, "resultCount": 5, "totalCount": 13}
    ids = [r["id"] for r in first["results"]]
    assert ids == sorted(ids, reverse=True)   # newest first by default
    last = api.get("/ledgerreceipts", params={"types": "JOURNAL", "size": 5, "page": 2}).json()
    assert last["meta"]["resultCount"] == 3 and last["meta"]["pageNumber"] == 2
    keyset = api.get("/ledgerreceipts", params={"types": "JOURNAL", "size": 5, "previousId": ids[-1]}).json()
    assert [r["id"] for r in keyset["results"]] == [i - 5 for i in ids]
    ascending = api.get("/ledgerreceipts", params={"types": "JOURNAL", "orderById": "ASC", "size": 3}).json()
    assert [r["name"] for r in ascending["results"]] == ["Palkat 2026-06 (käsin)", "PAY-A 2026-01", "PAY-A 2026-02"]
    by_date = api.get("/ledgerreceipts", params={"types": "JOURNAL", "orderByDate": "ASC", "size": 1}).json()
    assert by_date["results"][0]["receiptDate"] == "2026-01-28"
    default_size = api.get("/ledgerreceipts").json()["meta"]["pageSize"]
    assert default_size == 50


def test_search_parameters_are_validated(api):
    assert field_messages(api.get("/ledgerreceipts", params={"size": 201})) == {("size", "INVALID_FORMAT")}
    assert field_messages(api.get("/ledgerreceipts", params={"size": 0})) == {("size", "INVALID_FORMAT")}
    assert field_messages(api.get("/ledgerreceipts", params={"types": "NOPE"})) == {("types", "INVALID_FORMAT")}
    assert field_messages(api.get("/ledgerreceipts", params={"startDate": "2026-13-01"})) == {
        ("startDate", "INVALID_FORMAT")}
    assert field_messages(api.get("/ledgerreceipts", params={"createdStartDate": "2026-06-01"})) == {
        ("createdStartDate", "INVALID_FORMAT")}
    assert field_messages(api.get("/ledgerreceipts", params={"orderById": "UP"})) == {("orderById", "INVALID_FORMAT")}


def test_get_several_receipts_by_comma_separated_ids(api):
    ours = post_run(api, "PAY-B", [7, 8])
    both = api.get(f"/ledgerreceipts/{ours[0]['id']},{ours[1]['id']}").json()
    assert [r["name"] for r in both] == ["PAY-B 2026-07", "PAY-B 2026-08"]
    errors_of(api.get("/ledgerreceipts/123"), 404)


# ---------------------------------------------------------------------------------------------
# Approve, invalidate, unfinished
# ---------------------------------------------------------------------------------------------

def test_approve_an_unfinished_journal(sim, api):
    receipt = post_json(api, "/ledgerreceipts", journal()).json()
    approved = api.put(f"/ledgerreceipts/{receipt['id']}/approve")
    assert approved.status_code == 200 and isinstance(approved.json()["message"], str)
    assert api.get(f"/ledgerreceipts/{receipt['id']}").json()["status"] == "APPROVED"
    assert field_messages(api.put(f"/ledgerreceipts/{receipt['id']}/approve"), 403) == {
        ("status", "INVALID_RECEIPT_STATUS")}
    sales_invoice = next(r for r in sim.receipts(DEMO) if r["type"] == "SALES_INVOICE")
    errors_of(api.put(f"/ledgerreceipts/{sales_invoice['id']}/approve"), 403)
    errors_of(api.put("/ledgerreceipts/42/approve"), 404)

    assert api.put(f"/ledgerreceipts/{receipt['id']}/unfinished").status_code == 200
    assert api.put(f"/ledgerreceipts/{receipt['id']}/invalidate").status_code == 200
    assert sim.receipts(DEMO)[-1]["status"] == "INVALIDATED"


def test_a_receipt_in_a_period_closed_after_posting_cannot_be_approved(sim, api):
    receipt = post_json(api, "/ledgerreceipts", journal(receipt_date="2026-03-31")).json()
    sim.set_period_status(DEMO, "2026-03", "CLOSED")
    assert field_messages(api.put(f"/ledgerreceipts/{receipt['id']}/approve"), 403) == {
        ("receiptDate", "CLOSED_FISCAL_PERIOD")}


# ---------------------------------------------------------------------------------------------
# Rate limit, latency and faults
# ---------------------------------------------------------------------------------------------

def test_rate_limit_per_client_across_endpoints():
    with ProcountorSimulator(SimulatorConfig(rate_limit_requests=3, rate_limit_window_s=60)) as sim:
        with authorized(sim, DEMO) as api:
            statuses = [api.get(path).status_code for path in ("/coa", "/company", "/dimensions", "/coa")]
            assert statuses == [200, 200, 200, 429]
            limited = api.get("/fiscalyears")
            assert errors_of(limited, 429) == [{"status": 429, "message": "TOO_MANY_REQUESTS"}]
            assert 1 <= int(limited.headers["Retry-After"]) <= 60
            # The token endpoint is not counted.
            assert client_credentials(sim, sim.issue_api_key(DEMO)).status_code == 200
            sim.advance_clock(61)
            assert api.get("/coa").status_code == 200
            assert sim.state.rate_limited == 2
    with ProcountorSimulator(SimulatorConfig(rate_limit_requests=1, rate_limit_window_s=60,
                                             send_retry_after=False)) as sim:
        with authorized(sim, DEMO) as api:
            api.get("/coa")
            silent = api.get("/coa")
            assert silent.status_code == 429 and "Retry-After" not in silent.headers


def test_status_fault_answers_without_doing_anything(sim, api):
    before = len(sim.receipts(DEMO))
    sim.add_fault(Fault("status", method="POST", path_prefix="/api/ledgerreceipts", status=503))
    assert errors_of(post_json(api, "/ledgerreceipts", journal()), 503)[0]["message"].startswith("Injected")
    assert len(sim.receipts(DEMO)) == before
    assert post_json(api, "/ledgerreceipts", journal()).status_code == 200   # fired once only


def test_rate_limit_fault_from_the_control_endpoint(sim, api):
    created = WEB.post(f"{sim.base_url}/_sim/faults", json={"kind": "rate_limit", "retry_after": 7, "times": 2})
    assert created.status_code == 201
    for _ in range(2):
        limited = api.get("/coa")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert api.get("/coa").status_code == 200


def test_timeout_after_commit_creates_the_receipt_and_a_search_proves_it(sim, api):
    sim.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/api/ledgerreceipts", delay_s=3))
    with pytest.raises(httpx.ReadTimeout):
        post_json(api, "/ledgerreceipts", journal(name="PAY-LOST 2026-06"), timeout=0.5)
    assert [r["name"] for r in sim.receipts(DEMO) if r["name"] == "PAY-LOST 2026-06"] == ["PAY-LOST 2026-06"]
    found = api.get("/ledgerreceipts", params={"types": "JOURNAL", "startDate": "2026-06-30",
                                               "endDate": "2026-06-30"}).json()["results"]
    assert "PAY-LOST 2026-06" in {r["name"] for r in found}


def test_status_after_commit_answers_an_error_although_the_receipt_exists(sim, api):
    sim.add_fault(Fault("status_after_commit", method="POST", path_prefix="/api/ledgerreceipts", status=502))
    errors_of(post_json(api, "/ledgerreceipts", journal(name="PAY-502 2026-06")), 502)
    assert "PAY-502 2026-06" in {r["name"] for r in sim.receipts(DEMO)}


def test_latency_fault_delays_and_then_proceeds(sim, api):
    sim.add_fault(Fault("latency", path_prefix="/api/coa", delay_s=0.05, times=-1))
    assert api.get("/coa").status_code == 200 and api.get("/coa").status_code == 200
    assert len(sim.state.faults) == 1   # times=-1 stays queued
    assert WEB.delete(f"{sim.base_url}/_sim/faults").json() == {"cleared": 1}
    with ProcountorSimulator(SimulatorConfig(latency_ms=20)) as slow:
        with authorized(slow, DEMO) as client:
            assert client.get("/company").json()["name"] == DEMO


def test_faults_reject_unknown_kinds(sim):
    assert WEB.post(f"{sim.base_url}/_sim/faults", json={"kind": "explode"}).status_code == 400


# ---------------------------------------------------------------------------------------------
# Versioned roots and control endpoints
# ---------------------------------------------------------------------------------------------

def test_versioned_api_roots(sim):
    token = sim.issue_token(DEMO)["access_token"]
    for root in ("/latest/api", "/supported/api", "/v2604/api"):
        response = WEB.get(f"{sim.base_url}{root}/company", headers={"Authorization": f"Bearer {token}"})
        assert response.json()["name"] == DEMO, root
    assert sim.request_counts()["GET /api/company"] == 3


def test_control_endpoints(sim, api):
    post_json(api, "/ledgerreceipts", journal())
    demo_id = sim.company_id(DEMO)
    per_company = WEB.get(f"{sim.base_url}/_sim/receipts", params={"company": demo_id}).json()
    assert len(per_company) == 3 and {r["companyId"] for r in per_company} == {demo_id}
    assert WEB.get(f"{sim.base_url}/_sim/receipts", params={"company": OTHER}).json() == []
    assert WEB.get(f"{sim.base_url}/_sim/receipts", params={"company": "nope"}).status_code == 404
    companies = WEB.get(f"{sim.base_url}/_sim/companies").json()
    assert [c["name"] for c in companies] == [DEMO, OTHER]

    closed = WEB.post(f"{sim.base_url}/_sim/periods", json={"company": demo_id, "period": "2026-04",
                                                              "status": "CLOSED"})
    assert closed.json()["status"] == "CLOSED"
    assert WEB.post(f"{sim.base_url}/_sim/periods", json={"company": demo_id, "period": "2026-04",
                                                            "status": "SHUT"}).status_code == 400
    year = WEB.post(f"{sim.base_url}/_sim/fiscal-years", json={"company": DEMO, "year": 2025, "open": True})
    assert year.json()["isOpen"] is True

    key = WEB.post(f"{sim.base_url}/_sim/api-keys", json={"company": OTHER}).json()["api_key"]
    assert company_of(sim, client_credentials(sim, key).json()["access_token"]).json()["name"] == OTHER
    refused = WEB.post(f"{sim.base_url}/_sim/api-keys",
                         json={"company": DEMO, "username": "single@esimerkki.example"})
    assert refused.status_code == 400
    tokens = WEB.post(f"{sim.base_url}/_sim/tokens", json={"company": OTHER}).json()
    assert company_of(sim, tokens["access_token"]).json()["name"] == OTHER

    stats = WEB.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["request_counts"]["POST /api/ledgerreceipts"] == 1 and stats["receipts"][DEMO] == 3
    assert WEB.post(f"{sim.base_url}/_sim/clock", json={"advance_seconds": 3601}).status_code == 200
    assert api.get("/company").status_code == 401
    WEB.post(f"{sim.base_url}/_sim/reset")
    assert len(sim.receipts(DEMO)) == 2 and sim.state.clock_offset_s == 0
    sim.reset_counts()
    assert sim.request_counts() == {}
