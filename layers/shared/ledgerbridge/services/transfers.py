"""Deciding what to book and putting it on the queue: schedule runs, 'transfer now', replays."""
from __future__ import annotations

from datetime import datetime, timezone

from .. import aws
from ..domain.schedule import Window, manual_window, next_run_after, scheduled_window
from ..errors import Conflict, NotConnected, NotFound, ValidationFailed
from ..models.common import utcnow
from ..models.connection import Connection, ConnectionStatus
from ..models.documents import DocumentRecord, DocumentState, RunJob, TransferJob
from ..repositories import connections as connection_store
from ..repositories import documents
from ..settings import get_settings


def enqueue(jobs: "list[TransferJob] | list[RunJob]") -> int:
    if not jobs:
        return 0
    queue_url = get_settings().transfer_queue_url
    sqs = aws.client("sqs")
    for start in range(0, len(jobs), 10):
        chunk = jobs[start:start + 10]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(chunk)
        ])
        if response.get("Failed"):
            # Surface it: the scheduler run fails and EventBridge/the caller retries; the
            # documents stay waiting, so nothing is lost.
            raise RuntimeError(f"SQS refused {len(response['Failed'])} transfer jobs: {response['Failed'][0]}")
    return len(jobs)


def _jobs(records: list[DocumentRecord], trigger: str) -> list[TransferJob]:
    return [TransferJob(tenant_id=r.tenant_id, connection_id=r.connection_id, document_id=r.document_id,
                        version=r.version, trigger=trigger) for r in records]


def _due_in(connection: Connection, window: Window | None, now: datetime) -> list[DocumentRecord]:
    """Documents of the window that need a job: waiting ones without a retry already pending in
    SQS, and booking ones whose worker is provably gone (its lease ran out)."""
    if window is None:
        return []
    args = (connection.tenant_id, connection.connection_id)
    waiting = [r for r in documents.in_window(*args, DocumentState.WAITING, window.start, window.end)
               if r.retry_not_before is None or r.retry_not_before <= now]
    now_ms = int(now.timestamp() * 1000)
    orphaned = [r for r in documents.in_window(*args, DocumentState.BOOKING, window.start, window.end)
                if not r.lease_alive(now_ms)]
    return waiting + orphaned


def scheduled_time(event: dict) -> datetime:
    """The time an EventBridge event was scheduled for (its ``time``), or now."""
    value = event.get("time") if isinstance(event, dict) else None
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            pass
    return utcnow()


def run_due(now: datetime | None = None) -> dict:
    """The scheduler: for each connection whose run is due, enqueue its window and plan the next run."""
    now = now or utcnow()
    summary = {"connections": 0, "jobs": 0}
    for tenant_id, connection_id in connection_store.due(now):
        connection = connection_store.get(tenant_id, connection_id)
        if connection.next_run_at is None or connection.next_run_at > now:
            continue  # changed since the index was read
        due_at = connection.next_run_at
        summary["connections"] += 1
        if connection.status == ConnectionStatus.CONNECTED and connection.account_setup is not None:
            window = scheduled_window(connection.schedule, due_at)
            summary["jobs"] += enqueue(_jobs(_due_in(connection, window, now), "schedule"))
        if connection.status == ConnectionStatus.CONNECTED and connection.reconciles:
            from . import runs  # deferred: only reconciling connections need it

            runs.fail_stale_runs(connection)
            summary["jobs"] += runs.start_scheduled_refresh(connection, due_at)

        def plan_next(current: Connection, due_at: datetime = due_at) -> bool:
            if current.next_run_at != due_at:
                return False  # rescheduled meanwhile (settings saved, another scheduler run)
            current.last_run_at = now
            current.next_run_at = next_run_after(current.schedule, now)
            return True

        try:
            connection_store.update(tenant_id, connection_id, plan_next)
        except NotFound:
            continue  # deleted meanwhile
        except Conflict:
            # Contended beyond retries: its jobs are queued; the next run plans it. Others go on.
            summary["contended"] = summary.get("contended", 0) + 1
    return summary


def transfer_now(tenant_id: str, connection_id: str, now: datetime | None = None) -> dict:
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    now = now or utcnow()
    window = manual_window(connection.schedule, now)
    count = enqueue(_jobs(_due_in(connection, window, now), "manual"))
    return {"enqueued": count, "window": None if window is None else
            {"from": window.start.isoformat(), "to": window.end.isoformat()}}


def replay(tenant_id: str, connection_id: str, document_id: str) -> DocumentRecord:
    """Book this document again now: a failed one after the setup was fixed, a waiting one outside
    the schedule's window, or one whose worker died mid-booking."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    record = documents.latest(tenant_id, connection_id, document_id)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    if record.is_run:
        raise Conflict(f"{document_id} is a {record.kind.replace('_', ' ')} run; start a new one instead")
    if record.state == DocumentState.FAILED:
        record = documents.reopen_failed(record)
    elif record.state == DocumentState.BOOKING and record.lease_alive(int(utcnow().timestamp() * 1000)):
        raise Conflict(f"document {document_id} is being booked right now")
    elif record.state not in (DocumentState.WAITING, DocumentState.BOOKING):
        raise Conflict(f"document {document_id} is {record.state.value}; only failed, waiting or interrupted "
                       f"documents can be replayed")
    enqueue(_jobs([record], "replay"))
    return record


def replay_failed(tenant_id: str, connection_id: str) -> dict:
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    replayed = 0
    cursor = None
    while True:
        failed, cursor = documents.page(tenant_id, connection_id, state=DocumentState.FAILED, limit=100, cursor=cursor)
        reopened = []
        for record in failed:
            if record.is_run:
                continue  # runs are started anew, not replayed
            try:
                reopened.append(documents.reopen_failed(record))
            except Conflict:
                continue  # replayed or superseded meanwhile
        # Enqueued page by page: a reopened document is never left waiting without its job.
        replayed += enqueue(_jobs(reopened, "replay"))
        if not cursor:
            return {"replayed": replayed}


def _require_bookable(connection: Connection) -> None:
    if connection.status != ConnectionStatus.CONNECTED:
        raise NotConnected(f"the connection is {connection.status.value}; connect it first")
    if connection.account_setup is None:
        raise ValidationFailed("save the account setup before transferring")
