"""One 24SevenOffice integration user serving an accounting office's reconciliation and a shop's
booking (issue 8): the session and its lease belong to the credential, not to the connection.

Two connections (two tenants, even) storing the same user and password log in once between them,
and their work on the shared session is serialized by the credential's session lease: each selects
its own company when it takes the lease, so a shop booking in the middle of a balance refresh books
into its company and the refresh reads each company's own balances. Another user or another
password is another session.
"""
from __future__ import annotations

import json
import os
import threading
import time
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from conftest import TFSO_PASSWORD, TFSO_USER, Api
from devstack import reset_process_caches, samples
from tests.integration.test_twentyfourseven_flow import (
    FJORD,
    HAVN,
    JUNE_FROM,
    JUNE_TO,
    assert_balances,
    refresh,
    set_up,
)
from tests.integration.test_worker_exactly_once import QueueDriver
from tests.integration.tfso_helpers import connect_tfso, import_companies

NORDLYS = "1100002"
YESTERDAY = date.today() - timedelta(days=1)


@pytest.fixture
def office_and_shop(aws, tfso):
    """The accounting office (tenant-a: reconciliation of Fjordbakeriet and Nordlys) and the café
    (shop-a: booking into Havnekafeen, department 201, straight to the ledger), one integration user."""
    office_api = Api("tenant-a")
    office_id, checked = connect_tfso(office_api, name="Regnskap")
    assert checked["ok"], checked
    office = SimpleNamespace(api=office_api, session=aws, tfso=tfso, cid=office_id)
    assert import_companies(office_api, aws, office_id)["state"] == "done"
    set_up(office, FJORD, ["1920", "3000"])
    set_up(office, NORDLYS, ["1920"])

    shop_api = Api("shop-a")
    shop_id, checked = connect_tfso(shop_api, name="Havnekafeen – kasse")
    assert checked["ok"], checked
    status, view = shop_api.call("PUT", f"/connections/{shop_id}/vendor-settings",
                                 {"company": samples.SHOP_COMPANY, "department": "201", "transaction_type": "9",
                                  "type_import": "ledger"})
    assert status == 200, view
    status, view = shop_api.call("PUT", f"/connections/{shop_id}/account-setup", samples.shop_setup_24so())
    assert status == 200, view
    return office, SimpleNamespace(api=shop_api, cid=shop_id)


def _booked(tfso, client_id: str) -> list[dict]:
    return [v for v in tfso.vouchers(int(client_id)) if v["origin"] != "helper"]


