"""Client-side pacing against eAccounting's sliding-window rate limit, on a simulated clock.

Several worker processes, each with its own share of the limit, send as fast as their buckets
let them; every request is counted by the Visma simulator's own rate limiter (the same code that
answers 429 when the stack runs). No window may refuse one, however long the run, and the
workers together must still get close to the vendor's ceiling.
"""
from __future__ import annotations

import heapq
import random

import pytest

from ledgerbridge.vendor_http import TokenBucket, window_pacing
from simulators.visma_eaccounting.state import SimulatorState

LIMIT, WINDOW = 600, 60  # eAccounting: 600 requests per client and endpoint in any minute
ENDPOINT = "POST /v2/vouchers"


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def greedy_send_times(processes: int, rate: float, burst: float, seconds: float, *, start_jitter: float = 0.0,
                      seed: int = 7) -> list[float]:
    """When each of ``processes`` workers sends, each sending as soon as its own bucket allows.

    Each worker has its own bucket and clock (a process of its own); a worker's sleep advances
    only its clock. Merged in time order.
    """
    rng = random.Random(seed)
    times: list[list[float]] = []
    for _ in range(processes):
        clock = SimulatedClock()
        clock.now = rng.uniform(0, start_jitter)

        def sleep(seconds_: float, clock: SimulatedClock = clock) -> None:
            clock.now += seconds_

        bucket = TokenBucket(rate, burst, clock=clock, sleep=sleep)
        sent: list[float] = []
        while clock.now < seconds:
            bucket.acquire()
            sent.append(clock.now)
        times.append(sent)
    return list(heapq.merge(*times))


def refusals_at_vendor(send_times: list[float], *, max_transit: float = 0.0, seed: int = 11) -> tuple[int, int]:
    """(accepted, refused) by the simulator's limiter; each request arrives 0..max_transit s after
    it was sent (latency, scheduling), so arrivals may bunch up closer than the sends."""
    rng = random.Random(seed)
    arrivals = sorted(t + rng.uniform(0, max_transit) for t in send_times)
    state = SimulatorState(users={})
    clock = SimulatedClock()
    state.clock = clock  # the limiter reads the simulator's clock
    accepted = refused = 0
    for arrival in arrivals:
        clock.now = arrival
        if state.rate_limit_wait("ledgerbridge", ENDPOINT, LIMIT):
            refused += 1
        else:
            accepted += 1
    return accepted, refused


@pytest.mark.parametrize("processes", [1, 2, 4, 5])
def test_workers_pacing_their_shares_never_exceed_the_vendors_window(processes):
    rate, burst = window_pacing(LIMIT, WINDOW, processes)
    sends = greedy_send_times(processes, rate, burst, seconds=300, start_jitter=5.0)
    accepted, refused = refusals_at_vendor(sends, max_transit=0.5)
    assert refused == 0
    # ... and the shares add up to nearly the whole ceiling (10 requests/s), not a timid fraction.
    steady = [t for t in sends if 60 <= t < 300]
    assert len(steady) / 240 >= 0.95 * LIMIT / WINDOW


def test_a_replaced_worker_does_not_push_a_window_over_the_limit():
    # Lambda may swap a worker's container: the new one starts with a full bucket while the old
    # one's requests are still inside the vendor's window.
    rate, burst = window_pacing(LIMIT, WINDOW, 4)
    old = greedy_send_times(4, rate, burst, seconds=90)
    new = [t + 90 for t in greedy_send_times(1, rate, burst, seconds=90, seed=3)]
    survivors = greedy_send_times(3, rate, burst, seconds=180, seed=5)
    sends = sorted([t for t in old if t < 90] + new + [t for t in survivors if t >= 90])
    assert refusals_at_vendor(sends, max_transit=0.5)[1] == 0


def test_the_former_pacing_overshoots_a_busy_minute():
    # The limit / 60 s rate with a 10-token burst per worker: 4 x 10 + 600 in the first minute.
    # (The check above can fail: this is what it catches.)
    sends = greedy_send_times(4, LIMIT / WINDOW / 4, 10, seconds=120)
    assert refusals_at_vendor(sends)[1] > 0



@pytest.mark.parametrize("processes", [1, 2, 4])
def test_a_one_second_window_is_paced_close_to_its_ceiling_without_a_refusal(processes):
    """Procountor: 20 requests per second per client. A second of slack (right for a minute) would
    halve the pace of a one-second window; a tenth of the window keeps every window within the limit
    for requests up to 100 ms in transit, and the workers near the ceiling."""
    from simulators.procountor.config import SimulatorConfig as ProcountorConfig
    from simulators.procountor.state import SimulatorState as ProcountorState

    limit, window = 20, 1
    rate, burst = window_pacing(limit, window, processes)
    sends = greedy_send_times(processes, rate, burst, seconds=120, start_jitter=0.5)
    state = ProcountorState(ProcountorConfig(rate_limit_requests=limit, rate_limit_window_s=window))
    rng, now = random.Random(11), [0.0]
    state.clock = lambda: now[0]
    refused = 0
    for arrival in sorted(t + rng.uniform(0, 0.09) for t in sends):
        now[0] = arrival
        refused += state.rate_limit_wait("ledgerbridge-local") > 0
    assert refused == 0
    steady = [t for t in sends if 10 <= t < 120]
    assert len(steady) / 110 >= {1: 0.85, 2: 0.8, 4: 0.7}[processes] * limit / window
