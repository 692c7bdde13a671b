"""Stock registrations ("Beholdningsendring") as documents of their own, for both vendors: goods
received, write-offs and count adjustments pushed by the back office, each booked once as a
balanced voucher between the inventory account and the inventory change account; the same door
(201/200/409/4xx, refusals in the export log) and the same state machine as settlements."""
from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest

from devstack import gateway, lambdas, reset_process_caches, samples
from simulators.visma_eaccounting import Fault
from tests.conftest import api_event
from tests.integration.test_worker_exactly_once import QueueDriver
from tests.integration.tfso_helpers import connect_tfso

YESTERDAY = date.today() - timedelta(days=1)
RESOURCE = "/connections/{connection_id}/stock-registrations"
STOCK, CHANGE = samples.VISMA_INVENTORY_ACCOUNT, samples.VISMA_INVENTORY_CHANGE_ACCOUNT
KIND_TEXTS = {"goods_received": "Varemottak", "write_off": "Svinn", "count_adjustment": "Varetelling"}
SHOP = int(samples.SHOP_COMPANY)


def post_stock(api, connection_id: str, body=None, *, query: dict | None = None, raw_body: str | None = None,
               headers: dict | None = None) -> tuple[int, dict]:
    """POST /connections/{id}/stock-registrations to the function template.yaml routes it to."""
    function = {(r.method, r.resource): r.function for r in gateway.routes()}[("POST", RESOURCE)]
    event = api_event("POST", f"/connections/{connection_id}/stock-registrations", tenant=api.tenant, body=body,
                      query=query, raw_body=raw_body, resource=RESOURCE, path_params={"connection_id": connection_id})
    event["headers"].update(headers or {})
    result = lambdas.invoke(function, event)
    text = result.get("body") or ""
    return result["statusCode"], (json.loads(text) if text else None)


def documents(api, connection_id: str, **query) -> list[dict]:
    status, page = api.call("GET", f"/connections/{connection_id}/documents", query={"limit": "200", **query})
    assert status == 200, page
    return page["documents"]


def accepted(api, connection_id: str) -> list[dict]:
    return [d for d in documents(api, connection_id) if d["state"] != "rejected"]


def transfer(api, aws, connection_id: str) -> int:
    status, started = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202, started
    QueueDriver(aws).run()
    return started["enqueued"]


def three_kinds(day: date) -> list[dict]:
    """Goods received +2,180.00, a write-off -165.50, a count adjustment -20.10 (samples' defaults)."""
    return [samples.stock_registration(day, kind, n)
            for n, kind in enumerate(("goods_received", "write_off", "count_adjustment"), start=1)]


def net(body: dict) -> Decimal:
    return sum((Decimal(line["amount"]) for line in body["lines"]), Decimal(0))


@pytest.fixture
def stocked(connected):
    """The Visma connection with inventory change on (the simulator's chart: see samples)."""
    api, connection_id = connected
    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup",
                            samples.account_setup(inventory=True))
    assert status == 200, view
    assert view["account_setup"]["inventory_change"] is True
    return api, connection_id


@pytest.fixture
def shop(aws, tfso, api_for):
    """A 24SevenOffice shop (Havnekafeen, department 201, voucher type 9, straight to the ledger)
    whose setup has inventory change on between 1460 Varelager and 4090 Beholdningsendring."""
    api = api_for("shop-a")
    connection_id, checked = connect_tfso(api, name="Havnekafeen – kasse")
    assert checked["ok"], checked
    status, view = api.call("PUT", f"/connections/{connection_id}/vendor-settings",
                            {"company": samples.SHOP_COMPANY, "department": "201", "transaction_type": "9",
                             "type_import": "ledger"})
    assert status == 200, view
    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.shop_setup_24so())
    assert status == 200 and view["account_setup"]["inventory_change"], view
    return api, connection_id


# --- Visma eAccounting ------------------------------------------------------------------------------

