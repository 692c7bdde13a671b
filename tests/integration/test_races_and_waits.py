"""What chaos runs found in the core (issue 7): racing first sends, waits that used up attempts,
refusals that left doubt, orphan attachments, documents no run would ever pick up, and
"transfer now" pressed several times at once."""
from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from devstack import reset_process_caches, samples
from simulators.visma_eaccounting import Fault

from tests.integration.test_worker_exactly_once import QueueDriver, _assert_exactly_once, _documents, _ingest


def _queued(session) -> list[dict]:
    import os

    sqs = session.client("sqs")
    url = os.environ["LB_TRANSFER_QUEUE_URL"]
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not batch:
            return bodies
        bodies += [json.loads(m["Body"]) for m in batch]


# --- 1. concurrent first sends ---------------------------------------------------------------------

def test_concurrent_first_sends_of_different_content_book_the_content_accepted(connected, visma, aws):
    """Both sends read "no such document", both store their payload, then only one insert wins.
    Before the fix the second payload overwrote the first under a fixed key: the export log said
    version 1 was A while S3 (and so the voucher) held B, answered 409."""
    from ledgerbridge.errors import Conflict
    from ledgerbridge.models.settlement import Settlement
    from ledgerbridge.repositories import documents, payloads
    from ledgerbridge.services import ingest

    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    first = Settlement.model_validate(samples.settlement(day, 1))
    second = Settlement.model_validate(samples.settlement(day, 1, scale=3))
    both_read, first_inserted = threading.Barrier(2), threading.Event()
    real_latest, real_create = documents.latest, documents.create

    def latest(*args, **kw):
        found = real_latest(*args, **kw)
        if threading.current_thread().name in ("first", "second") and not getattr(threading.current_thread(),
                                                                                   "read", False):
            threading.current_thread().read = True
            both_read.wait(5)  # both sends saw no document before either inserted
        return found

    def create(record, **kw):
        if threading.current_thread().name == "second":
            first_inserted.wait(5)  # the loser stores its payload last, after the winner's insert
        try:
            return real_create(record, **kw)
        finally:
            if threading.current_thread().name == "first":
                first_inserted.set()

    patches = pytest.MonkeyPatch()
    patches.setattr(documents, "latest", latest)
    patches.setattr(documents, "create", create)
    real_put = payloads.put

    def put(key, body):
        if threading.current_thread().name == "second":
            first_inserted.wait(5)
        real_put(key, body)

    patches.setattr(payloads, "put", put)
    outcomes: dict[str, object] = {}

    def send(name: str, settlement: Settlement) -> None:
        try:
            outcomes[name] = ingest.ingest_settlement("tenant-a", connection_id, settlement)
        except Conflict as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=send, name=n, args=(n, s)) for n, s in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    patches.undo()
    assert outcomes["first"].created and isinstance(outcomes["second"], Conflict)
    assert "different content" in outcomes["second"].message
    accepted = real_latest("tenant-a", connection_id, first.document_id)
    stored = Settlement.model_validate_json(payloads.get(accepted.payload_key))
    assert stored.content_hash() == first.content_hash() == accepted.content_hash
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket="test-attachments")["Contents"]]
    assert keys == [accepted.payload_key], "the refused payload is not left behind"

    # And what is booked is what was accepted.
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    [voucher] = visma.vouchers()
    booked = sum(row["CreditAmount"] for row in voucher["Rows"])
    assert booked == _voucher_total(first, connection_id) != _voucher_total(second, connection_id)


def _voucher_total(settlement, connection_id: str):
    from ledgerbridge.domain.vouchers import build_settlement_voucher
    from ledgerbridge.repositories import connections

    setup = connections.get("tenant-a", connection_id).account_setup
    return sum(line.credit for line in build_settlement_voucher(settlement, setup, reference="x").lines)


# --- 2. waits do not use attempts; a definite refusal leaves no doubt -------------------------------

def test_waiting_for_the_vendor_to_settle_uses_no_attempt(connected, visma, aws, monkeypatch):
    """503 on the post (attempt 1), the settle wait, a timeout after commit on the re-post
    (attempt 2), the settle wait again: with three attempts allowed, the document must end booked,
    found at the vendor — before the fix each settle wait cost a delivery and it ended "gave up"
    while its voucher existed."""
    monkeypatch.setenv("LB_MAX_DELIVERY_ATTEMPTS", "3")
    monkeypatch.setenv("LB_SUBMIT_SETTLE_SECONDS", "1")
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    reset_process_caches()
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/vouchers", times=1, status=503))
    visma.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", times=1, delay_s=1.5))
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    assert visma.request_counts()["POST /v2/vouchers"] == 2
    _assert_exactly_once(visma, api, connection_id, 1)


