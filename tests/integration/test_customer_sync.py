"""Customer sync with Uniconta (issue 11, steps 2-5 and 7): the setup against Uniconta's real debtor fields,
tagged customers pushed and written (unchanged ones for no call), the modification URL received, checked and
queued, changes made in Uniconta reaching the changes feed once (the hub's own writes never), a forged call
refused, a broken link noticed and caught up, and sync kept within its part of the daily call budget."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from tests.integration.test_uniconta import LOGIN

SETUP = {"tag": "Uniconta", "fields": ["Name", "ContactEmail", "Phone", "Foedselsdag", "Nyhedsbrev", "FastFrisoer"],
         "create_defaults": {"Group": "Privat"}}


def customer(n: int, *, tags=("Uniconta",), **fields) -> dict:
    base = {"Name": f"Kunde {n}", "ContactEmail": f"kunde{n}@example.dk", "Phone": f"+45 20 00 00 {n:02d}",
            "Foedselsdag": "1990-03-01", "Nyhedsbrev": True, "FastFrisoer": "Mette"}
    return {"id": f"C{n:04d}", "tags": list(tags), "fields": {**base, **fields}}


@pytest.fixture
def gateway(aws, monkeypatch):
    """The local API Gateway over HTTP, so Uniconta's simulator can call the receiver for real."""
    from devstack import reset_process_caches
    from devstack.gateway import LocalGateway

    gw = LocalGateway(stage="test")
    base = gw.start()
    monkeypatch.setenv("LB_HOOKS_BASE_URL", f"{base}/hooks")
    reset_process_caches()
    yield gw
    gw.stop()


@pytest.fixture
def syncing(aws, uniconta, gateway, api_for):
    from tests.integration.test_uniconta import new_connection

    api = api_for("salon")
    connection_id = new_connection(api)
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    status, view = api.call("PUT", f"/connections/{connection_id}/customer-sync", SETUP)
    assert status == 200, view
    return api, connection_id, view


def drain(aws, *, waits: bool = False) -> None:
    """Work the queue until it is empty; ``waits``: a job is expected to wait (for the next day), so
    the queue keeps it (delayed) and never settles."""
    from tests.integration.test_worker_exactly_once import QueueDriver

    if not waits:
        QueueDriver(aws).run(max_seconds=60)
        return
    with pytest.raises(AssertionError, match="did not settle"):
        QueueDriver(aws).run(max_seconds=5)


def calls(uniconta) -> int:
    return uniconta.usage("salon-api")["calls"]


def link(uniconta, view: dict, *, post: bool = True, argument: str | None = None) -> dict:
    return uniconta.add_modification_url(4415, view["notification_url"],
                                         argument=argument or view["notification_argument"], post=post)


def feed(api, connection_id: str, cursor: str | None = None) -> dict:
    status, page = api.call("GET", f"/connections/{connection_id}/customers/changes",
                            query={"cursor": cursor} if cursor else None)
    assert status == 200, page
    return page


def test_the_setup_names_every_field_uniconta_does_not_have(aws, uniconta, gateway, api_for):
    from tests.integration.test_uniconta import new_connection

    api = api_for("salon")
    connection_id = new_connection(api)
    status, body = api.call("PUT", f"/connections/{connection_id}/customer-sync", SETUP)
    assert status == 409 and "credential" in body["message"]  # no login yet
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    wrong = {**SETUP, "fields": ["Name", "Email", "foedselsdag", "Frisoer"]}
    status, body = api.call("PUT", f"/connections/{connection_id}/customer-sync", wrong)
    assert status == 422, body
    problems = {d["field"]: d["message"] for d in body["details"]}
    assert set(problems) == {"fields.Email", "fields.foedselsdag", "fields.Frisoer"}
    assert "did you mean Foedselsdag" in problems["fields.foedselsdag"]
    assert "Foedselsdag" in body["message"] and "ContactEmail" in body["message"]  # what the names could be
    status, view = api.call("PUT", f"/connections/{connection_id}/customer-sync", SETUP)
    assert status == 200 and view["setup"]["field_types"]["Foedselsdag"] == "date"
    assert view["notification_url"].endswith(f"/hooks/uniconta/salon/{connection_id}")
    assert len(view["notification_argument"]) >= 40  # shown once, when made
    status, again = api.call("GET", f"/connections/{connection_id}/customer-sync")
    assert again["notification_argument"] is None and again["setup"]["tag"] == "Uniconta"
    connection = api.call("GET", f"/connections/{connection_id}")[1]
    assert view["notification_argument"] not in json.dumps(connection)


