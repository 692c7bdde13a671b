"""Short-lived, single-use OAuth records: ``state`` values bound to one connection and one browser,
and the tickets that start a flow in that browser. Consumed by a conditional delete; expiring."""
from __future__ import annotations

import time

from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, to_item, values


def put(key: str, data: dict, *, ttl_seconds: int) -> None:
    ddb().put_item(
        TableName=get_settings().oauth_states_table,
        Item=to_item({**data, "state": key, "expires_at": int(time.time()) + ttl_seconds}),
        ConditionExpression="attribute_not_exists(#s)",
        ExpressionAttributeNames={"#s": "state"},
    )


def peek(key: str) -> dict | None:
    """Read a record without consuming it; None when unknown or expired."""
    item = ddb().get_item(TableName=get_settings().oauth_states_table, Key=values({"state": key}),
                          ConsistentRead=True).get("Item")
    record = from_item(item) if item else None
    if not record or int(record["expires_at"]) < time.time():
        return None
    return record


def consume(state: str) -> dict | None:
    """Delete and return the record; None when unknown, already used, or expired.

    DynamoDB's TTL deletes lazily, so expiry is also checked here.
    """
    try:
        response = ddb().delete_item(
            TableName=get_settings().oauth_states_table,
            Key=values({"state": state}),
            ConditionExpression="attribute_exists(#s)",
            ExpressionAttributeNames={"#s": "state"},
            ReturnValues="ALL_OLD",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return None
        raise
    record = from_item(response.get("Attributes", {}))
    if not record or int(record["expires_at"]) < time.time():
        return None
    return record
