"""The scheduler's work: hand out the connections that are due, one small "connection due" message
each (a worker plans each one: services/transfers.plan_due).

Its own module, light on imports: the SchedulerFunction loads this, the due index's repository and
the schedule arithmetic, never the connection models, documents or vendors.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from .. import aws
from ..domain.schedule import next_run_after
from ..models.common import utcnow
from ..models.documents import ConnectionDueJob
from ..repositories import connections as connection_store
from ..settings import get_settings


def scheduled_time(event: dict) -> datetime:
    """The time an EventBridge event was scheduled for (its ``time``), or now."""
    value = event.get("time") if isinstance(event, dict) else None
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
        except ValueError:
            pass
    return utcnow()


# The scheduler stops handing out connections this long before its invocation would be cut off
# (what is left stays due for the next tick); one round (a chunk below) takes well under a second.
SCHEDULER_MARGIN_MS = 20_000
# Connections handed out per round: sent (ten per SendMessageBatch), then advanced in one
# transaction. A scheduler cut off mid-round re-sends at most this many next time.
ROUND = 100


def run_due(now: datetime | None = None, *, remaining_ms: Callable[[], int] | None = None) -> dict:
    """The scheduler: hand out every connection whose run is due, as one small "connection due"
    message each (ten per SQS call); a worker expands it into the connection's documents or run
    (``plan_due``). No per-connection reads: the ``due`` index (sharded, keys + schedule rule)
    says who is due and how to plan the next run.

    Per round of up to 100: send the messages first, then advance the connections that were sent
    (conditional on still being due at that time). Cut off between the two, the next invocation
    sends them again and the worker's idempotency (job id per connection and due time) expands
    them once; cut off before sending, they are still due. A connection is never advanced without
    its message having been accepted by SQS, so none is skipped.

    ``remaining_ms``: the invocation's time left; the scheduler stops with ``SCHEDULER_MARGIN_MS``
    to spare and leaves the rest due for the next tick.
    """
    now = now or utcnow()
    summary = {"connections": 0, "advanced": 0}
    not_advanced = 0
    for chunk in _rounds(now):
        if remaining_ms is not None and remaining_ms() < SCHEDULER_MARGIN_MS:
            summary["stopped_early"] = True  # the rest stays due: the next tick hands it out
            break
        sent = _send_due(chunk, now)
        summary["connections"] += len(sent)
        advanced, skipped = connection_store.advance_due(
            sent, now, lambda entry: next_run_after(entry.schedule, now))
        summary["advanced"] += advanced
        not_advanced += skipped
    if not_advanced:
        # Rescheduled meanwhile, advanced by a concurrent invocation, or contended beyond retries:
        # their messages are out; the worker skips what is no longer due and expands the rest once.
        summary["not_advanced"] = not_advanced
    return summary


def _rounds(now: datetime):
    """Due connections in rounds of ``ROUND``, taken from every shard in turn, so the round's
    writes (advances) spread over the index partitions instead of hitting one after another."""
    shards = [connection_store.due_in_shard(k, now) for k in range(connection_store.DUE_SHARDS)]
    chunk: list = []
    while shards:
        for shard in list(shards):
            entry = next(shard, None)
            if entry is None:
                shards.remove(shard)
                continue
            chunk.append(entry)
            if len(chunk) == ROUND:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _send_due(entries: list, now: datetime) -> list:
    """Send one "connection due" message per entry, ten per call; returns those SQS accepted."""
    queue_url = get_settings().transfer_queue_url
    sqs = aws.client("sqs")
    sent = []
    for start in range(0, len(entries), 10):
        batch = entries[start:start + 10]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": ConnectionDueJob(tenant_id=e.tenant_id, connection_id=e.connection_id,
                                                           due_at=e.due_at, planned_at=now).model_dump_json()}
            for i, e in enumerate(batch)])
        refused = {int(f["Id"]) for f in response.get("Failed", [])}
        # A refused one is not advanced: it stays due and goes out with the next tick.
        sent += [e for i, e in enumerate(batch) if i not in refused]
    return sent
