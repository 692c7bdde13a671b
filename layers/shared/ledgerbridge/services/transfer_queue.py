"""The transfer queue: jobs (bookings, runs, connections due, sync work) onto SQS, ten per batch.

A module of its own so that every service that queues work (transfers, runs) calls one sender
without importing the others.
"""
from __future__ import annotations

from .. import aws
from ..models.documents import ConnectionDueJob, RunJob, TransferJob
from ..models.sync import SyncJob
from ..settings import get_settings


def enqueue(jobs: "list[TransferJob] | list[RunJob] | list[ConnectionDueJob] | list[SyncJob]") -> int:
    if not jobs:
        return 0
    queue_url = get_settings().transfer_queue_url
    sqs = aws.client("sqs")
    for start in range(0, len(jobs), 10):
        chunk = jobs[start:start + 10]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(chunk)
        ])
        if response.get("Failed"):
            # Surface it: the scheduler run fails and EventBridge/the caller retries; the
            # documents stay waiting, so nothing is lost.
            raise RuntimeError(f"SQS refused {len(response['Failed'])} transfer jobs: {response['Failed'][0]}")
    return len(jobs)
