"""The sync table: the mapping (source id <-> vendor key) with each side's last values, and the changes feed.

- A record: pk ``<tenant>#<connection>#<kind>``, sk the source's id; ``vendor_key`` (GSI ``vendor_key``:
  a vendor notification names the vendor's key) and the body (``SyncRecord`` as JSON).
- The changes feed: pk ``<tenant>#<connection>#<kind>#changes``, sk a 12-digit sequence number (the
  cursor), TTL ``expires_at``; the counter is the item ``#seq`` of the same partition (it sorts before
  every number, so a query "after cursor" never reads it). Numbers are taken and written under the
  connection's sync lease, so a reader that has seen number n has seen every number before it.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import Field

from ..models.common import LazyModel, utcnow
from ..models.sync import RecordChange, RecordKind
from ..money import exact_json
from ..settings import get_settings
from .dynamo import ddb, from_item, to_item, values

FEED_KEEP_SECONDS = 30 * 24 * 3600
CURSOR_DIGITS = 12


class SyncRecord(LazyModel):
    """One source record's sync state. Field values are canonical (domain.master_data.canonical)."""

    source_id: str
    vendor_key: str | None = None
    tagged: bool = True
    source_fields: dict[str, Any] = Field(default_factory=dict)
    source_hash: str | None = None
    # The source's values as last written to the vendor: which fields the source changed since.
    source_synced: dict[str, Any] | None = None
    # The vendor's record as last seen or written: its carried fields, and the whole row (a vendor
    # whose update replaces the record, as Uniconta's does, needs every field it did not change).
    vendor_fields: dict[str, Any] | None = None
    vendor_row: dict[str, Any] | None = None
    pending: bool = False
    full: bool = True  # write every source-mastered value next time (new, or tagged again)
    last_error: str | None = None
    synced_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


def partition(tenant_id: str, connection_id: str, kind: RecordKind) -> str:
    return f"{tenant_id}#{connection_id}#{kind.value}"


def _table() -> str:
    return get_settings().sync_table


def _encode(record: SyncRecord) -> str:
    return exact_json(record.model_dump(mode="python", exclude={"updated_at", "synced_at"}) | {
        "updated_at": record.updated_at.isoformat(),
        "synced_at": record.synced_at.isoformat() if record.synced_at else None}, money=False).decode()


def _decode(body: str) -> SyncRecord:
    from decimal import Decimal

    return SyncRecord.model_validate(json.loads(body, parse_float=Decimal))