def test_tagged_customers_become_debtors_in_one_batch_and_unchanged_ones_cost_nothing(syncing, aws, uniconta):
    api, connection_id, _ = syncing
    batch = [customer(1), customer(2), customer(3), customer(4, tags=["VIP"]), customer(5, tags=[])]
    status, answer = api.call("POST", f"/connections/{connection_id}/customers", {"customers": batch})
    assert status == 202, answer
    assert answer["counts"] == {"queued": 3, "not_tagged": 2}
    before = uniconta.request_counts()
    drain(aws)
    debtors = {d["Account"]: d for d in uniconta.debtors(4415)}
    assert set(debtors) == {"1000", "C0001", "C0002", "C0003"}
    assert debtors["C0002"]["Foedselsdag"].startswith("1990-03-01") and debtors["C0002"]["Group"] == "Privat"
    after = uniconta.request_counts()
    assert after.get("POST /api/Entities/InsertList/{name}", 0) - before.get(
        "POST /api/Entities/InsertList/{name}", 0) == 1
    # The same customers again: nothing queued, no call at all.
    spent = calls(uniconta)
    status, answer = api.call("POST", f"/connections/{connection_id}/customers", {"customers": batch})
    assert answer["counts"] == {"unchanged": 3, "not_tagged": 2}
    drain(aws)
    assert calls(uniconta) == spent
    # One change: one update, of that debtor only, keeping what Uniconta had that we do not carry.
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0002", {"City": "Aarhus"})
    status, answer = api.call("POST", f"/connections/{connection_id}/customers",
                              {"customers": [customer(2, Phone="+45 99 99 99 99")]})
    assert answer["counts"] == {"queued": 1}
    drain(aws)
    debtor = next(d for d in uniconta.debtors(4415) if d["Account"] == "C0002")
    assert debtor["Phone"] == "+45 99 99 99 99" and debtor["City"] == "Aarhus"
    status, view = api.call("GET", f"/connections/{connection_id}/customer-sync")
    assert view["records"] == {"synced": 3}
    # Each batch written is an entry of the export log, with what it did.
    status, log = api.call("GET", f"/connections/{connection_id}/documents")
    runs = [d for d in log["documents"] if d["kind"] == "customer_sync"]
    assert len(runs) == 2 and all(r["state"] == "done" for r in runs)
    assert sorted(r["summary"]["records_created"] for r in runs) == [0, 3]


def test_a_value_its_field_cannot_take_and_an_id_too_long_for_a_debtor_number_are_refused(syncing, aws):
    api, connection_id, _ = syncing
    status, answer = api.call("POST", f"/connections/{connection_id}/customers", {"customers": [
        customer(1, Foedselsdag="first of March"), {**customer(2), "id": "C" * 21}, customer(3)]})
    assert status == 202
    results = {r["id"]: r for r in answer["results"]}
    assert results["C0001"]["outcome"] == "refused" and "Foedselsdag" in results["C0001"]["reason"]
    assert results["C" * 21]["outcome"] == "refused" and "20 characters" in results["C" * 21]["reason"]
    assert results["C0003"]["outcome"] == "queued"