def _secret(aws, name: str) -> dict:
    return json.loads(aws.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def _session_secrets(aws) -> list[str]:
    names = [s["Name"] for s in aws.client("secretsmanager").list_secrets(MaxResults=100)["SecretList"]]
    return sorted(n for n in names if n.startswith("ledgerbridge/test/sessions/24sevenoffice/"))


def test_an_office_and_a_shop_of_one_user_log_in_once_between_them(office_and_shop, aws, tfso):
    office, shop = office_and_shop
    assert tfso.login_count(TFSO_USER) == 1, "storing the user for the shop reused the office's session"

    assert refresh(office)["state"] == "done"
    status, doc = shop.api.call("POST", f"/connections/{shop.cid}/settlements", samples.settlement(YESTERDAY, 1))
    assert status == 201, doc
    assert shop.api.call("POST", f"/connections/{shop.cid}/transfers")[0] == 202
    QueueDriver(aws).run()
    assert [v["comments"] for v in _booked(tfso, HAVN)], "the shop's settlement was booked"
    assert tfso.login_count(TFSO_USER) == 1, "one login across a refresh and a booking of two connections"

    # One session secret for both, named by the credential's fingerprint; each connection's own
    # secret holds the user (and that fingerprint), never the session.
    office_secret = _secret(aws, f"ledgerbridge/test/connections/tenant-a/{office.cid}")
    shop_secret = _secret(aws, f"ledgerbridge/test/connections/shop-a/{shop.cid}")
    assert office_secret["fingerprint"] == shop_secret["fingerprint"]
    assert "session_id" not in office_secret and "session_id" not in shop_secret
    assert _session_secrets(aws) == [f"ledgerbridge/test/sessions/24sevenoffice/{office_secret['fingerprint']}"]
    assert TFSO_PASSWORD not in _session_secrets(aws)[0]

    # New containers: the stored session serves both without a login; when the vendor ends it, the
    # first to notice logs in once for both.
    from ledgerbridge.credentials import SessionSource

    SessionSource.forget_all()
    reset_process_caches()
    assert shop.api.call("POST", f"/connections/{shop.cid}/check")[1]["ok"]
    assert office.api.call("POST", f"/connections/{office.cid}/check")[1]["ok"]
    assert tfso.login_count(TFSO_USER) == 1
    tfso.expire_sessions()
    assert refresh(office)["state"] == "done"
    assert shop.api.call("POST", f"/connections/{shop.cid}/check")[1]["ok"]
    assert tfso.login_count(TFSO_USER) == 2


def _take_job(aws, kind) -> tuple:
    """Receive the one message on the queue as a job of ``kind`` (and delete it: this test runs it)."""
    sqs = aws.client("sqs")
    queue = os.environ["LB_TRANSFER_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1, messages
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
    return kind.model_validate_json(messages[0]["Body"])


def test_a_booking_in_the_middle_of_a_refresh_never_races_over_the_identity(office_and_shop, aws, tfso,
                                                                             monkeypatch):
    """The refresh reads Fjordbakeriet (its GetTransactions held up at the vendor) when the shop's
    booking starts: the booking waits for the credential's session lease, selects Havnekafeen, books
    there; the refresh then selects Nordlys again. Had the booking switched the shared session's
    identity mid-read, Fjordbakeriet's entries would have come from Havnekafeen's ledger."""
    from ledgerbridge.models.documents import RunJob, TransferJob
    from ledgerbridge.services import booking, runs

    office, shop = office_and_shop
    status, started = office.api.call("POST", f"/connections/{office.cid}/balance-refresh",
                                      {"period_from": JUNE_FROM.isoformat(), "as_of": JUNE_TO.isoformat()})
    assert status == 202, started
    refresh_job = _take_job(aws, RunJob)
    status, doc = shop.api.call("POST", f"/connections/{shop.cid}/settlements", samples.settlement(YESTERDAY, 7))
    assert status == 201, doc
    assert shop.api.call("POST", f"/connections/{shop.cid}/transfers")[0] == 202
    booking_job = _take_job(aws, TransferJob)

    # What the vendor saw: each identity selected, and the company each call acted on.
    seen: list[tuple[str, str]] = []
    reading = threading.Event()
    app = tfso.app

    def recording(operation):
        handler = app.handlers[operation]

        def handle(call):
            answer = handler(call)
            if operation == "SetIdentityById":
                seen.append((operation, str(call.params.text("identityId"))))
            else:
                _, client = app.require_client(call)
                seen.append((operation, str(client.id)))
            return answer
        return handle

    for operation in ("SetIdentityById", "GetTransactions", "GetAggregated", "SaveBundleList", "GetFiscalYears"):
        monkeypatch.setitem(app.handlers, operation, recording(operation))
    real_get_transactions = app.handlers["GetTransactions"]

    def slow_first_read(call):
        if not reading.is_set():
            reading.set()  # the refresh is inside Fjordbakeriet's unit: start the booking now
            time.sleep(1.5)
        return real_get_transactions(call)

    monkeypatch.setitem(app.handlers, "GetTransactions", slow_first_read)

    outcomes: dict[str, object] = {}

    def run_refresh() -> None:
        outcomes["refresh"] = runs.execute(refresh_job, deadline_ms=int(time.time() * 1000) + 120_000)

    def run_booking() -> None:
        assert reading.wait(30)
        outcomes["booking"] = booking.book_document(booking_job, deadline_ms=int(time.time() * 1000) + 120_000)

    threads = [threading.Thread(target=run_refresh), threading.Thread(target=run_booking)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert set(outcomes) == {"refresh", "booking"}, outcomes
    assert outcomes["booking"].get("outcome") == "booked", outcomes["booking"]

    identity = {tfso.identity_id(TFSO_USER, int(c)): c for c in (FJORD, NORDLYS, HAVN)}
    selected = [identity[i] for op, i in seen if op == "SetIdentityById"]
    assert selected[:3] == [FJORD, HAVN, NORDLYS], f"the booking went between the refresh's companies: {selected}"
    # Every call acted on the company selected last before it, and between Fjordbakeriet's selection
    # and its last read nobody selected another company.
    current = None
    acted = []
    for op, value in seen:
        if op == "SetIdentityById":
            current = identity[value]
        else:
            assert value == current, (op, value, current)
            acted.append((op, value))
    assert ("SaveBundleList", HAVN) in acted
    assert {value for op, value in acted if op == "GetAggregated"} == {FJORD, NORDLYS}

    # The refresh read each company's own balances, the booking landed in Havnekafeen only.
    run = office.api.call("GET", f"/connections/{office.cid}/documents/{started['run_id']}")[1]
    assert run["state"] == "done", run
    assert_balances(office, FJORD, ["1920", "3000"])
    assert_balances(office, NORDLYS, ["1920"])
    ours = f"[{doc['reference']}]"
    assert [v for v in _booked(tfso, HAVN) if any(ours in c for c in v["comments"])]
    assert not [v for c in (FJORD, NORDLYS) for v in _booked(tfso, c)], "nothing booked into the office's clients"
    assert tfso.login_count(TFSO_USER) == 1


def test_another_user_or_another_password_is_another_session(aws, tfso):
    office_id, checked = connect_tfso(Api("tenant-a"))
    assert checked["ok"] and tfso.login_count(TFSO_USER) == 1
    other = "annen@regnskap.example"
    tfso.add_user(other, "annet-passord")
    tfso.grant(other, int(HAVN), default=True)
    shop_id, checked = connect_tfso(Api("shop-a"), username=other, password="annet-passord")
    assert checked["ok"], checked
    assert tfso.login_count(other) == 1, "its own login, not the office user's session"
    assert len(_session_secrets(aws)) == 2

    # The office's user changes password at the vendor and in the hub: a new fingerprint, a new
    # session, while the other user's session is untouched.
    tfso.change_password(TFSO_USER, "nytt-passord")
    status, result = Api("tenant-a").call("PUT", f"/connections/{office_id}/credential",
                                          {"username": TFSO_USER, "password": "nytt-passord"})
    assert status == 200 and result["ok"], result
    assert tfso.login_count(TFSO_USER) == 2 and tfso.login_count(other) == 1
    assert len(_session_secrets(aws)) == 3
    assert Api("shop-a").call("POST", f"/connections/{shop_id}/check")[1]["ok"]
    assert tfso.login_count(other) == 1
