"""Deciding what to book and putting it on the queue: schedule runs (the scheduler hands out due
connections, the worker plans each), 'transfer now', replays."""
from __future__ import annotations

from datetime import datetime, timedelta

from ..domain.schedule import (
    EARLIEST,
    Window,
    manual_window,
    scheduled_window,
    why_not_scheduled,
)
from ..errors import Conflict, NotConnected, NotFound, ValidationFailed
from ..models.common import utcnow
from ..models.connection import Connection, ConnectionStatus
from ..models.documents import ConnectionDueJob, DocumentRecord, DocumentState, TransferJob
from ..repositories import connections as connection_store
from ..repositories import documents
from .transfer_queue import enqueue


def _jobs(records: list[DocumentRecord], trigger: str) -> list[TransferJob]:
    return [TransferJob(tenant_id=r.tenant_id, connection_id=r.connection_id, document_id=r.document_id,
                        version=r.version, trigger=trigger) for r in records]


def enqueue_documents(records: list[DocumentRecord], trigger: str, now: datetime, *, force: bool = False) -> int:
    """Queue one job per document that has none queued yet; returns how many were queued.

    Each document is marked first (a conditional write), so presses and runs racing each other
    queue it once. A send SQS refuses takes its marks back before the error surfaces. Marks and
    sends go ten at a time: workers start on the first ten while the rest are being marked (a
    backlog of 100 documents is 100 writes, about a second, before the last job goes out).
    """
    now_ms = int(now.timestamp() * 1000)
    queued = 0
    chunk: list[DocumentRecord] = []
    for position, record in enumerate(records, start=1):
        if documents.mark_queued(record, now_ms, force=force):
            chunk.append(record)
        if chunk and (len(chunk) == 10 or position == len(records)):
            try:
                enqueue(_jobs(chunk, trigger))
            except Exception:
                for marked in chunk:
                    documents.unmark_queued(marked)
                raise
            queued += len(chunk)
            chunk = []
    return queued


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


def plan_due(job: ConnectionDueJob, now: datetime | None = None) -> dict:
    """The worker's half of a scheduled run: what ``run_due`` did per connection before it fanned
    out. Queues the documents of the run's window (each marked queued first), explains what fell
    out of reach, and starts a reconciling connection's balance refresh (one per due time).

    Idempotent per (connection, due time) twice over: the worker runs it under idempotency keyed
    on the job id, and each step is itself conditional (queued marks, the run id derived from the
    due time), so even an expansion repeated after its idempotency record expired queues nothing
    twice.
    """
    # The clock of the planning: at least when the scheduler planned it (its event time), later
    # if the message waited in a backlog, so queued marks and leases are judged by real time.
    now = max(now or utcnow(), job.planned_at)
    try:
        connection = connection_store.get(job.tenant_id, job.connection_id)
    except NotFound:
        return {"outcome": "skipped", "reason": "connection deleted"}
    if not _still_due(connection, job.due_at):
        return {"outcome": "skipped", "reason": "rescheduled since it was due"}
    jobs = 0
    if connection.status == ConnectionStatus.CONNECTED and connection.has_booking_setup:
        window = scheduled_window(connection.schedule, job.due_at)
        jobs += enqueue_documents(_due_in(connection, window, now), "schedule", now)
        _explain_left_behind(connection, window, now)
    if connection.status == ConnectionStatus.CONNECTED and connection.reconciles:
        from . import runs  # deferred: only reconciling connections need it

        runs.fail_stale_runs(connection)
        jobs += runs.start_scheduled_refresh(connection, job.due_at)
    if connection.customer_sync is not None:
        from . import master_data  # deferred: only connections that sync customers need it

        jobs += master_data.queue_scheduled_check(connection)
    return {"outcome": "planned", "jobs": jobs}


def _still_due(connection: Connection, due_at: datetime) -> bool:
    """Due at ``due_at``: not yet advanced (the worker may be quicker than the scheduler's advance),
    or advanced from it by a scheduler (``last_run_at`` is when that run was planned, never before
    it was due). A connection whose schedule was saved meanwhile, moving or switching off the run,
    has neither: skipped, as the scheduler skipped it before it fanned out."""
    if connection.next_run_at == due_at:
        return True
    return (connection.next_run_at is not None and connection.next_run_at > due_at
            and connection.last_run_at is not None and connection.last_run_at >= due_at)


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
        at_vendor = (not record.in_doubt) if record.parts else bool(record.progress.get("vendor_document_id"))
        if record.state != DocumentState.FAILED or at_vendor:
            raise Conflict(f"document {document_id} is {record.state.value}"
                           + (" with its vouchers at the vendor" if at_vendor else "")
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
    if not connection.has_booking_setup:
        raise ValidationFailed("save the account setup (or, for payroll journals, the payroll setup) before "
                               "transferring")