def test_visma_books_goods_received_a_write_off_and_a_count_adjustment_once_each(stocked, visma, aws, monkeypatch):
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    reset_process_caches()
    api, connection_id = stocked
    bodies = three_kinds(YESTERDAY)
    for body in bodies:
        status, doc = post_stock(api, connection_id, body)
        assert status == 201, doc
        assert (doc["kind"], doc["state"], doc["version"]) == ("stock_registration", "waiting", 1)
        assert doc["gross_total"] == f"{net(body):.2f}" and doc["reason"] is None
    # eAccounting commits the first voucher and never answers; every job is delivered twice.
    visma.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", times=1, delay_s=1.0))
    assert api.call("POST", f"/connections/{connection_id}/transfers")[1]["enqueued"] == 3
    driver = QueueDriver(aws)
    assert driver.duplicate_everything() == 3
    driver.run()
    assert not visma.state.faults, "the fault fired"

    docs = {d["document_id"]: d for d in accepted(api, connection_id)}
    vouchers = visma.vouchers()
    assert len(vouchers) == 3, [v["VoucherText"] for v in vouchers]
    for body in bodies:
        doc = docs[body["document_id"]]
        assert doc["state"] == "booked" and doc["kind"] == "stock_registration", doc
        [voucher] = [v for v in vouchers if f"[{doc['reference']}]" in v["VoucherText"]]
        assert doc["vendor_document_id"] == voucher["Id"]
        assert voucher["VoucherText"].startswith(f"{KIND_TEXTS[body['kind']]} {YESTERDAY.isoformat()} "
                                                 f"({body['document_id']})")
        sides = {r["AccountNumber"]: (Decimal(str(r["DebitAmount"])), Decimal(str(r["CreditAmount"])))
                 for r in voucher["Rows"]}
        change = abs(net(body))
        if net(body) > 0:  # stock up: debit the stock, credit inventory change
            assert sides == {int(STOCK): (change, 0), int(CHANGE): (0, change)}, sides
        else:  # stock down: the reverse
            assert sides == {int(STOCK): (0, change), int(CHANGE): (change, 0)}, sides
        assert len(voucher["Attachments"]["AttachmentIds"]) == 1, "the delivery note or count sheet, linked once"
    assert len(visma.attachments()) == 3, "no file stored twice"


def test_visma_identical_resend_is_200_and_changed_content_409_until_superseded(stocked, visma, aws):
    api, connection_id = stocked
    body = samples.stock_registration(YESTERDAY, "write_off")
    assert post_stock(api, connection_id, body)[0] == 201
    status, again = post_stock(api, connection_id, body)
    assert status == 200 and again["version"] == 1

    changed = samples.stock_registration(YESTERDAY, "write_off", lines=[("Brød og bakst", "-150.00")])
    status, error = post_stock(api, connection_id, changed)
    assert status == 409 and "?supersede=true" in error["message"], error
    rejected = documents(api, connection_id, state="rejected")
    assert [r["reason"] for r in rejected] == [error["message"]]

    status, doc = post_stock(api, connection_id, changed, query={"supersede": "true"})
    assert status == 201 and doc["version"] == 2 and doc["gross_total"] == "-150.00", doc
    assert transfer(api, aws, connection_id) == 1
    [booked] = [d for d in accepted(api, connection_id) if d["version"] == 2]
    assert booked["state"] == "booked"
    assert [d["state"] for d in accepted(api, connection_id) if d["version"] == 1] == ["superseded"]
    [voucher] = visma.vouchers()
    assert {r["AccountNumber"]: r["CreditAmount"] for r in voucher["Rows"]}[int(STOCK)] == 150

    # Booked: the same wording as for settlements — a correction, never ?supersede=true.
    for query in (None, {"supersede": "true"}):
        status, error = post_stock(api, connection_id, body, query=query)
        assert status == 409, error
        assert f"already booked as voucher {booked['vendor_document_number'] or booked['vendor_document_id']}" in \
            error["message"] and "book a correction in the accounting system" in error["message"], error
        assert "?supersede=true" not in error["message"]
    assert len(visma.vouchers()) == 1


def test_a_registration_while_inventory_change_is_off_fails_saying_what_to_set_up_and_replays(connected, visma,
                                                                                              aws):
    api, connection_id = connected  # the bakery's setup: inventory change off
    body = samples.stock_registration(YESTERDAY, "goods_received")
    assert post_stock(api, connection_id, body)[0] == 201
    assert transfer(api, aws, connection_id) == 1
    [doc] = accepted(api, connection_id)
    assert doc["state"] == "failed", doc
    assert "inventory_change on" in doc["reason"] and "inventory row" in doc["reason"], doc["reason"]
    assert visma.vouchers() == [] and visma.attachments() == [], "refused before anything was sent"

    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.account_setup(inventory=True))
    assert status == 200, view
    status, replayed = api.call("POST", f"/connections/{connection_id}/documents/{body['document_id']}/replay")
    assert status in (200, 202), replayed
    QueueDriver(aws).run()
    [doc] = accepted(api, connection_id)
    assert doc["state"] == "booked", doc
    assert len(visma.vouchers()) == 1


