"""The scheduler at scale: it only pages the sharded ``due`` index and hands each due connection out
as one small "connection due" message (ten per SQS call); the worker plans each connection.

What must hold whatever happens to the scheduler: every due connection is handed out, none is
skipped, and each is planned once per due time — when the scheduler is cut off mid-way (before,
during or after sending), when it runs twice (EventBridge's retry, a replayed event) or twice at
once, and when a connection is rescheduled while being handed out. Calls are counted with
botocore's event hooks on the layer's own clients.
"""
from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.scheduler_helpers import plan_handed_out

DUE = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)  # 04:00 in Oslo: the default run hour
NOW = DUE + timedelta(minutes=2)  # the EventBridge tick that finds them due
N = 150  # two rounds of hand-out (100 + 50); moto's SQS receive slows down past a few hundred


def _create(n: int, *, due_at: datetime = DUE, frequency: str = "daily", prefix: str = "con") -> list[tuple[str, str]]:
    """``n`` connected connections of several tenants, next run at ``due_at``, written as the API
    writes them (repositories.connections.create)."""
    from ledgerbridge.models.connection import Connection, ConnectionStatus, TransferSchedule
    from ledgerbridge.repositories import connections as store

    keys = []
    for i in range(n):
        tenant_id, connection_id = f"tenant-{i % 7}", f"{prefix}_{i:05d}"
        store.create(Connection(tenant_id=tenant_id, connection_id=connection_id, vendor="visma_eaccounting",
                                name=f"Shop {i}", status=ConnectionStatus.CONNECTED,
                                schedule=TransferSchedule(frequency=frequency),
                                next_run_at=None if frequency == "never" else due_at))
        keys.append((tenant_id, connection_id))
    return keys


@pytest.fixture(autouse=True)
def _transactions_at_dynamodb_cost():
    from devstack.moto_scale import at_scale

    at_scale()  # a transaction costs its items, a send its messages (see the module)


@pytest.fixture
def calls(aws):
    """AWS calls the layer makes, per service and operation (botocore's before-call event)."""
    from ledgerbridge import aws as layer_aws

    counted: Counter = Counter()

    def count(model, **_):
        counted[f"{model.service_model.service_name}.{model.name}"] += 1

    for service in ("sqs", "dynamodb"):
        layer_aws.client(service).meta.events.register("before-call", count)
    return counted


@pytest.fixture
def planned(monkeypatch):
    """Every expansion the worker actually runs (not answered from idempotency): (tenant, connection,
    due time) -> its outcomes."""
    from ledgerbridge.services import transfers

    runs: dict[tuple, list[str]] = {}
    real = transfers.plan_due

    def plan_due(job, now=None):
        outcome = real(job, now)
        runs.setdefault((job.tenant_id, job.connection_id, job.due_at), []).append(outcome["outcome"])
        return outcome

    monkeypatch.setattr(transfers, "plan_due", plan_due)
    return runs


@pytest.fixture
def handed_out(aws) -> list[dict]:
    """Bodies of every "connection due" message sent (read from the SendMessageBatch calls:
    receiving hundreds of messages from moto is slow). Recorded last, after a test's hook that
    kills a call, so a killed call's messages are not recorded."""
    from ledgerbridge import aws as layer_aws

    bodies: list[dict] = []

    def record(params, **_):
        sent = [json.loads(entry["MessageBody"]) for entry in params["Entries"]]
        bodies.extend(body for body in sent if body.get("type") == "connection_due")

    layer_aws.client("sqs").meta.events.register_last("before-parameter-build.sqs.SendMessageBatch", record)
    return bodies


def _keys(bodies: list[dict]) -> Counter:
    return Counter((b["tenant_id"], b["connection_id"]) for b in bodies)


def _due_keys(now: datetime = NOW) -> set[tuple[str, str]]:
    from ledgerbridge.repositories import connections as store

    return {(e.tenant_id, e.connection_id) for e in store.due(now)}


