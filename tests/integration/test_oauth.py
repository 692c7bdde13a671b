"""Connect via OAuth against the simulator's identity server, through the deployed handlers."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

from conftest import Api, Browser, browser_consent, connect


def _secret(session, tenant: str, connection_id: str) -> dict:
    sm = session.client("secretsmanager")
    return json.loads(sm.get_secret_value(SecretId=f"ledgerbridge/test/connections/{tenant}/{connection_id}")["SecretString"])


def test_connect_stores_tokens_and_shows_connected(aws, visma, capsys):
    api = Api("tenant-a")
    status, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": "Bakery"})
    assert status == 201 and created["status"] == "created"
    connection_id = created["connection_id"]

    status, started = api.call("POST", f"/connections/{connection_id}/connect")
    assert status == 200 and started["connect_url"].startswith("http://127.0.0.1:9/oauth/start?ticket=")
    browser = Browser()
    authorize_url = browser.start(started["connect_url"])
    query = parse_qs(urlparse(authorize_url).query)
    assert query["client_id"] == ["ledgerbridge-local"]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://127.0.0.1:9/oauth/callback"]
    assert set(query["scope"][0].split()) == {"ea:api", "offline_access", "ea:accounting"}
    assert len(query["state"][0]) >= 32
    assert len(browser.cookies) == 1

    callback = browser_consent(authorize_url)
    assert callback["state"] == query["state"][0]
    status, page = browser.callback(callback)
    assert status == 200
    assert "Visma eAccounting account connected" in page and "Demo Bakery AS" in page

    secret = _secret(aws, "tenant-a", connection_id)
    assert secret["kind"] == "oauth2" and secret["access_token"] and secret["refresh_token"]
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "connected" and connection["vendor_company"] == "Demo Bakery AS"
    # Tokens never leave through the API or the logs.
    assert secret["access_token"] not in json.dumps(connection)
    logged = capsys.readouterr()
    for token in (secret["access_token"], secret["refresh_token"], callback["code"]):
        assert token not in logged.out and token not in logged.err


def _started(api: Api) -> tuple[str, str]:
    _, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": "Bakery"})
    _, started = api.call("POST", f"/connections/{created['connection_id']}/connect")
    return created["connection_id"], started["connect_url"]


def test_state_is_single_use_and_bound(aws, visma):
    api = Api("tenant-a")
    _, connect_url = _started(api)
    browser = Browser()
    callback = browser_consent(browser.start(connect_url))
    assert browser.callback(callback)[0] == 200
    status, page = browser.callback(callback)
    assert status == 400 and "expired or was already used" in page

    forged = dict(callback, state="forged-state-value")
    assert browser.callback(forged)[0] == 400


def test_connect_link_says_whose_connection_and_is_single_use(aws, visma):
    _, connect_url = _started(Api("tenant-a"))
    ticket = __import__("httpx").URL(connect_url).params["ticket"]
    for _ in range(2):  # a link scanner's GET uses nothing up
        status, page = Api(None).call("GET", "/oauth/start", query={"ticket": ticket})
        assert status == 200 and "Bakery" in page and "tenant-a" in page and "Visma eAccounting" in page
    Browser().start(connect_url)
    status, page = Api(None).call("GET", "/oauth/start", query={"ticket": ticket})
    assert status == 400 and "expired or was already used" in page
    status, page = Api(None).call("POST", "/oauth/start", raw_body=f"ticket={ticket}",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400


def test_a_sign_in_finished_in_another_browser_is_refused(aws, visma):
    """Login CSRF: an attacker's connect link, consented to by a victim, must not connect anything."""
    api = Api("tenant-a")
    connection_id, connect_url = _started(api)
    attacker = Browser()
    authorize_url = attacker.start(connect_url)
    victim_params = browser_consent(authorize_url, "other@cafe.example", "other-password")
    status, page = Browser().callback(victim_params)  # the victim's browser has no flow cookie
    assert status == 400 and "not started in this browser" in page
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "created"


def test_expired_state_is_refused(aws, visma, monkeypatch):
    monkeypatch.setenv("LB_OAUTH_STATE_TTL_SECONDS", "-1")
    from ledgerbridge.settings import reset_settings

    reset_settings()
    api = Api("tenant-a")
    connection_id, connect_url = _started(api)
    status, page = Api(None).call("GET", "/oauth/start", query={"ticket": __import__("httpx").URL(connect_url).params["ticket"]})
    assert status == 400 and "expired" in page
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "created"


def test_declined_consent_leaves_connection_unconnected(aws, visma):
    api = Api("tenant-a")
    connection_id, connect_url = _started(api)
    browser = Browser()
    callback = browser_consent(browser.start(connect_url), consent="no")
    assert callback["error"] == "access_denied"
    status, page = browser.callback(callback)
    assert status == 400 and "access_denied" in page
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "created"


def test_check_reports_company(aws, visma):
    api = Api("tenant-a")
    connection_id = connect(api)
    status, result = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and result == {"ok": True, "company_name": "Demo Bakery AS", "message": "connected",
                                        "choices": {}, "companies": None, "warnings": [], "company_id": None,
                                        "business_id": None, "fiscal_years": [], "dimensions": []}
