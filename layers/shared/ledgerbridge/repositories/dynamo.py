"""Thin helpers over the low-level DynamoDB client (cheaper to build than boto3.resource)."""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from .. import aws


@lru_cache(maxsize=1)
def _serializer():
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    serializer, _ = _serializer()
    return {k: serializer.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    _, deserializer = _serializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def values(data: dict[str, Any]) -> dict[str, Any]:
    serializer, _ = _serializer()
    return {k: serializer.serialize(v) for k, v in data.items()}


def ddb():
    return aws.client("dynamodb")


def is_conditional_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


def query_all(**kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = ddb().query(**kwargs)
        items.extend(from_item(i) for i in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return items
        kwargs["ExclusiveStartKey"] = last


def get_many(requests: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any] | None]:
    """Strongly consistent reads of items in one or more tables, in one BatchGetItem where DynamoDB
    takes them all (two items of two tables: one call instead of two). ``requests`` are (table, key)
    pairs, keys as the low-level client takes them; the raw items come back in the same order, None
    where there is none. Keys DynamoDB leaves unprocessed (throttling) are asked for again."""
    wanted: dict[str, dict[str, Any]] = {}
    for table, key in requests:
        wanted.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
    found: dict[str, list[dict[str, Any]]] = {}
    for attempt in range(8):
        answer = ddb().batch_get_item(RequestItems=wanted)
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        wanted = answer.get("UnprocessedKeys") or {}
        if not wanted:
            break
        time.sleep(min(0.05 * 2 ** attempt, 1.0))
    else:
        raise RuntimeError("DynamoDB left keys unprocessed after 8 attempts")

    def matches(item: dict[str, Any], key: dict[str, Any]) -> bool:
        return all(item.get(name) == value for name, value in key.items())

    return [next((item for item in found.get(table, []) if matches(item, key)), None) for table, key in requests]
