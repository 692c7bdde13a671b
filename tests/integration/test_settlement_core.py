"""The settlement core as a shop uses it (issue 8): closed days, thousands of product lines, long
categories in any script, gift cards, a changed resend of a booked day, and a voucher date no
open fiscal year covers — through the real handlers, the worker and the Visma simulator."""
from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from devstack import samples
from tests.integration.test_worker_exactly_once import QueueDriver, _assert_exactly_once, _documents, _ingest

YESTERDAY = date.today() - timedelta(days=1)


def _post(api, connection_id: str, body: dict, **query):
    return api.call("POST", f"/connections/{connection_id}/settlements", body, query=query or None)


def _transfer(api, aws, connection_id: str) -> None:
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()


def _no_post_reached(visma) -> bool:
    return not any(key.startswith("POST") for key in visma.request_counts())


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # raises on a lone surrogate


# --- closed days ---------------------------------------------------------------------------------

def test_a_closed_day_is_logged_as_nothing_to_book_and_never_queued(connected, visma, aws):
    api, connection_id = connected
    status, doc = _post(api, connection_id, samples.closed_day(YESTERDAY))
    assert status == 201, doc  # before: 422 "sales: List should have at least 1 item"
    assert (doc["state"], doc["reason"]) == ("nothing_to_book", "no sales: nothing to book (closed day)")
    assert doc["gross_total"] == "0.00"
    [logged] = api.call("GET", f"/connections/{connection_id}/documents", query={"state": "nothing_to_book"})[1][
        "documents"]
    assert logged["document_id"] == doc["document_id"] and logged["reason"] == doc["reason"]
    assert api.call("POST", f"/connections/{connection_id}/transfers")[1]["enqueued"] == 0
    status, body = api.call("POST", f"/connections/{connection_id}/documents/{doc['document_id']}/replay")
    assert status == 409 and "nothing_to_book" in body["message"]
    assert _post(api, connection_id, samples.closed_day(YESTERDAY))[0] == 200  # an identical resend


def test_a_resend_of_a_closed_day_with_sales_supersedes_it_and_books(connected, visma, aws):
    api, connection_id = connected
    closed = samples.closed_day(YESTERDAY)
    assert _post(api, connection_id, closed)[0] == 201
    with_sales = samples.settlement(YESTERDAY, 1)
    with_sales["document_id"] = closed["document_id"]
    status, body = _post(api, connection_id, with_sales)
    assert status == 409 and "?supersede=true" in body["message"]  # supersede can work here: it says so
    status, doc = _post(api, connection_id, with_sales, supersede="true")
    assert status == 201 and (doc["version"], doc["state"]) == (2, "waiting"), doc
    _transfer(api, aws, connection_id)
    states = sorted((d["version"], d["state"]) for d in _documents(api, connection_id) if d["state"] != "rejected")
    assert states == [(1, "superseded"), (2, "booked")]
    assert len(visma.vouchers()) == 1


def test_a_day_whose_only_amounts_are_costs_not_booked_ends_as_nothing_to_book(connected, visma, aws):
    # Inventory change is off: the cost is ignored, no voucher line is left, and no vendor sees it.
    api, connection_id = connected
    body = samples.closed_day(YESTERDAY)
    body["sales"] = [{"category": "Varer", "vat_rate": "25", "net": "0", "vat": "0", "gross": "0", "cost": "40.00"}]
    status, doc = _post(api, connection_id, body)
    assert status == 201 and doc["state"] == "waiting"
    visma.reset_counts()
    _transfer(api, aws, connection_id)
    [doc] = [d for d in _documents(api, connection_id) if d["state"] != "rejected"]
    assert doc["state"] == "nothing_to_book" and "inventory_change" in doc["reason"]
    assert _no_post_reached(visma)


# --- thousands of lines, long categories -------------------------------------------------------------

