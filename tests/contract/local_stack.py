"""The local runtime for the contract test (test_contract.py runs it in a subprocess, as the e2e
tests do: the runtime owns process-wide settings).

Starts `devstack` (moto server, both vendor simulators, the local API gateway with every function
in containers of its own, the worker), gives one tenant objects for every operation to meet --
a Visma eAccounting connection connected through the browser flow, with an account setup, a
settlement and a stock registration; a 24SevenOffice connection with its integration user, its
client companies imported and one set up; a Procountor connection signed in with the company
picked (Palkkatoimisto Demo Oy), with a payroll setup and a payroll journal (not booked); a Uniconta
connection syncing customers (its notification receiver reached with its tenant and connection) -- prints
them as one JSON line and serves until its standard input closes.
"""
from __future__ import annotations

import json
import sys
from datetime import date, timedelta

from devstack import samples
from devstack.stack import PAYROLL_COMPANY, TFSO_USER, DevStack, StackOptions

TENANT = "tenant-contract"
COMPANY = "1100001"  # a client company of the simulator's integration user (Fjordbakeriet AS)


def prepare(stack: DevStack) -> dict:
    key = stack.create_tenant(TENANT)
    with stack.api(key) as api:
        visma_id = _created(api.post("/connections", json={"vendor": "visma_eaccounting", "name": "Contract shop",
                                                           "schedule": {"frequency": "daily", "lookback_days": 30}}))
        landed = stack.connect_in_browser(api, visma_id, "demo@bakery.example", "demo-password")
        assert landed.status_code == 200, landed.text[:300]
        _ok(api.put(f"/connections/{visma_id}/account-setup", json=samples.account_setup()))
        day = date.today() - timedelta(days=2)
        settlement = samples.settlement(day, 1)
        _ok(api.post(f"/connections/{visma_id}/settlements", json=settlement))
        stock = samples.stock_registration(day, "write_off")
        _ok(api.post(f"/connections/{visma_id}/stock-registrations", json=stock))

        tfso_id = _created(api.post("/connections", json={"vendor": "24sevenoffice", "name": "Contract office"}))
        tested = api.put(f"/connections/{tfso_id}/credential", json={"username": TFSO_USER[0], "password": TFSO_USER[1]})
        assert tested.status_code == 200 and tested.json()["ok"], tested.text[:300]
        run_id = _ok(api.post(f"/connections/{tfso_id}/companies/import"))["run_id"]
        stack.drain(timeout=120)
        _ok(api.put(f"/connections/{tfso_id}/companies/{COMPANY}/reconciliation", json={"accounts": ["1920"]}))

        procountor_id = _created(api.post("/connections", json={"vendor": "procountor", "name": "Contract payroll"}))
        landed = stack.connect_procountor(api, procountor_id, PAYROLL_COMPANY)
        assert landed.status_code == 200, landed.text[:300]
        _ok(api.put(f"/connections/{procountor_id}/payroll-setup", json=samples.payroll_setup()))
        journal = samples.payroll_journal()
        _ok(api.post(f"/connections/{procountor_id}/payroll-journals", json=journal))

        uniconta_id = _created(api.post("/connections", json={"vendor": "uniconta", "name": "Contract salon"}))
        tested = api.put(f"/connections/{uniconta_id}/credential", json=samples.UNICONTA_LOGIN)
        assert tested.status_code == 200 and tested.json()["ok"], tested.text[:300]
        _ok(api.put(f"/connections/{uniconta_id}/customer-sync", json=samples.customer_sync_setup()))
        _ok(api.post(f"/connections/{uniconta_id}/customers", json={"customers": [samples.salon_customer(1)]}))
    # Fuzzed credentials never lock the simulator's integration user out (it throttles logins).
    stack.tfso.config.login_limit = 10**6
    return {"url": stack.url, "key": key, "visma_id": visma_id, "tfso_id": tfso_id, "company_id": COMPANY,
            "document_id": settlement["document_id"], "stock_id": stock["document_id"], "run_id": run_id,
            "procountor_id": procountor_id, "payroll_document_id": journal["document_id"],
            "uniconta_id": uniconta_id, "tenant_id": TENANT}


def _ok(response) -> dict:
    assert response.status_code in (200, 201, 202), f"{response.request.url}: {response.status_code} {response.text[:300]}"
    return response.json()


def _created(response) -> str:
    return _ok(response)["connection_id"]


def main() -> int:
    with DevStack(StackOptions(api_concurrency=2, worker_concurrency=1)) as stack:
        print(json.dumps(prepare(stack)), flush=True)
        sys.stdin.read()  # serve until the test closes our standard input
    return 0


if __name__ == "__main__":
    sys.exit(main())