def test_a_registration_adding_up_to_zero_is_nothing_to_book_and_never_queued(stocked, visma, aws):
    api, connection_id = stocked
    body = samples.stock_registration(YESTERDAY, "count_adjustment", lines=[("Varer", "-12.00"), ("Kaffe", "12.00")])
    status, doc = post_stock(api, connection_id, body)
    assert status == 201, doc
    assert doc["state"] == "nothing_to_book" and "add up to zero" in doc["reason"], doc
    assert transfer(api, aws, connection_id) == 0
    assert [d["state"] for d in accepted(api, connection_id)] == ["nothing_to_book"]
    assert visma.vouchers() == [] and visma.attachments() == []
    # Corrected: a resend with a change supersedes it and books.
    fixed = samples.stock_registration(YESTERDAY, "count_adjustment", lines=[("Varer", "-12.00"), ("Kaffe", "2.00")])
    status, doc = post_stock(api, connection_id, fixed, query={"supersede": "true"})
    assert status == 201 and doc["state"] == "waiting", doc
    assert transfer(api, aws, connection_id) == 1
    assert len(visma.vouchers()) == 1


def test_a_scheduled_run_books_stock_registrations_beside_settlements(stocked, visma, aws):
    from datetime import datetime, timezone

    from ledgerbridge.repositories import connections as store
    from tests.integration.scheduler_helpers import schedule

    api, connection_id = stocked
    assert api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(YESTERDAY, 1))[0] == 201
    assert post_stock(api, connection_id, samples.stock_registration(YESTERDAY, "write_off"))[0] == 201
    now = datetime.now(timezone.utc)

    def due_now(current):
        current.next_run_at = now
    store.update("tenant-a", connection_id, due_now)
    assert schedule(aws, now) == {"connections": 1, "jobs": 2}
    QueueDriver(aws).run()
    assert sorted((d["kind"], d["state"]) for d in accepted(api, connection_id)) == [
        ("daily_settlement", "booked"), ("stock_registration", "booked")]
    assert len(visma.vouchers()) == 2


def test_the_export_log_says_why_no_scheduled_run_will_reach_an_old_registration(stocked):
    api, connection_id = stocked  # daily, 30 days back
    status, doc = post_stock(api, connection_id, samples.stock_registration(date.today() - timedelta(days=60)))
    assert status == 201 and doc["state"] == "waiting", doc
    assert "older than the 30 days scheduled transfers look back" in doc["reason"], doc


def test_a_stock_registration_cannot_take_the_id_of_a_settlement_nor_the_other_way_round(stocked):
    api, connection_id = stocked
    settlement = samples.settlement(YESTERDAY, 1)
    assert api.call("POST", f"/connections/{connection_id}/settlements", settlement)[0] == 201
    stock = {**samples.stock_registration(YESTERDAY), "document_id": settlement["document_id"]}
    for query in (None, {"supersede": "true"}):
        status, error = post_stock(api, connection_id, stock, query=query)
        assert status == 409 and "already received as a settlement" in error["message"], error
    registration = samples.stock_registration(YESTERDAY, "write_off")
    assert post_stock(api, connection_id, registration)[0] == 201
    status, error = api.call("POST", f"/connections/{connection_id}/settlements",
                             {**samples.settlement(YESTERDAY, 2), "document_id": registration["document_id"]},
                             query={"supersede": "true"})
    assert status == 409 and "already received as a stock registration" in error["message"], error
    assert {(d["document_id"], d["kind"]) for d in accepted(api, connection_id)} == {
        (settlement["document_id"], "daily_settlement"), (registration["document_id"], "stock_registration")}


def _lines(*amounts: str) -> list[dict]:
    return [{"category": "Varer", "amount": amount} for amount in amounts]


INVALID = {
    "write-off with a positive amount": ({"kind": "write_off", "lines": _lines("-5.00", "120.00")},
                                         "a write_off has no positive amounts"),
    "goods received with a negative amount": ({"kind": "goods_received", "lines": _lines("-1.00")},
                                              "a goods_received has no negative amounts"),
    "no lines": ({"lines": []}, "lines"),
    "5,001 lines": ({"lines": _lines(*["1.00"] * 5001)}, "lines"),
    "unknown kind": ({"kind": "theft"}, "kind"),
    "an amount past the cent": ({"lines": _lines("1.005")}, "more than two decimals"),
    "an amount that is no number": ({"lines": [{"category": "Varer", "amount": "12,50"}]}, "not a valid amount"),
    "a field the model does not know": ({"supplier": "Baker Hansen"}, "supplier"),
    "a line without a category": ({"lines": [{"amount": "1.00"}]}, "category"),
    "a date far back": ({"business_date": "1999-12-31"}, "out of range"),
    "a date past tomorrow": ({"business_date": (date.today() + timedelta(days=5)).isoformat()}, "out of range"),
    "an id with a slash": ({"document_id": "VM/1"}, "must not contain '/'"),
    "a note with a control character": ({"note": "svinn\u0000"}, "control character"),
    "a note too long": ({"note": "x" * 1001}, "note"),
    "a currency code that is none": ({"currency": "kroner"}, "currency"),
}


