"""Deciding what to book and putting it on the queue: schedule runs, 'transfer now', replays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .. import aws
from ..domain.schedule import (
    EARLIEST,
    Window,
    manual_window,
    next_run_after,
    scheduled_window,
    why_not_scheduled,
)
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


def enqueue_documents(records: list[DocumentRecord], trigger: str, now: datetime, *, force: bool = False) -> int:
    """Queue one job per document that has none queued yet; returns how many were queued.

    Each document is marked first (a conditional write), so presses and runs racing each other
    queue it once. A send SQS refuses takes its marks back before the error surfaces.
    """
    now_ms = int(now.timestamp() * 1000)
    marked = [r for r in records if documents.mark_queued(r, now_ms, force=force)]
    for start in range(0, len(marked), 10):
        chunk = marked[start:start + 10]
        try:
            enqueue(_jobs(chunk, trigger))
        except Exception:
            for record in marked[start:]:
                documents.unmark_queued(record)
            raise
    return len(marked)


def _due_in(connection: Connection, window: Window | None, now: datetime) -> list[DocumentRecord]:
    """Documents of the window that need a job: waiting ones without a job queued, and booking
    ones whose worker is provably gone (its lease ran out)."""
    if window is None:
        return []
    args = (connection.tenant_id, connection.connection_id)
    now_ms = int(now.timestamp() * 1000)
    waiting = documents.in_window(*args, DocumentState.WAITING, window.start, window.end, unqueued_at_ms=now_ms)
    orphaned = [r for r in documents.in_window(*args, DocumentState.BOOKING, window.start, window.end,
                                               unqueued_at_ms=now_ms) if not r.lease_alive(now_ms)]
    return waiting + orphaned


def _explain_left_behind(connection: Connection, window: Window | None, now: datetime) -> int:
    """Waiting documents older than this run's window are out of reach of every later run: say so
    in the export log (once), instead of leaving them waiting without a reason."""
    if window is None or window.start <= EARLIEST:
        return 0
    now_ms = int(now.timestamp() * 1000)
    explained = 0
    for record in documents.in_window(connection.tenant_id, connection.connection_id, DocumentState.WAITING,
                                      EARLIEST, window.start - timedelta(days=1)):
        reason = why_not_scheduled(connection.schedule, record.business_date, now)
        if reason and record.reason != reason and not record.queued(now_ms):
            explained += documents.leave_reason(record, reason)
    return explained


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
            summary["jobs"] += enqueue_documents(_due_in(connection, window, now), "schedule", now)
            _explain_left_behind(connection, window, now)
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
    """Queue every waiting document from the from-date on, whatever the lookback (domain.schedule.
    manual_window); those before the from-date are counted, and go only when replayed."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    now = now or utcnow()
    window = manual_window(connection.schedule, now)
    count = enqueue_documents(_due_in(connection, window, now), "manual", now)
    result: dict = {"enqueued": count,
                    "window": None if window is None else {"from": window.start.isoformat(),
                                                           "to": window.end.isoformat()}}
    from_date = connection.schedule.from_date
    if from_date:
        before = documents.in_window(tenant_id, connection_id, DocumentState.WAITING, EARLIEST,
                                     from_date - timedelta(days=1))
        if before:
            result["before_from_date"] = len(before)
            result["message"] = (f"{len(before)} waiting document(s) dated before the from-date "
                                 f"{from_date.isoformat()} are not transferred; replay them one by one to book them")
    return result


def replay(tenant_id: str, connection_id: str, document_id: str, *, resend: bool = False) -> DocumentRecord:
    """Book this document again now: a failed one after the setup was fixed, a waiting one outside
    the schedule's window, or one whose worker died mid-booking.

    ``resend``: a person checked the accounting system and the voucher of an unanswered post is
    not there (where the hub cannot look, e.g. 24SevenOffice's voucher reception): the doubt is
    cleared and the voucher is sent again. Only for a failed document without a vendor voucher."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_bookable(connection)
    record = documents.latest(tenant_id, connection_id, document_id)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    if record.is_run:
        raise Conflict(f"{document_id} is a {record.kind.replace('_', ' ')} run; start a new one instead")
    if resend:
        if record.state != DocumentState.FAILED or record.progress.get("vendor_document_id"):
            raise Conflict(f"document {document_id} is {record.state.value}"
                           + (" with a voucher at the vendor" if record.progress.get("vendor_document_id") else "")
                           + "; resend is only for a failed document whose voucher is not at the vendor")
        record = documents.clear_doubt(record)
    if record.state == DocumentState.FAILED:
        record = documents.reopen_failed(record)
    elif record.state == DocumentState.BOOKING and record.lease_alive(int(utcnow().timestamp() * 1000)):
        raise Conflict(f"document {document_id} is being booked right now")
    elif record.state not in (DocumentState.WAITING, DocumentState.BOOKING):
        raise Conflict(f"document {document_id} is {record.state.value}; only failed, waiting or interrupted "
                       f"documents can be replayed")
    enqueue_documents([record], "replay", utcnow(), force=True)
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
        replayed += enqueue_documents(reopened, "replay", utcnow(), force=True)
        if not cursor:
            return {"replayed": replayed}


def _require_bookable(connection: Connection) -> None:
    if connection.status != ConnectionStatus.CONNECTED:
        raise NotConnected(f"the connection is {connection.status.value}; connect it first")
    if connection.account_setup is None:
        raise ValidationFailed("save the account setup before transferring")