def get_many(tenant_id: str, connection_id: str, kind: RecordKind, source_ids: Iterable[str]) -> dict[str, SyncRecord]:
    pk = partition(tenant_id, connection_id, kind)
    wanted = list(dict.fromkeys(source_ids))
    found: dict[str, SyncRecord] = {}
    table = _table()
    for start in range(0, len(wanted), 100):
        keys = [values({"pk": pk, "sk": source_id}) for source_id in wanted[start:start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(10):
            answer = ddb().batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                record = _decode(item["body"]["S"])
                found[record.source_id] = record
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("DynamoDB left keys unprocessed ten times")
    return found


def get(tenant_id: str, connection_id: str, kind: RecordKind, source_id: str) -> SyncRecord | None:
    return get_many(tenant_id, connection_id, kind, [source_id]).get(source_id)


def by_vendor_key(tenant_id: str, connection_id: str, kind: RecordKind, vendor_key: str) -> SyncRecord | None:
    answer = ddb().query(TableName=_table(), IndexName="vendor_key",
                         KeyConditionExpression="pk = :pk AND vendor_key = :k",
                         ExpressionAttributeValues=values({":pk": partition(tenant_id, connection_id, kind),
                                                           ":k": vendor_key}))
    items = answer.get("Items") or []
    if not items:
        return None
    # A GSI is eventually consistent: read the record itself.
    return get(tenant_id, connection_id, kind, items[0]["sk"]["S"])


def put_many(tenant_id: str, connection_id: str, kind: RecordKind, records: Iterable[SyncRecord]) -> None:
    pk = partition(tenant_id, connection_id, kind)
    table = _table()
    items = [{"PutRequest": {"Item": to_item({"pk": pk, "sk": r.source_id, "vendor_key": r.vendor_key,
                                               "pending": r.pending or None, "tagged": r.tagged,
                                               "failed": True if r.last_error else None,
                                               "body": _encode(r)})}} for r in records]
    for start in range(0, len(items), 25):
        request: dict[str, Any] = {table: items[start:start + 25]}
        for _ in range(10):
            request = ddb().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("DynamoDB left writes unprocessed ten times")


def put(tenant_id: str, connection_id: str, kind: RecordKind, record: SyncRecord) -> None:
    put_many(tenant_id, connection_id, kind, [record])


def scan_partition(tenant_id: str, connection_id: str, kind: RecordKind) -> Iterable[SyncRecord]:
    """Every record of the connection and kind, page by page (a check, the counts)."""
    kwargs: dict[str, Any] = dict(TableName=_table(), KeyConditionExpression="pk = :pk", ConsistentRead=True,
                                  ExpressionAttributeValues=values({":pk": partition(tenant_id, connection_id,
                                                                                     kind)}))
    while True:
        page = ddb().query(**kwargs)
        for item in page.get("Items", []):
            yield _decode(item["body"]["S"])
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def counts(tenant_id: str, connection_id: str, kind: RecordKind) -> dict[str, int]:
    """Records by sync state (synced, pending, failed, untagged), from the small top-level attributes."""
    found: dict[str, int] = {}
    kwargs: dict[str, Any] = dict(TableName=_table(), KeyConditionExpression="pk = :pk",
                                  ProjectionExpression="tagged, pending, failed",
                                  ExpressionAttributeValues=values({":pk": partition(tenant_id, connection_id, kind)}))
    while True:
        page = ddb().query(**kwargs)
        for item in page.get("Items", []):
            state = ("untagged" if not item.get("tagged", {}).get("BOOL", True) else "failed" if "failed" in item
                     else "pending" if "pending" in item else "synced")
            found[state] = found.get(state, 0) + 1
        if not page.get("LastEvaluatedKey"):
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete_partition(tenant_id: str, connection_id: str) -> None:
    for kind in RecordKind:
        for pk in (partition(tenant_id, connection_id, kind), _feed(tenant_id, connection_id, kind)):
            kwargs: dict[str, Any] = dict(TableName=_table(), KeyConditionExpression="pk = :pk",
                                          ProjectionExpression="pk, sk", ExpressionAttributeValues=values({":pk": pk}))
            while True:
                page = ddb().query(**kwargs)
                for item in page.get("Items", []):
                    ddb().delete_item(TableName=_table(), Key={"pk": item["pk"], "sk": item["sk"]})
                if not page.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# -- the changes feed --------------------------------------------------------------------------


def _feed(tenant_id: str, connection_id: str, kind: RecordKind) -> str:
    return partition(tenant_id, connection_id, kind) + "#changes"


def format_cursor(number: int) -> str:
    return str(number).zfill(CURSOR_DIGITS)


def append_changes(tenant_id: str, connection_id: str, kind: RecordKind, changes: list[dict[str, Any]]) -> list[RecordChange]:
    """Number and store changes (call under the connection's sync lease: see the module's note)."""
    if not changes:
        return []
    pk = _feed(tenant_id, connection_id, kind)
    answer = ddb().update_item(TableName=_table(), Key=values({"pk": pk, "sk": "#seq"}),
                               UpdateExpression="ADD seq :n", ExpressionAttributeValues=values({":n": len(changes)}),
                               ReturnValues="UPDATED_NEW")
    last = int(answer["Attributes"]["seq"]["N"])
    stored = []
    expires = int(time.time()) + FEED_KEEP_SECONDS
    for offset, change in enumerate(changes):
        entry = RecordChange.model_validate({**change, "cursor": format_cursor(last - len(changes) + 1 + offset),
                                             "kind": kind})
        ddb().put_item(TableName=_table(), Item=to_item({
            "pk": pk, "sk": entry.cursor, "expires_at": expires,
            "body": exact_json(entry.model_dump(mode="python") | {"changed_at": entry.changed_at.isoformat()},
                               money=False).decode()}))
        stored.append(entry)
    return stored


def read_changes(tenant_id: str, connection_id: str, kind: RecordKind, cursor: str, limit: int) -> tuple[list[RecordChange], bool]:
    from decimal import Decimal

    answer = ddb().query(TableName=_table(), KeyConditionExpression="pk = :pk AND sk > :c", ConsistentRead=True,
                         Limit=limit, ExpressionAttributeValues=values({":pk": _feed(tenant_id, connection_id, kind),
                                                                       ":c": cursor}))
    entries = [RecordChange.model_validate(json.loads(from_item(i)["body"], parse_float=Decimal))
               for i in answer.get("Items", [])]
    return entries, bool(answer.get("LastEvaluatedKey"))


def latest_changes(tenant_id: str, connection_id: str, kind: RecordKind, limit: int) -> list[RecordChange]:
    """The newest ``limit`` entries of the feed, newest first (the counter row sorts below every number)."""
    from decimal import Decimal

    answer = ddb().query(TableName=_table(), KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                         ScanIndexForward=False, Limit=limit,
                         ExpressionAttributeValues=values({":pk": _feed(tenant_id, connection_id, kind),
                                                           ":lo": "0" * 12, ":hi": "9" * 12}))
    return [RecordChange.model_validate(json.loads(from_item(i)["body"], parse_float=Decimal))
            for i in answer.get("Items", [])]
