"""Stand-ins for the two AWS event sources: the EventBridge schedule and the SQS -> Lambda poller.

The poller does what Lambda's SQS event source does: receive up to 10 messages, invoke the
worker with an SQS event, delete the messages not reported in batchItemFailures, and leave
the failed ones for SQS to redeliver (or dead-letter) after their visibility timeout.
"""
from __future__ import annotations

import hashlib
import random
import threading
import time
from typing import Any

from . import lambdas

WORKER = "TransferWorkerFunction"
SCHEDULER = "SchedulerFunction"


def sqs_batch_size(function: str = WORKER) -> int:
    """The BatchSize of the function's SQS event source in template.yaml (Lambda's default: 10)."""
    from . import template

    for event in (template.functions()[function]["Properties"].get("Events") or {}).values():
        if event["Type"] == "SQS":
            return int(event["Properties"].get("BatchSize", 10))
    return 10


class SqsPoller:
    """``redeliver_rate``: the chance that a message whose invocation succeeded is delivered again
    anyway (SQS delivers at least once; chaos runs turn this up)."""

    def __init__(self, sqs: Any, queue_url: str, queue_arn: str, region: str, concurrency: int = 2,
                 redeliver_rate: float = 0.0):
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.concurrency = concurrency
        self.batch_size = sqs_batch_size()
        self.redeliver_rate = redeliver_rate
        self.redelivered = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        self.batches = 0
        self.failures = 0

    def start(self) -> None:
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._loop, name=f"sqs-poller-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # keep the poller alive, as Lambda's would be
                print(f"[sqs-poller] {type(exc).__name__}: {exc}")
                time.sleep(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        with self._lock:
            self._busy += 1
        try:
            event = {"Records": [self._record(m) for m in messages]}
            result = lambdas.invoke(WORKER, event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            self.batches += 1
            self.failures += len(failed)
            done = [m for m in messages if m["MessageId"] not in failed]
            if self.redeliver_rate:
                again = [m for m in done if random.random() < self.redeliver_rate]
                for m in again:  # delivered once more, as at-least-once delivery may
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=0)
                self.redelivered += len(again)
                done = [m for m in done if m not in again]
            for start in range(0, len(done), 10):
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])
                ])
            return len(messages)
        finally:
            with self._lock:
                self._busy -= 1

    def _record(self, message: dict) -> dict:
        return {
            "messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": {
                "ApproximateReceiveCount": message.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                "SentTimestamp": message.get("Attributes", {}).get("SentTimestamp", str(int(time.time() * 1000))),
                "SenderId": "local", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
            },
            "messageAttributes": {}, "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs", "eventSourceARN": self.queue_arn, "awsRegion": self.region,
        }


class Schedule:
    """Invokes the scheduler function every ``interval`` seconds, like the EventBridge rule."""

    def __init__(self, interval: float | None):
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self, at: str | None = None) -> dict:
        """Invoke the scheduler now, or as if EventBridge fired at ``at`` (ISO time)."""
        return lambdas.invoke(SCHEDULER, {
            "version": "0", "id": "local", "detail-type": "Scheduled Event", "source": "aws.scheduler",
            "account": "000000000000", "time": at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": "eu-north-1", "resources": [], "detail": {},
        })

    def start(self) -> None:
        if not self.interval:
            return
        self._thread = threading.Thread(target=self._loop, name="schedule", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:
                print(f"[schedule] {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        self._stop.set()
