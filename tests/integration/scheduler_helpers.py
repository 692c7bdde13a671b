"""The scheduler and the workers' planning of what it handed out, for tests that count jobs.

Since the scheduler fans out (one "connection due" message per due connection, planned by a
worker), "how many jobs did this scheduled run queue" is the scheduler plus the planning of its
messages. ``plan_handed_out`` plays the SQS event source for the "connection due" messages only,
through the real worker handler (its idempotency included), and counts the jobs they queued.
"""
from __future__ import annotations

import json
import os
from datetime import datetime

from devstack import lambdas

from .test_worker_exactly_once import sqs_event


def queued_messages(session) -> int:
    attrs = session.client("sqs").get_queue_attributes(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"],
                                                       AttributeNames=["All"])["Attributes"]
    return sum(int(attrs[k]) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                       "ApproximateNumberOfMessagesDelayed"))


def plan_handed_out(session) -> dict:
    """Run every queued "connection due" message through the worker; put other messages back.
    Returns {"planned": messages worked, "jobs": document/run jobs they queued}."""
    sqs = session.client("sqs")
    url = os.environ["LB_TRANSFER_QUEUE_URL"]
    before = queued_messages(session)
    received: dict[str, dict] = {}
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                    AttributeNames=["All"]).get("Messages", [])
        if not batch:
            break
        # By message id: moto hands a message out more than once while hundreds are queued.
        received.update((m["MessageId"], m) for m in batch)
    due, others = [], []
    for message in received.values():
        (due if json.loads(message["Body"]).get("type") == "connection_due" else others).append(message)
    for message in others:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    for start in range(0, len(due), 10):
        chunk = due[start:start + 10]
        context = lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=30)
        result = lambdas.handler("TransferWorkerFunction")(sqs_event(chunk), context)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        assert not failed, f"planning failed for {len(failed)} connection(s)"
        for message in chunk:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return {"planned": len(due), "jobs": queued_messages(session) - (before - len(due))}


def schedule(session, now: datetime) -> dict:
    """The scheduler fires at ``now`` and the workers plan what it handed out:
    {"connections": handed out, "jobs": jobs queued by the planning}."""
    from ledgerbridge.services.scheduling import run_due

    summary = run_due(now)
    return {"connections": summary["connections"], "jobs": plan_handed_out(session)["jobs"]}
