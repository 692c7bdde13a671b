"""Thin helpers over the low-level DynamoDB client (cheaper to build than boto3.resource)."""
from __future__ import annotations

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
