"""Tests of the Visma eAccounting simulator, driven over HTTP with httpx like a real client."""

from __future__ import annotations

import base64
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # project root, for `import simulators`

from simulators.visma_eaccounting import Fault, SimulatorConfig, VismaSimulator  # noqa: E402

CLIENT_ID, CLIENT_SECRET = "ledgerbridge-local", "local-secret"
REDIRECT_URI = "http://127.0.0.1:9999/callback"
FULL_SCOPE = "ea:api offline_access ea:accounting"
DEMO = "Demo Bakery AS"


@pytest.fixture
def sim():
    with VismaSimulator() as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    token = sim.issue_token()
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {token['access_token']}"},
                      timeout=5) as client:
        yield client


def balanced_voucher(date="2026-11-20", text="Z-report 2026-11-20", amount="1250.00", sales_account=3000):
    gross = Decimal(amount)
    net = (gross / Decimal("1.25")).quantize(Decimal("0.01"))
    return {
        "VoucherDate": date,
        "VoucherText": text,
        "Rows": [
            {"AccountNumber": 1580, "DebitAmount": gross, "TransactionText": "Card"},
            {"AccountNumber": sales_account, "CreditAmount": net},
            {"AccountNumber": 2700, "CreditAmount": gross - net},
        ],
    }


def post_json(client: httpx.Client, url: str, body: dict, **kwargs) -> httpx.Response:
    """POST with Decimals written as exact JSON numbers (the way a careful client does it)."""
    from simulators.visma_eaccounting.app import to_json
    return client.post(url, content=to_json(body), headers={"Content-Type": "application/json"}, **kwargs)


def authorize_code(sim: VismaSimulator, scope: str = FULL_SCOPE, state: str = "xyz") -> str:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "scope": scope, "state": state}
    page = httpx.get(f"{sim.base_url}/connect/authorize", params=params)
    assert page.status_code == 200 and 'name="consent" value="yes"' in page.text
    response = httpx.post(f"{sim.base_url}/connect/authorize",
                          data={**params, "username": "demo@bakery.example", "password": "demo-password",
                                "consent": "yes"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def exchange_code(sim: VismaSimulator, code: str) -> httpx.Response:
    return httpx.post(f"{sim.base_url}/connect/token", auth=(CLIENT_ID, CLIENT_SECRET),
                      data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})


def refresh(sim: VismaSimulator, refresh_token: str) -> httpx.Response:
    # Client credentials in the form this time (both styles are accepted).
    return httpx.post(f"{sim.base_url}/connect/token",
                      data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})


# ---------------------------------------------------------------------------------------------
# Identity server
# ---------------------------------------------------------------------------------------------

def test_authorization_code_flow_issues_tokens_usable_on_the_api(sim):
    tokens = exchange_code(sim, authorize_code(sim)).json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["scope"] == FULL_SCOPE and tokens["refresh_token"]
    settings = httpx.get(f"{sim.base_url}/v2/companysettings",
                         headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert settings.status_code == 200
    assert settings.json()["Name"] == DEMO
    assert settings.json()["CurrencyCode"] == "NOK" and settings.json()["CountryCode"] == "NO"


def test_authorize_rejects_unknown_client_and_foreign_redirect_without_redirecting(sim):
    base = {"response_type": "code", "scope": FULL_SCOPE, "state": "s"}
    unknown_client = httpx.get(f"{sim.base_url}/connect/authorize",
                               params={**base, "client_id": "nope", "redirect_uri": REDIRECT_URI})
    foreign_redirect = httpx.get(f"{sim.base_url}/connect/authorize",
                                 params={**base, "client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb"})
    assert unknown_client.status_code == 400 and "Location" not in unknown_client.headers
    assert foreign_redirect.status_code == 400 and "Location" not in foreign_redirect.headers


def test_authorize_without_mandatory_scopes_redirects_with_invalid_scope(sim):
    response = httpx.get(f"{sim.base_url}/connect/authorize",
                         params={"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
                                 "scope": "ea:api ea:accounting", "state": "s1"})
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"error": ["invalid_scope"], "state": ["s1"]}


def test_login_form_wrong_password_and_consent_denied(sim):
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "response_type": "code",
              "scope": FULL_SCOPE, "state": "s2"}
    wrong = httpx.post(f"{sim.base_url}/connect/authorize",
                       data={**params, "username": "demo@bakery.example", "password": "nope", "consent": "yes"})
    assert wrong.status_code == 200 and "Invalid username or password" in wrong.text
    denied = httpx.post(f"{sim.base_url}/connect/authorize",
                        data={**params, "username": "demo@bakery.example", "password": "demo-password",
                              "consent": "no"})
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {"error": ["access_denied"], "state": ["s2"]}


