"""Daily call counters per vendor user, shared by every container (the Leases table, with TTL).

Uniconta counts 5,000 calls per user per day and slows every call past that for 24 hours, so the hub
counts its own calls per user and day in one DynamoDB item, and a call that would pass the hub's share
is not made: the conditional ADD decides, across all workers at once.
"""
from __future__ import annotations

import time

from ..settings import get_settings
from .dynamo import ddb, is_conditional_failure, values

KEEP_SECONDS = 3 * 24 * 3600  # a day's counter is kept a little past its day, then TTL removes it


def counter_id(vendor: str, user_key: str, day: str) -> str:
    return f"usage#{vendor}#{user_key}#{day}"


def spend(counter: str, calls: int, limit: int) -> int | None:
    """Count ``calls`` more if the day's total stays within ``limit``: the new total, else None (nothing counted)."""
    try:
        answer = ddb().update_item(
            TableName=get_settings().leases_table,
            Key=values({"lease_id": counter}),
            UpdateExpression="ADD calls :n SET expires_at = if_not_exists(expires_at, :e)",
            ConditionExpression="attribute_not_exists(calls) OR calls <= :room",
            ExpressionAttributeValues=values({":n": calls, ":room": limit - calls,
                                              ":e": int(time.time()) + KEEP_SECONDS}),
            ReturnValues="UPDATED_NEW",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return None
        raise
    return int(answer["Attributes"]["calls"]["N"])


def used(counter: str) -> int:
    item = ddb().get_item(TableName=get_settings().leases_table, Key=values({"lease_id": counter})).get("Item")
    return int(item["calls"]["N"]) if item and "calls" in item else 0
