"""Connections table: pk tenant_id, sk connection_id; sparse GSI ``due`` for the scheduler."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..errors import Conflict, NotFound
from ..models.common import utcnow
from ..models.connection import Connection, Frequency
from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, query_all, to_item, values

SCHEDULED = "scheduled"


def _to_item(connection: Connection) -> dict:
    data = {
        "tenant_id": connection.tenant_id,
        "connection_id": connection.connection_id,
        "revision": connection.revision,
        "body": connection.model_dump_json(),
    }
    # Only connections with a schedule appear in the sparse ``due`` index the scheduler queries.
    if connection.schedule.frequency != Frequency.NEVER and connection.next_run_at is not None:
        data["schedule_group"] = SCHEDULED
        data["next_run_at"] = connection.next_run_at.isoformat()
    return to_item(data)


def _from_item(item: dict) -> Connection:
    return Connection.model_validate_json(from_item(item)["body"])


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


def get(tenant_id: str, connection_id: str) -> Connection:
    found = ddb().get_item(
        TableName=get_settings().connections_table,
        Key=values({"tenant_id": tenant_id, "connection_id": connection_id}),
        ConsistentRead=True,
    ).get("Item")
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
    return [Connection.model_validate_json(i["body"]) for i in items]


def delete(tenant_id: str, connection_id: str) -> None:
    ddb().delete_item(
        TableName=get_settings().connections_table,
        Key=values({"tenant_id": tenant_id, "connection_id": connection_id}),
    )


def due(now: datetime, limit: int = 500) -> list[tuple[str, str]]:
    """(tenant_id, connection_id) of connections whose next run is at or before ``now``."""
    items = query_all(
        TableName=get_settings().connections_table,
        IndexName="due",
        KeyConditionExpression="schedule_group = :g AND next_run_at <= :now",
        ExpressionAttributeValues=values({":g": SCHEDULED, ":now": now.isoformat()}),
        Limit=limit,
    )
    return [(i["tenant_id"], i["connection_id"]) for i in items]
