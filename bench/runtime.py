"""Benchmarks 2-4: through the local runtime (DevStack) against the Visma eAccounting simulator.

One DevStack per process (it sets process-wide environment variables): ``Runtime`` starts it
once; every benchmark creates its own tenant and connection (OAuth connect in the scripted
browser + account setup), ingests over the local API Gateway, fires the schedule with
``stack.tick(at=next_run_at)`` and waits for ``stack.drain()``.

Booking runs in worker processes that consume the queue themselves (``use_worker_processes``,
devstack/sqs_worker.py), as Lambda's workers do: each its own imports, clients, caches and share
of the vendor's rate limit. Every run reports the vendor's 429s (counted by the simulator's own
limiter) and the CPU each part of the machine spent per settlement (/proc: worker processes,
moto's server, this process with the simulators and the gateway).
"""
from __future__ import annotations

import os
import time
from datetime import date, timedelta

from devstack import samples
from devstack.drivers import SqsPoller
from devstack.stack import REGION, DevStack, StackOptions
from ledgerbridge.vendor_http import window_pacing

# Daily schedule reaching far back, so that every business date used here is inside the window.
SCHEDULE = {"frequency": "daily", "lookback_days": 60}
USERNAME, PASSWORD = "demo@bakery.example", "demo-password"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def business_days(n: int, series: int) -> list[tuple[date, int]]:
    """n distinct (business date, Z-report number) pairs, dates within the last 30 days."""
    today = date.today()
    return [(today - timedelta(days=1 + i % 30), series * 100 + i // 30 + 1) for i in range(n)]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (its threads included), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # gone meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class Runtime:
    def __init__(self, worker_concurrency: int = 4):
        self.stack = DevStack(StackOptions(worker_concurrency=worker_concurrency))
        self.concurrency = worker_concurrency
        self.rate_share_divisor = worker_concurrency  # each worker container takes limit / concurrency
        self.worker_mode = "containers"  # or "processes" (use_worker_processes)
        self.rate_limited = 0  # requests the simulator refused with 429 (its own limiter)
        self._series = 0

    def __enter__(self) -> "Runtime":
        self.stack.start()
        self._count_rate_limited()
        return self

    def _count_rate_limited(self) -> None:
        state = self.stack.simulator.state
        limiter = state.rate_limit_wait

        def rate_limit_wait(*args, **kwargs):
            wait = limiter(*args, **kwargs)
            if wait:
                self.rate_limited += 1
            return wait

        state.rate_limit_wait = rate_limit_wait

    def __exit__(self, *exc) -> None:
        self.stack.stop()

    # --- knobs ------------------------------------------------------------------------------------
    def set_latency(self, ms: int) -> None:
        # The simulator reads config.latency_ms on every /v2 and /connect/token request.
        self.stack.simulator.config.latency_ms = ms

    def set_concurrency(self, pollers: int, rate_share_divisor: int | None = None) -> None:
        """Restart the SQS poller with ``pollers`` worker containers.

        LB_WORKER_CONCURRENCY (the Lambda MaximumConcurrency) sizes each worker's share of the
        vendor rate limit: 600/min per endpoint / LB_WORKER_CONCURRENCY. Every local worker is a
        container process of its own, as in Lambda; ``rate_share_divisor`` sets the divisor
        independently of the container count. The worker containers are replaced, so the new
        setting applies from the next invocation (like a configuration update in Lambda).
        """
        from devstack.drivers import WORKER

        divisor = rate_share_divisor or pollers
        stack = self.stack
        old = stack.poller
        old.stop()
        stack.env["LB_WORKER_CONCURRENCY"] = str(divisor)
        stack.containers.retire(WORKER, limit=pollers, env={"LB_WORKER_CONCURRENCY": str(divisor)})
        stack.poller = SqsPoller(stack.sqs, old.queue_url, old.queue_arn, REGION, concurrency=pollers)
        stack.poller.start()
        self.concurrency, self.rate_share_divisor, self.worker_mode = pollers, divisor, "containers"

    def use_worker_processes(self, count: int, rate_share_divisor: int | None = None) -> None:
        """Book in ``count`` worker processes that receive from the queue themselves
        (devstack/sqs_worker.py) instead of the SQS poller threads + containers; each takes
        600/min per endpoint / ``rate_share_divisor`` (default ``count``) of eAccounting's limit.
        ``set_concurrency`` goes back to containers."""
        from devstack.drivers import WORKER
        from devstack.sqs_worker import WorkerProcesses

        divisor = rate_share_divisor or count
        stack = self.stack
        old = stack.poller
        old.stop()
        stack.env["LB_WORKER_CONCURRENCY"] = str(divisor)
        stack.containers.retire(WORKER, env={"LB_WORKER_CONCURRENCY": str(divisor)})
        stack.poller = WorkerProcesses(stack.containers.env, old.queue_url, old.queue_arn, count)
        stack.poller.start()
        self.concurrency, self.rate_share_divisor, self.worker_mode = count, divisor, "processes"

    def _voucher_count(self) -> int:
        state = self.stack.simulator.state  # counted, not copied: simulator.vouchers() deep-copies all
        with state.lock:
            return sum(len(company.vouchers) for company in state.companies.values())

    def cpu_by_part(self) -> dict[str, float]:
        """CPU seconds so far of each part of the local runtime."""
        stack = self.stack
        parts = {"this process (simulators, gateway, driver)": cpu_seconds(os.getpid()),
                 "moto server (AWS)": cpu_seconds(stack.moto.pid)}
        workers = list(getattr(stack.poller, "pids", []))
        workers += [c.process.pid for c in stack.containers._all if c.logical_id == "TransferWorkerFunction"]
        parts["worker processes"] = sum(cpu_seconds(pid) for pid in workers)
        parts["other functions"] = sum(cpu_seconds(c.process.pid) for c in stack.containers._all
                                       if c.logical_id != "TransferWorkerFunction")
        return parts

    def aws_calls(self) -> dict[str, int]:
        """AWS calls the worker processes' handlers made so far, by service.operation (none counted
        when the workers are containers)."""
        counted = getattr(self.stack.poller, "aws_calls", None)
        return counted() if counted else {}

    # --- flow steps -------------------------------------------------------------------------------
    def connection(self, tenant: str):
        """New tenant + connected connection with the sample account setup; returns (api, connection_id)."""
        stack = self.stack
        api = stack.api(stack.create_tenant(tenant))
        created = api.post("/connections", json={"vendor": "visma_eaccounting", "name": f"bench {tenant}",
                                                 "schedule": SCHEDULE})
        _check(created.status_code == 201, f"create connection: {created.status_code} {created.text}")
        connection_id = created.json()["connection_id"]
        page = stack.connect_in_browser(api, connection_id, USERNAME, PASSWORD)
        _check(page.status_code == 200, f"OAuth callback: {page.status_code} {page.text[:300]}")
        saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.account_setup())
        _check(saved.status_code == 200, f"account setup: {saved.status_code} {saved.text}")
        return api, connection_id

    def ingest(self, api, connection_id: str, n: int) -> dict:
        """POST n distinct settlements (with PDF) one after another; latency of each call."""
        self._series += 1
        bodies = [samples.settlement(day, number) for day, number in business_days(n, self._series)]
        latencies = []
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            response = api.post(f"/connections/{connection_id}/settlements", json=body)
            latencies.append(time.perf_counter() - t0)
            _check(response.status_code == 201, f"ingest: {response.status_code} {response.text[:300]}")
        elapsed = time.perf_counter() - started
        return {"n": n, "seconds": round(elapsed, 3), "requests_per_s": round(n / elapsed, 1),
                "p50_ms": round(percentile(latencies, 50) * 1000, 1),
                "p95_ms": round(percentile(latencies, 95) * 1000, 1),
                "max_ms": round(max(latencies) * 1000, 1)}

    def book(self, api, connection_id: str, n: int) -> dict:
        """Fire the schedule at the connection's next run and wait for the queue to drain."""
        stack = self.stack
        vouchers_before = len(stack.simulator.vouchers())
        failures_before = stack.poller.failures
        limited_before = self.rate_limited
        next_run = api.get(f"/connections/{connection_id}").json()["next_run_at"]
        aws_before = self.aws_calls()
        cpu_before = self.cpu_by_part()
        started = time.perf_counter()
        summary = stack.tick(at=next_run)
        # Watch the simulator (in this process: free) until the vouchers are there, and only then
        # ask the queue whether everything is done: moto counts a queue's messages by walking them,
        # and asking all along would take CPU from the workers being measured.
        deadline = time.monotonic() + 150
        first_voucher_at = None
        while (count := self._voucher_count() - vouchers_before) < n and time.monotonic() < deadline:
            if count and first_voucher_at is None:
                first_voucher_at = time.perf_counter()
            time.sleep(0.02)
        last_voucher_at = time.perf_counter()
        stack.drain(timeout=max(deadline - time.monotonic(), 5))
        elapsed = time.perf_counter() - started
        # The vendor's view: vouchers per second from its first to its last (what its limit counts),
        # apart from the run's start (schedule tick, planning, first receive) and end (queue drained).
        first_voucher_at = first_voucher_at or last_voucher_at
        steady = (n - 1) / (last_voucher_at - first_voucher_at) if n > 1 and last_voucher_at > first_voucher_at else None
        cpu_after = self.cpu_by_part()
        aws_after = self.aws_calls()
        aws_calls = {name: round((count - aws_before.get(name, 0)) / n, 2) for name, count in aws_after.items()
                     if count > aws_before.get(name, 0)}
        new_vouchers = stack.simulator.vouchers()[vouchers_before:]
        booked = _documents(api, connection_id, "booked")
        distinct = len({v.get("VoucherText") or repr(v.get("Rows")) for v in new_vouchers})
        # The scheduler hands out connections ("connections"); a worker expands each into jobs.
        jobs = summary.get("jobs", summary.get("connections"))
        check = {"jobs_enqueued": jobs, "new_vouchers": len(new_vouchers),
                 "distinct_vouchers": distinct, "documents_booked": booked,
                 "retried_messages": stack.poller.failures - failures_before,
                 "rate_limited": self.rate_limited - limited_before}
        check["ok"] = len(new_vouchers) == booked == distinct == n and check["rate_limited"] == 0
        cpu_ms = {part: round((cpu_after[part] - cpu_before.get(part, 0.0)) * 1000 / n, 1) for part in cpu_after}
        return {"n": n, "seconds": round(elapsed, 3), "settlements_per_s": round(n / elapsed, 2),
                "steady_settlements_per_s": round(steady, 2) if steady else None,
                "seconds_to_first_voucher": round(first_voucher_at - started, 3),
                "seconds_last_voucher_to_drained": round(elapsed - (last_voucher_at - started), 3),
                "cpu_ms_per_settlement": cpu_ms,
                "cpu_ms_per_settlement_total": round(sum(cpu_ms.values()), 1),
                "aws_calls_per_settlement": dict(sorted(aws_calls.items(), key=lambda kv: (-kv[1], kv[0]))),
                "check": check}


def _documents(api, connection_id: str, state: str) -> int:
    count, cursor = 0, None
    while True:
        params = {"state": state, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/connections/{connection_id}/documents", params=params).json()
        count += len(page["documents"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


# --- the benchmarks ---------------------------------------------------------------------------------

def vendor_calls(rt: Runtime, n: int = 20) -> dict:
    """Benchmark 2: simulator requests per endpoint per booked settlement (booking only)."""
    rt.set_latency(0)
    api, connection_id = rt.connection("bench-calls")
    rt.ingest(api, connection_id, n)
    rt.stack.simulator.reset_counts()  # after connect + account setup + ingest: count only booking
    booked = rt.book(api, connection_id, n)
    counts = rt.stack.simulator.request_counts()
    per_endpoint = {k: round(v / n, 2) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
    return {"n": n, "with_pdf": True, "per_settlement": per_endpoint,
            "aws_calls_per_settlement": booked["aws_calls_per_settlement"],
            "total_per_settlement": round(sum(counts.values()) / n, 2), "raw_counts": counts,
            "check": booked["check"]}


def throughput(rt: Runtime, n: int, latency_ms: int, label: str) -> dict:
    """Benchmarks 3-4: ingest n settlements, then time tick -> drain with the simulator latency set."""
    rt.set_latency(latency_ms)
    api, connection_id = rt.connection(f"bench-{label}")
    ingest = rt.ingest(api, connection_id, n)
    rt.stack.simulator.reset_counts()
    load_before = os.getloadavg()[0]
    booking = rt.book(api, connection_id, n)
    vendor_requests = sum(rt.stack.simulator.request_counts().values())
    ceiling = vendor_ceiling()
    cpus = os.cpu_count() or 1
    # What this machine could book if all its cores ran nothing but the local runtime (moto, the
    # simulators and the workers share them): above the vendor's ceiling, the vendor is the limit.
    booking["machine_bound_settlements_per_s"] = round(cpus * 1000 / max(booking["cpu_ms_per_settlement_total"], 1), 1)
    # moto's server is one Python process: its share of the CPU per settlement bounds the run on its own,
    # whatever the cores (all AWS calls of every worker go through it; in AWS they go to the services).
    moto_ms = booking["cpu_ms_per_settlement"].get("moto server (AWS)") or 0
    booking["moto_bound_settlements_per_s"] = round(1000 / moto_ms, 1) if moto_ms else None
    booking["load_average_before"] = round(load_before, 2)
    booking["cpus"] = cpus
    rate, _burst = window_pacing(ceiling["requests"], ceiling["per_seconds"], rt.rate_share_divisor)
    return {"label": label, "n": n, "simulator_latency_ms": latency_ms, "worker_threads": rt.concurrency,
            "workers": rt.worker_mode, "rate_share_divisor": rt.rate_share_divisor,
            "client_rate_cap_per_endpoint_per_s": round(rate, 2),
            "ceiling_settlements_per_s": ceiling["settlements_per_s"],
            "share_of_ceiling": round(booking["settlements_per_s"] / ceiling["settlements_per_s"], 3),
            "steady_share_of_ceiling": round((booking["steady_settlements_per_s"] or 0) / ceiling["settlements_per_s"], 3),
            "ingest": ingest, "booking": booking,
            "vendor_requests_per_s": round(vendor_requests / booking["seconds"], 1)}


def vendor_ceiling() -> dict:
    """eAccounting's limit (providers.toml: requests per client and endpoint in any window) as
    settlements/s: each settlement posts one voucher (and one attachment, one link), so the
    voucher endpoint's limit is the most settlements the vendor takes."""
    from ledgerbridge.oauth.providers import provider

    limit = provider("visma_eaccounting").rate_limit
    return {"requests": limit.requests, "per_seconds": limit.per_seconds,
            "settlements_per_s": limit.requests / limit.per_seconds}