def test_twenty_thousand_product_lines_are_accepted_and_booked_as_a_short_voucher(connected, visma, aws):
    api, connection_id = connected
    cycle = [("Brød og bakst", "15", Decimal("8.70"), Decimal("1.30")),
             ("Kaffe servert", "25", Decimal("32.00"), Decimal("8.00")),
             ("Varer", "25", Decimal("12.00"), Decimal("3.00"))]
    sales = [{"category": c, "vat_rate": r, "net": str(n), "vat": str(v), "gross": str(n + v), "cost": "1.00"}
             for c, r, n, v in (cycle[i % 3] for i in range(20_000))]
    totals = {k: str(sum(Decimal(line[k]) for line in sales)) for k in ("net", "vat", "gross")}
    body = {"document_id": "Z-busy-1", "business_date": YESTERDAY.isoformat(), "sales": sales,
            "payments": [{"method": "Kort", "amount": totals["gross"]}], "totals": totals,
            "attachment": samples.settlement(YESTERDAY, 1)["attachment"]}
    status, doc = _post(api, connection_id, body)
    assert status == 201, str(doc)[:500]
    _transfer(api, aws, connection_id)
    _assert_exactly_once(visma, api, connection_id, 1)
    [voucher] = visma.vouchers()
    assert [(r["AccountNumber"], r["TransactionText"]) for r in voucher["Rows"]] == [
        (3011, "Salg Brød og bakst 15%"), (3000, "Salg Kaffe servert, Varer 25%"), (2701, "Utgående mva 15%"),
        (2700, "Utgående mva 25%"), (1580, "Betaling Kort")]
    assert sum(r["DebitAmount"] for r in voucher["Rows"]) == Decimal(totals["gross"])


def test_a_long_category_in_any_script_is_mapped_and_its_text_cut_as_eaccounting_counts(connected, visma, aws):
    api, connection_id = connected
    category = "季節の和菓子🥐" * 28 + "🥐🥐🥐🥐"  # 200 characters, 232 UTF-16 code units
    assert len(category) == 200
    setup = samples.account_setup()
    setup["rows"].append({"kind": "sales", "key": category, "vat_rate": "25", "account": "3030", "vat_code": "3"})
    status, saved = api.call("PUT", f"/connections/{connection_id}/account-setup", setup)
    assert status == 200, saved  # before: 422, key at most 64 characters
    body = samples.settlement(YESTERDAY, 1, extra_category=category)
    assert _post(api, connection_id, body)[0] == 201
    _transfer(api, aws, connection_id)
    _assert_exactly_once(visma, api, connection_id, 1)
    [row] = [r for r in visma.vouchers()[0]["Rows"] if r["AccountNumber"] == 3030]
    text = row["TransactionText"]
    assert text.startswith("Salg 季節の和菓子🥐") and 59 <= _utf16_units(text) <= 60


# --- gift cards ----------------------------------------------------------------------------------

def test_gift_cards_are_booked_on_the_liability_account_without_vat(connected, visma, aws):
    api, connection_id = connected
    status, _ = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.account_setup(gift_cards=True))
    assert status == 200
    assert _post(api, connection_id, samples.settlement(YESTERDAY, 1, gift_cards=("500.00", "200.00")))[0] == 201
    _transfer(api, aws, connection_id)
    _assert_exactly_once(visma, api, connection_id, 1)
    rows = [r for r in visma.vouchers()[0]["Rows"] if r["AccountNumber"] == 2900]
    assert sorted((r["TransactionText"], r["DebitAmount"], r["CreditAmount"], r["VatCodeId"]) for r in rows) == [
        ("Gavekort innløst", Decimal("200.00"), Decimal("0.00"), None),
        ("Gavekort solgt", Decimal("0.00"), Decimal("500.00"), None)]


def test_gift_cards_without_a_gift_card_row_fail_naming_what_to_add(connected, visma, aws):
    api, connection_id = connected
    assert _post(api, connection_id, samples.settlement(YESTERDAY, 1, gift_cards=("500.00", "0")))[0] == 201
    visma.reset_counts()
    _transfer(api, aws, connection_id)
    [doc] = [d for d in _documents(api, connection_id) if d["state"] != "rejected"]
    assert doc["state"] == "failed" and "a gift_card row with the gift card liability account" in doc["reason"]
    assert _no_post_reached(visma)


def test_the_setup_refuses_a_vat_code_on_the_gift_card_row_and_missing_inventory_rows(connected):
    api, connection_id = connected
    setup = samples.account_setup(gift_cards=True)
    setup["rows"][-1]["vat_code"] = "3"
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", setup)
    assert status == 422 and "gift_card row: remove vat_code '3'" in body["message"], body
    setup = {**samples.account_setup(), "inventory_change": True}
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", setup)
    assert status == 422 and "no inventory and no inventory_change row" in body["message"], body


