"""Short leases in DynamoDB: a mutual-exclusion lock across Lambda containers (e.g. token refresh)."""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from ..settings import get_settings
from .dynamo import ddb, is_conditional_failure, to_item, values


class LeaseBusy(Exception):
    """Someone else holds the lease; ``retry_after``: seconds until it runs out at the latest."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


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


def _wanted_key(lease_id: str) -> dict:
    return values({"lease_id": f"{lease_id}#wanted"})


def announce_wait(lease_id: str, seconds: float) -> None:
    """Tell the holder that someone waits for this lease (see ``wanted``)."""
    now = time.time()
    ddb().put_item(TableName=get_settings().leases_table, Item=to_item({
        "lease_id": f"{lease_id}#wanted", "expires_at": int(now + seconds) + 1,
        "expires_at_ms": int((now + seconds) * 1000)}))


def wanted(lease_id: str) -> bool:
    """Someone is waiting for the lease: a holder that takes it again and again (a run going from
    company to company) should leave a gap long enough for the waiter's next poll."""
    item = ddb().get_item(TableName=get_settings().leases_table, Key=_wanted_key(lease_id)).get("Item")
    return bool(item) and int(item["expires_at_ms"]["N"]) > time.time() * 1000


@contextmanager
def held(lease_id: str, *, seconds: float = 30, wait: float = 20, poll: float = 0.05,
         keep_on: tuple[type[BaseException], ...] = (), announce: bool = False) -> Iterator[str]:
    """Hold the lease for the block, waiting up to ``wait`` seconds for another holder to finish
    (``announce``: and telling it so, see ``wanted``).

    If the block fails with one of ``keep_on``, the lease is not released but left to expire:
    for when something the block started may still be going on elsewhere (a vendor call that
    timed out), and the next holder must not start before it is surely over.
    """
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + wait
    announced = False
    while not try_acquire(lease_id, owner, seconds):
        if time.monotonic() > deadline:
            raise LeaseBusy(f"lease {lease_id} is held by another worker", retry_after=_seconds_left(lease_id))
        if announce and not announced:
            announce_wait(lease_id, wait)
            announced = True
        time.sleep(poll)
        poll = min(poll * 2, 0.5)
    if announced:
        ddb().delete_item(TableName=get_settings().leases_table, Key=_wanted_key(lease_id))
    try:
        yield owner
    except keep_on:
        raise
    except BaseException:
        release(lease_id, owner)
        raise
    else:
        release(lease_id, owner)


def _seconds_left(lease_id: str) -> float | None:
    item = ddb().get_item(TableName=get_settings().leases_table, Key=values({"lease_id": lease_id}),
                          ConsistentRead=True).get("Item")
    if not item or "expires_at_ms" not in item:
        return None
    return max(0.0, (int(item["expires_at_ms"]["N"]) - time.time() * 1000) / 1000)
