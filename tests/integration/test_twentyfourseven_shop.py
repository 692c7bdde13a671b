"""24SevenOffice as the books of a shop (issue 8): company and department picks, the setup checked
against the company's chart and sales types, settlements booked with their Z-report into the ledger
or voucher reception, exactly once under faults."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from devstack import reset_process_caches, samples
from simulators.twentyfourseven.state import Fault
from tests.integration.test_worker_exactly_once import QueueDriver
from tests.integration.tfso_helpers import connect_tfso

SHOP = int(samples.SHOP_COMPANY)
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture
def shop(aws, tfso, api_for):
    """A shop's connection: the integration user stored, Havnekafeen picked with department 201,
    voucher type 9 "Dagsoppgjør", straight to the ledger, and the shop's setup saved."""
    api = api_for("shop-a")
    connection_id, checked = connect_tfso(api, name="Havnekafeen – kasse")
    assert checked["ok"], checked
    status, view = api.call("PUT", f"/connections/{connection_id}/vendor-settings",
                            {"company": samples.SHOP_COMPANY, "department": "201", "transaction_type": "9",
                             "type_import": "ledger"})
    assert status == 200, view
    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.shop_setup_24so())
    assert status == 200, view
    return api, connection_id


def _documents(api, connection_id: str) -> list[dict]:
    status, page = api.call("GET", f"/connections/{connection_id}/documents", query={"limit": "200"})
    assert status == 200
    return [d for d in page["documents"] if d["state"] != "rejected"]


def _book(api, aws, connection_id: str, bodies: list[dict]) -> list[dict]:
    for body in bodies:
        status, doc = api.call("POST", f"/connections/{connection_id}/settlements", body)
        assert status == 201, doc
    status, started = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202, started
    drain(aws)
    return _documents(api, connection_id)


def drain(aws) -> None:
    """Until no job is left, delayed ones (waits) included."""
    QueueDriver(aws).run()


@pytest.fixture
def short_session_lease(monkeypatch):
    """After a call that got no answer the session lease is left to run out (the call may still be
    going on at 24SevenOffice); a short lease keeps such tests quick."""
    from ledgerbridge.connectors.twentyfourseven import connector

    monkeypatch.setattr(connector, "UNIT_LEASE_SECONDS", 2)


def _booked(tfso) -> list[dict]:
    """Vouchers the hub booked (the company's ledger also holds the seed's own)."""
    return [v for v in tfso.vouchers(SHOP) if v["origin"] != "helper"]


def _assert_each_booked_once(tfso, docs: list[dict]) -> None:
    vouchers = _booked(tfso)
    for doc in docs:
        assert doc["state"] == "booked", doc
        ours = [v for v in vouchers if any(f"[{doc['reference']}]" in c for c in v["comments"])]
        assert len(ours) == 1, f"{doc['document_id']}: {len(ours)} vouchers"
        voucher = ours[0]
        assert sum(Decimal(str(line["amount"])) for line in voucher["lines"]) == 0, "balanced to the cent"
        assert str(voucher["transaction_no"]) == doc["vendor_document_number"]
        assert len(voucher["files"]) == 1, "the Z-report is tied to the voucher by its stamp number"
    assert tfso.orphan_attachments(SHOP) == [], "no file left without its voucher"


# --- connect and pick ---------------------------------------------------------------------------

def test_a_shop_picks_its_company_then_its_department_from_24sevenoffices_lists(aws, tfso, api_for):
    api = api_for("shop-a")
    connection_id, checked = connect_tfso(api, name="Havnekafeen – kasse")
    assert checked["ok"] and checked["companies"] == 3
    companies = {c["id"]: c["name"] for c in checked["choices"]["company"]}
    assert companies[samples.SHOP_COMPANY] == "Havnekafeen AS"
    assert {c["id"] for c in checked["choices"]["type_import"]} == {"reception", "ledger"}
    assert "department" not in checked["choices"], "departments belong to the company picked"

    status, view = api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"company": samples.SHOP_COMPANY})
    assert status == 200, view
    assert {(d["id"], d["name"]) for d in view["choices"]["department"]} == {("201", "Solsiden"), ("202", "Bakklandet")}
    assert any(t["id"] == "9" and "Dagsoppgjør" in t["name"] for t in view["choices"]["transaction_type"])

    status, error = api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"department": "999"})
    assert status == 422 and "Solsiden" in error["message"], error
    status, view = api.call("PUT", f"/connections/{connection_id}/vendor-settings",
                            {"department": "202", "transaction_type": "9"})
    assert status == 200 and view["vendor_settings"]["department"] == "202"

    # Another company: its departments replace the list, and the pick of the old one goes.
    status, view = api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"company": "1100001"})
    assert status == 200
    assert "department" not in view["vendor_settings"]
    assert [d["id"] for d in view["choices"]["department"]] == ["101"]

    # A list is read again on request (a department created in 24SevenOffice meanwhile).
    tfso.state.add_department(1100001, 102, "Sentrum")
    status, view = api.call("POST", f"/connections/{connection_id}/choices")
    assert status == 200 and {d["id"] for d in view["choices"]["department"]} == {"101", "102"}


