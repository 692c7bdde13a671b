"""DynamoDB's conditional writes are atomic; moto's are not when requests arrive on several threads.

A conditional write in moto reads the item, evaluates the condition and writes, with no lock in
between, so two threads can both "win" a claim or a queued mark that DynamoDB would give to one.
The local runtime (moto's server answers each request on its own thread) and the tests that race
threads against moto in-process therefore run every DynamoDB request under one lock: what they
check is then the hub's logic, not moto's missing atomicity. Other services are left concurrent
(SQS long polls would otherwise hold the lock).
"""
from __future__ import annotations

import threading

_lock = threading.RLock()


def serialize_dynamodb() -> None:
    """Make moto's DynamoDB handle one request at a time in this process; idempotent."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, "serialized", False):
        return

    def call_action(self):  # type: ignore[no-untyped-def]
        with _lock:
            return original(self)

    call_action.serialized = True  # type: ignore[attr-defined]
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
