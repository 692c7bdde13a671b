"""Procountor: connect with the company pick, payroll setup, payroll journals booked as one receipt per
period, closed periods, exactly once under faults (issue 10)."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from devstack import samples
from simulators.procountor import Fault
from tests.integration.procountor_helpers import (
    BUILDER_COMPANY,
    DEMO_COMPANY,
    connect_procountor,
    payroll_connection,
)
from tests.integration.test_worker_exactly_once import QueueDriver


def post_journal(api, connection_id: str, body: dict, **query):
    return api.call("POST", f"/connections/{connection_id}/payroll-journals", body, query=query or None)


def transfer(api, aws, connection_id: str) -> None:
    status, started = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202, started
    QueueDriver(aws).run()


def document(api, connection_id: str, document_id: str) -> dict:
    status, body = api.call("GET", f"/connections/{connection_id}/documents/{document_id}")
    assert status == 200, body
    return body


def journals(procountor, company: str = DEMO_COMPANY, marker: str = "[LB-") -> list[dict]:
    return [r for r in procountor.receipts(company, type="JOURNAL") if marker in r["name"]]


@pytest.fixture
def payroll(aws, procountor, api_for):
    api = api_for("bureau")
    return api, payroll_connection(api, procountor)


# --- connect ------------------------------------------------------------------------------------

def test_connect_binds_the_picked_company_and_test_integration_shows_years_periods_and_dimensions(aws, procountor,
                                                                                                   api_for):
    api = api_for("bureau")
    connection_id, status, page = connect_procountor(api, procountor, BUILDER_COMPANY)
    assert status == 200, page
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "connected" and connection["vendor_company"] == BUILDER_COMPANY
    assert connection["vendor_company_id"] == str(procountor.company_id(BUILDER_COMPANY))
    assert connection["vendor_currency"] == "EUR"

    status, check = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and check["ok"], check
    assert check["company_name"] == BUILDER_COMPANY and check["business_id"] == "2718281-8"
    year_2026 = next(fy for fy in check["fiscal_years"] if fy["start"] == "2026-01-01")
    statuses = {p["start"][:7]: p["status"] for p in year_2026["periods"]}
    assert statuses["2026-01"] == "closed" and statuses["2026-02"] == "open" and len(statuses) == 12
    assert any("2026-01" in w for w in check["warnings"])
    dimensions = {d["name"]: d for d in check["dimensions"]}
    assert set(dimensions) == {"Kustannuspaikka", "Kustannusyksikkö"}
    assert [i["code"] for i in dimensions["Kustannuspaikka"]["items"]] == ["10", "20"]


def test_reconnecting_to_another_company_is_refused_and_the_connection_keeps_its_company(aws, procountor, api_for):
    api = api_for("bureau")
    connection_id, status, _ = connect_procountor(api, procountor, DEMO_COMPANY)
    assert status == 200
    _, status, page = connect_procountor(api, procountor, BUILDER_COMPANY, connection_id=connection_id)
    assert status == 409
    assert "create a new connection" in page and BUILDER_COMPANY in page and DEMO_COMPANY in page
    status, check = api.call("POST", f"/connections/{connection_id}/check")
    assert check["ok"] and check["company_name"] == DEMO_COMPANY  # the stored grant is still Demo's
    # The same company again is a normal reconnect.
    _, status, page = connect_procountor(api, procountor, DEMO_COMPANY, connection_id=connection_id)
    assert status == 200, page


def test_the_machine_to_machine_api_key_from_keylogin_or_pasted_books_like_the_interactive_grant(aws, procountor,
                                                                                                 api_for):
    api = api_for("bureau")
    connection_id, status, page = connect_procountor(api, procountor, DEMO_COMPANY, credential="api_key")
    assert status == 200, page
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup", samples.payroll_setup())
    assert status == 200, body
    assert post_journal(api, connection_id, samples.payroll_journal(corrections=()))[0] == 201
    procountor.advance_clock(4000)  # the access token expired: a new one is asked for with the key
    transfer(api, aws, connection_id)
    assert document(api, connection_id, "run-2026-06")["state"] == "booked"
    assert len(journals(procountor)) == 1

    # A key pasted from Procountor's "API client keys" page, for the same company: stored and tested.
    key = procountor.issue_api_key(DEMO_COMPANY)
    status, check = api.call("PUT", f"/connections/{connection_id}/api-key", {"api_key": key})
    assert status == 200 and check["ok"] and check["company_name"] == DEMO_COMPANY
    # One for another company is refused: the connection stays bound to its own.
    other = procountor.issue_api_key(BUILDER_COMPANY)
    status, body = api.call("PUT", f"/connections/{connection_id}/api-key", {"api_key": other})
    assert status == 409 and "create a new connection" in body["message"]
    # A revoked key is a clear verdict, not a crash.
    procountor.revoke_api_key(key)
    status, check = api.call("PUT", f"/connections/{connection_id}/api-key", {"api_key": key})
    assert status == 200 and not check["ok"] and "API key" in check["message"]


# --- setup ----------------------------------------------------------------------------------------

def test_payroll_setup_is_validated_against_the_chart_and_dimensions(aws, procountor, api_for):
    api = api_for("bureau")
    connection_id, status, _ = connect_procountor(api, procountor)
    assert status == 200
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup",
                            samples.payroll_setup(dimensions={"cost_centre": "Kustannuspaikka",
                                                              "cost_unit": "Kustannusyksikkö"}))
    assert status == 422 and "Kustannusyksikkö" in body["message"] and "Projekti" in body["message"]
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup",
                            samples.payroll_setup(accounts={"L100": "5990", "L200": "9999"}))
    assert status == 422
    assert "5990 is inactive" in body["message"] and "9999 does not exist" in body["message"]
    assert {d["row"] for d in body["details"]} == {"accounts.L100", "accounts.L200"}
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup",
                            samples.payroll_setup(dimensions={"cost_centre": "kustannuspaikka "}))
    assert status == 200 and body["payroll_setup"]["dimensions"] == {"cost_centre": "Kustannuspaikka"}


# --- the door --------------------------------------------------------------------------------------

def test_door_rules_resend_change_unbalanced_period_and_test_company(payroll):
    api, connection_id = payroll
    journal = samples.payroll_journal()
    status, first = post_journal(api, connection_id, journal)
    assert status == 201 and first["parts"] and [p["part"] for p in first["parts"]] == [
        "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert all(p["state"] == "pending" for p in first["parts"])
    assert post_journal(api, connection_id, journal)[0] == 200

    changed = copy.deepcopy(journal)
    changed["lines"][0]["debit"] = "10001.00"
    changed["lines"][7]["credit"] = "14401.00"
    status, body = post_journal(api, connection_id, changed)
    assert status == 409 and "supersede" in body["message"]
    status, body = post_journal(api, connection_id, changed, supersede="true")
    assert status == 201 and body["version"] == 2

    unbalanced = samples.payroll_journal("run-x")
    unbalanced["lines"][-1]["credit"] = "200.00"  # May's correction: debit 250.25, credit 200.00
    status, body = post_journal(api, connection_id, unbalanced)
    assert status == 422 and "period 2026-05 do not balance: debit exceeds by 50.25" in body["message"]

    for flag, words in (("test_company", "test company"), ("group_blocked", "group is blocked")):
        refused = samples.payroll_journal(f"run-{flag}", source_company={"id": "n1", "name": "Testi Oy", flag: True})
        status, body = post_journal(api, connection_id, refused)
        assert status == 422 and words in body["message"], body
    status, log = api.call("GET", f"/connections/{connection_id}/documents", query={"state": "rejected"})
    reasons = [d["reason"] for d in log["documents"]]
    assert any("test company" in r for r in reasons) and any("group is blocked" in r for r in reasons)
    assert any("2026-05" in r for r in reasons)
    assert all(d["kind"] == "payroll_journal" for d in log["documents"])


# --- booking -------------------------------------------------------------------------------------

def test_a_june_run_with_corrections_books_six_receipts_in_their_periods_once(payroll, procountor, aws):
    api, connection_id = payroll
    assert post_journal(api, connection_id, samples.payroll_journal())[0] == 201
    transfer(api, aws, connection_id)
    booked = document(api, connection_id, "run-2026-06")
    assert booked["state"] == "booked", booked
    receipts = sorted(journals(procountor), key=lambda r: r["receiptDate"])
    assert [r["receiptDate"] for r in receipts] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30",
                                                    "2026-05-31", "2026-06-25"]
    for receipt, period in zip(receipts, ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"], strict=True):
        assert receipt["name"].startswith(f"Palkat 2026-06 {period} [LB-") and len(receipt["name"]) <= 80
        assert receipt["status"] == "UNFINISHED" and receipt["type"] == "JOURNAL"
        assert sum(t["accountingValue"] for t in receipt["transactions"]) == 0
    january = receipts[0]["transactions"]
    assert [(t["account"], t["accountingValue"]) for t in january] == [("5010", Decimal("50.25")),
                                                                      ("2939", Decimal("-50.25"))]
    cost_centre_100 = procountor.state.company(DEMO_COMPANY).dimensions[301]["items"][0]["id"]
    assert january[0]["dimensionItemValues"] == [{"dimensionId": 301, "itemId": cost_centre_100,
                                                  "value": Decimal("50.25")}]
    june = receipts[-1]["transactions"]
    assert sum(t["accountingValue"] for t in june if t["accountingValue"] > 0) == Decimal("21300.00")
    # The export log: one entry, each period's receipt with its id, number and state.
    parts = {p["part"]: p for p in booked["parts"]}
    assert len(parts) == 6 and all(p["state"] == "booked" and p["vendor_status"] == "UNFINISHED"
                                   for p in parts.values())
    assert {p["vendor_document_id"] for p in parts.values()} == {str(r["id"]) for r in receipts}
    assert parts["2026-01"]["vendor_document_number"] == str(receipts[0]["receiptNumber"])
    # Pressing transfer again, or replaying the booked journal, books nothing more.
    transfer(api, aws, connection_id)
    assert api.call("POST", f"/connections/{connection_id}/documents/run-2026-06/replay")[0] == 409
    assert len(journals(procountor)) == 6


def test_a_closed_period_fails_the_journal_before_anything_is_sent_and_a_replay_books_it(aws, procountor,
                                                                                         api_for):
    api = api_for("bureau")
    connection_id = payroll_connection(api, procountor, BUILDER_COMPANY)
    journal = samples.payroll_journal(cost_centre="10")
    for line in journal["lines"]:
        if line.get("cost_centre") == "200":
            line["cost_centre"] = "20"
    assert post_journal(api, connection_id, journal)[0] == 201
    transfer(api, aws, connection_id)
    failed = document(api, connection_id, "run-2026-06")
    assert failed["state"] == "failed"
    assert "period 2026-01 is closed in Procountor: reopen it" in failed["reason"]
    assert journals(procountor, BUILDER_COMPANY) == []  # nothing of the journal was posted
    assert all(p["state"] == "pending" for p in failed["parts"])

    procountor.set_period_status(BUILDER_COMPANY, "2026-01", "OPEN")
    status, _ = api.call("POST", f"/connections/{connection_id}/documents/run-2026-06/replay")
    assert status == 202
    QueueDriver(aws).run()
    assert document(api, connection_id, "run-2026-06")["state"] == "booked"
    assert len(journals(procountor, BUILDER_COMPANY)) == 6


def test_a_period_closed_between_receipts_leaves_the_rest_for_a_replay_that_books_only_those(payroll, procountor,
                                                                                             aws):
    api, connection_id = payroll
    assert post_journal(api, connection_id, samples.payroll_journal())[0] == 201
    # The check passes; then the bookkeeper closes March while the receipts are being posted.
    procountor.add_fault(Fault(kind="status", method="POST", path_prefix="/api/ledgerreceipts", status=400,
                               times=1, delay_s=0))
    transfer(api, aws, connection_id)
    failed = document(api, connection_id, "run-2026-06")
    assert failed["state"] == "failed"
    assert [p["state"] for p in failed["parts"]] == ["pending"] * 6
    # Replayed: books all six, each once.
    assert api.call("POST", f"/connections/{connection_id}/documents/run-2026-06/replay")[0] == 202
    QueueDriver(aws).run()
    assert document(api, connection_id, "run-2026-06")["state"] == "booked"
    assert len(journals(procountor)) == 6

    # Now a run whose third receipt is refused after two were booked: the replay books the other four.
    second = samples.payroll_journal("run-2026-07", month=7, corrections=(4, 5, 6))
    assert post_journal(api, connection_id, second)[0] == 201
    procountor.add_fault(Fault(kind="latency", method="POST", path_prefix="/api/ledgerreceipts", times=2,
                               delay_s=0))
    procountor.add_fault(Fault(kind="status", method="POST", path_prefix="/api/ledgerreceipts", status=400,
                               times=1))
    transfer(api, aws, connection_id)
    partly = document(api, connection_id, "run-2026-07")
    assert partly["state"] == "failed"
    assert [p["state"] for p in partly["parts"]] == ["booked", "booked", "pending", "pending"]
    status, body = api.call("POST", f"/connections/{connection_id}/payroll-journals",
                            dict(second, run_reference="Palkat 2026-07 korjattu"), query={"supersede": "true"})
    assert status == 409 and "cannot be replaced" in body["message"]  # two receipts are at the vendor
    assert api.call("POST", f"/connections/{connection_id}/documents/run-2026-07/replay")[0] == 202
    QueueDriver(aws).run()
    done = document(api, connection_id, "run-2026-07")
    assert done["state"] == "booked" and [p["state"] for p in done["parts"]] == ["booked"] * 4
    assert len(journals(procountor)) == 10


def test_unknown_and_inactive_cost_centres_are_refused_naming_them_or_created_when_the_setup_says_so(
        payroll, procountor, aws):
    api, connection_id = payroll
    assert post_journal(api, connection_id, samples.payroll_journal("run-a", corrections=(), cost_centre="400"))[0] == 201
    assert post_journal(api, connection_id, samples.payroll_journal("run-b", month=5, corrections=(),
                                                                    cost_centre="900"))[0] == 201
    transfer(api, aws, connection_id)
    unknown = document(api, connection_id, "run-a")
    assert unknown["state"] == "failed" and "item '400' does not exist in dimension Kustannuspaikka" in unknown["reason"]
    inactive = document(api, connection_id, "run-b")
    assert inactive["state"] == "failed" and "item '900' of dimension Kustannuspaikka is inactive" in inactive["reason"]
    assert journals(procountor) == []

    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup",
                            samples.payroll_setup(create_missing_items=True))
    assert status == 200, body
    assert api.call("POST", f"/connections/{connection_id}/documents/run-a/replay")[0] == 202
    QueueDriver(aws).run()
    assert document(api, connection_id, "run-a")["state"] == "booked"
    items = procountor.state.company(DEMO_COMPANY).dimensions[301]["items"]
    assert [i["codeName"] for i in items].count("400") == 1


def test_receipts_are_approved_when_the_setup_says_so(aws, procountor, api_for):
    api = api_for("bureau")
    connection_id = payroll_connection(api, procountor, approve=True)
    assert post_journal(api, connection_id, samples.payroll_journal(corrections=(5,)))[0] == 201
    procountor.add_fault(Fault(kind="timeout_after_commit", method="PUT", path_prefix="/api/ledgerreceipts",
                               times=1, delay_s=3))
    transfer(api, aws, connection_id)
    booked = document(api, connection_id, "run-2026-06")
    assert booked["state"] == "booked" and {p["vendor_status"] for p in booked["parts"]} == {"APPROVED"}
    assert {r["status"] for r in journals(procountor)} == {"APPROVED"} and len(journals(procountor)) == 2


# --- exactly once ----------------------------------------------------------------------------------

def test_exactly_once_under_timeouts_after_commit_proxy_errors_rate_limits_and_duplicate_deliveries(
        payroll, procountor, aws):
    api, connection_id = payroll
    runs = [samples.payroll_journal(f"run-2026-{month:02d}", month=month, corrections=tuple(range(1, month)))
            for month in (2, 3, 4)]
    for journal in runs:
        assert post_journal(api, connection_id, journal)[0] == 201
    expected = sum(len({line.get("period") or journal["pay_period"] for line in journal["lines"]}) for journal in runs)
    assert expected == 2 + 3 + 4
    post = dict(method="POST", path_prefix="/api/ledgerreceipts")
    procountor.add_fault(Fault(kind="timeout_after_commit", times=2, delay_s=3, **post))
    procountor.add_fault(Fault(kind="status_after_commit", status=502, times=2, **post))
    procountor.add_fault(Fault(kind="rate_limit", times=1, retry_after=1, **post))
    procountor.add_fault(Fault(kind="status", status=503, times=1, method="GET", path_prefix="/api/ledgerreceipts"))
    status, started = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202
    driver = QueueDriver(aws)
    driver.duplicate_everything()
    driver.run(max_seconds=240)
    for journal in runs:
        booked = document(api, connection_id, journal["document_id"])
        assert booked["state"] == "booked", booked
    receipts = journals(procountor)
    names = [r["name"] for r in receipts]
    assert len(receipts) == expected and len(set(names)) == expected  # each receipt once


def test_workers_killed_after_procountor_answered_or_before_the_log_write_book_each_receipt_once(
        payroll, procountor, aws, monkeypatch):
    from ledgerbridge.models.documents import DocumentState
    from ledgerbridge.repositories import documents as document_store
    from ledgerbridge.services import booking
    from tests.integration.test_worker_exactly_once import WorkerCrash

    api, connection_id = payroll
    runs = [samples.payroll_journal(f"run-2026-{month:02d}", month=month, corrections=(1, 2)) for month in (3, 4)]
    for journal in runs:
        assert post_journal(api, connection_id, journal)[0] == 201
    crashes = {"after_vendor_response": 3, "before_log_write": 1}
    real_save_all, real_finish = booking.DocumentCheckpoints.save_all, document_store.finish

    def save_all(self, values):
        if any(key.endswith("/vendor_document_id") for key in values) and crashes["after_vendor_response"]:
            crashes["after_vendor_response"] -= 1
            raise WorkerCrash("killed after Procountor answered")
        return real_save_all(self, values)

    def finish(record, lease, state, **kw):
        if state == DocumentState.BOOKED and crashes["before_log_write"]:
            crashes["before_log_write"] -= 1
            raise WorkerCrash("killed before the log write")
        return real_finish(record, lease, state, **kw)

    monkeypatch.setattr(booking.DocumentCheckpoints, "save_all", save_all)
    monkeypatch.setattr(document_store, "finish", finish)
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    driver = QueueDriver(aws)
    driver.duplicate_everything()
    driver.run(max_seconds=240)
    assert driver.crashes == 4 and crashes == {"after_vendor_response": 0, "before_log_write": 0}
    for journal in runs:
        assert document(api, connection_id, journal["document_id"])["state"] == "booked"
    receipts = journals(procountor)
    assert len(receipts) == 6 and len({r["name"] for r in receipts}) == 6
    # The receipts the crashed workers never recorded were found by their reference, not posted again.
    assert procountor.request_counts().get("GET /api/ledgerreceipts", 0) >= 3


def test_an_expired_access_token_is_refreshed_with_the_rotating_refresh_token_and_a_dead_grant_asks_to_reconnect(
        payroll, procountor, aws):
    api, connection_id = payroll
    assert post_journal(api, connection_id, samples.payroll_journal("run-a", corrections=()))[0] == 201
    procountor.advance_clock(3700)  # Procountor's access token expired (ours still thinks it fresh)
    transfer(api, aws, connection_id)
    assert document(api, connection_id, "run-a")["state"] == "booked"
    assert procountor.state.refresh_token_reuse_attempts == 0  # each rotated token used once
    assert procountor.request_counts().get("POST /api/oauth/token", 0) >= 1

    # Unused for 31 days, the refresh token is dead: the connection asks to be connected again and
    # the journal waits for it, nothing lost.
    assert post_journal(api, connection_id, samples.payroll_journal("run-b", month=5, corrections=()))[0] == 201
    procountor.advance_clock(31 * 24 * 3600)
    transfer(api, aws, connection_id)
    waiting = document(api, connection_id, "run-b")
    assert waiting["state"] == "waiting" and "waiting for the connection" in waiting["reason"]
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "needs_reauth" and "connect" in connection["status_reason"]
    _, status, page = connect_procountor(api, procountor, DEMO_COMPANY, connection_id=connection_id)
    assert status == 200, page
    transfer(api, aws, connection_id)
    assert document(api, connection_id, "run-b")["state"] == "booked"
    assert len(journals(procountor)) == 2


def test_a_morning_of_journals_reads_the_chart_fiscal_years_and_dimensions_once(payroll, procountor, aws):
    api, connection_id = payroll
    for month in (3, 4, 5):
        assert post_journal(api, connection_id, samples.payroll_journal(f"run-{month}", month=month,
                                                                        corrections=(1,)))[0] == 201
    procountor.reset_counts()
    transfer(api, aws, connection_id)
    counts = procountor.request_counts()
    assert counts.get("POST /api/ledgerreceipts") == 6
    assert counts.get("GET /api/coa") == counts.get("GET /api/fiscalyears") == counts.get("GET /api/dimensions") == 1
    # Calls per receipt: one POST each, plus the three reads shared by the morning's journals.
    assert sum(v for k, v in counts.items() if k.startswith(("GET /api", "POST /api", "PUT /api"))) == 9


def test_the_proof_of_booking_reads_every_page_of_a_busy_month_end(payroll, procountor, aws):
    """Every correction for January lands on 2026-01-31, the bureau's other runs too: after an unanswered
    post the hub must find its receipt among hundreds of that date, not only on the first page."""
    api, connection_id = payroll
    company = procountor.state.company(DEMO_COMPANY)
    with procountor.state.lock:
        for n in range(450):
            procountor.state.store_receipt(company, {
                "type": "JOURNAL", "status": "UNFINISHED", "name": f"Palkat 2026-0{2 + n % 5} 2026-01 [LB-other{n}/2026-01]",
                "receiptDate": "2026-01-31", "vatType": "PURCHASE", "vatStatus": 2, "transactions": []},
                procountor.state.local_now())
    assert post_journal(api, connection_id, samples.payroll_journal(corrections=(1,)))[0] == 201
    procountor.add_fault(Fault(kind="timeout_after_commit", method="POST", path_prefix="/api/ledgerreceipts",
                               times=1, delay_s=3))
    procountor.reset_counts()
    transfer(api, aws, connection_id)
    assert document(api, connection_id, "run-2026-06")["state"] == "booked"
    ours = journals(procountor, marker="[LB-")
    assert len([r for r in ours if "LB-other" not in r["name"]]) == 2  # January's and June's, each once
    assert procountor.request_counts().get("GET /api/ledgerreceipts", 0) >= 3  # 451 receipts: three pages
