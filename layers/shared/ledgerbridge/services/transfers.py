"""Deciding what to book and putting it on the queue: schedule runs, 'transfer now', replays."""
from __future__ import annotations

from datetime import datetime, timezone

from .. import aws
from ..domain.schedule import Window, manual_window, next_run_after, scheduled_window
from ..errors import Conflict, NotConnected, ValidationFailed
from ..models.common import utcnow
from ..models.connection import Connection, ConnectionStatus
from ..models.documents import DocumentRecord, DocumentState, TransferJob
from ..repositories import connections as connection_store
from ..repositories import documents
from ..settings import get_settings


def enqueue(jobs: list[TransferJob]) -> int:
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


def _waiting_in(connection: Connection, window: Window | None) -> list[DocumentRecord]:
    if window is None:
        return []
    return documents.in_window(connection.tenant_id, connection.connection_id, DocumentState.WAITING,
                               window.start, window.end)


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
        summary["connections"] += 1
        if connection.status == ConnectionStatus.CONNECTED and connection.account_setup is not None:
            window = scheduled_window(connection.schedule, connection.next_run_at)
            summary["jobs"] += enqueue(_jobs(_waiting_in(connection, window), "schedule"))
        connection.last_run_at = now
        connection.next_run_at = next_run_after(connection.schedule, now)
        connection.updated_at = now
        connection_store.put(connection)
    return summary


def transfer_now(tenant_id: str, connection_id: str, now: datetime | None = None) -> dict:
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    window = manual_window(connection.schedule, now or utcnow())
    count = enqueue(_jobs(_waiting_in(connection, window), "manual"))
    return {"enqueued": count, "window": None if window is None else
            {"from": window.start.isoformat(), "to": window.end.isoformat()}}


def replay(tenant_id: str, connection_id: str, document_id: str) -> DocumentRecord:
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    record = documents.latest(tenant_id, connection_id, document_id)
    if record is None:
        from ..errors import NotFound

        raise NotFound(f"document {document_id} not found")
    if record.state != DocumentState.FAILED:
        raise Conflict(f"document {document_id} is {record.state.value}; only failed documents can be replayed")
    reopened = documents.reopen_failed(record)
    enqueue(_jobs([reopened], "replay"))
    return reopened


def replay_failed(tenant_id: str, connection_id: str) -> dict:
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    reopened = []
    cursor = None
    while True:
        failed, cursor = documents.page(tenant_id, connection_id, state=DocumentState.FAILED, limit=100, cursor=cursor)
        reopened += [documents.reopen_failed(r) for r in failed]
        if not cursor:
            break
    enqueue(_jobs(reopened, "replay"))
    return {"replayed": len(reopened)}


def _require_bookable(connection: Connection) -> None:
    if connection.status != ConnectionStatus.CONNECTED:
        raise NotConnected(f"the connection is {connection.status.value}; connect it first")
    if connection.account_setup is None:
        raise ValidationFailed("save the account setup before transferring")
