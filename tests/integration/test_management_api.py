"""Management API through its handler: tenant scoping, account setup validation, schedule, errors."""
from __future__ import annotations

import pytest

from conftest import Api
from devstack import lambdas, samples


def test_unknown_api_key_is_refused_by_the_authorizer(aws):
    from ledgerbridge.repositories import tenants

    key = tenants.issue_key("tenant-a")
    event = {"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-north-1:1:api/test/GET/connections",
             "headers": {"Authorization": f"Bearer {key}"}}
    allowed = lambdas.invoke("AuthorizerFunction", event)
    assert allowed["context"] == {"tenantId": "tenant-a"}
    assert allowed["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:eu-north-1:1:api/test/*"
    for header in ({"Authorization": "Bearer lbk_wrong"}, {"Authorization": key}, {}):
        with pytest.raises(Exception, match="Unauthorized"):
            lambdas.invoke("AuthorizerFunction", dict(event, headers=header))


def test_request_without_tenant_context_is_401(aws):
    assert Api(None).call("GET", "/connections")[0] == 401


def test_tenants_never_see_each_other(connected):
    api_a, connection_id = connected
    api_b = Api("tenant-b")
    assert api_b.call("GET", "/connections") == (200, [])
    for method, path in [("GET", f"/connections/{connection_id}"),
                         ("GET", f"/connections/{connection_id}/documents"),
                         ("GET", f"/connections/{connection_id}/catalog"),
                         ("POST", f"/connections/{connection_id}/transfers"),
                         ("POST", f"/connections/{connection_id}/connect"),
                         ("DELETE", f"/connections/{connection_id}")]:
        status, body = api_b.call(method, path)
        assert status == 404, (method, path, body)
    status, body = api_b.call("POST", f"/connections/{connection_id}/settlements",
                              samples.settlement(__import__("datetime").date(2026, 11, 1), 1))
    assert status == 404
    # ...and tenant A still has it, untouched.
    assert api_a.call("GET", f"/connections/{connection_id}")[0] == 200
    status, log = api_a.call("GET", f"/connections/{connection_id}/documents")
    assert log["documents"] == []


def test_account_setup_errors_name_each_offending_row(connected):
    api, connection_id = connected
    setup = samples.account_setup(food_account="3010")  # exists in 2025 only
    setup["rows"][1]["account"] = "3090"  # inactive
    setup["rows"][2]["vat_code"] = "31"  # 15 % code on a 25 % row
    setup["rows"][5]["vat_code"] = "99"  # no such code
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", setup)
    assert status == 422
    problems = {(d["row"], d["message"]) for d in body["details"]}
    assert ("sales:Brød og bakst@15", "account 3010 does not exist in fiscal year 2026") in problems
    assert ("sales:Kaffe servert@25", "account 3090 is inactive in fiscal year 2026") in problems
    assert ("sales:Varer@25", "VAT code 31 is 15% but the sales row is at 25%") in problems
    assert ("payment:Kort", "VAT code 99 does not exist") in problems
    # The stored setup is unchanged.
    assert api.call("GET", f"/connections/{connection_id}/account-setup")[1]["rows"][0]["account"] == "3011"


def test_account_setup_needs_a_connected_account(aws, visma):
    api = Api("tenant-a")
    _, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": "x"})
    status, body = api.call("PUT", f"/connections/{created['connection_id']}/account-setup", samples.account_setup())
    assert status == 409 and body["error"] == "not_connected"


def test_malformed_setup_is_422_with_field(connected):
    api, connection_id = connected
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup",
                            {"rows": [{"kind": "sales", "key": "x", "account": "30x0"}]})
    assert status == 422
    assert any("account" in d["field"] for d in body["details"])


def test_catalog_lists_fiscal_years_accounts_and_vat_codes(connected):
    api, connection_id = connected
    status, catalog = api.call("GET", f"/connections/{connection_id}/catalog", query={"date": "2026-06-01"})
    assert status == 200
    assert [fy["start"] for fy in catalog["fiscal_years"]] == ["2025-01-01", "2026-01-01", "2027-01-01"]
    assert {v["code"]: v["rate"] for v in catalog["vat_codes"]}["31"] in ("15", 15)
    numbers_2026 = {a["number"] for a in catalog["accounts"][catalog["fiscal_years"][1]["id"]]}
    assert "3011" in numbers_2026 and "3010" not in numbers_2026


