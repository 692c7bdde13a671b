"""Helpers for the Procountor tests: sign in with the company pick, a connected payroll connection."""
from __future__ import annotations

import httpx

from devstack import samples
from tests.conftest import Api, Browser

DEMO_USER = ("demo@palkka.example", "demo-password")
DEMO_COMPANY = "Palkkatoimisto Demo Oy"
BUILDER_COMPANY = "Rakennus Esimerkki Oy"  # January 2026 closed


def procountor_sign_in(authorize_url: str, company_id: int, username: str = DEMO_USER[0],
                       password: str = DEMO_USER[1]) -> dict[str, str]:
    """Log in at the simulator's /login (or /keylogin), pick the company; the callback's query."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text
        answer = browser.post(authorize_url, data={"username": username, "password": password})
        assert answer.status_code == 200 and str(company_id) in answer.text, answer.text  # the company pick
        answer = browser.post(authorize_url, data={"username": username, "password": password,
                                                   "company": str(company_id)})
        assert answer.status_code == 302, answer.text
        return dict(httpx.URL(answer.headers["Location"]).params)


def connect_procountor(api: Api, procountor, company: str = DEMO_COMPANY, *, connection_id: str | None = None,
                       credential: str = "oauth", name: str = "Palkat") -> tuple[str, int, str]:
    """Create (or reconnect) a Procountor connection; returns (connection id, callback status, page)."""
    if connection_id is None:
        status, created = api.call("POST", "/connections", {"vendor": "procountor", "name": name})
        assert status == 201, created
        connection_id = created["connection_id"]
    status, started = api.call("POST", f"/connections/{connection_id}/connect",
                               query={"credential": credential} if credential != "oauth" else None)
    assert status == 200, started
    browser = Browser()
    params = procountor_sign_in(browser.start(started["connect_url"]), procountor.company_id(company))
    status, page = browser.callback(params)
    return connection_id, status, page


def payroll_connection(api: Api, procountor, company: str = DEMO_COMPANY, **setup) -> str:
    connection_id, status, page = connect_procountor(api, procountor, company)
    assert status == 200, page
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup", samples.payroll_setup(**setup))
    assert status == 200, body
    return connection_id
