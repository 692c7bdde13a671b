"""python -m bench.scheduler (section ``sched`` of make bench): the scheduler with 1,000 / 5,000 /
10,000 due connections, in process against moto.

For each size, a fresh moto account with the template's tables and queue, N connected daily
connections due at the same time (several tenants, written as the API writes them), then one
scheduler invocation (``services.scheduling.run_due``, what the SchedulerFunction handler runs):

- AWS calls, counted on the layer's own clients with botocore's ``before-call`` event;
- wall and CPU time of the invocation, and the part of it spent inside moto (its botocore stub,
  timed), so the hub's own share shows apart from the emulator's;
- the floor, measured in the same run: bare boto3 sending the same N message bodies ten per
  SendMessageBatch to the same moto queue — what handing out N connections costs at the very least;
- per 1,000 connections, and the growth from the smallest size to the largest (linear: flat);
- the invocation against the function's Timeout (template.yaml), as measured here and as estimated
  for AWS from the call counts with a stated round-trip time per call (moto has no network).

Checks: every connection handed out once and advanced, at most N/10 SQS calls, no Scan and no read
per connection, growth per 1,000 within LINEAR_TOLERANCE, and the AWS estimate (the hub's own time,
i.e. the invocation without the time inside moto, plus the calls' round trips) within half the timeout.
"""
from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from bench.report import heading, table  # noqa: E402

SIZES = (1_000, 5_000, 10_000)
DUE = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)
NOW = DUE + timedelta(minutes=2)
LINEAR_TOLERANCE = 1.5
# Round trips in AWS (same region, warm connection), for the estimate only: moto has no network.
AWS_ROUND_TRIP_MS = {"sqs.SendMessageBatch": 15, "dynamodb.Query": 10, "dynamodb.TransactWriteItems": 40}
TENANTS = 97