def test_untagging_stops_the_sync_and_tagging_again_syncs_in_full(syncing, aws, uniconta):
    api, connection_id, view = syncing
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1)]})
    drain(aws)
    status, answer = api.call("POST", f"/connections/{connection_id}/customers",
                              {"customers": [customer(1, tags=[], Name="Ny Navn")]})
    assert answer["results"][0]["outcome"] == "untagged"
    drain(aws)
    assert next(d for d in uniconta.debtors(4415) if d["Account"] == "C0001")["Name"] == "Kunde 1"  # kept, not deleted
    # Meanwhile the debtor drifts in Uniconta (no link yet); tagged again, every source value goes back.
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0001", {"ContactEmail": "x@y.dk"})
    status, answer = api.call("POST", f"/connections/{connection_id}/customers",
                              {"customers": [customer(1, Name="Ny Navn")]})
    assert answer["results"][0]["outcome"] == "queued"
    drain(aws)
    debtor = next(d for d in uniconta.debtors(4415) if d["Account"] == "C0001")
    assert debtor["Name"] == "Ny Navn" and debtor["ContactEmail"] == "kunde1@example.dk"


def test_a_change_made_in_uniconta_reaches_the_feed_once_and_the_hubs_own_writes_never(syncing, aws, uniconta):
    api, connection_id, view = syncing
    link(uniconta, view)
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1), customer(2)]})
    drain(aws)
    deliveries = uniconta.wait_for_deliveries()
    assert deliveries and all(d["ok"] for d in deliveries)  # the hub's own inserts, notified and accepted
    drain(aws)
    assert feed(api, connection_id)["changes"] == []  # echoes suppressed
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0002",
                                          {"Phone": "+45 11 22 33 44", "City": "Odense"})
    uniconta.wait_for_deliveries()
    drain(aws)
    page = feed(api, connection_id)
    assert len(page["changes"]) == 1, page
    change = page["changes"][0]
    assert change["source_id"] == "C0002" and change["operation"] == "updated" and change["changed"] == ["Phone"]
    assert change["fields"]["Phone"] == "+45 11 22 33 44"
    # The source takes the change and pushes it back: nothing to write, no call, no new change.
    spent = calls(uniconta)
    status, answer = api.call("POST", f"/connections/{connection_id}/customers",
                              {"customers": [customer(2, Phone="+45 11 22 33 44")]})
    drain(aws)
    uniconta.wait_for_deliveries()
    drain(aws)
    assert calls(uniconta) == spent
    assert feed(api, connection_id, page["cursor"])["changes"] == []
    # A debtor created by the bookkeeper: offered to the source without a source id.
    httpx.post(f"{uniconta.base_url}/_sim/companies/4415/debtors",
               json={"Account": "7777", "Name": "Walk-in", "Group": "Privat"}).raise_for_status()
    uniconta.wait_for_deliveries()
    drain(aws)
    created = feed(api, connection_id, page["cursor"])["changes"]
    assert [(c["source_id"], c["vendor_key"], c["operation"]) for c in created] == [(None, "7777", "created")]


def test_a_source_mastered_field_changed_in_uniconta_is_put_back_not_forwarded(aws, uniconta, gateway, api_for):
    from tests.integration.test_uniconta import new_connection

    api = api_for("salon")
    connection_id = new_connection(api)
    api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)
    status, view = api.call("PUT", f"/connections/{connection_id}/customer-sync",
                            {**SETUP, "master": {"Name": "source"}})
    assert status == 200, view
    link(uniconta, view)
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1)]})
    drain(aws)
    uniconta.wait_for_deliveries()
    drain(aws)
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0001", {"Name": "Forkert"})
    uniconta.wait_for_deliveries()
    drain(aws)
    uniconta.wait_for_deliveries()
    drain(aws)
    assert next(d for d in uniconta.debtors(4415) if d["Account"] == "C0001")["Name"] == "Kunde 1"
    assert feed(api, connection_id)["changes"] == []


