"""Ingest API: validation at the door, idempotent resends, explicit versioning, rejections logged."""
from __future__ import annotations

from datetime import date

from devstack import samples

DAY = date(2026, 11, 10)


def doc_hash(day: date, number: int) -> str:
    from ledgerbridge.models.settlement import Settlement

    return Settlement.model_validate(samples.settlement(day, number)).content_hash()[:16]


def _log(api, connection_id, **query):
    status, body = api.call("GET", f"/connections/{connection_id}/documents", query=query or None)
    assert status == 200
    return body["documents"]


def test_accepts_a_settlement_and_stores_it(connected, aws):
    api, connection_id = connected
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(DAY, 1))
    assert status == 201
    assert doc["state"] == "waiting" and doc["version"] == 1 and doc["business_date"] == "2026-11-10"
    assert doc["reference"].startswith("LB-")
    objects = aws.client("s3").list_objects_v2(Bucket="test-attachments")["Contents"]
    assert [o["Key"] for o in objects] == [
        f"tenants/tenant-a/connections/{connection_id}/documents/Z-1-2026-11-10-1/v000001-{doc_hash(DAY, 1)}.json"]


def test_identical_resend_changes_nothing(connected):
    api, connection_id = connected
    body = samples.settlement(DAY, 1)
    assert api.call("POST", f"/connections/{connection_id}/settlements", body)[0] == 201
    # Key order and number formatting do not make it a different document.
    reordered = dict(reversed(list(body.items())))
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", reordered)
    assert status == 200 and doc["version"] == 1
    assert len(_log(api, connection_id)) == 1


def test_changed_resend_is_refused_unless_superseded(connected):
    api, connection_id = connected
    api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(DAY, 1))
    changed = samples.settlement(DAY, 1, scale=2)
    status, body = api.call("POST", f"/connections/{connection_id}/settlements", changed)
    assert status == 409 and "supersede=true" in body["message"]
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", changed, query={"supersede": "true"})
    assert status == 201 and doc["version"] == 2
    states = {(d["version"], d["state"]) for d in _log(api, connection_id) if d["state"] != "rejected"}
    assert states == {(1, "superseded"), (2, "waiting")}


def test_booked_document_cannot_be_superseded(connected):
    api, connection_id = connected
    from ledgerbridge.models.documents import DocumentState
    from ledgerbridge.repositories import documents

    api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(DAY, 1))
    record = documents.latest("tenant-a", connection_id, "Z-1-2026-11-10-1")
    claimed = documents.claim(record, "lease", 0)
    documents.finish(claimed, "lease", DocumentState.BOOKED, vendor_document_id="v-1", vendor_document_number="A9")
    status, body = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(DAY, 1, scale=3),
                            query={"supersede": "true"})
    assert status == 409 and "A9" in body["message"] and "correction" in body["message"]


def test_malformed_json_is_400_and_logged(connected):
    api, connection_id = connected
    status, body = api.call("POST", f"/connections/{connection_id}/settlements", raw_body='{"document_id": "Z-1",')
    assert status == 400 and "malformed JSON" in body["message"]
    rejected = _log(api, connection_id, state="rejected")
    assert len(rejected) == 1 and rejected[0]["document_id"] == "(unreadable)"


def test_wrong_types_name_the_field(connected):
    api, connection_id = connected
    body = samples.settlement(DAY, 1)
    body["sales"][0]["net"] = "lots"
    body["business_date"] = "2026-13-45"
    status, result = api.call("POST", f"/connections/{connection_id}/settlements", body)
    assert status == 422
    fields = {d["field"] for d in result["details"]}
    assert {"sales.0.net", "business_date"} <= fields
    rejected = _log(api, connection_id, state="rejected")
    assert rejected[0]["document_id"] == "Z-1-2026-11-10-1" and "sales.0.net" in rejected[0]["reason"]


def test_totals_that_do_not_add_up_are_refused(connected):
    api, connection_id = connected
    body = samples.settlement(DAY, 1)
    body["payments"][0]["amount"] = "1.00"
    status, result = api.call("POST", f"/connections/{connection_id}/settlements", body)
    assert status == 422 and "payments add up to" in result["message"]
    body = samples.settlement(DAY, 1)
    body["sales"][0]["vat"] = "0.01"
    status, result = api.call("POST", f"/connections/{connection_id}/settlements", body)
    assert status == 422 and "!= gross" in result["message"]


def test_amounts_past_the_cent_are_refused(connected):
    api, connection_id = connected
    body = samples.settlement(DAY, 1)
    body["cash_rounding"] = 0.125
    status, result = api.call("POST", f"/connections/{connection_id}/settlements", body)
    assert status == 422 and "more than two decimals" in result["message"]


def test_json_numbers_are_read_exactly(connected, aws):
    api, connection_id = connected
    body = samples.settlement(DAY, 1)
    # 0.1 + 0.2 style amounts sent as JSON numbers must stay exact.
    body["sales"] = [{"category": "Varer", "vat_rate": 25, "net": 0.08, "vat": 0.02, "gross": 0.10},
                     {"category": "Kaffe servert", "vat_rate": 25, "net": 0.16, "vat": 0.04, "gross": 0.20}]
    body["totals"] = {"net": 0.24, "vat": 0.06, "gross": 0.30}
    body["payments"] = [{"method": "Kort", "amount": 0.30}]
    body["cash_rounding"] = 0
    raw = __import__("json").dumps(body)
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", raw_body=raw)
    assert status == 201, doc
    assert doc["gross_total"] == "0.30"


def test_before_from_date_is_accepted_but_says_so(aws, visma):
    from conftest import Api, connect

    api = Api("tenant-a")
    connection_id = connect(api, schedule={"frequency": "daily", "from_date": "2026-11-01"})
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(date(2026, 10, 31), 1))
    assert status == 201 and "before the transfer from-date 2026-11-01" in doc["reason"]


def test_export_log_filters_by_state_and_date_and_pages(connected):
    api, connection_id = connected
    for day in range(1, 8):
        api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(date(2026, 11, day), 1))
    in_range = _log(api, connection_id, **{"from": "2026-11-03", "to": "2026-11-05"})
    assert [d["business_date"] for d in in_range] == ["2026-11-05", "2026-11-04", "2026-11-03"]
    assert len(_log(api, connection_id, state="waiting")) == 7
    assert _log(api, connection_id, state="booked") == []
    status, first = api.call("GET", f"/connections/{connection_id}/documents", query={"limit": "4"})
    assert len(first["documents"]) == 4 and first["next_cursor"]
    status, second = api.call("GET", f"/connections/{connection_id}/documents",
                              query={"limit": "4", "cursor": first["next_cursor"]})
    assert len(second["documents"]) == 3
    assert api.call("GET", f"/connections/{connection_id}/documents", query={"state": "lost"})[0] == 422


def test_a_settlement_in_another_currency_than_the_company_is_refused(connected):
    api, connection_id = connected
    assert api.call("GET", f"/connections/{connection_id}")[1]["vendor_currency"] == "NOK"
    body = samples.settlement(DAY, 1)
    body["currency"] = "EUR"
    status, result = api.call("POST", f"/connections/{connection_id}/settlements", body)
    assert status == 422 and "books in NOK" in result["message"]
    assert _log(api, connection_id, state="rejected")[0]["reason"] == result["message"]