def _deliver_once(driver: QueueDriver) -> dict:
    """One delivery of the next visible message, as the SQS event source would make it."""
    from devstack import lambdas

    from tests.integration.test_worker_exactly_once import sqs_event

    messages = driver.sqs.receive_message(QueueUrl=driver.queue_url, AttributeNames=["All"])["Messages"]
    result = lambdas.handler("TransferWorkerFunction")(sqs_event(messages), lambdas.LocalContext("w", timeout_seconds=30))
    if not result["batchItemFailures"]:
        driver.sqs.delete_message(QueueUrl=driver.queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return result


def test_a_settle_wait_says_so_in_the_export_log(connected, visma, aws, monkeypatch):
    monkeypatch.setenv("LB_SUBMIT_SETTLE_SECONDS", "600")
    reset_process_caches()
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    visma.add_fault(Fault("status_after_commit", method="POST", path_prefix="/v2/vouchers", times=1, status=502))
    api.call("POST", f"/connections/{connection_id}/transfers")
    driver = QueueDriver(aws)
    assert _deliver_once(driver)["batchItemFailures"], "the 502 after commit is a fault: the message comes back"
    assert _deliver_once(driver)["batchItemFailures"] == [], "the wait is no fault: the message is done with"
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "waiting" and doc["retry_not_before"]
    assert "got no clear answer" in doc["reason"] and "looked up there before anything is sent again" in doc["reason"]
    attrs = driver.sqs.get_queue_attributes(QueueUrl=driver.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1", "the wait goes on as one delayed message"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert len(visma.vouchers()) == 1 and visma.request_counts()["POST /v2/vouchers"] == 1


@pytest.mark.parametrize("fault", [
    Fault("rate_limit", method="POST", path_prefix="/v2/vouchers", times=1, retry_after=5),
    Fault("status", method="POST", path_prefix="/v2/vouchers", times=1, status=403),
])
def test_a_definite_refusal_of_the_post_leaves_no_doubt(connected, visma, aws, monkeypatch, fault):
    """A 429 or another 4xx comes before the vendor acted: the retry posts at once, without the
    settle wait and the search that an unanswered post needs."""
    monkeypatch.setenv("LB_SUBMIT_SETTLE_SECONDS", "600")
    reset_process_caches()
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    visma.add_fault(fault)
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    if fault.status == 403:  # a permanent refusal: failed, and free to be replaced by a corrected version
        doc = _documents(api, connection_id)[0]
        assert doc["state"] == "failed"
        from ledgerbridge.repositories import documents

        assert not documents.latest("tenant-a", connection_id, doc["document_id"]).vendor_contacted
        api.call("POST", f"/connections/{connection_id}/documents/{doc['document_id']}/replay")
        QueueDriver(aws).run()
    assert not any(k.startswith("GET /v2/vouchers") for k in visma.request_counts()), "no search was needed"
    _assert_exactly_once(visma, api, connection_id, 1)


# --- 3. attachments are never stored twice ----------------------------------------------------------

@pytest.mark.parametrize("fault", [
    Fault("timeout_after_commit", method="POST", path_prefix="/v2/attachments", times=2, delay_s=1.5),
    Fault("status_after_commit", method="POST", path_prefix="/v2/attachments", times=2, status=502),
])
def test_an_unanswered_attachment_upload_leaves_no_orphan(connected, visma, aws, monkeypatch, fault):
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    reset_process_caches()
    api, connection_id = connected
    days = [date.today() - timedelta(days=d) for d in (1, 2, 3)]
    _ingest(api, connection_id, days)
    visma.add_fault(fault)
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, len(days))
    attachments = visma.attachments()
    assert len(attachments) == len(days), "one stored file per settlement"
    assert all(a["DocumentId"] for a in attachments), "none left unlinked in the inbox"


def test_a_corrected_version_with_the_same_pdf_reuses_the_uploaded_file(connected, visma, aws):
    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/vouchers", times=1, status=400))
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    corrected = samples.settlement(day, 1, scale=2)
    corrected["attachment"] = samples.settlement(day, 1)["attachment"]
    status, _ = api.call("POST", f"/connections/{connection_id}/settlements", corrected, query={"supersede": "true"})
    assert status == 201
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    assert len(visma.vouchers()) == 1
    [attachment] = visma.attachments()
    assert attachment["DocumentId"] == visma.vouchers()[0]["Id"]


# --- 4. documents no scheduled run will pick up -----------------------------------------------------

def test_documents_out_of_the_schedules_reach_say_why_and_transfer_now_takes_them(connected, visma, aws):
    api, connection_id = connected  # daily, 30 days of lookback
    today = date.today()
    old, recent = today - timedelta(days=45), today - timedelta(days=1)
    _ingest(api, connection_id, [old, recent])
    docs = {d["business_date"]: d for d in _documents(api, connection_id)}
    assert "older than the 30 days scheduled transfers look back" in docs[old.isoformat()]["reason"]
    assert "transfer now" in docs[old.isoformat()]["reason"]
    assert docs[recent.isoformat()]["reason"] is None

    status, result = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202 and result["enqueued"] == 2, "transfer now takes what is waiting, whatever the lookback"
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 2)


