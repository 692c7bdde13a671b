"""A record that fails is logged once by the worker, with its job, its document and the reason.

The batch processor only reports the message id back to SQS; without this line an operator would
see a retried or dead-lettered message and no reason anywhere.
"""
from __future__ import annotations

import io
import json
import logging
from datetime import datetime, timezone

import pytest

from devstack import lambdas
from tests.integration.test_worker_exactly_once import sqs_event


@pytest.fixture
def worker_logs(aws, monkeypatch):
    """The worker's JSON log lines (what CloudWatch gets), parsed."""
    handler = lambdas.handler("TransferWorkerFunction")
    stream = io.StringIO()
    for name in ("ledgerbridge", ""):
        for log_handler in logging.getLogger(name).handlers:
            if type(log_handler) is logging.StreamHandler:
                monkeypatch.setattr(log_handler, "stream", stream)

    def invoke(bodies: list[str]) -> tuple[dict, list[dict]]:
        messages = [{"MessageId": f"m-{i}", "ReceiptHandle": f"r-{i}", "Body": body,
                     "Attributes": {"ApproximateReceiveCount": "1"}} for i, body in enumerate(bodies)]
        result = handler(sqs_event(messages), lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=30))
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
        return result, [line for line in lines if str(line.get("message", "")).startswith("transfer job failed")]

    return invoke


def _job(document_id: str) -> str:
    from ledgerbridge.models.documents import TransferJob

    return TransferJob(tenant_id="tenant-a", connection_id="con_1", document_id=document_id, version=2).model_dump_json()


def test_each_failed_record_is_logged_once_with_job_document_and_reason(worker_logs, monkeypatch):
    from ledgerbridge import worker
    from ledgerbridge.services.booking import RetryLater

    def book(job, **_):
        if job.document_id == "Z-busy":
            raise RetryLater("eAccounting answered 503 Service Unavailable", delay=30)
        if job.document_id == "Z-broken":
            raise RuntimeError("could not read https://vendor.example/v2/x?code=s3cret-code&state=abc")
        return {"outcome": "booked"}

    monkeypatch.setattr(worker, "book_document", book)
    monkeypatch.setattr(worker, "_delay", lambda record, seconds: None)  # no real receipt handles here
    result, failed = worker_logs([_job("Z-busy"), _job("Z-ok"), _job("Z-broken"), "{not json"])

    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ["m-0", "m-2", "m-3"]
    assert len(failed) == 3, failed
    by_document = {line.get("document_id"): line for line in failed}
    busy = by_document["Z-busy"]
    assert busy["job_kind"] == "document" and busy["version"] == 2 and busy["connection_id"] == "con_1"
    assert busy["reason"] == "eAccounting answered 503 Service Unavailable" and busy["retry_in_seconds"] == 30
    assert busy["job_id"] and busy["receive_count"] == 1 and busy["attempt"] == 1
    broken = by_document["Z-broken"]
    assert broken["reason"].startswith("RuntimeError: could not read https://vendor.example/v2/x?")
    assert "s3cret-code" not in json.dumps(failed), "a URL's query string is never logged"
    malformed = next(line for line in failed if line.get("outcome") == "malformed")
    assert malformed["message_id"] == "m-3" and "body" in malformed["reason"]
    assert "document_id" not in malformed, "not the previous record's job"


def test_a_failed_connection_due_job_names_the_connection_and_due_time(worker_logs, monkeypatch):
    from ledgerbridge.models.documents import ConnectionDueJob
    from ledgerbridge.services import transfers

    def plan_due(job, now=None):
        raise RuntimeError("SQS refused 3 transfer jobs")

    monkeypatch.setattr(transfers, "plan_due", plan_due)
    due_at = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)
    job = ConnectionDueJob(tenant_id="tenant-a", connection_id="con_9", due_at=due_at, planned_at=due_at)
    result, failed = worker_logs([job.model_dump_json()])
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == ["m-0"]
    assert len(failed) == 1
    line = failed[0]
    assert line["job_kind"] == "connection_due" and line["connection_id"] == "con_9"
    assert line["due_at"] == "2026-11-24T03:00:00+00:00" and line["job_id"] == job.job_id
    assert line["reason"] == "RuntimeError: SQS refused 3 transfer jobs"