def test_schedule_update_plans_next_run(connected):
    api, connection_id = connected
    status, connection = api.call("PUT", f"/connections/{connection_id}/schedule",
                                  {"frequency": "weekly", "lookback_days": 3, "run_at_hour": 5})
    assert status == 200
    from datetime import datetime

    next_run = datetime.fromisoformat(connection["next_run_at"].replace("Z", "+00:00"))
    assert next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Oslo")).weekday() == 0
    status, connection = api.call("PUT", f"/connections/{connection_id}/schedule", {"frequency": "never"})
    assert connection["next_run_at"] is None
    status, body = api.call("PUT", f"/connections/{connection_id}/schedule", {"frequency": "hourly"})
    assert status == 422


def test_unknown_vendor_is_refused(aws):
    status, body = Api("tenant-a").call("POST", "/connections", {"vendor": "nonesuch", "name": "x"})
    assert status == 422 and "nonesuch" in body["message"]


def test_replay_takes_waiting_documents_and_refuses_booked_ones(connected, aws):
    api, connection_id = connected
    from datetime import date

    from ledgerbridge.models.documents import DocumentState
    from ledgerbridge.repositories import documents

    # A waiting settlement outside the schedule's window can be pushed through by hand.
    api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(date(2025, 11, 2), 1))
    status, body = api.call("POST", f"/connections/{connection_id}/documents/Z-1-2025-11-02-1/replay")
    assert status == 202 and body["state"] == "waiting"
    queue = aws.client("sqs").receive_message(QueueUrl=__import__("os").environ["LB_TRANSFER_QUEUE_URL"])
    assert '"document_id":"Z-1-2025-11-02-1"' in queue["Messages"][0]["Body"]

    record = documents.latest("tenant-a", connection_id, "Z-1-2025-11-02-1")
    claimed = documents.claim(record, "lease", 0)
    documents.finish(claimed, "lease", DocumentState.BOOKED, vendor_document_id="v", vendor_document_number="A1")
    status, body = api.call("POST", f"/connections/{connection_id}/documents/Z-1-2025-11-02-1/replay")
    assert status == 409 and "booked" in body["message"]
    assert api.call("POST", f"/connections/{connection_id}/documents/nope/replay")[0] == 404


def test_tampered_export_log_cursor_is_refused(connected):
    import base64
    import json

    api, connection_id = connected
    for cursor in ["abc", base64.urlsafe_b64encode(b"[1]").decode(),
                   base64.urlsafe_b64encode(json.dumps({"pk": {"S": "tenant-b#x"}, "sk": {"S": "a"},
                                                        "date_key": {"S": "b"}}).encode()).decode()]:
        status, body = api.call("GET", f"/connections/{connection_id}/documents", query={"cursor": cursor})
        assert status == 422 and "invalid cursor" in body["message"], cursor


def test_vendor_trouble_is_a_clear_status_not_a_crash(connected, visma):
    from simulators.visma_eaccounting import Fault

    api, connection_id = connected
    visma.add_fault(Fault("status", method="GET", path_prefix="/v2/fiscalyears", times=-1, status=503))
    status, body = api.call("GET", f"/connections/{connection_id}/catalog")
    assert status == 503 and body["error"] == "vendor_unavailable" and "503" in body["message"]
    visma.clear_faults()
    visma.add_fault(Fault("rate_limit", method="GET", path_prefix="/v2/fiscalyears", times=-1, retry_after=30))
    status, body = api.call("GET", f"/connections/{connection_id}/catalog")
    assert status == 503 and "rate limit" in body["message"]


def test_concurrent_connection_writes_do_not_overwrite_each_other(connected):
    from ledgerbridge.repositories import connections as store

    api, connection_id = connected
    interleaved = []

    def rename(connection):
        if not interleaved:
            # Another writer (say the worker marking needs_reauth) lands between our read and write.
            interleaved.append(store.update("tenant-a", connection_id, lambda c: setattr(c, "status_reason", "x")))
        connection.name = "Renamed"

    result = store.update("tenant-a", connection_id, rename)
    assert result.name == "Renamed" and result.status_reason == "x", "both changes survive"
    assert result.revision == interleaved[0].revision + 1


def test_needs_reauth_for_an_old_credential_does_not_undo_a_reconnect(connected):
    from ledgerbridge.services import connections

    api, connection_id = connected
    before = api.call("GET", f"/connections/{connection_id}")[1]
    connections.mark_needs_reauth("tenant-a", connection_id, "refused", credential_version=0)
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "connected"
    assert before["status"] == "connected"