def test_a_forged_or_malformed_notification_is_refused_without_touching_anything(syncing, aws, uniconta, gateway):
    api, connection_id, view = syncing
    url = view["notification_url"]
    params = {"CompanyId": "4415", "Table": "Debtor", "RowId": "1", "Key": "1000", "Operation": "Update"}
    assert httpx.get(url, params=params).status_code == 401  # no Argument
    assert httpx.get(url, params={**params, "Argument": "guess"}).status_code == 401
    other = url.replace(connection_id, "con_doesnotexist")
    assert httpx.get(other, params={**params, "Argument": view["notification_argument"]}).status_code == 401
    assert httpx.get(url, params={"Key": "1000", "Argument": view["notification_argument"]}).status_code == 400
    sqs = aws.client("sqs")
    import os

    attributes = sqs.get_queue_attributes(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"],
                                          AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    # The real call, with either operation spelling, is queued at once.
    ok = httpx.get(url, params={**{k: v for k, v in params.items() if k != "Operation"}, "Action": "update",
                                "Argument": view["notification_argument"]})
    assert ok.status_code == 200 and ok.json()["queued"] is True
    # A new secret: the old one stops working.
    status, rotated = api.call("POST", f"/connections/{connection_id}/customer-sync/notification-secret")
    assert status == 200 and rotated["notification_argument"] != view["notification_argument"]
    assert httpx.get(url, params={**params, "Argument": view["notification_argument"]}).status_code == 401
    assert httpx.get(url, params={**params, "Argument": rotated["notification_argument"]}).status_code == 200


def test_a_broken_link_is_noticed_and_what_it_missed_is_caught_up(syncing, aws, uniconta):
    api, connection_id, view = syncing
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1), customer(2)]})
    drain(aws)
    # Not linked yet: the check says so, with what to paste.
    api.call("POST", f"/connections/{connection_id}/customer-sync/check")
    drain(aws)
    health = api.call("GET", f"/connections/{connection_id}/customer-sync")[1]["health"]
    assert health["state"] == "stalled" and view["notification_url"] in health["reason"]
    # Linked with a wrong Argument: every delivery is refused, Uniconta marks the link "Has errors".
    setting = link(uniconta, view, argument="a-typo")
    for n in range(3):
        uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0001", {"Phone": f"+45 30 30 30 0{n}"})
    uniconta.wait_for_deliveries()
    assert uniconta.state.companies[4415].tables["TableChangeEvent"].rows[setting["RowId"]]["HasError"]
    # Now nothing is sent at all; a change made now would be lost without the check.
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0002", {"FastFrisoer": "Jonas"})
    uniconta.wait_for_deliveries()
    api.call("POST", f"/connections/{connection_id}/customer-sync/check")
    drain(aws)
    health = api.call("GET", f"/connections/{connection_id}/customer-sync")[1]["health"]
    assert health["state"] == "stalled" and "Has errors" in health["reason"] and "Refresh" in health["reason"]
    assert health["caught_up"] == 2
    changes = {c["source_id"]: c for c in feed(api, connection_id)["changes"]}
    assert changes["C0001"]["fields"]["Phone"] == "+45 30 30 30 02" and changes["C0002"]["changed"] == ["FastFrisoer"]
    # Mended (the right Argument, Refresh pressed): the next check finds it healthy, nothing twice.
    record = uniconta.state.companies[4415].tables["TableChangeEvent"].rows[setting["RowId"]]
    record["Argument"] = view["notification_argument"]
    uniconta.state.refresh_modification_url(uniconta.state.company(4415), setting["RowId"])
    api.call("POST", f"/connections/{connection_id}/customer-sync/check")
    drain(aws)
    health = api.call("GET", f"/connections/{connection_id}/customer-sync")[1]["health"]
    assert health["state"] == "ok" and health["caught_up"] == 0
    assert len(feed(api, connection_id)["changes"]) == 2


def test_the_source_webhook_is_signed_and_carries_the_change(aws, uniconta, gateway, api_for):
    from ledgerbridge.services.master_data import signature_matches
    from tests.integration.test_uniconta import new_connection

    received: list[tuple[dict, bytes]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = api_for("salon")
        connection_id = new_connection(api)
        api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)
        status, view = api.call("PUT", f"/connections/{connection_id}/customer-sync",
                                {**SETUP, "webhook_url": f"http://127.0.0.1:{server.server_port}/flexybox"})
        assert status == 200 and view["webhook_secret"].startswith("whsec_")
        link(uniconta, view, post=False)  # without Post: the hub reads the debtor (one call)
        api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1)]})
        drain(aws)
        uniconta.wait_for_deliveries()
        drain(aws)
        uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0001", {"Nyhedsbrev": False})
        uniconta.wait_for_deliveries()
        drain(aws)
        assert len(received) == 1
        headers, body = received[0]
        signature = {k.lower(): v for k, v in headers.items()}["x-ledgerbridge-signature"]
        assert signature_matches(view["webhook_secret"], signature, body)
        assert not signature_matches("whsec_other", signature, body)
        change = json.loads(body)["changes"][0]
        assert change["source_id"] == "C0001" and change["changed"] == ["Nyhedsbrev"]
        assert change["fields"]["Nyhedsbrev"] is False
    finally:
        server.shutdown()