def _assert_planned_once(planned: dict, keys: list[tuple[str, str]]) -> None:
    assert set(planned) == {(t, c, DUE) for t, c in keys}, "every due connection planned"
    assert all(outcomes == ["planned"] for outcomes in planned.values()), \
        [k for k, v in planned.items() if v != ["planned"]][:5]


def test_the_due_index_is_spread_over_shards(aws):
    from ledgerbridge.repositories import connections as store

    keys = _create(N)
    items = aws.client("dynamodb").scan(TableName=os.environ["LB_CONNECTIONS_TABLE"])["Items"]
    per_shard = Counter(item["due_shard"]["S"] for item in items)
    assert set(per_shard) == {f"due#{k}" for k in range(store.DUE_SHARDS)}, per_shard
    assert max(per_shard.values()) <= 2 * N / store.DUE_SHARDS, per_shard
    assert all(store.due_shard(t, c) == store.due_shard(t, c) for t, c in keys)  # stable: no random salt
    assert all("schedule_group" not in item for item in items), "the old single partition key is gone"


def test_every_due_connection_is_handed_out_once_with_a_tenth_of_the_sqs_calls(aws, calls, planned, handed_out):
    from ledgerbridge.domain.schedule import next_run_after
    from ledgerbridge.repositories import connections as store
    from ledgerbridge.services.scheduling import run_due

    keys = _create(N)
    later = _create(5, due_at=NOW + timedelta(hours=1), prefix="later")
    _create(3, frequency="never", prefix="off")
    calls.clear()

    assert run_due(NOW) == {"connections": N, "advanced": N}
    assert calls == Counter({"sqs.SendMessageBatch": N // 10, "dynamodb.Query": store.DUE_SHARDS,
                             "dynamodb.TransactWriteItems": -(-N // store.ADVANCE_BATCH)}), \
        "no scan, no read per connection, ten messages per SQS call"
    assert sorted(_keys(handed_out).elements()) == sorted(keys)
    assert {(b["type"], b["due_at"]) for b in handed_out} == {("connection_due", "2026-11-24T03:00:00Z")}
    for tenant_id, connection_id in keys:
        connection = store.get(tenant_id, connection_id)
        assert connection.next_run_at == next_run_after(connection.schedule, NOW) > NOW
        assert connection.last_run_at == NOW and connection.revision == 1, "advanced once, seen by writers"
    assert all(store.get(t, c).next_run_at == NOW + timedelta(hours=1) for t, c in later), "not due: untouched"

    # A repeated event (EventBridge's retry, a replay) finds nothing due.
    calls.clear()
    assert run_due(NOW) == {"connections": 0, "advanced": 0}
    assert calls == Counter({"dynamodb.Query": store.DUE_SHARDS})

    assert plan_handed_out(aws)["planned"] == N
    _assert_planned_once(planned, keys)


@pytest.mark.parametrize("dies", ["while sending", "after sending, before advancing"])
def test_a_scheduler_cut_off_midway_leaves_the_rest_due_and_each_is_planned_once(aws, monkeypatch, planned,
                                                                                  handed_out, dies):
    from ledgerbridge import aws as layer_aws
    from ledgerbridge.repositories import connections as store
    from ledgerbridge.services import scheduling

    keys = _create(N)
    killed = RuntimeError("the scheduler's invocation was cut off")
    if dies == "while sending":
        sqs = layer_aws.client("sqs")
        sent = Counter()

        def die_on_the_thirteenth_call(**_):
            sent["calls"] += 1
            if sent["calls"] == 13:  # in the second round: 100 advanced, 20 sent but not advanced
                raise killed

        sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", die_on_the_thirteenth_call)
        expect_due, expect_sent = N - 100, 120
    else:
        real_advance = store.advance_due
        rounds = Counter()

        def advance_then_die(*args, **kwargs):
            rounds["n"] += 1
            if rounds["n"] == 2:  # the second round was sent, not advanced
                raise killed
            return real_advance(*args, **kwargs)

        monkeypatch.setattr(store, "advance_due", advance_then_die)
        expect_due, expect_sent = N - 100, N

    with pytest.raises(RuntimeError):
        scheduling.run_due(NOW)
    if dies == "while sending":
        sqs.meta.events.unregister("before-parameter-build.sqs.SendMessageBatch", die_on_the_thirteenth_call)
    else:
        monkeypatch.setattr(store, "advance_due", real_advance)
    still_due = _due_keys()
    assert len(still_due) == expect_due, "only connections whose message went out and was advanced left the index"
    assert len(handed_out) == expect_sent
    assert not still_due - set(keys) and set(_keys(handed_out)) | still_due == set(keys), \
        "nothing skipped: every connection was either handed out and advanced, or is still due"

    # The next invocation (EventBridge's retry or the next tick) hands out exactly what is still due.
    assert scheduling.run_due(NOW) == {"connections": expect_due, "advanced": expect_due}
    assert _due_keys() == set()
    assert set(_keys(handed_out)) == set(keys) and max(_keys(handed_out).values()) <= 2
    assert plan_handed_out(aws)["planned"] == len(handed_out)
    _assert_planned_once(planned, keys)


def test_two_scheduler_invocations_at_once_advance_each_connection_once_and_plan_it_once(aws, planned, handed_out):
    from ledgerbridge.repositories import connections as store
    from ledgerbridge.services.scheduling import run_due

    keys = _create(N)
    barrier = threading.Barrier(2)
    summaries: list[dict] = []
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            barrier.wait(5)
            summaries.append(run_due(NOW))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(summaries) == 2, errors
    assert sum(s["advanced"] for s in summaries) == N, summaries
    assert all(store.get(t, c).revision == 1 for t, c in keys), "no connection advanced twice"
    assert set(_keys(handed_out)) == set(keys) and max(_keys(handed_out).values()) <= 2
    assert len(handed_out) == sum(s["connections"] for s in summaries)
    assert plan_handed_out(aws)["planned"] == len(handed_out)
    _assert_planned_once(planned, keys)


def test_a_connection_rescheduled_while_handed_out_is_neither_overwritten_nor_planned(aws, monkeypatch, planned):
    from ledgerbridge.repositories import connections as store
    from ledgerbridge.services import scheduling

    keys = _create(20)
    moved_key = keys[7]
    real_advance = store.advance_due

    def reschedule_first(*args, **kwargs):
        # The user saves another run hour between the index read and the advance.
        def move(connection):
            connection.schedule = connection.schedule.model_copy(update={"run_at_hour": 6})
            connection.next_run_at = DUE + timedelta(hours=2)
        store.update(*moved_key, move)
        return real_advance(*args, **kwargs)

    monkeypatch.setattr(store, "advance_due", reschedule_first)
    assert scheduling.run_due(NOW) == {"connections": 20, "advanced": 19, "not_advanced": 1}
    moved = store.get(*moved_key)
    assert moved.next_run_at == DUE + timedelta(hours=2) and moved.schedule.run_at_hour == 6, "the save stands"
    plan_handed_out(aws)
    assert planned.pop((*moved_key, DUE)) == ["skipped"], "its run moved: not planned for the old time"
    assert all(outcomes == ["planned"] for outcomes in planned.values()) and len(planned) == 19


def test_the_scheduler_stops_before_its_timeout_and_leaves_the_rest_due(aws, handed_out):
    from ledgerbridge.services.scheduling import SCHEDULER_MARGIN_MS, run_due

    keys = _create(N)
    left = iter([SCHEDULER_MARGIN_MS + 5_000, SCHEDULER_MARGIN_MS - 1])
    summary = run_due(NOW, remaining_ms=lambda: next(left))
    assert summary == {"connections": 100, "advanced": 100, "stopped_early": True}
    assert len(_due_keys()) == N - 100 and len(handed_out) == 100
    assert run_due(NOW) == {"connections": N - 100, "advanced": N - 100}
    assert _due_keys() == set() and sorted(_keys(handed_out).elements()) == sorted(keys)