def test_documents_before_the_from_date_are_left_with_a_reason_and_go_by_replay(connected, visma, aws):
    api, connection_id = connected
    today = date.today()
    from_date = today - timedelta(days=3)
    status, _ = api.call("PUT", f"/connections/{connection_id}/schedule",
                         {"frequency": "daily", "lookback_days": 30, "from_date": from_date.isoformat()})
    assert status == 200
    before = today - timedelta(days=5)
    _ingest(api, connection_id, [before, today - timedelta(days=1)])
    doc = next(d for d in _documents(api, connection_id) if d["business_date"] == before.isoformat())
    assert f"before the transfer from-date {from_date.isoformat()}" in doc["reason"]
    status, result = api.call("POST", f"/connections/{connection_id}/transfers")
    assert result["enqueued"] == 1 and result["before_from_date"] == 1 and "replay" in result["message"]
    QueueDriver(aws).run()
    assert api.call("POST", f"/connections/{connection_id}/documents/{doc['document_id']}/replay")[0] == 202
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 2)


def test_a_scheduled_run_explains_what_fell_out_of_the_lookback_while_waiting(connected, visma, aws):
    """Accepted in reach, then the connection needed re-authorisation for weeks: the run that leaves
    the document behind says so, instead of leaving it waiting without a reason."""
    from tests.integration.scheduler_helpers import schedule

    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    assert _documents(api, connection_id)[0]["reason"] is None
    connection = api.call("GET", f"/connections/{connection_id}")[1]
    due_at = datetime.fromisoformat(connection["next_run_at"]) + timedelta(days=40)
    from ledgerbridge.repositories import connections as store

    def shift(current):
        current.next_run_at = due_at
    store.update("tenant-a", connection_id, shift)
    assert schedule(aws, due_at)["jobs"] == 0
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "waiting" and "no scheduled run will pick it up" in doc["reason"]


# --- 13. "transfer now" pressed several times at once ------------------------------------------------

def test_transfer_now_pressed_at_once_queues_each_document_once(connected, visma, aws):
    from ledgerbridge.services.transfers import transfer_now
    from tests.integration.scheduler_helpers import schedule

    api, connection_id = connected
    days = [date.today() - timedelta(days=d) for d in range(1, 9)]
    _ingest(api, connection_id, days)
    results: list[dict] = []
    barrier = threading.Barrier(6)

    def press() -> None:
        barrier.wait(5)
        results.append(transfer_now("tenant-a", connection_id))

    threads = [threading.Thread(target=press) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sum(r["enqueued"] for r in results) == len(days)
    # A scheduled run meeting the presses queues nothing either.
    from ledgerbridge.repositories import connections as store

    now = datetime.now(timezone.utc)

    def due_now(current):
        current.next_run_at = now
    store.update("tenant-a", connection_id, due_now)
    assert schedule(aws, now) == {"connections": 1, "jobs": 0}
    jobs = _queued(aws)
    assert sorted(j["document_id"] for j in jobs) == sorted(f"Z-1-{d.isoformat()}-{n}" for n, d in
                                                               enumerate(days, start=1))


def test_a_job_that_is_not_taken_up_no_longer_blocks_a_new_one(connected, visma, aws, monkeypatch):
    """The queued mark lasts until the job is due plus a grace period; after that (a lost send, a
    dead-lettered message) "transfer now" queues the document again."""
    from ledgerbridge.services.transfers import transfer_now

    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    assert transfer_now("tenant-a", connection_id)["enqueued"] == 1
    _queued(aws)  # the job is lost
    assert transfer_now("tenant-a", connection_id)["enqueued"] == 0
    later = datetime.now(timezone.utc) + timedelta(seconds=901)
    assert transfer_now("tenant-a", connection_id, now=later)["enqueued"] == 1
