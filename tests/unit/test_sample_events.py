"""events/ holds a real-shaped sample event for every function, and each one still fits its handler."""
from __future__ import annotations

import json
from pathlib import Path

from devstack import gateway, template

EVENTS = Path(__file__).resolve().parents[2] / "events"
FOLDER_OF = {
    "AuthorizerFunction": "authorizer", "ManagementApiFunction": "management_api",
    "OAuthCallbackFunction": "oauth_callback", "IngestFunction": "ingest",
    "SchedulerFunction": "scheduler", "TransferWorkerFunction": "transfer_worker", "HooksFunction": "hooks",
    "ConsoleFunction": "console",
}


def _load(folder: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((EVENTS / folder).glob("*.json"))]


def test_every_function_has_sample_events():
    assert set(FOLDER_OF) == set(template.functions())
    for folder in FOLDER_OF.values():
        assert _load(folder), f"events/{folder} is empty"


def test_api_events_match_routes_of_their_function():
    routes = {(r.method, r.resource): r.function for r in gateway.routes()}
    for function, folder in FOLDER_OF.items():
        for event in _load(folder):
            if "httpMethod" in event and "requestContext" in event and event.get("type") != "REQUEST":
                route = routes.get((event["httpMethod"], event["resource"])) or routes.get(("ANY", event["resource"]))
                assert route == function, (folder, event["resource"])


def test_worker_event_parses_into_transfer_jobs():
    from ledgerbridge.models.documents import ConnectionDueJob, RunJob, TransferJob, due_job_id
    from ledgerbridge.models.sync import SyncJob
    from ledgerbridge.worker import TransferJobRecord

    kinds = set()
    for event in _load("transfer_worker"):
        for record in event["Records"]:
            parsed = TransferJobRecord.model_validate(record)
            assert parsed.messageId == record["messageId"] and parsed.attributes.ApproximateReceiveCount
            job = parsed.body
            if isinstance(job, TransferJob):
                assert job.document_id and job.version >= 1
            elif isinstance(job, ConnectionDueJob):
                # The scheduler's message: its id is the worker's idempotency key per due time.
                assert job.job_id == due_job_id(job.tenant_id, job.connection_id, job.due_at)
            elif isinstance(job, SyncJob):
                assert job.action == "vendor_change" and job.change and job.change.vendor_key
            else:
                assert isinstance(job, RunJob) and job.run_id and job.as_of
            kinds.add(type(job))
    assert kinds == {TransferJob, RunJob, ConnectionDueJob, SyncJob}


def test_ingest_events_carry_a_valid_document_with_its_attachment():
    from ledgerbridge.models.payroll import PayrollJournal
    from ledgerbridge.models.settlement import Settlement
    from ledgerbridge.models.stock import StockRegistration
    from ledgerbridge.models.sync import RecordPush

    model_of = {"/connections/{connection_id}/settlements": Settlement,
                "/connections/{connection_id}/stock-registrations": StockRegistration,
                "/connections/{connection_id}/payroll-journals": PayrollJournal,
                "/connections/{connection_id}/customers": RecordPush}
    events = _load("ingest")
    assert {event["resource"] for event in events} == set(model_of)
    for event in events:
        document = model_of[event["resource"]].model_validate_json(event["body"])
        if not isinstance(document, (PayrollJournal, RecordPush)):  # these have no attachment
            assert document.attachment is not None


def test_scheduler_event_time_is_used():
    from ledgerbridge.services.scheduling import scheduled_time

    for event in _load("scheduler"):
        assert scheduled_time(event).isoformat().startswith(event["time"][:16])
