"""The console through the local API gateway in process (moto, the simulators): sign-in links and
sessions, tenant isolation, forms with their refusals, the export log. The browser tests
(tests/e2e/test_console_browser.py) drive the same pages in Chromium against `make run`'s stack."""
from __future__ import annotations

import re
import time
from datetime import date, timedelta

import pytest
from werkzeug.test import Client

from devstack import samples
from devstack.gateway import LocalGateway
from tests.conftest import Api, connect
from tests.integration.tfso_helpers import drain


@pytest.fixture
def gateway(aws):
    return LocalGateway()


def sign_in_link(gateway: LocalGateway, key: str) -> str:
    answer = Client(gateway).post("/console/sign-in-links", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201, answer.text
    return answer.json["sign_in_url"]


def signed_in(gateway: LocalGateway, key: str) -> Client:
    browser = Client(gateway)
    url = sign_in_link(gateway, key)
    token = url.split("token=")[1]
    page = browser.get(f"/console/sign-in?token={token}")
    assert page.status_code == 200 and "Sign in" in page.text
    answer = browser.post("/console/sign-in", data={"token": token})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/console/connections")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=" in cookie
    return browser


def csrf(page_text: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page_text)[1]


def issue_key(tenant: str) -> str:
    from ledgerbridge.repositories import tenants

    return tenants.issue_key(tenant)


def test_a_sign_in_link_works_once_and_a_session_sees_only_its_tenant(gateway, visma):
    key_a, key_b = issue_key("tenant-a"), issue_key("tenant-b")
    theirs = connect(Api("tenant-b"), name="B's shop")
    browser = signed_in(gateway, key_a)
    page = browser.get("/console/connections")
    assert page.status_code == 200 and "tenant-a" in page.text and "B&#39;s shop" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    # Another tenant's connection is not there for this session, by any page.
    for path in (f"/console/connections/{theirs}", f"/console/connections/{theirs}/documents",
                 f"/console/connections/{theirs}/delete"):
        assert browser.get(path).status_code == 404, path
    answer = browser.post(f"/console/connections/{theirs}/delete",
                          data={"csrf": csrf(page.text), "confirm_name": "B's shop"})
    assert answer.status_code == 404
    assert Api("tenant-b").call("GET", f"/connections/{theirs}")[0] == 200
    # The link is used up: a second use opens no session.
    link = sign_in_link(gateway, key_b)
    token = link.split("token=")[1]
    assert Client(gateway).post("/console/sign-in", data={"token": token}).status_code == 303
    again = Client(gateway).post("/console/sign-in", data={"token": token})
    assert again.status_code == 401 and "used up or expired" in again.text
    # No cookie, a made-up cookie, or a tenant key as cookie: the sign-in page, 401.
    assert Client(gateway).get("/console/connections").status_code == 401
    stranger = Client(gateway)
    stranger.set_cookie("lb_console", "lbc_made-up")
    assert stranger.get("/console/connections").status_code == 401
    stranger.set_cookie("lb_console", key_a)
    assert stranger.get("/console/connections").status_code == 401


def test_sessions_and_links_expire_and_sign_out_ends_the_session(gateway, aws):
    from ledgerbridge.repositories import console_sessions

    old = console_sessions.create_sign_in_link("tenant-a", now=time.time() - console_sessions.LINK_TTL_SECONDS - 1)
    assert console_sessions.redeem_sign_in_link(old.token) is None
    link = console_sessions.create_sign_in_link("tenant-a")
    session = console_sessions.redeem_sign_in_link(link.token)
    assert console_sessions.session_for(session.token).tenant_id == "tenant-a"
    later = time.time() + console_sessions.SESSION_TTL_SECONDS + 1
    assert console_sessions.session_for(session.token, now=later) is None
    # A key is not a session, and a session is not a key.
    from ledgerbridge.repositories import tenants

    assert tenants.tenant_for_key(session.token) is None
    browser = signed_in(gateway, issue_key("tenant-a"))
    page = browser.get("/console/connections")
    assert browser.post("/console/sign-out", data={"csrf": "forged"}).status_code == 403
    answer = browser.post("/console/sign-out", data={"csrf": csrf(page.text)})
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["Set-Cookie"]
    assert browser.get("/console/connections").status_code == 401


def test_a_form_without_the_session_token_is_refused(gateway, aws):
    browser = signed_in(gateway, issue_key("tenant-a"))
    answer = browser.post("/console/connections", data={"vendor": "visma_eaccounting", "name": "Forged"})
    assert answer.status_code == 403
    assert Api("tenant-a").call("GET", "/connections")[1] == []


def test_create_connect_map_from_the_chart_see_the_refusal_beside_its_row_and_book(gateway, aws, visma):
    from tests.conftest import Browser, browser_consent

    browser = signed_in(gateway, issue_key("tenant-a"))
    token = csrf(browser.get("/console/connections").text)
    created = browser.post("/console/connections", data={"csrf": token, "vendor": "visma_eaccounting",
                                                         "name": "Bakery"})
    assert created.status_code == 303
    connection_page = created.headers["Location"]
    connection_id = connection_page.split("/")[-1].split("?")[0]
    page = browser.get(connection_page)
    assert "Connection created" in page.text and "not connected" in page.text
    # Connect: the console hands the browser to the hub's OAuth start, then the vendor's consent page.
    answer = browser.post(f"/console/connections/{connection_id}/connect", data={"csrf": token})
    assert answer.status_code == 303 and "/oauth/start?ticket=" in answer.headers["Location"]
    vendor_browser = Browser()
    params = browser_consent(vendor_browser.start(answer.headers["Location"]))
    assert vendor_browser.callback(params)[0] == 200
    page = browser.get(connection_page)
    assert "Demo Bakery AS" in page.text
    # The account drop-downs hold the company's own chart and VAT codes.
    assert '<option value="1920"' in page.text and "Test integration" in page.text
    setup = samples.account_setup()
    form = {"csrf": token, "kind": [], "key": [], "vat_rate": [], "account": [], "vat_code": []}
    for row in setup["rows"]:
        for column in ("kind", "key", "vat_rate", "account", "vat_code"):
            value = row.get(column)
            form[column].append("" if value is None else str(value))
    form["account"][0] = "3010"  # not in the chart of 2026: refused beside that row
    refused = browser.post(f"/console/connections/{connection_id}/account-setup", data=form)
    assert refused.status_code == 422
    assert 'id="row-problem-0"' in refused.text and "account 3010 does not exist" in refused.text
    form["account"][0] = setup["rows"][0]["account"]
    saved = browser.post(f"/console/connections/{connection_id}/account-setup", data=form)
    assert saved.status_code == 303, saved.text[-2000:]
    assert Api("tenant-a").call("GET", f"/connections/{connection_id}/account-setup")[1]["rows"]
    # A settlement pushed, transferred from the console, booked by the worker; the log shows its voucher.
    day = date.today() - timedelta(days=1)
    status, body = Api("tenant-a").call("POST", f"/connections/{connection_id}/settlements",
                                        samples.settlement(day, 1))
    assert status == 201, body
    moved = browser.post(f"/console/connections/{connection_id}/transfer", data={"csrf": token})
    assert moved.status_code == 303 and "notice=transfer" in moved.headers["Location"]
    drain(aws)
    log = browser.get(f"/console/connections/{connection_id}/documents")
    assert "booked" in log.text
    document = body["document_id"]
    detail = browser.get(f"/console/connections/{connection_id}/documents/{document}")
    assert detail.status_code == 200 and 'id="voucher"' in detail.text and "Total (NOK)" in detail.text


def test_an_integration_user_is_tested_at_once_and_the_vendors_answer_shown(gateway, aws, tfso):
    from tests.conftest import TFSO_PASSWORD, TFSO_USER

    browser = signed_in(gateway, issue_key("tenant-a"))
    token = csrf(browser.get("/console/connections").text)
    created = browser.post("/console/connections", data={"csrf": token, "vendor": "24sevenoffice", "name": "Office"})
    connection_page = created.headers["Location"].split("?")[0]
    page = browser.get(connection_page)
    assert 'type="email"' in page.text and 'name="password"' in page.text
    refused = browser.post(f"{connection_page}/credential", data={"csrf": token, "username": TFSO_USER,
                                                                   "password": "wrong"})
    assert refused.status_code == 200 and 'id="check-result"' in refused.text, refused.text[-3000:]
    assert "Refused" in refused.text and "needs re-connection" in refused.text
    works = browser.post(f"{connection_page}/credential", data={"csrf": token, "username": TFSO_USER,
                                                                 "password": TFSO_PASSWORD})
    assert "Works" in works.text and "Client companies reached: 3" in works.text
    # The password is never sent back to the browser.
    assert TFSO_PASSWORD not in works.text


def test_an_accounting_office_picks_accounts_to_reconcile_and_sees_the_missing_one_named(gateway, aws, tfso):
    from tests.integration.tfso_helpers import connect_tfso

    api = Api("tenant-a")
    connection_id, _ = connect_tfso(api)
    browser = signed_in(gateway, issue_key("tenant-a"))
    token = csrf(browser.get(f"/console/connections/{connection_id}").text)
    started = browser.post(f"/console/connections/{connection_id}/companies/import", data={"csrf": token})
    assert started.status_code == 303 and "notice=import_started" in started.headers["Location"]
    drain(aws)
    page = browser.get(f"/console/connections/{connection_id}")
    assert re.search(r'href="[^"]*/companies/1100001">Fjordbakeriet AS</a>', page.text)
    company = f"/console/connections/{connection_id}/companies/1100001"
    refused = browser.post(f"{company}/reconciliation", data={"csrf": token, "accounts": "1920, 9999"})
    assert refused.status_code == 422 and 'id="reconciliation-problem"' in refused.text
    assert "9999" in refused.text and 'value="1920, 9999"' in refused.text
    saved = browser.post(f"{company}/reconciliation", data={"csrf": token, "accounts": "1920 1500"})
    assert saved.status_code == 303
    browser.post(f"{company}/refresh", data={"csrf": token})
    drain(aws)
    balances = browser.get(company)
    assert "Reconciliation balances" in balances.text and "1920" in balances.text and "Period" in balances.text
    # The run with its per-company outcome is in the export log.
    log = browser.get(f"/console/connections/{connection_id}/documents")
    assert "balance refresh" in log.text and "company import" in log.text


def test_the_api_docs_are_served_with_their_document(gateway, aws):
    page = Client(gateway).get("/console/api-docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text and "/console/sign-in-links" in page.text
    document = Client(gateway).get("/console/openapi.json")
    assert document.status_code == 200 and "/connections/{connection_id}/settlements" in document.json["paths"]


def test_a_sign_in_posted_from_another_site_is_refused_and_a_revoked_key_ends_the_sessions(gateway, aws):
    from ledgerbridge.repositories import tenants

    key = issue_key("tenant-a")
    token = sign_in_link(gateway, key).split("token=")[1]
    # Login CSRF: another site's auto-submitting form would sign the victim into the attacker's tenant.
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = Client(gateway).post("/console/sign-in", data={"token": token}, headers=headers)
        assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    browser = signed_in(gateway, key)
    # Another application's odd cookie before ours does not sign the user out.
    browser.set_cookie("a[1]", "x")
    assert browser.get("/console/connections").status_code == 200
    tenants.revoke_key(key)
    assert browser.get("/console/connections").status_code == 401


def test_a_setup_edited_as_json_is_refused_with_its_reason_and_the_text_kept(gateway, visma):
    connection_id = connect(Api("tenant-a"), name="Shop")
    browser = signed_in(gateway, issue_key("tenant-a"))
    token = csrf(browser.get(f"/console/connections/{connection_id}").text)
    broken = browser.post(f"/console/connections/{connection_id}/payroll-setup",
                          data={"csrf": token, "document": '{"accounts": {'})
    assert broken.status_code == 422 and "not JSON" in broken.text
    unknown = browser.post(f"/console/connections/{connection_id}/payroll-setup",
                           data={"csrf": token, "document": '{"rows": []}'})
    assert unknown.status_code == 422 and "rows: Extra inputs are not permitted" in unknown.text
    # Visma eAccounting takes no customer sync: the service's refusal, on the page.
    refused = browser.post(f"/console/connections/{connection_id}/customer-sync",
                           data={"csrf": token, "document": '{"tag": "x", "fields": ["Name"]}'})
    assert refused.status_code in (409, 422) and "do not support master_data" in refused.text


def test_a_payroll_bureau_pastes_a_procountor_api_key_and_reads_the_verdict(gateway, aws, procountor):
    from tests.integration.procountor_helpers import DEMO_COMPANY, connect_procountor

    api = Api("tenant-a")
    connection_id, status, _ = connect_procountor(api, procountor, DEMO_COMPANY)
    assert status == 200
    browser = signed_in(gateway, issue_key("tenant-a"))
    page = browser.get(f"/console/connections/{connection_id}")
    assert "Payroll setup" in page.text and "Or paste an API key" in page.text
    token = csrf(page.text)
    key = procountor.issue_api_key(DEMO_COMPANY)
    works = browser.post(f"/console/connections/{connection_id}/api-key", data={"csrf": token, "api_key": key})
    assert works.status_code == 200 and "Works" in works.text and key not in works.text
    short = browser.post(f"/console/connections/{connection_id}/api-key", data={"csrf": token, "api_key": "x"})
    assert short.status_code == 422 and "paste the whole API key" in short.text


def test_the_payroll_setup_from_drop_downs_refused_for_an_unknown_dimension_then_saved(gateway, aws, procountor):
    from tests.integration.procountor_helpers import DEMO_COMPANY, connect_procountor

    connection_id, status, _ = connect_procountor(Api("tenant-a"), procountor, DEMO_COMPANY)
    assert status == 200
    browser = signed_in(gateway, issue_key("tenant-a"))
    page = browser.get(f"/console/connections/{connection_id}")
    assert '<option value="Kustannuspaikka"' in page.text  # the company's own dimensions
    token = csrf(page.text)
    form = {"csrf": token, "pay_account": ["5000", ""], "ledger_account": ["5000", ""],
            "dimension_cost_centre": "Kustannuspaikka", "dimension_cost_unit": "Kustannusyksikkö"}
    refused = browser.post(f"/console/connections/{connection_id}/payroll-setup", data=form)
    assert refused.status_code == 422 and "Kustannusyksikkö" in refused.text and 'id="payroll-problems"' in refused.text
    form["dimension_cost_unit"] = ""
    saved = browser.post(f"/console/connections/{connection_id}/payroll-setup", data=form)
    assert saved.status_code == 303, saved.text[-1500:]
    setup = Api("tenant-a").call("GET", f"/connections/{connection_id}/payroll-setup")[1]
    assert setup["accounts"] == {"5000": "5000"} and setup["dimensions"] == {"cost_centre": "Kustannuspaikka"}