# --- a changed resend of what is booked -------------------------------------------------------------

def test_a_changed_resend_of_a_booked_day_says_to_book_a_correction_not_to_supersede(connected, visma, aws):
    api, connection_id = connected
    _ingest(api, connection_id, [YESTERDAY])
    _transfer(api, aws, connection_id)
    [voucher] = visma.vouchers()
    number = voucher["NumberAndNumberSeries"]
    changed = samples.settlement(YESTERDAY, 1, scale=2)
    status, body = _post(api, connection_id, changed)
    # Before: "send it with ?supersede=true", which was then refused by a second 409.
    assert status == 409 and "supersede" not in body["message"], body
    assert f"already booked as voucher {number}" in body["message"]
    assert "book a correction in the accounting system" in body["message"]
    status, again = _post(api, connection_id, changed, supersede="true")
    assert status == 409 and again["message"] == body["message"]
    assert len(visma.vouchers()) == 1


def test_a_changed_resend_of_a_day_the_vendor_may_hold_says_so(connected, visma, aws):
    from ledgerbridge.repositories import documents

    api, connection_id = connected
    _ingest(api, connection_id, [YESTERDAY])
    record = documents.latest("tenant-a", connection_id, f"Z-1-{YESTERDAY.isoformat()}-1")
    claimed = documents.claim(record, "worker", int(time.time() * 1000) + 60_000)
    status, body = _post(api, connection_id, samples.settlement(YESTERDAY, 1, scale=2))
    assert status == 409 and "being booked right now" in body["message"]  # may still fail: then supersede works
    documents.save_progress(claimed, "worker", {"submitted": "2026-11-23T10:00:00+00:00"})
    status, body = _post(api, connection_id, samples.settlement(YESTERDAY, 1, scale=2))
    assert status == 409 and "supersede" not in body["message"], body
    assert "may already be there" in body["message"] and "book a correction" in body["message"]


# --- check what can be checked before the first vendor call -------------------------------------------

def test_a_date_without_a_fiscal_year_fails_before_anything_is_sent(connected, visma, aws):
    api, connection_id = connected
    day = date(2024, 6, 3)  # the simulator's company has fiscal years 2025-2027
    assert _post(api, connection_id, samples.settlement(day, 1))[0] == 201
    visma.reset_counts()
    _transfer(api, aws, connection_id)
    [doc] = [d for d in _documents(api, connection_id) if d["state"] != "rejected"]
    assert doc["state"] == "failed"
    assert doc["reason"] == ("no open fiscal year in eAccounting covers 2024-06-03; create it (or unlock it) in "
                             "eAccounting, then replay")
    # Before: the PDF was uploaded, then the voucher refused: an orphan in the attachment inbox.
    assert _no_post_reached(visma), visma.request_counts()
    assert visma.attachments() == [] and visma.vouchers() == []


def test_a_locked_fiscal_year_fails_before_upload_and_a_replay_after_unlocking_books(connected, visma, aws):
    api, connection_id = connected
    company = visma.state.company("Demo Bakery AS")
    fiscal_year = company.fiscal_year_for(YESTERDAY)
    fiscal_year["IsLockedForAccounting"] = True
    _ingest(api, connection_id, [YESTERDAY])
    visma.reset_counts()
    _transfer(api, aws, connection_id)
    [doc] = [d for d in _documents(api, connection_id) if d["state"] != "rejected"]
    assert doc["state"] == "failed" and "is locked for accounting" in doc["reason"]
    assert doc["reason"].startswith(f"no open fiscal year in eAccounting covers {YESTERDAY.isoformat()}")
    assert _no_post_reached(visma) and visma.attachments() == []

    # Unlocked in eAccounting, then replayed: the cached read that found it locked is not trusted.
    fiscal_year["IsLockedForAccounting"] = False
    assert api.call("POST", f"/connections/{connection_id}/documents/{doc['document_id']}/replay")[0] == 202
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 1)


def test_fiscal_years_are_read_once_for_many_bookings(connected, visma, aws):
    api, connection_id = connected
    _ingest(api, connection_id, [YESTERDAY - timedelta(days=d) for d in range(4)])
    visma.reset_counts()
    _transfer(api, aws, connection_id)
    _assert_exactly_once(visma, api, connection_id, 4)
    assert visma.request_counts().get("GET /v2/fiscalyears") == 1
