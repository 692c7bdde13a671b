"""The transfer worker under duplicates, crashes, timeouts-after-commit and vendor faults.

The invariant: N accepted settlements end as exactly N vouchers in eAccounting, each with
its PDF linked once, whatever the queue and the vendor do.
"""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from devstack import lambdas, samples
from simulators.visma_eaccounting import Fault


class WorkerCrash(BaseException):
    """The Lambda process dying mid-invocation (not an exception the batch processor can catch)."""


def sqs_event(messages: list[dict]) -> dict:
    """The event Lambda's SQS source builds from received messages."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                       "SentTimestamp": "0", "SenderId": "x", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-north-1:123456789012:q", "awsRegion": "eu-north-1",
    } for m in messages]}


class QueueDriver:
    """Plays the SQS event source: receive, invoke, delete successes; a crash loses the whole batch."""

    def __init__(self, session, timeout_seconds: int = 1):
        self.sqs = session.client("sqs")
        import os

        self.queue_url = os.environ["LB_TRANSFER_QUEUE_URL"]
        self.dlq_url = os.environ["LB_TRANSFER_DLQ_URL"]
        self.timeout_seconds = timeout_seconds
        self.crashes = 0

    def run(self, max_seconds: float = 120) -> None:
        import time

        idle = 0
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                AttributeNames=["All"]).get("Messages", [])
            if not messages:
                idle += 1
                if idle > 3 and self._in_flight() == 0:
                    return
                time.sleep(0.2)
                continue
            idle = 0
            event = sqs_event(messages)
            context = lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=self.timeout_seconds)
            try:
                result = lambdas.handler("TransferWorkerFunction")(event, context)
            except WorkerCrash:
                self.crashes += 1
                # Nothing was deleted; after the visibility timeout SQS delivers the batch again.
                for m in messages:
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=0)
                time.sleep(self.timeout_seconds + 0.1)  # the crashed invocation's idempotency lock expires
                continue
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        raise AssertionError("the queue did not settle")

    def _in_flight(self) -> int:
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["All"])["Attributes"]
        return (int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
                + int(attrs["ApproximateNumberOfMessagesDelayed"]))

    def duplicate_everything(self) -> int:
        """Deliver every queued job twice, as SQS at-least-once delivery may."""
        originals = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                             VisibilityTimeout=60).get("Messages", [])
            if not batch:
                break
            originals += batch
        for m in originals:
            for _ in range(2):
                self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=m["Body"])
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return len(originals)


def _ingest(api, connection_id: str, days: list[date]) -> None:
    for number, day in enumerate(days, start=1):
        status, body = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(day, number))
        assert status == 201, body


def _documents(api, connection_id: str) -> list[dict]:
    return api.call("GET", f"/connections/{connection_id}/documents", query={"limit": "200"})[1]["documents"]


def _assert_exactly_once(visma, api, connection_id: str, expected: int) -> None:
    vouchers = visma.vouchers()
    references = [json.dumps(v["VoucherText"]).split("[")[-1].split("]")[0] for v in vouchers]
    assert len(vouchers) == expected, f"{len(vouchers)} vouchers for {expected} settlements"
    assert len(set(references)) == expected, "no reference booked twice"
    for voucher in vouchers:
        assert len(voucher["Attachments"]["AttachmentIds"]) == 1, "the Z-report is linked exactly once"
        assert sum(r["DebitAmount"] for r in voucher["Rows"]) == sum(r["CreditAmount"] for r in voucher["Rows"])
    docs = [d for d in _documents(api, connection_id) if d["state"] != "rejected"]
    assert len(docs) == expected and all(d["state"] == "booked" for d in docs), docs
    assert {d["vendor_document_id"] for d in docs} == {v["Id"] for v in vouchers}


def test_books_each_settlement_once_under_duplicates_crashes_and_timeouts(connected, visma, aws, monkeypatch):
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "0.5")
    from devstack import reset_process_caches
    from ledgerbridge.connectors.base import VENDOR_DOCUMENT_ID
    from ledgerbridge.models.documents import DocumentState
    from ledgerbridge.repositories import documents
    from ledgerbridge.services import booking

    reset_process_caches()
    api, connection_id = connected
    today = date.today()
    days = [today - timedelta(days=d) for d in range(1, 13)]
    _ingest(api, connection_id, days)

    # The vendor misbehaves: it commits and then times out, answers 502 after committing,
    # throttles, and fails an attachment upload.
    visma.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", times=2, delay_s=1.0))
    visma.add_fault(Fault("rate_limit", method="POST", path_prefix="/v2/vouchers", times=1, retry_after=1))
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/attachments", times=2, status=503))
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/attachmentlinks", times=1, status=500))

    # Workers die at the two worst moments: right after the vendor created the voucher, and
    # after everything was done at the vendor but before the export log said "booked".
    crashes = {"after_vendor_response": 2, "before_log_write": 2}
    real_save_all = booking.DocumentCheckpoints.save_all
    real_finish = documents.finish

    def save_all(self, values):
        if VENDOR_DOCUMENT_ID in values and crashes["after_vendor_response"] and "found" not in values[VENDOR_DOCUMENT_ID]:
            crashes["after_vendor_response"] -= 1
            raise WorkerCrash("killed after the vendor answered")
        return real_save_all(self, values)

    def finish(record, lease, state, **kw):
        if state == DocumentState.BOOKED and crashes["before_log_write"]:
            crashes["before_log_write"] -= 1
            raise WorkerCrash("killed before the log write")
        return real_finish(record, lease, state, **kw)

    monkeypatch.setattr(booking.DocumentCheckpoints, "save_all", save_all)
    monkeypatch.setattr(documents, "finish", finish)

    # "Transfer now" twice: the second press queues nothing (each document has its job queued).
    assert api.call("POST", f"/connections/{connection_id}/transfers")[1]["enqueued"] == len(days)
    again = api.call("POST", f"/connections/{connection_id}/transfers")[1]
    assert again["enqueued"] == 0
    # A second, different job per document all the same (a schedule run after the queued mark
    # expired, say), then every message delivered twice.
    from ledgerbridge.models.documents import TransferJob
    from ledgerbridge.services.transfers import enqueue

    enqueue([TransferJob(tenant_id="tenant-a", connection_id=connection_id, document_id=f"Z-1-{day.isoformat()}-{n}",
                         version=1) for n, day in enumerate(days, start=1)])
    driver = QueueDriver(aws)
    assert driver.duplicate_everything() == 2 * len(days)
    driver.run()

    assert driver.crashes == 4
    assert crashes == {"after_vendor_response": 0, "before_log_write": 0}
    assert not visma.state.faults, "every injected fault fired"
    # Ambiguous outcomes (timeouts after commit, crashes after the vendor answered) were resolved
    # by searching the vendor for our reference before any re-post.
    assert visma.request_counts().get("GET /v2/vouchers", 0) >= 4
    _assert_exactly_once(visma, api, connection_id, len(days))


def test_permanent_vendor_error_fails_with_reason_and_replays_after_fix(connected, visma, aws):
    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    # The bookkeeper deletes the food account in eAccounting after the setup was saved.
    company = visma.state.company("Demo Bakery AS")
    fiscal_year = company.fiscal_year_for(day)
    removed = company.accounts[fiscal_year["Id"]].pop(3011)
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    failed = _documents(api, connection_id)[0]
    assert failed["state"] == "failed"
    assert "3011" in failed["reason"] and "fix the account setup" in failed["reason"]
    assert visma.vouchers() == []

    company.accounts[fiscal_year["Id"]][3011] = removed
    status, _ = api.call("POST", f"/connections/{connection_id}/documents/{failed['document_id']}/replay")
    assert status == 202
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 1)


def test_unmapped_category_fails_before_calling_the_vendor(connected, visma, aws):
    api, connection_id = connected
    body = samples.settlement(date.today() - timedelta(days=1), 1, extra_category="Gavekort")
    assert api.call("POST", f"/connections/{connection_id}/settlements", body)[0] == 201
    visma.reset_counts()
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "failed" and "sales category 'Gavekort' at 25% VAT" in doc["reason"]
    assert not any(k.startswith("POST") for k in visma.request_counts())


def test_exhausted_retries_go_to_the_dlq_and_redrive_books_once(connected, visma, aws):
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/vouchers", times=-1, status=503))
    api.call("POST", f"/connections/{connection_id}/transfers")
    driver = QueueDriver(aws)
    driver.run()
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "failed" and "gave up after 6 attempts" in doc["reason"]
    dead = driver.sqs.receive_message(QueueUrl=driver.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert len(dead) == 1

    # A 503 on a creating call is ambiguous: the vendor may have saved it. Every retry had to look first.
    assert visma.vouchers() == []
    visma.clear_faults()
    driver.sqs.send_message(QueueUrl=driver.queue_url, MessageBody=dead[0]["Body"])  # redrive
    driver.sqs.delete_message(QueueUrl=driver.dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])
    driver.run()
    _assert_exactly_once(visma, api, connection_id, 1)


def test_not_connected_defers_without_failing(connected, visma, aws):
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    api.call("POST", f"/connections/{connection_id}/transfers")
    from ledgerbridge.services import connections

    connections.mark_needs_reauth("tenant-a", connection_id, "refresh token expired")
    QueueDriver(aws).run()
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "waiting"
    assert visma.vouchers() == []


@pytest.mark.parametrize("days_back", [1])
def test_schedule_run_enqueues_the_window_and_plans_the_next(connected, visma, aws, days_back):
    from datetime import datetime

    from tests.integration.scheduler_helpers import schedule

    api, connection_id = connected
    today = date.today()
    _ingest(api, connection_id, [today - timedelta(days=d) for d in (1, 2, 40)])
    connection = api.call("GET", f"/connections/{connection_id}")[1]
    due_at = datetime.fromisoformat(connection["next_run_at"].replace("Z", "+00:00"))
    assert schedule(aws, due_at - timedelta(minutes=1)) == {"connections": 0, "jobs": 0}
    summary = schedule(aws, due_at)
    assert summary == {"connections": 1, "jobs": 2}, "the 40-day-old settlement is outside the 30-day lookback"
    QueueDriver(aws).run()
    states = sorted(d["state"] for d in _documents(api, connection_id))
    assert states == ["booked", "booked", "waiting"]
    after = api.call("GET", f"/connections/{connection_id}")[1]
    assert after["next_run_at"] > connection["next_run_at"] and after["last_run_at"]
    assert schedule(aws, due_at) == {"connections": 0, "jobs": 0}


def _take_as_other_worker(connection_id: str, document_id: str, until_ms: int, submitted: bool = True):
    """Another worker claimed the document (and maybe sent the voucher) and is still running."""
    from ledgerbridge.repositories import documents

    record = documents.latest("tenant-a", connection_id, document_id)
    claimed = documents.claim(record, "other-worker", until_ms)
    assert claimed is not None
    if submitted:
        documents.save_progress(claimed, "other-worker", {"submitted": "2026-11-23T10:00:00+00:00"})
    return claimed


def test_a_live_booking_is_never_taken_over(connected, visma, aws):
    import time as clock

    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    document_id = f"Z-1-{day.isoformat()}-1"
    from ledgerbridge.models.documents import TransferJob
    from ledgerbridge.services.transfers import enqueue

    _take_as_other_worker(connection_id, document_id, int(clock.time() * 1000) + 60_000)
    visma.reset_counts()
    # "Transfer now" knows better than to queue it, but a job queued earlier arrives anyway.
    assert api.call("POST", f"/connections/{connection_id}/transfers")[1]["enqueued"] == 0
    enqueue([TransferJob(tenant_id="tenant-a", connection_id=connection_id, document_id=document_id, version=1)])
    driver = QueueDriver(aws)
    messages = driver.sqs.receive_message(QueueUrl=driver.queue_url, AttributeNames=["All"])["Messages"]
    event = sqs_event(messages)
    result = lambdas.handler("TransferWorkerFunction")(event, lambdas.LocalContext("w", timeout_seconds=30))
    assert result["batchItemFailures"] == [], "the message is done with: a wait is no failed delivery"
    assert not any(k.startswith("POST") for k in visma.request_counts()), "nothing was sent to the vendor"
    assert _documents(api, connection_id)[0]["state"] == "booking"
    # The job comes back once that worker's invocation is over, as a new message, no attempt used.
    attrs = driver.sqs.get_queue_attributes(QueueUrl=driver.queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1", attrs


def test_an_orphaned_booking_is_resumed_by_the_next_run(connected, visma, aws):
    import time as clock

    from ledgerbridge.services.transfers import transfer_now

    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    document_id = f"Z-1-{day.isoformat()}-1"
    # A worker sent the voucher and died; its invocation (and so its claim) has ended.
    _take_as_other_worker(connection_id, document_id, int(clock.time() * 1000) - 1)
    assert transfer_now("tenant-a", connection_id)["enqueued"] == 1
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 1)
    assert visma.request_counts().get("GET /v2/vouchers", 0) >= 1, "absence was proven before posting"


def test_a_version_the_vendor_may_hold_cannot_be_superseded(connected, visma, aws):
    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    # The voucher went out, then the attachment link failed on every attempt: back to waiting.
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/attachmentlinks", times=-1, status=400))
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "failed" and doc["vendor_document_id"], doc
    changed = samples.settlement(day, 1, scale=2)
    status, body = api.call("POST", f"/connections/{connection_id}/settlements", changed, query={"supersede": "true"})
    assert status == 409 and "cannot be replaced" in body["message"]
    assert len(visma.vouchers()) == 1


def test_a_refused_voucher_can_be_corrected_by_superseding(connected, visma, aws):
    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    visma.add_fault(Fault("status", method="POST", path_prefix="/v2/vouchers", times=1, status=400))
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    assert _documents(api, connection_id)[0]["state"] == "failed"
    status, doc = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(day, 1, scale=2),
                           query={"supersede": "true"})
    assert status == 201 and doc["version"] == 2
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    _assert_exactly_once_for_versions(visma, api, connection_id)


def _assert_exactly_once_for_versions(visma, api, connection_id):
    docs = _documents(api, connection_id)
    assert sorted(d["state"] for d in docs) == ["booked", "superseded"]
    assert len(visma.vouchers()) == 1


def test_proof_of_absence_survives_a_refused_search_filter(connected, visma, aws):
    """If eAccounting refuses our $filter, the search falls back to reading the fiscal year."""
    api, connection_id = connected
    day = date.today() - timedelta(days=1)
    _ingest(api, connection_id, [day])
    visma.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", times=1, delay_s=3.0))
    visma.add_fault(Fault("status", method="GET", path_prefix="/v2/vouchers", times=1, status=400))
    api.call("POST", f"/connections/{connection_id}/transfers")
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 1)
    assert any(k.startswith("GET /v2/vouchers/{fiscalyearId}") for k in visma.request_counts())


def test_scheduler_handler_uses_the_events_time(connected, visma, aws):
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    connection = api.call("GET", f"/connections/{connection_id}")[1]
    event = json.loads((__import__("pathlib").Path(__file__).parents[2] / "events/scheduler/scheduled_event.json").read_text())
    event["time"] = connection["next_run_at"].replace("+00:00", "Z")
    assert lambdas.invoke("SchedulerFunction", event) == {"connections": 1, "advanced": 1}
    assert lambdas.invoke("SchedulerFunction", event) == {"connections": 0, "advanced": 0}, \
        "a repeated event does nothing"
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 1)


def test_an_unanswered_post_is_searched_for_only_after_the_vendor_had_time_to_commit(connected, visma, aws,
                                                                                       monkeypatch):
    from devstack import reset_process_caches

    monkeypatch.setenv("LB_SUBMIT_SETTLE_SECONDS", "3")
    reset_process_caches()
    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    visma.add_fault(Fault("timeout_after_commit", method="POST", path_prefix="/v2/vouchers", times=1, delay_s=3.0))
    api.call("POST", f"/connections/{connection_id}/transfers")
    driver = QueueDriver(aws)
    started = __import__("time").monotonic()
    driver.run()
    assert __import__("time").monotonic() - started >= 3, "the retry waited out the settle window"
    doc = _documents(api, connection_id)[0]
    assert doc["state"] == "booked" and doc["attempts"] >= 2
    _assert_exactly_once(visma, api, connection_id, 1)


def test_a_link_sent_again_after_a_crash_counts_when_refused_as_linked_already(connected, visma, aws, monkeypatch):
    """The PDF's link has no checkpoint of its own (the "booked" write follows it at once): a worker
    that dies between the two links again on the next delivery. eAccounting may refuse a second link
    of the same attachment; the attachment then shows our voucher, and that is the proof it is done."""
    from ledgerbridge.models.documents import DocumentState
    from ledgerbridge.repositories import documents

    api, connection_id = connected
    _ingest(api, connection_id, [date.today() - timedelta(days=1)])
    real_finish = documents.finish
    crashed = []

    def finish(record, lease, state, **kw):
        if state == DocumentState.BOOKED and not crashed:
            crashed.append(record.document_id)
            visma.add_fault(Fault("status", method="POST", path_prefix="/v2/attachmentlinks", times=1, status=400))
            raise WorkerCrash("killed before the log write")
        return real_finish(record, lease, state, **kw)

    monkeypatch.setattr(documents, "finish", finish)
    api.call("POST", f"/connections/{connection_id}/transfers")
    visma.reset_counts()
    driver = QueueDriver(aws)
    driver.run()
    assert driver.crashes == 1 and not visma.state.faults, "the crash and the refused link both happened"
    counts = visma.request_counts()
    assert counts["POST /v2/attachmentlinks"] == 2 and counts["POST /v2/vouchers"] == 1
    # The second attempt knew the PDF was uploaded (the voucher's checkpoints say so): no second upload.
    assert counts["POST /v2/attachments"] == 1
    _assert_exactly_once(visma, api, connection_id, 1)


def test_a_refused_send_takes_back_the_marks_of_its_ten_and_later_presses_queue_the_rest(connected, visma, aws,
                                                                                         monkeypatch):
    """Jobs go out ten at a time, each ten marked first: when SQS refuses the second send, the first ten
    are on their way, the second ten are unmarked again and the last five were never marked, so the
    next press queues exactly the fifteen left, and every settlement is booked once."""
    from ledgerbridge.services import transfers

    api, connection_id = connected
    days = [date.today() - timedelta(days=n) for n in range(1, 26)]
    _ingest(api, connection_id, days)
    real_enqueue, sends = transfers.enqueue, []

    def enqueue(jobs):
        sends.append(len(jobs))
        if len(sends) == 2:
            raise RuntimeError("SQS is down")
        return real_enqueue(jobs)

    monkeypatch.setattr(transfers, "enqueue", enqueue)
    with pytest.raises(RuntimeError, match="SQS is down"):  # in process, the error reaches the caller
        api.call("POST", f"/connections/{connection_id}/transfers")
    assert sends == [10, 10]
    monkeypatch.setattr(transfers, "enqueue", real_enqueue)
    status, body = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status == 202 and body["enqueued"] == 15
    QueueDriver(aws).run()
    _assert_exactly_once(visma, api, connection_id, 25)