def test_the_setup_is_checked_against_the_companys_chart_and_sales_types(aws, tfso, api_for):
    api = api_for("shop-a")
    connection_id, _ = connect_tfso(api, name="Havnekafeen – kasse")
    api.call("PUT", f"/connections/{connection_id}/vendor-settings",
             {"company": samples.SHOP_COMPANY, "department": "201", "transaction_type": "9"})
    status, error = api.call("PUT", f"/connections/{connection_id}/account-setup",
                             samples.shop_setup_24so(kiosk_account="3090"))
    assert status == 422, error
    assert "account 3090 has no sales type" in error["message"]
    assert "Accounting > Settings > Sales types" in error["message"]
    assert [d["row"] for d in error["details"]] == ["sales:Varer@25"]
    status, view = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.shop_setup_24so())
    assert status == 200 and view["account_setup"]["inventory_change"] is True
    # VAT codes resolve to 24SevenOffice's tax numbers.
    rows = {r["key"]: r for r in view["account_setup"]["rows"] if r["kind"] == "sales"}
    assert rows["Brød og bakst"]["vat_code_id"] == "31"


def test_booking_needs_the_company_and_voucher_type_picked(aws, tfso, api_for):
    api = api_for("shop-a")
    connection_id, _ = connect_tfso(api, name="Havnekafeen – kasse")
    status, error = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.shop_setup_24so())
    assert status == 422 and "choose the company to book into" in error["message"], error


# --- booking ------------------------------------------------------------------------------------

def test_settlements_are_booked_into_the_ledger_with_department_pdf_gift_cards_and_inventory_change(shop, tfso, aws):
    api, connection_id = shop
    days = [YESTERDAY - timedelta(days=d) for d in range(3)]
    bodies = [samples.settlement(day, n, with_cost=True, gift_cards=("500.00", "200.00") if n == 1 else None)
              for n, day in enumerate(days, start=1)]
    docs = _book(api, aws, connection_id, bodies)
    assert len(docs) == 3
    _assert_each_booked_once(tfso, docs)
    vouchers = _booked(tfso)
    for voucher in vouchers:
        assert set(voucher["department_ids"]) == {201}
        assert voucher["transaction_type_ids"] == [12], "voucher type 9 'Dagsoppgjør' (Id 12)"
        accounts = {line["account_no"] for line in voucher["lines"]}
        assert {3000, 3011, 2700, 2701, 1570, 1920, 1900, 4090, 1460} <= accounts
    gift_doc = next(d for d in docs if d["document_id"] == bodies[0]["document_id"])
    gift = next(v for v in vouchers if any(f"[{gift_doc['reference']}]" in c for c in v["comments"]))
    on_2905 = [Decimal(str(line["amount"])) for line in gift["lines"] if line["account_no"] == 2905]
    assert sorted(on_2905) == [Decimal("-500.00"), Decimal("200.00")], "sold: a liability; redeemed: a payment"


def test_settlements_land_in_voucher_reception_and_are_approved_there(shop, tfso, aws):
    api, connection_id = shop
    api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"type_import": "reception"})
    [doc] = _book(api, aws, connection_id, [samples.settlement(YESTERDAY, 1)])
    assert doc["state"] == "booked" and doc["vendor_document_id"].startswith("voucher-reception")
    assert _booked(tfso) == [], "nothing in the ledger until a bookkeeper approves it"
    [draft] = tfso.voucher_reception(SHOP)
    assert any(f"[{doc['reference']}]" in c for c in draft["comments"]) and draft["files"]
    tfso.approve_draft(SHOP, draft["draft_id"])
    assert len(_booked(tfso)) == 1 and tfso.orphan_attachments(SHOP) == []


def test_a_date_in_a_closed_fiscal_year_fails_before_anything_is_sent(shop, tfso, aws):
    api, connection_id = shop
    last_year = date(date.today().year - 1, 12, 30)
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(last_year, 1))
    assert status == 201, doc
    tfso.reset_counts() if hasattr(tfso, "reset_counts") else None
    api.call("POST", f"/connections/{connection_id}/documents/{doc['document_id']}/replay")
    drain(aws)
    [failed] = _documents(api, connection_id)
    assert failed["state"] == "failed" and f"fiscal year {last_year.year} is closed" in failed["reason"]
    assert tfso.attachments(SHOP) == [] and _booked(tfso) == [], "no file uploaded for nothing"


def test_24sevenoffices_refusal_is_the_documents_reason(shop, tfso, aws):
    api, connection_id = shop
    tfso.state.remove_department(SHOP, 201)  # the bookkeeper deleted the department
    [doc] = _book(api, aws, connection_id, [samples.settlement(YESTERDAY, 1, with_pdf=False)])
    assert doc["state"] == "failed" and "24SevenOffice refused the voucher" in doc["reason"]
    assert "department" in doc["reason"].lower()