@pytest.mark.parametrize("label", INVALID)
def test_invalid_registrations_are_422_and_logged_as_rejected(stocked, label):
    api, connection_id = stocked
    change, expected = INVALID[label]
    body = {**samples.stock_registration(YESTERDAY, "goods_received", 7), **change}
    status, error = post_stock(api, connection_id, body)
    assert status == 422, (label, error)
    assert error["message"].startswith("invalid stock registration: "), error
    if expected:
        assert expected in error["message"], error["message"]
    [rejected] = documents(api, connection_id, state="rejected")
    assert (rejected["reason"], rejected["kind"]) == (error["message"], "stock_registration")
    assert accepted(api, connection_id) == []


def test_malformed_json_is_400_another_type_415_and_another_currency_422(stocked, aws):
    api, connection_id = stocked
    status, error = post_stock(api, connection_id, raw_body='{"document_id": "VM-1", "lines": [')
    assert status == 400 and "malformed JSON" in error["message"], error
    status, error = post_stock(api, connection_id, raw_body="document_id=VM-1",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415, error
    # The company books in NOK (read when it was connected): a registration in SEK is refused.
    status, error = post_stock(api, connection_id, {**samples.stock_registration(YESTERDAY), "currency": "SEK"})
    assert status == 422 and "stock registration VM-" in error["message"] and "books in NOK" in error["message"], error
    reasons = [r["reason"] for r in documents(api, connection_id, state="rejected")]
    assert len(reasons) == 3 and all("stock registration" in r for r in reasons), reasons


# --- 24SevenOffice ------------------------------------------------------------------------------------

def test_24sevenoffice_books_each_kind_once_as_a_balanced_voucher_on_1460_and_4090(shop, tfso, aws):
    api, connection_id = shop
    bodies = three_kinds(YESTERDAY)
    zero = samples.stock_registration(YESTERDAY, "count_adjustment", 9, lines=[("Varer", "3.00"), ("Is", "-3.00")])
    for body in [*bodies, zero]:
        status, doc = post_stock(api, connection_id, body)
        assert status == 201, doc
    assert post_stock(api, connection_id, bodies[0])[0] == 200, "an identical resend"
    changed = samples.stock_registration(YESTERDAY, "goods_received", 1, lines=[("Varer", "1.00")])
    assert post_stock(api, connection_id, changed)[0] == 409
    assert transfer(api, aws, connection_id) == 3

    docs = {d["document_id"]: d for d in accepted(api, connection_id)}
    assert docs[zero["document_id"]]["state"] == "nothing_to_book"
    booked = [v for v in tfso.vouchers(SHOP) if v["origin"] != "helper"]
    assert len(booked) == 3
    for body in bodies:
        doc = docs[body["document_id"]]
        assert doc["state"] == "booked", doc
        [voucher] = [v for v in booked if any(f"[{doc['reference']}]" in c for c in v["comments"])]
        assert str(voucher["transaction_no"]) == doc["vendor_document_number"]
        amounts = {line["account_no"]: Decimal(str(line["amount"])) for line in voucher["lines"]}
        # 24SevenOffice's entries are signed: debit +, credit -. Stock up: +1460, -4090; down: the reverse.
        assert amounts == {1460: net(body), 4090: -net(body)}, amounts
        assert all(line["tax_no"] in (None, 0, "", "0") for line in voucher["lines"]), "stock moves carry no VAT"
        assert set(voucher["department_ids"]) == {201}
        assert any(KIND_TEXTS[body["kind"]] in c for c in voucher["comments"]), voucher["comments"]
        assert len(voucher["files"]) == 1, "the delivery note tied to the voucher by its stamp number"
    assert tfso.orphan_attachments(SHOP) == []


def test_24sevenoffice_fails_a_registration_while_inventory_change_is_off(shop, tfso, aws):
    api, connection_id = shop
    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup",
                            samples.shop_setup_24so(inventory_change=False))
    assert status == 200, view
    assert post_stock(api, connection_id, samples.stock_registration(YESTERDAY, "write_off"))[0] == 201
    transfer(api, aws, connection_id)
    [doc] = accepted(api, connection_id)
    assert doc["state"] == "failed" and "inventory_change on" in doc["reason"], doc
    assert [v for v in tfso.vouchers(SHOP) if v["origin"] != "helper"] == [] and tfso.attachments(SHOP) == []
