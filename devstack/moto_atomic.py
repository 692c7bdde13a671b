"""DynamoDB's conditional writes are atomic, and S3 takes concurrent writes of one key; moto does
neither when requests arrive on several threads.

A conditional write in moto reads the item, evaluates the condition and writes, with no lock in
between, so two threads can both "win" a claim or a queued mark that DynamoDB would give to one.
The local runtime (moto's server answers each request on its own thread) and the tests that race
threads against moto in-process therefore run every DynamoDB request under one lock: what they
check is then the hub's logic, not moto's missing atomicity. Likewise S3 object requests: two
concurrent PutObjects of one key (two identical first sends of a settlement) make moto close the
buffer the other is still reading ("I/O operation on closed file", a 500 S3 never gives). SQS is
left concurrent (its long polls would otherwise hold a lock).
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


_s3_lock = threading.RLock()


def serialize_s3_objects() -> None:
    """Make moto's S3 handle one object request at a time in this process; idempotent."""
    from moto.s3.responses import S3Response

    original = S3Response.key_response
    if getattr(original, "serialized", False):
        return

    def key_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with _s3_lock:
            return original(self, *args, **kwargs)

    key_response.serialized = True  # type: ignore[attr-defined]
    S3Response.key_response = key_response  # type: ignore[method-assign]
