"""Transfer workers as processes that consume the queue themselves, as Lambda's workers do.

``python -m devstack.sqs_worker QUEUE_URL QUEUE_ARN`` loads the worker's handler (its own
imports, clients and caches: the init phase), then receives from the transfer queue on moto's
server, invokes the handler in this process with the SQS event and deletes what it did not
report failed (devstack.drivers.SqsPoller, one at a time). No parent process sits between the
queue and the handler: nothing is piped per message, and the processes share nothing but the
queue, DynamoDB and the vendor, as Lambda containers under one event source do. Used by the
benchmarks (``WorkerProcesses``); ``make run`` keeps the SQS poller + containers of
devstack/containers.py.

On the original stdout it answers one JSON line when ready and one per batch (messages, failed
records); the handler's own output goes to stderr. It stops when its stdin closes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from .template import ROOT

READY_TIMEOUT_SECONDS = 120


def main(queue_url: str, queue_arn: str) -> int:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the handler's prints (Powertools logs) go to stderr, never into the answers
    sys.stdout = os.fdopen(1, "w", buffering=1)

    import warnings

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    import boto3

    from . import lambdas
    from .drivers import WORKER, SqsPoller

    lambdas.handler(WORKER)  # the init phase, before the first message
    aws_calls: dict[str, int] = {}

    def count_call(model: Any, **_: Any) -> None:
        # Every AWS call the handler makes (all its clients come from ledgerbridge.aws's one session).
        name = f"{model.service_model.service_name}.{model.name}"
        aws_calls[name] = aws_calls.get(name, 0) + 1

    from ledgerbridge import aws as ledgerbridge_aws

    ledgerbridge_aws.session().events.register("before-call", count_call)
    region = os.environ["AWS_REGION"]
    sqs = boto3.session.Session(region_name=region).client("sqs", endpoint_url=os.environ["LB_AWS_ENDPOINT_URL"])
    poller = SqsPoller(sqs, queue_url, queue_arn, region, concurrency=1)
    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()  # EOF: the parent stopped (or died)
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    answers.write(json.dumps({"ready": os.getpid()}) + "\n")
    while not stop.is_set():
        failures = poller.failures
        try:
            received = poller.poll_once(wait_seconds=1)
        except Exception as exc:  # keep consuming, as Lambda's event source would
            print(f"[sqs-worker] {type(exc).__name__}: {exc}", file=sys.stderr)
            stop.wait(0.5)
            continue
        if received:
            answers.write(json.dumps({"messages": received, "failed": poller.failures - failures,
                                      "aws_calls": aws_calls}) + "\n")
    return 0


class WorkerProcesses:
    """``count`` worker processes on the transfer queue; stands in for DevStack's SqsPoller
    (``start``, ``stop``, ``busy``, ``failures``, ``batches``)."""

    def __init__(self, env: dict[str, str], queue_url: str, queue_arn: str, count: int):
        self.env = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
        self.queue_url, self.queue_arn, self.count = queue_url, queue_arn, count
        self.processes: list[subprocess.Popen] = []
        self.batches = self.failures = 0
        self._aws_calls: dict[int, dict[str, int]] = {}  # per process: its counts so far
        self._lock = threading.Lock()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    @property
    def busy(self) -> bool:
        # A message being worked on is in flight (not visible) until the worker deletes it, after
        # its follow-ups are sent: the queue's own counters (DevStack.drain) say when all is done.
        return False

    def start(self) -> None:
        for _ in range(self.count):
            process = subprocess.Popen([sys.executable, "-m", "devstack.sqs_worker", self.queue_url, self.queue_arn],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, cwd=str(ROOT),
                                       env=self.env, text=True)
            self.processes.append(process)
        for process in self.processes:  # all warm before the first message, as after a deploy
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line or "ready" not in json.loads(line):
                self.stop()
                raise RuntimeError(f"worker process {process.pid} did not start (exit code {process.poll()})")
            threading.Thread(target=self._follow, args=(process,), daemon=True).start()

    def _follow(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            report: dict[str, Any] = json.loads(line)
            with self._lock:
                self.batches += 1
                self.failures += report.get("failed", 0)
                self._aws_calls[process.pid] = report.get("aws_calls", {})

    def aws_calls(self) -> dict[str, int]:
        """AWS calls by service.operation that the handlers made so far, all processes together
        (the poller's own receive and delete are not in it: Lambda's event source makes those)."""
        total: dict[str, int] = {}
        with self._lock:
            for counts in self._aws_calls.values():
                for name, count in counts.items():
                    total[name] = total.get(name, 0) + count
        return total

    def stop(self) -> None:
        for process in self.processes:
            try:
                assert process.stdin is not None
                process.stdin.close()
            except OSError:
                pass
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes = []


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
