"""Connections table: pk tenant_id, sk connection_id; sparse GSI ``due`` for the scheduler.

The ``due`` index is write-sharded: its partition key ``due_shard`` is ``due#<k>``, k derived from a
hash of tenant and connection (``DUE_SHARDS`` values), its sort key ``next_run_at``. Thousands of
shops due at the same hour then spread their index writes and the scheduler's reads over
``DUE_SHARDS`` partitions instead of one; the scheduler queries every shard.

``next_run_at``, ``last_run_at`` and ``revision`` are item attributes of their own, authoritative
over the copies in ``body``: the scheduler advances a connection with one conditional UpdateItem
(``advance_due``) without reading or rewriting the body, and every other writer's read-modify-write
still conflicts with it through ``revision``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, NotFound
from ..models.common import utcnow
from ..models.schedule import Frequency, TransferSchedule
from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, query_all, to_item, values

if TYPE_CHECKING:  # pragma: no cover
    from ..models.connection import Connection

# Fixed for the life of the table: an item is found only in the shard its key hashes to, so a new
# count needs every scheduled connection rewritten first. 16 partitions keep each well under
# DynamoDB's per-partition write limit when 10,000+ connections are advanced in a minute or two,
# while the scheduler's tick costs only 16 small queries when nothing is due.
DUE_SHARDS = 16


def due_shard(tenant_id: str, connection_id: str) -> str:
    """The ``due`` index partition of a connection (stable across processes: not Python's hash())."""
    digest = hashlib.sha256(f"{tenant_id}/{connection_id}".encode()).digest()
    return f"due#{int.from_bytes(digest[:4], 'big') % DUE_SHARDS}"


def _rule(schedule: TransferSchedule) -> str:
    """What the scheduler needs to plan the next run (projected into the ``due`` index)."""
    return schedule.model_dump_json(include={"frequency", "run_at_hour", "timezone"})


def _to_item(connection: Connection) -> dict:
    data = {
        "tenant_id": connection.tenant_id,
        "connection_id": connection.connection_id,
        "revision": connection.revision,
        "body": connection.model_dump_json(),
        "last_run_at": connection.last_run_at.isoformat() if connection.last_run_at else None,
    }
    # Only connections with a schedule appear in the sparse ``due`` index the scheduler queries.
    if connection.schedule.frequency != Frequency.NEVER and connection.next_run_at is not None:
        data["due_shard"] = due_shard(connection.tenant_id, connection.connection_id)
        data["next_run_at"] = connection.next_run_at.isoformat()
        data["due_rule"] = _rule(connection.schedule)
    return to_item(data)


def _from_item(item: dict) -> Connection:
    return _from_data(from_item(item))


def _from_data(data: dict) -> Connection:
    # Deferred: the scheduler pages the due index with this module and never builds a connection.
    from ..models.connection import Connection

    connection = Connection.model_validate_json(data["body"])
    # The scheduler's advance writes these attributes only (see the module docstring).
    update: dict[str, Any] = {}
    if "revision" in data:
        update["revision"] = int(data["revision"])
    if "next_run_at" in data:
        update["next_run_at"] = datetime.fromisoformat(data["next_run_at"])
    if "last_run_at" in data:
        update["last_run_at"] = datetime.fromisoformat(data["last_run_at"])
    return connection.model_copy(update=update) if update else connection


class StaleConnection(Exception):
    """The connection changed since it was read."""


def _put_if_unchanged(connection: Connection) -> Connection:
    """Write ``connection`` if nobody wrote it since it was read (optimistic locking on revision)."""
    updated = connection.model_copy(update={"revision": connection.revision + 1, "updated_at": utcnow()})
    try:
        ddb().put_item(
            TableName=get_settings().connections_table, Item=_to_item(updated),
            # A record from before revisions existed has none: that counts as revision 0.
            ConditionExpression="revision = :seen" if connection.revision else
                                "attribute_not_exists(revision) OR revision = :seen",
            ExpressionAttributeValues=values({":seen": connection.revision}),
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            raise StaleConnection(connection.connection_id) from exc
        raise
    return updated


def update(tenant_id: str, connection_id: str, change: Callable[[Connection], bool | None],
           attempts: int = 8) -> Connection:
    """Read, apply ``change``, write back only if unchanged meanwhile; retried on conflicts.

    ``change`` may return False to write nothing (the state it wanted to change has moved on).
    A deleted connection stays deleted: NotFound.
    """
    for _ in range(attempts):
        connection = get(tenant_id, connection_id)
        if change(connection) is False:
            return connection
        try:
            return _put_if_unchanged(connection)
        except StaleConnection:
            continue
    raise Conflict(f"connection {connection_id} is being changed by someone else; try again")


def create(connection: Connection) -> None:
    ddb().put_item(
        TableName=get_settings().connections_table,
        Item=_to_item(connection),
        ConditionExpression="attribute_not_exists(connection_id)",
    )


def locate(tenant_id: str, connection_id: str) -> tuple[str, dict[str, Any]]:
    """(table, key) of a connection's item, for reads batched with other items (dynamo.get_many)."""
    return get_settings().connections_table, values({"tenant_id": tenant_id, "connection_id": connection_id})


def parse(item: dict[str, Any]) -> Connection:
    """A connection from its raw item (as get_item or batch_get_item return it)."""
    return _from_item(item)


def get(tenant_id: str, connection_id: str) -> Connection:
    table, key = locate(tenant_id, connection_id)
    found = ddb().get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    if not found:
        # Same answer whether the connection is missing or another tenant's: nothing leaks.
        raise NotFound(f"connection {connection_id} not found")
    return _from_item(found)


def list_for_tenant(tenant_id: str) -> list[Connection]:
    items = query_all(
        TableName=get_settings().connections_table,
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues=values({":t": tenant_id}),
    )
    return [_from_data(i) for i in items]


def scan_all() -> Iterator[Connection]:
    """Every connection of every tenant: the operator's view (`ledgerbridge operator tenants`), never a
    request's path (a scan reads the whole table)."""
    start = None
    while True:
        page = ddb().scan(TableName=get_settings().connections_table,
                          **({"ExclusiveStartKey": start} if start else {}))
        yield from (_from_item(item) for item in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def delete(tenant_id: str, connection_id: str) -> None:
    ddb().delete_item(
        TableName=get_settings().connections_table,
        Key=values({"tenant_id": tenant_id, "connection_id": connection_id}),
    )


@dataclass(frozen=True)
class DueConnection:
    """One entry of the ``due`` index: enough to hand the connection out and plan its next run."""

    tenant_id: str
    connection_id: str
    due_at: datetime
    rule: str  # the schedule's frequency, hour and zone as projected (TransferSchedule JSON)

    @property
    def schedule(self) -> TransferSchedule:
        return TransferSchedule.model_validate_json(self.rule)


def due_in_shard(shard: int, now: datetime, page_size: int = 1000) -> Iterator[DueConnection]:
    """Connections of one shard whose next run is at or before ``now``, oldest due first, page by
    page (a query, never a scan). The index is eventually consistent: ``advance_due`` re-checks."""
    kwargs: dict[str, Any] = dict(
        TableName=get_settings().connections_table,
        IndexName="due",
        KeyConditionExpression="due_shard = :s AND next_run_at <= :now",
        ExpressionAttributeValues=values({":s": f"due#{shard}", ":now": now.isoformat()}),
        Limit=page_size,
    )
    while True:
        page = ddb().query(**kwargs)
        for raw in page.get("Items", []):
            item = from_item(raw)
            if "due_rule" not in item:
                continue  # written before the rule was projected; its next write adds it
            yield DueConnection(item["tenant_id"], item["connection_id"],
                                datetime.fromisoformat(item["next_run_at"]), item["due_rule"])
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def due(now: datetime) -> list[DueConnection]:
    """Every due connection, shard after shard (for tools and tests; the scheduler pages)."""
    return [entry for shard in range(DUE_SHARDS) for entry in due_in_shard(shard, now)]


# TransactWriteItems takes at most 100 actions.
ADVANCE_BATCH = 100


def advance_due(entries: list[DueConnection], planned_at: datetime, next_of: Callable[[DueConnection], datetime],
                attempts: int = 4) -> tuple[int, int]:
    """Plan the next run of connections whose "connection due" message was sent: ``next_run_at``
    moves from the due time that was handed out to ``next_of(entry)``, ``last_run_at`` to
    ``planned_at``, ``revision`` up by one. Each is conditional on the connection still being due
    at that very time with that rule, so a second scheduler invocation, or a schedule saved
    meanwhile, is never overwritten and a due time is advanced at most once.

    Up to 100 per TransactWriteItems (one call instead of 100). A transaction is all or nothing:
    items whose condition failed (advanced or rescheduled by someone else) are dropped, the rest
    are tried again. Returns (advanced, not advanced); one not advanced stays due and is handed
    out again by the next invocation, where the worker's idempotency expands it once.
    """
    table = get_settings().connections_table
    advanced = skipped = 0
    for start in range(0, len(entries), ADVANCE_BATCH):
        pending = entries[start:start + ADVANCE_BATCH]
        for attempt in range(attempts):
            if not pending:
                break
            actions = [{"Update": {
                "TableName": table,
                "Key": values({"tenant_id": e.tenant_id, "connection_id": e.connection_id}),
                "UpdateExpression": "SET next_run_at = :next, last_run_at = :planned, revision = revision + :one",
                "ConditionExpression": "next_run_at = :due AND due_rule = :rule",
                "ExpressionAttributeValues": values({":next": next_of(e).isoformat(),
                                                     ":planned": planned_at.isoformat(), ":one": 1,
                                                     ":due": e.due_at.isoformat(), ":rule": e.rule}),
            }} for e in pending]
            try:
                ddb().transact_write_items(TransactItems=actions)
                advanced += len(pending)
                pending = []
            except Exception as exc:
                reasons = getattr(exc, "response", {}).get("CancellationReasons")
                if not reasons or len(reasons) != len(pending):
                    if attempt == attempts - 1:
                        raise
                    continue  # throttled or an internal error: the same transaction again
                # Condition failed: someone else moved it on; anything else (a conflict with a
                # concurrent write, "None" = cancelled only because of the others): try again.
                kept = [e for e, r in zip(pending, reasons, strict=True)
                        if r.get("Code") != "ConditionalCheckFailed"]
                skipped += len(pending) - len(kept)
                pending = kept
        skipped += len(pending)
    return advanced, skipped
