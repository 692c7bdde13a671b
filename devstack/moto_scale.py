"""moto at the scheduler's scale: costs per call as AWS has them, not O(table) or O(queue).

Used by the scheduler's bench and tests (10,000 connections handed out in one invocation).

1. TransactWriteItems: moto backs up every table a transaction touches with ``copy.deepcopy(table)`` before it starts (to
roll back on a cancelled transaction), so one transaction costs O(table): the scheduler advancing
10,000 connections in transactions of 100 would cost 100 copies of a 10,000-item table in moto,
a quadratic artefact DynamoDB does not have. This backs up only the items the transaction names
and restores those on failure; moto's own code does everything else (conditions, cancellation
reasons, writes), so the answers are moto's.
2. SendMessage(Batch): moto reads the queue's attributes for every message sent (to see whether
   content-based deduplication is on), and that computes the approximate message counts over every
   message in the queue: sending 10,000 messages costs 50 million visibility checks. While a
   message is being sent the counts read as 0 (the send uses nothing else of them).
"""
from __future__ import annotations

import copy
import threading
from typing import Any


def at_scale() -> None:
    """Both patches; idempotent."""
    cheap_transactions()
    cheap_sends()


_sending = threading.local()


def cheap_sends() -> None:
    """Patch moto's SQS backend in this process; idempotent."""
    from moto.sqs.models import SQSBackend, Queue

    original = SQSBackend.send_message
    if getattr(original, "cheap", False):
        return

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _sending.active = False

    for name in ("approximate_number_of_messages", "approximate_number_of_messages_not_visible",
                 "approximate_number_of_messages_delayed"):
        counted = getattr(Queue, name).fget
        setattr(Queue, name, property(lambda queue, counted=counted: 0 if getattr(_sending, "active", False)
                                      else counted(queue)))
    send_message.cheap = True  # type: ignore[attr-defined]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]


class _NoTableCopy:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: a Table is not copied."""

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def cheap_transactions() -> None:
    """Patch moto's DynamoDB backend in this process; idempotent."""
    from moto.dynamodb import models
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    if getattr(original, "cheap", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = []
        for action in transact_items:
            op = next(iter(action.values()))
            table = self.get_table(op["TableName"])
            source = op.get("Item") or op["Key"]
            key = {table.hash_key_attr: source[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = source[table.range_key_attr]
            item = self.get_item(op["TableName"], key)
            saved.append((op["TableName"], key, copy.deepcopy(item.to_json()["Attributes"]) if item else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table_name, key, attributes in saved:  # all or nothing, as DynamoDB
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    transact_write_items.cheap = True  # type: ignore[attr-defined]
    models.copy = _NoTableCopy()  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
