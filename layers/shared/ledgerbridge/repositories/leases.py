"""Short leases in DynamoDB: a mutual-exclusion lock across Lambda containers (e.g. token refresh)."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from ..settings import get_settings
from .dynamo import ddb, is_conditional_failure, to_item, values


class LeaseBusy(Exception):
    pass


def try_acquire(lease_id: str, owner: str, seconds: float) -> bool:
    now = time.time()
    try:
        ddb().put_item(
            TableName=get_settings().leases_table,
            Item=to_item({"lease_id": lease_id, "owner": owner, "expires_at": int(now + seconds) + 1,
                          "expires_at_ms": int((now + seconds) * 1000)}),
            ConditionExpression="attribute_not_exists(lease_id) OR expires_at_ms < :now",
            ExpressionAttributeValues=values({":now": int(now * 1000)}),
        )
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def renew(lease_id: str, owner: str, seconds: float) -> bool:
    """Extend a lease we hold; False if it is no longer ours (it expired and someone took it)."""
    now = time.time()
    try:
        ddb().update_item(
            TableName=get_settings().leases_table,
            Key=values({"lease_id": lease_id}),
            UpdateExpression="SET expires_at = :e, expires_at_ms = :ems",
            ConditionExpression="#o = :o AND expires_at_ms >= :now",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=values({":o": owner, ":now": int(now * 1000),
                                              ":e": int(now + seconds) + 1, ":ems": int((now + seconds) * 1000)}),
        )
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def release(lease_id: str, owner: str) -> None:
    try:
        ddb().delete_item(
            TableName=get_settings().leases_table,
            Key=values({"lease_id": lease_id}),
            ConditionExpression="#o = :o",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues=values({":o": owner}),
        )
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


@contextmanager
def held(lease_id: str, *, seconds: float = 30, wait: float = 20, poll: float = 0.05,
         keep_on: tuple[type[BaseException], ...] = ()) -> Iterator[str]:
    """Hold the lease for the block, waiting up to ``wait`` seconds for another holder to finish.

    If the block fails with one of ``keep_on``, the lease is not released but left to expire:
    for when something the block started may still be going on elsewhere (a vendor call that
    timed out), and the next holder must not start before it is surely over.
    """
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    while not try_acquire(lease_id, owner, seconds):
        if time.monotonic() > deadline:
            raise LeaseBusy(f"lease {lease_id} is held by another worker")
        time.sleep(poll)
        poll = min(poll * 2, 0.5)
    try:
        yield owner
    except keep_on:
        raise
    except BaseException:
        release(lease_id, owner)
        raise
    else:
        release(lease_id, owner)