def test_code_is_single_use_and_client_must_authenticate(sim):
    code = authorize_code(sim)
    bad_client = httpx.post(f"{sim.base_url}/connect/token", auth=(CLIENT_ID, "wrong"),
                            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert bad_client.status_code == 401 and bad_client.json() == {"error": "invalid_client"}
    assert exchange_code(sim, code).status_code == 200
    reused = exchange_code(sim, code)
    assert reused.status_code == 400 and reused.json() == {"error": "invalid_grant"}


def test_code_expires_after_300_seconds(sim):
    code = authorize_code(sim)
    sim.advance_clock(301)
    assert exchange_code(sim, code).json() == {"error": "invalid_grant"}


def test_refresh_rotates_and_old_refresh_token_is_single_use(sim):
    first = exchange_code(sim, authorize_code(sim)).json()
    second = refresh(sim, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["access_token"] != first["access_token"]
    assert sim.state.refresh_token_reuse_attempts == 0

    replay = refresh(sim, first["refresh_token"])
    assert replay.status_code == 400 and replay.json() == {"error": "invalid_grant"}
    assert sim.state.refresh_token_reuse_attempts == 1
    assert sim.state.refresh_token_uses[first["refresh_token"]] == 2
    assert refresh(sim, rotated["refresh_token"]).status_code == 200


def test_access_token_expires_with_the_simulator_clock(sim):
    token = sim.issue_token()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{sim.base_url}/v2/fiscalyears", headers=headers).status_code == 200
    sim.advance_clock(3601)
    expired = httpx.get(f"{sim.base_url}/v2/fiscalyears", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["ErrorCode"] and "ErrorId" in expired.json()
    assert httpx.get(f"{sim.base_url}/v2/fiscalyears").status_code == 401  # no token at all


def test_accounting_endpoints_need_the_accounting_scope(sim):
    token = sim.issue_token(scopes=("ea:api", "offline_access"))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{sim.base_url}/v2/vouchers", headers=headers).status_code == 403
    assert httpx.get(f"{sim.base_url}/v2/companysettings", headers=headers).status_code == 200
    readonly = sim.issue_token(scopes=("ea:api", "offline_access", "ea:accounting_readonly"))["access_token"]
    readonly_headers = {"Authorization": f"Bearer {readonly}"}
    assert httpx.get(f"{sim.base_url}/v2/vouchers", headers=readonly_headers).status_code == 200
    assert httpx.post(f"{sim.base_url}/v2/vouchers", headers=readonly_headers,
                      json=balanced_voucher() | {"Rows": []}).status_code == 403


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------

def test_seeded_lookups(sim, api):
    fiscal_years = api.get("/v2/fiscalyears").json()
    assert [fy["StartDate"][:4] for fy in fiscal_years["Data"]] == ["2025", "2026", "2027"]
    assert fiscal_years["Meta"]["TotalNumberOfResults"] == 3

    vat_codes = {vc["Code"]: vc for vc in api.get("/v2/vatcodes").json()["Data"]}
    assert set(vat_codes) == {"0", "3", "31", "33", "5", "6"}
    assert vat_codes["31"]["Id"] == sim.vat_code_id(DEMO, "31")

    accounts_2026 = api.get(f"/v2/accounts/{sim.fiscal_year_id(DEMO, 2026)}", params={"$pagesize": 1000}).json()
    numbers = {a["Number"]: a for a in accounts_2026["Data"]}
    assert "3010" not in numbers and "3011" in numbers
    assert numbers["3090"]["IsActive"] is False
    assert numbers["3011"]["VatCodeId"] == sim.vat_code_id(DEMO, "31")
    accounts_2025 = api.get(f"/v2/accounts/{sim.fiscal_year_id(DEMO, 2025)}",
                            params={"$filter": "Number eq '3010'"}).json()
    assert [a["Name"] for a in accounts_2025["Data"]] == ["Salgsinntekt mat middels sats"]
    assert api.get("/v2/accounts/00000000-0000-0000-0000-000000000000").status_code == 404


def test_companies_are_isolated(sim, api):
    assert post_json(api, "/v2/vouchers", balanced_voucher()).status_code == 201
    other = sim.issue_token("other@cafe.example")["access_token"]
    other_vouchers = httpx.get(f"{sim.base_url}/v2/vouchers", headers={"Authorization": f"Bearer {other}"}).json()
    assert other_vouchers["Data"] == []
    assert len(sim.vouchers(DEMO)) == 1 and sim.vouchers("Other Cafe AS") == []


# ---------------------------------------------------------------------------------------------
# Vouchers
# ---------------------------------------------------------------------------------------------

def test_create_voucher_pascal_case(sim, api):
    response = post_json(api, "/v2/vouchers", balanced_voucher(), params={"useAutomaticVatCalculation": "false"})
    assert response.status_code == 201, response.text
    voucher = response.json()
    assert voucher["NumberAndNumberSeries"] == "A1" and voucher["NumberSeries"] == "A"
    assert voucher["VoucherType"] == 2 and voucher["VoucherDate"] == "2026-11-20T00:00:00"
    assert voucher["Attachments"] == {"DocumentId": voucher["Id"], "DocumentType": 3, "AttachmentIds": []}
    assert '"DebitAmount": 1250.00' in response.text  # two decimals on the wire
    sales_row = voucher["Rows"][1]
    assert sales_row["AccountDescription"] == "Salgsinntekt avgiftspliktig høy sats"
    assert sales_row["VatCodeId"] == sim.vat_code_id(DEMO, "3")
    stored = sim.vouchers(DEMO)
    assert [v["Id"] for v in stored] == [voucher["Id"]]
    assert stored[0]["Rows"][0]["DebitAmount"] == Decimal("1250.00")


def test_create_voucher_camel_case_numbers_sequentially(api):
    camel = {"voucherDate": "2026-11-21", "voucherText": "Z-report",
             "rows": [{"accountNumber": 1900, "debitAmount": 99.9, "transactionText": "Cash"},
                      {"accountNumber": 3011, "creditAmount": 86.87},
                      {"accountNumber": 2701, "creditAmount": 13.03}]}
    first = api.post("/v2/vouchers", json=camel)
    second = api.post("/v2/vouchers", json=camel)
    assert first.status_code == 201, first.text
    assert first.json()["Rows"][0]["TransactionText"] == "Cash"
    assert [first.json()["NumberAndNumberSeries"], second.json()["NumberAndNumberSeries"]] == ["A1", "A2"]


def assert_visma_error(response: httpx.Response, status: int, code: int, message_part: str = "") -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ErrorCode"] == code
    assert message_part in body["DeveloperErrorMessage"]
    assert len(body["ErrorId"]) == 36 and isinstance(body["Errors"], list)
    return body


def test_unbalanced_voucher_is_rejected(sim, api):
    body = balanced_voucher()
    body["Rows"][0]["DebitAmount"] = Decimal("1250.01")
    assert_visma_error(post_json(api, "/v2/vouchers", body), 400, 2000, "Voucher is not balanced")
    assert sim.vouchers() == []


def test_account_missing_in_fiscal_year(api):
    response = post_json(api, "/v2/vouchers", balanced_voucher(sales_account=3010))
    body = assert_visma_error(response, 400, 3002, "Account 3010 does not exist in fiscal year 2026")
    assert body["Errors"][0]["Field"] == "Rows[1].AccountNumber"
    # ...but 3010 is fine in 2025.
    assert post_json(api, "/v2/vouchers", balanced_voucher(date="2025-06-01", sales_account=3010)).status_code == 201


def test_inactive_account(api):
    assert_visma_error(post_json(api, "/v2/vouchers", balanced_voucher(sales_account=3090)), 400, 2000,
                       "Account 3090 is inactive")


def test_no_fiscal_year_for_date(api):
    assert_visma_error(post_json(api, "/v2/vouchers", balanced_voucher(date="2031-01-15")), 400, 3001,
                       "No fiscal year exists for date 2031-01-15")


def test_locked_fiscal_year(sim, api):
    sim.state.set_fiscal_year_locked(DEMO, 2025)
    assert_visma_error(post_json(api, "/v2/vouchers", balanced_voucher(date="2025-03-01")), 400, 2000, "locked")


def test_amounts_are_validated_exactly(api):
    three_decimals = ('{"VoucherDate":"2026-11-20","VoucherText":"t","Rows":['
                      '{"AccountNumber":1900,"DebitAmount":10.005},{"AccountNumber":3000,"CreditAmount":10.005}]}')
    response = api.post("/v2/vouchers", content=three_decimals, headers={"Content-Type": "application/json"})
    body = assert_visma_error(response, 400, 2000, "more than 2 decimal places")
    assert {e["Field"] for e in body["Errors"]} == {"Rows[0].DebitAmount", "Rows[1].CreditAmount"}

    both_sides = balanced_voucher()
    both_sides["Rows"][0]["CreditAmount"] = Decimal("1")
    assert_visma_error(post_json(api, "/v2/vouchers", both_sides), 400, 2000, "Exactly one of")
    negative = balanced_voucher()
    negative["Rows"][0]["DebitAmount"] = Decimal("-1250.00")
    assert_visma_error(post_json(api, "/v2/vouchers", negative), 400, 2000)
    long_text = balanced_voucher()
    long_text["Rows"][0]["TransactionText"] = "x" * 61
    assert_visma_error(post_json(api, "/v2/vouchers", long_text), 400, 2000, "TransactionText")
    missing = {"VoucherDate": "2026-11-20", "Rows": []}
    body = assert_visma_error(post_json(api, "/v2/vouchers", missing), 400, 2000)
    assert {e["Field"] for e in body["Errors"]} == {"VoucherText", "Rows"}


def test_voucher_paging_filter_and_lookup(sim, api):
    for day in ("2026-11-19", "2026-11-20", "2026-11-20", "2026-11-21", "2025-12-31"):
        assert post_json(api, "/v2/vouchers", balanced_voucher(date=day, text=f"Z-report {day}")).status_code == 201

    page = api.get("/v2/vouchers", params={"$page": 2, "$pagesize": 2}).json()
    assert page["Meta"] | {"ServerTimeUtc": None} == {
        "CurrentPage": 2, "PageSize": 2, "TotalNumberOfPages": 3, "TotalNumberOfResults": 5, "ServerTimeUtc": None}
    assert [v["NumberAndNumberSeries"] for v in page["Data"]] == ["A3", "A4"]

    same_day = api.get("/v2/vouchers", params={"$filter": "VoucherDate eq '2026-11-20'"}).json()
    assert same_day["Meta"]["TotalNumberOfResults"] == 2
    combined = api.get("/v2/vouchers", params={
        "$filter": "VoucherDate eq '2026-11-20' and NumberAndNumberSeries eq 'A3'"}).json()
    assert [v["NumberAndNumberSeries"] for v in combined["Data"]] == ["A3"]
    contains = api.get("/v2/vouchers", params={"$filter": "contains(VoucherText,'11-21')"}).json()
    assert [v["VoucherText"] for v in contains["Data"]] == ["Z-report 2026-11-21"]
    assert_visma_error(api.get("/v2/vouchers", params={"$filter": "VoucherDate gt '2026-01-01'"}), 400, 2000)
    assert_visma_error(api.get("/v2/vouchers", params={"$filter": "Nope eq 1"}), 400, 2000)

    fiscal_2026 = sim.fiscal_year_id(DEMO, 2026)
    in_2026 = api.get(f"/v2/vouchers/{fiscal_2026}").json()
    assert in_2026["Meta"]["TotalNumberOfResults"] == 4
    voucher_id = in_2026["Data"][0]["Id"]
    assert api.get(f"/v2/vouchers/{fiscal_2026}/{voucher_id}").json()["Id"] == voucher_id
    assert_visma_error(api.get(f"/v2/vouchers/{fiscal_2026}/00000000-0000-0000-0000-000000000000"), 404, 3000)


# ---------------------------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------------------------

def upload_pdf(api: httpx.Client, name: str = "z-report-2026-11-20.pdf") -> dict:
    response = api.post("/v2/attachments", json={"ContentType": "application/pdf", "FileName": name,
                                                 "Data": base64.b64encode(b"%PDF-1.4 z-report").decode()})
    assert response.status_code == 201, response.text
    return response.json()


def test_attachments_and_links(sim, api):
    attachment = upload_pdf(api)
    assert attachment["ContentType"] == "application/pdf" and attachment["DocumentId"] is None
    assert api.get(f"/v2/attachments/{attachment['Id']}").json()["FileName"] == "z-report-2026-11-20.pdf"
    assert httpx.get(attachment["TemporaryUrl"]).content == b"%PDF-1.4 z-report"

    voucher = post_json(api, "/v2/vouchers", balanced_voucher()).json()
    other_voucher = post_json(api, "/v2/vouchers", balanced_voucher(date="2026-11-21")).json()
    link = {"DocumentType": 3, "DocumentId": voucher["Id"], "AttachmentIds": [attachment["Id"]]}
    assert api.post("/v2/attachmentlinks", json=link).status_code == 200
    assert api.post("/v2/attachmentlinks", json=link).status_code == 200  # idempotent for the same voucher
    assert sim.vouchers()[0]["Attachments"]["AttachmentIds"] == [attachment["Id"]]
    assert api.get(f"/v2/attachments/{attachment['Id']}").json()["DocumentId"] == voucher["Id"]

    elsewhere = api.post("/v2/attachmentlinks", json={**link, "DocumentId": other_voucher["Id"]})
    assert_visma_error(elsewhere, 400, 4000, "already linked")
    missing_doc = api.post("/v2/attachmentlinks",
                           json={**link, "DocumentId": "00000000-0000-0000-0000-000000000000"})
    assert_visma_error(missing_doc, 400, 3000)
    camel = api.post("/v2/attachmentlinks", json={"documentType": 3, "documentId": other_voucher["Id"],
                                                  "attachmentIds": [upload_pdf(api, "second.pdf")["Id"]]})
    assert camel.status_code == 200


def test_attachment_validation(api):
    bad = api.post("/v2/attachments", json={"ContentType": "text/plain", "FileName": "a.txt", "Data": "%%%"})
    body = assert_visma_error(bad, 400, 2000)
    assert {e["Field"] for e in body["Errors"]} == {"ContentType", "Data"}
    assert_visma_error(api.get("/v2/attachments/00000000-0000-0000-0000-000000000000"), 404, 3000)


# ---------------------------------------------------------------------------------------------
# Rate limit and faults
# ---------------------------------------------------------------------------------------------

def test_rate_limit_per_client_and_endpoint():
    with VismaSimulator(SimulatorConfig(rate_limit_per_minute=3)) as sim:
        headers = {"Authorization": f"Bearer {sim.issue_token()['access_token']}"}
        statuses = [httpx.get(f"{sim.base_url}/v2/vatcodes", headers=headers).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = httpx.get(f"{sim.base_url}/v2/vatcodes", headers=headers)
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json()["ErrorCode"] == 4010
        assert limited.json()["DeveloperErrorMessage"] == (
            f"Too many requests. Try again in {limited.headers['Retry-After']} seconds.")
        assert httpx.get(f"{sim.base_url}/v2/fiscalyears", headers=headers).status_code == 200  # other endpoint
        sim.advance_clock(61)
        assert httpx.get(f"{sim.base_url}/v2/vatcodes", headers=headers).status_code == 200
        assert sim.request_counts()["GET /v2/vatcodes"] == 6


def test_status_fault_answers_without_doing_anything(sim, api):
    sim.add_fault(Fault("status", method="POST", path_prefix="/v2/vouchers", status=503))
    assert_visma_error(post_json(api, "/v2/vouchers", balanced_voucher()), 503, 5000)
    assert sim.vouchers() == []
    assert post_json(api, "/v2/vouchers", balanced_voucher()).status_code == 201  # fired once only


def test_rate_limit_fault_and_control_endpoint(sim, api):
    created = httpx.post(f"{sim.base_url}/_sim/faults", json={"kind": "rate_limit", "retry_after": 7, "times": 2})
    assert created.status_code == 201
    for _ in range(2):
        limited = api.get("/v2/vatcodes")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert api.get("/v2/vatcodes").status_code == 200


def test_timeout_after_commit_stores_the_voucher_although_the_client_gives_up(sim, api):
    sim.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", delay_s=3))
    with pytest.raises(httpx.ReadTimeout):
        post_json(api, "/v2/vouchers", balanced_voucher(), timeout=0.5)
    assert len(sim.vouchers(DEMO)) == 1


def test_latency_fault_delays_then_proceeds(sim, api):
    sim.add_fault(Fault("latency", path_prefix="/v2/fiscalyears", delay_s=0.3, times=-1))
    started = time.monotonic()
    assert api.get("/v2/fiscalyears").status_code == 200
    assert api.get("/v2/fiscalyears").status_code == 200
    assert time.monotonic() - started >= 0.6
    assert len(sim.state.faults) == 1  # times=-1 stays queued
    assert httpx.delete(f"{sim.base_url}/_sim/faults").json() == {"cleared": 1}


def test_control_endpoints(sim, api):
    post_json(api, "/v2/vouchers", balanced_voucher())
    assert len(httpx.get(f"{sim.base_url}/_sim/vouchers", params={"company": DEMO}).json()) == 1
    stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["request_counts"]["POST /v2/vouchers"] == 1 and stats["vouchers"][DEMO] == 1
    assert httpx.post(f"{sim.base_url}/_sim/clock", json={"advance_seconds": 3601}).status_code == 200
    assert api.get("/v2/vouchers").status_code == 401
    httpx.post(f"{sim.base_url}/_sim/reset")
    assert sim.vouchers() == [] and sim.state.clock_offset_s == 0
    sim.reset_counts()
    assert sim.request_counts() == {}