# --- exactly once ---------------------------------------------------------------------------------

def test_each_settlement_is_booked_once_when_24sevenoffice_commits_and_does_not_answer(shop, tfso, aws, monkeypatch,
                                                                                      short_session_lease):
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    reset_process_caches()
    api, connection_id = shop
    tfso.add_fault(Fault("timeout_after", operation="SaveBundleList", times=1, delay_s=1.5))
    tfso.add_fault(Fault("fault_after", operation="SaveBundleList", times=1))
    tfso.add_fault(Fault("fault_after", operation="AppendChunk", times=1))
    tfso.add_fault(Fault("timeout_after", operation="Save", times=1, delay_s=1.5))
    tfso.add_fault(Fault("save_result", operation="SaveBundleList", times=1, result_type="SystemError"))
    tfso.add_fault(Fault("soap_fault", operation="Create", times=1))
    days = [YESTERDAY - timedelta(days=d) for d in range(4)]
    docs = _book(api, aws, connection_id, [samples.settlement(day, n) for n, day in enumerate(days, start=1)])
    assert len(docs) == 4
    _assert_each_booked_once(tfso, docs)
    assert len(_booked(tfso)) == 4


def test_an_unanswered_post_to_voucher_reception_asks_a_person_before_sending_again(shop, tfso, aws, monkeypatch,
                                                                                   short_session_lease):
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    reset_process_caches()
    api, connection_id = shop
    api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"type_import": "reception"})
    tfso.add_fault(Fault("timeout_after", operation="SaveBundleList", times=2, delay_s=1.5))
    docs = _book(api, aws, connection_id, [samples.settlement(YESTERDAY, 1), samples.settlement(YESTERDAY, 2)])
    assert all(d["state"] == "failed" for d in docs), docs
    for doc in docs:
        assert f"check voucher reception for [{doc['reference']}]" in doc["reason"]
    drafts = tfso.voucher_reception(SHOP)
    assert len(drafts) == 2, "both arrived; nothing was sent twice"
    first, second = docs
    # The bookkeeper approves the first: a replay finds it in the ledger.
    draft = next(d for d in drafts if any(first["reference"] in c for c in d["comments"]))
    tfso.approve_draft(SHOP, draft["draft_id"])
    assert api.call("POST", f"/connections/{connection_id}/documents/{first['document_id']}/replay")[0] == 202
    # The second was deleted there: the person says so, and it is sent again.
    other = next(d for d in drafts if d is not draft)
    tfso.delete_draft(SHOP, other["draft_id"])
    status, _ = api.call("POST", f"/connections/{connection_id}/documents/{second['document_id']}/replay",
                         query={"resend": "true"})
    assert status == 202
    drain(aws)
    after = {d["document_id"]: d for d in _documents(api, connection_id)}
    assert after[first["document_id"]]["state"] == "booked" and after[first["document_id"]]["vendor_document_number"]
    assert after[second["document_id"]]["state"] == "booked"
    assert len(_booked(tfso)) == 1 and len(tfso.voucher_reception(SHOP)) == 1


def test_test_integration_warns_when_the_company_has_no_giftcard_product(aws, tfso, api_for):
    api = api_for("shop-a")
    connection_id, checked = connect_tfso(api, name="Fjordbakeriet – kasse")
    assert checked["warnings"] == [], "no company picked yet: nothing to say"
    api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"company": "1100001"})
    status, checked = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and checked["ok"]
    assert any("GIFTCARD" in w and "Fjordbakeriet AS" in w for w in checked["warnings"]), checked
    api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"company": samples.SHOP_COMPANY})
    status, checked = api.call("POST", f"/connections/{connection_id}/check")
    assert checked["ok"] and checked["warnings"] == [], "Havnekafeen has GIFTCARD"


def test_a_z_report_larger_than_one_request_is_uploaded_in_chunks(shop, tfso, aws):
    """24SevenOffice refuses requests over 4096 KB: a 3.5 MB PDF (4.7 MB in base64) goes in pieces."""
    import base64

    api, connection_id = shop
    body = samples.settlement(YESTERDAY, 1)
    pdf = base64.b64decode(body["attachment"]["data"])
    big = pdf + b"%" + bytes(range(256)) * (3_500_000 // 256)
    body["attachment"]["data"] = base64.b64encode(big).decode()
    tfso.reset_counts()
    [doc] = _book(api, aws, connection_id, [body])
    assert doc["state"] == "booked", doc
    assert tfso.request_counts()["AppendChunk"] == 2
    [attachment] = tfso.attachments(SHOP)
    assert tfso.file_content(SHOP, attachment["file_id"]) == big
    _assert_each_booked_once(tfso, [doc])