def test_sync_stops_at_its_part_of_the_budget_and_leaves_the_rest_to_bookkeeping(syncing, aws, uniconta):
    from ledgerbridge.oauth.providers import provider
    from ledgerbridge.repositories import usage
    from ledgerbridge.vendor_budget import CallBudget

    api, connection_id, _ = syncing
    budget = CallBudget(provider("uniconta"), "salon-api", "sync")
    day = budget._today()[0]
    counter = usage.counter_id("uniconta", budget.user_key, day)
    usage.spend(counter, 3000 - usage.used(counter), 10_000)  # 3,000 used today: sync's 60 % is spent
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1)]})
    drain(aws, waits=True)
    assert [d["Account"] for d in uniconta.debtors(4415)] == ["1000"]
    status, view = api.call("GET", f"/connections/{connection_id}/customer-sync")
    assert view["health"]["state"] == "deferred" and "customer sync's part" in view["health"]["reason"]
    assert view["records"] == {"pending": 1}
    status, log = api.call("GET", f"/connections/{connection_id}/documents")
    run = next(d for d in log["documents"] if d["kind"] == "customer_sync")
    assert run["state"] == "running" and run["reason"].startswith("waiting for tomorrow: customer sync's part")
    # Bookkeeping still has its calls: a booking-purpose call passes where sync's did not.
    CallBudget(provider("uniconta"), "salon-api").spend()
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["vendor_usage"]["calls"] == 3001



def test_the_schedule_runs_the_check_and_a_link_that_works_is_found_healthy(syncing, aws, uniconta):
    from ledgerbridge.models.documents import ConnectionDueJob
    from ledgerbridge.repositories import connections as connection_store
    from ledgerbridge.services.transfers import plan_due

    api, connection_id, view = syncing
    link(uniconta, view)
    connection = connection_store.get("salon", connection_id)
    assert connection.next_run_at is not None  # customer sync alone gives the connection a schedule
    due = connection.next_run_at
    outcome = plan_due(ConnectionDueJob(tenant_id="salon", connection_id=connection_id, due_at=due, planned_at=due))
    assert outcome == {"outcome": "planned", "jobs": 1}
    drain(aws)
    health = api.call("GET", f"/connections/{connection_id}/customer-sync")[1]["health"]
    assert health["state"] == "ok" and health["notifications_configured"] and health["posts_records"]
    assert health["last_check_at"]


def test_the_console_shows_the_sync_health_counts_and_the_newest_changes(syncing, aws, uniconta, gateway):
    from ledgerbridge.repositories import tenants
    from tests.integration.test_console import signed_in

    api, connection_id, view = syncing
    link(uniconta, view)
    api.call("POST", f"/connections/{connection_id}/customers", {"customers": [customer(1), customer(2)]})
    drain(aws)
    uniconta.wait_for_deliveries()
    drain(aws)
    uniconta.state.bookkeeper_edit_debtor(uniconta.state.company(4415), "C0002", {"Phone": "+45 11 22 33 44"})
    uniconta.wait_for_deliveries()
    drain(aws)
    browser = signed_in(gateway, tenants.issue_key("salon"))
    page = browser.get(f"/console/connections/{connection_id}")
    assert page.status_code == 200, page.text[-2000:]
    assert "Customer sync" in page.text and "synced: 2" in page.text
    assert "Phone = +45 11 22 33 44" in page.text and "C0002" in page.text
    assert view["notification_url"] in page.text