class _MotoClock:
    """Time spent inside moto (its botocore stub answers every request in process)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def install(self) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        clock = self

        def timed(stub, *args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return original(stub, *args, **kwargs)
            finally:
                clock.wall += time.perf_counter() - wall
                clock.cpu += time.process_time() - cpu

        BotocoreStubber.__call__ = timed
        self._restore = lambda: setattr(BotocoreStubber, "__call__", original)

    def uninstall(self) -> None:
        self._restore()


def _environment() -> None:
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "eu-north-1", "AWS_DEFAULT_REGION": "eu-north-1", "LB_STAGE": "bench",
        "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "1",
        "POWERTOOLS_SERVICE_NAME": "ledgerbridge",
    })
    os.environ.pop("LB_AWS_ENDPOINT_URL", None)


def _connections(n: int):
    from ledgerbridge.models.connection import Connection, ConnectionStatus, TransferSchedule

    for i in range(n):
        yield Connection(tenant_id=f"tenant-{i % TENANTS:03d}", connection_id=f"con_{i:06d}",
                         vendor="visma_eaccounting", name=f"Shop {i}", status=ConnectionStatus.CONNECTED,
                         schedule=TransferSchedule(), next_run_at=DUE)


def one_size(n: int) -> dict:
    import boto3
    from moto import mock_aws

    from devstack import aws_resources, reset_process_caches
    from devstack.moto_speed import narrow_queries
    from devstack.moto_scale import at_scale

    narrow_queries()  # a query costs its partition, as in DynamoDB
    at_scale()  # a transaction costs its items, a send its messages, as in AWS
    with mock_aws():
        session = boto3.session.Session(region_name="eu-north-1")
        os.environ.update(aws_resources.create_all(session, None, prefix="bench", max_delivery_attempts=6))
        reset_process_caches()
        from ledgerbridge import aws as layer_aws
        from ledgerbridge.repositories import connections as store
        from ledgerbridge.repositories.connections import _to_item
        from ledgerbridge.services.scheduling import run_due

        ddb = session.client("dynamodb")
        table = os.environ["LB_CONNECTIONS_TABLE"]
        items = [_to_item(c) for c in _connections(n)]
        for start in range(0, n, 25):  # written as the API writes them (same item), 25 per call
            ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})

        # The floor: bare boto3 sends the same bodies, ten per call, to a queue of its own.
        from ledgerbridge.models.documents import ConnectionDueJob

        bodies = [ConnectionDueJob(tenant_id=c.tenant_id, connection_id=c.connection_id, due_at=DUE,
                                   planned_at=NOW).model_dump_json() for c in _connections(n)]
        sqs = session.client("sqs")
        floor_url = sqs.create_queue(QueueName="bench-floor")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=floor_url, Entries=[{"Id": "0", "MessageBody": "warm"}])
        floor_wall, floor_cpu = time.perf_counter(), time.process_time()
        for start in range(0, n, 10):
            sqs.send_message_batch(QueueUrl=floor_url, Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:start + 10])])
        floor = {"wall_s": time.perf_counter() - floor_wall, "cpu_s": time.process_time() - floor_cpu}

        calls: Counter = Counter()
        for service in ("sqs", "dynamodb"):
            layer_aws.client(service).meta.events.register(
                "before-call", lambda model, **_: calls.update([f"{model.service_model.service_name}.{model.name}"]))
        moto = _MotoClock()
        moto.install()
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            summary = run_due(NOW)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            moto.uninstall()
        calls_made = Counter(calls)  # the invocation's calls; the checks below make more

        queued = int(sqs.get_queue_attributes(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"],
                                              AttributeNames=["ApproximateNumberOfMessages"])
                     ["Attributes"]["ApproximateNumberOfMessages"])
        still_due = len(store.due(NOW))
        shards = Counter(i["due_shard"]["S"] for i in items)
    sqs_calls = sum(v for k, v in calls_made.items() if k.startswith("sqs."))
    ddb_calls = sum(v for k, v in calls_made.items() if k.startswith("dynamodb."))
    return {
        "n": n, "summary": summary, "calls": dict(calls_made), "sqs_calls": sqs_calls, "dynamodb_calls": ddb_calls,
        "wall_s": wall, "cpu_s": cpu, "moto_wall_s": moto.wall, "moto_cpu_s": moto.cpu,
        "hub_wall_s": wall - moto.wall, "hub_cpu_s": cpu - moto.cpu, "floor": floor,
        "messages_queued": queued, "still_due": still_due,
        "largest_shard": max(shards.values()), "shards": len(shards),
        "aws_estimate_s": (wall - moto.wall) + sum(AWS_ROUND_TRIP_MS.get(k, 10) * v for k, v in calls_made.items()) / 1000,
        "check": {"handed_out_once": summary == {"connections": n, "advanced": n} and queued == n and still_due == 0,
                  "sqs_calls_ok": sqs_calls <= -(-n // 10),
                  "no_scan_no_reads": not any(k in calls_made for k in ("dynamodb.Scan", "dynamodb.GetItem",
                                                                     "dynamodb.BatchGetItem"))},
    }


def run(sizes=SIZES) -> dict:
    from devstack import template

    _environment()
    timeout_s = int(template.functions()["SchedulerFunction"]["Properties"].get("Timeout", 3))
    rows = [one_size(n) for n in sizes]
    first, last = rows[0], rows[-1]

    def per_k(row: dict, key: str) -> float:
        return row[key] / row["n"] * 1000

    growth = {key: per_k(last, key) / per_k(first, key) for key in ("wall_s", "cpu_s", "hub_wall_s", "hub_cpu_s")}
    growth["dynamodb_calls"] = per_k(last, "dynamodb_calls") / per_k(first, "dynamodb_calls")
    growth["sqs_calls"] = per_k(last, "sqs_calls") / per_k(first, "sqs_calls")
    checks = {
        "every connection handed out once, none left due": all(r["check"]["handed_out_once"] for r in rows),
        "at most N/10 SQS calls": all(r["check"]["sqs_calls_ok"] for r in rows),
        "no scan, no read per connection": all(r["check"]["no_scan_no_reads"] for r in rows),
        f"linear: per-1,000 wall and CPU at {last['n']:,} within {LINEAR_TOLERANCE}x of {first['n']:,}":
            all(growth[k] <= LINEAR_TOLERANCE for k in ("wall_s", "cpu_s", "dynamodb_calls", "sqs_calls")),
        # moto's own time is left out: it parses every expression of every item in Python, work
        # DynamoDB and SQS do on their side (shown in the table, 'in moto').
        f"fits the {timeout_s} s timeout with room (AWS estimate < half)": last["aws_estimate_s"] < timeout_s / 2,
    }
    return {"rows": rows, "growth": growth, "timeout_s": timeout_s, "checks": checks,
            "ok": all(checks.values()), "round_trip_ms": AWS_ROUND_TRIP_MS}


def report(result: dict) -> str:
    rows, growth, timeout_s = result["rows"], result["growth"], result["timeout_s"]
    lines = [heading("10", "The scheduler: 1,000 / 5,000 / 10,000 due connections in one invocation", [
        "In process against moto (tables and queue of template.yaml); N connected daily connections of "
        f"{TENANTS} tenants due at once.",
        "run_due() as the SchedulerFunction runs it: pages the sharded `due` index, sends one \"connection due\" "
        "message per",
        "connection (ten per SendMessageBatch), advances each (conditional, 100 per TransactWriteItems). Calls "
        "counted with",
        "botocore's before-call hook on the layer's clients; 'in moto' = time inside moto's botocore stub; "
        "hub = the rest.",
        "Floor: bare boto3 sending the same N bodies ten per SendMessageBatch to moto, same run.",
    ])]
    body = []
    for r in rows:
        ops = ", ".join(f"{k.split('.')[1]} {v}" for k, v in sorted(r["calls"].items()))
        body.append([f"{r['n']:,}", r["sqs_calls"], r["dynamodb_calls"], ops,
                     f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", f"{r['moto_wall_s']:.2f}",
                     f"{r['wall_s'] / r['floor']['wall_s']:.1f}x"])
    lines.append(table(["connections", "SQS calls", "DynamoDB calls", "operations", "wall s", "CPU s",
                        "in moto s", "/floor"], body, "rrrlrrrr"))
    body = [[f"{r['n']:,}", f"{r['wall_s'] / r['n'] * 1000:.2f}", f"{r['cpu_s'] / r['n'] * 1000:.2f}",
             f"{r['hub_wall_s'] / r['n'] * 1000:.2f}", f"{r['hub_cpu_s'] / r['n'] * 1000:.2f}",
             f"{r['floor']['wall_s'] / r['n'] * 1000:.2f}", f"{r['largest_shard']} of {r['shards']} shards"]
            for r in rows]
    lines.append("")
    lines.append(table(["connections", "wall s / 1,000", "CPU s / 1,000", "hub wall / 1,000", "hub CPU / 1,000",
                        "floor wall / 1,000", "largest index partition"], body, "rrrrrrl"))
    last = rows[-1]
    trips = ", ".join(f"{k.split('.')[1]} {v} ms" for k, v in result["round_trip_ms"].items())
    lines.append("")
    lines.append(table(["figure", "value"], [
        [f"growth per 1,000, {rows[0]['n']:,} -> {last['n']:,}",
         f"wall {growth['wall_s']:.2f}x, CPU {growth['cpu_s']:.2f}x, hub CPU {growth['hub_cpu_s']:.2f}x, "
         f"DynamoDB calls {growth['dynamodb_calls']:.2f}x, SQS calls {growth['sqs_calls']:.2f}x (1.00 = linear)"],
        [f"invocation at {last['n']:,}, moto", f"{last['wall_s']:.1f} s of the {timeout_s} s timeout "
                                               f"({last['wall_s'] / timeout_s:.0%})"],
        [f"invocation at {last['n']:,}, AWS estimate", f"{last['aws_estimate_s']:.1f} s ({last['aws_estimate_s'] / timeout_s:.0%}); "
                                                      f"hub time + calls x round trip ({trips})"],
        ["before (issue 9, per the old design)", f"{last['n']:,} SQS calls, ~{5 * last['n']:,} DynamoDB calls, "
                                                 "10-17 min: past the timeout"],
        *[["check", ("OK: " if held else "FAILED: ") + name] for name, held in result["checks"].items()],
    ], "ll"))
    return "\n".join(lines)


def main() -> int:
    result = run()
    print(report(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
