"""Benchmark 11: a payroll bureau's journals booked into Procountor through the local runtime.

The payroll bureau of ``make run`` (Palkkatoimisto Demo Oy, signed in with the company picked, cost
centres on Kustannuspaikka) pushes ``n`` pay runs, each with corrections for the five months before
it: six ledger receipts per journal, one per period. The journals are ingested with the simulator at
latency 0, then "transfer now" is timed until every receipt is at the simulator and the queue is
drained, with the simulator's latency per /api call set (50 ms).

Booking runs in worker processes that receive from the queue themselves (devstack/sqs_worker.py), as
in the Visma throughput benchmark (3-4): each takes 1/LB_WORKER_CONCURRENCY of Procountor's 20
requests per second per API client (counted over all endpoints and all tenants together), paced so
that no second holds more (ledgerbridge.vendor_http.window_pacing). Reported: Procountor calls per
receipt (by endpoint: one POST per receipt; the preflight's reads of the company's fiscal years, chart
and dimensions are kept by each process for a few minutes, so they are per process, not per journal), receipts/s
against the vendor's ceiling (20/s divided by the calls per receipt), the 429s the simulator's own
limiter refused, and a check that every journal was booked exactly once (six distinct receipts each,
the export log naming each). Nothing about timings is asserted.
"""
from __future__ import annotations

import time

from devstack import samples
from devstack.stack import PAYROLL_COMPANY
from ledgerbridge.vendor_http import window_pacing

from .report import heading, table
from .runtime import Runtime, _check, _documents

RECEIPTS_PER_JOURNAL = 6  # the pay run's month and five corrections
# Pay runs June-October 2026 (periods open in the simulator, run dates before today): a journal's
# receipts fall on the last days of its five previous months and its run date.
MONTHS = (6, 7, 8, 9, 10)


def vendor_ceiling() -> dict:
    """Procountor's limit (providers.toml: requests per client over all endpoints, in any window)."""
    from ledgerbridge.oauth.providers import provider

    limit = provider("procountor").rate_limit
    return {"requests": limit.requests, "per_seconds": limit.per_seconds,
            "requests_per_s": limit.requests / limit.per_seconds}


def journals(label: str, n: int) -> list[dict]:
    bodies = []
    for i in range(n):
        month = MONTHS[i % len(MONTHS)]
        bodies.append(samples.payroll_journal(f"bench-{label}-{i:04d}", month=month,
                                              corrections=tuple(range(month - 5, month))))
    return bodies


def _hub_receipts(sim) -> list[dict]:
    """Receipts the hub posted (their name carries its reference), counted in place, not copied."""
    state = sim.state
    with state.lock:
        company = state.company(PAYROLL_COMPANY)
        return [{"id": r["id"], "name": r["name"], "receiptDate": r["receiptDate"]}
                for r in company.receipts.values() if r["type"] == "JOURNAL" and "[LB-" in r["name"]]


def _hub_receipt_count(sim) -> int:
    state = sim.state
    with state.lock:
        return sum(1 for r in state.company(PAYROLL_COMPANY).receipts.values()
                   if r["type"] == "JOURNAL" and "[LB-" in r["name"])


def book(rt: Runtime, label: str, n: int, latency_ms: int) -> dict:
    """A new bureau tenant; ingest ``n`` journals at latency 0; then transfer now and wait, timed."""
    stack, sim = rt.stack, rt.stack.procountor
    sim.config.latency_ms = 0
    api_key, connection_id = stack.payroll_bureau(tenant_id=f"bench-payroll-{label}-{int(time.time())}")
    api = stack.api(api_key)
    bodies = journals(label, n)
    for body in bodies:
        response = api.post(f"/connections/{connection_id}/payroll-journals", json=body)
        _check(response.status_code == 201, f"ingest: {response.status_code} {response.text[:300]}")
    expected = n * RECEIPTS_PER_JOURNAL
    before = {r["id"] for r in _hub_receipts(sim)}
    sim.config.latency_ms = latency_ms
    sim.reset_counts()
    with sim.state.lock:
        limited_before = sim.state.rate_limited
    failures_before = stack.poller.failures
    cpu_before = rt.cpu_by_part()
    started = time.perf_counter()
    queued = api.post(f"/connections/{connection_id}/transfers")
    _check(queued.status_code == 202, f"transfer: {queued.status_code} {queued.text[:300]}")
    # Watch the simulator (in this process) until the receipts are there, and only then ask the queue
    # whether all is done: moto counts a queue by walking it, which would take CPU from the workers.
    deadline = time.monotonic() + 300
    while _hub_receipt_count(sim) - len(before) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    stack.drain(timeout=max(deadline - time.monotonic(), 5))
    seconds = time.perf_counter() - started
    cpu_after = rt.cpu_by_part()
    sim.config.latency_ms = 0
    counts = sim.request_counts()
    with sim.state.lock:
        rate_limited = sim.state.rate_limited - limited_before
    new = [r for r in _hub_receipts(sim) if r["id"] not in before]
    booked_ids: list[str] = []
    parts_booked = 0
    for body in bodies:
        document = api.get(f"/connections/{connection_id}/documents/{body['document_id']}").json()
        parts = document.get("parts") or []
        parts_booked += sum(1 for p in parts if p["state"] == "booked")
        booked_ids += [p["vendor_document_id"] for p in parts if p.get("vendor_document_id")]
    check = {"journals": n, "enqueued": queued.json().get("enqueued"),
             "documents_booked": _documents(api, connection_id, "booked"),
             "new_receipts": len(new), "distinct_receipts": len({r["name"] for r in new}),
             "parts_booked": parts_booked,
             "log_names_each_receipt": sorted(booked_ids) == sorted(str(r["id"]) for r in new),
             "retried_messages": stack.poller.failures - failures_before, "rate_limited": rate_limited}
    check["ok"] = (check["documents_booked"] == n and check["new_receipts"] == check["distinct_receipts"]
                   == check["parts_booked"] == expected and check["log_names_each_receipt"]
                   and rate_limited == 0)
    cpu_ms = {part: round((cpu_after[part] - cpu_before.get(part, 0.0)) * 1000 / expected, 1) for part in cpu_after}
    requests = sum(counts.values())
    return {"label": label, "journals": n, "receipts": expected, "latency_ms": latency_ms,
            "seconds": round(seconds, 2), "receipts_per_s": round(expected / seconds, 2),
            "journals_per_s": round(n / seconds, 2), "vendor_requests": requests,
            "vendor_requests_per_s": round(requests / seconds, 1), "request_counts": dict(counts),
            "cpu_ms_per_receipt": cpu_ms, "cpu_ms_per_receipt_total": round(sum(cpu_ms.values()), 1),
            "check": check}


def _per_receipt(counts: dict[str, int], receipts: int) -> dict[str, float]:
    return {endpoint: round(count / receipts, 3)
            for endpoint, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def run(rt: Runtime, n: int = 20, calls_n: int = 20, latency_ms: int = 50,
        processes: tuple[int, ...] = (1, 4)) -> dict:
    """11: calls per receipt (``calls_n`` journals at latency 0, one worker process), then receipts/s
    at ``latency_ms`` with each number of worker processes in ``processes``."""
    ceiling = vendor_ceiling()
    rt.use_worker_processes(1)
    calls = book(rt, "calls", calls_n, 0)
    api_counts = {k: v for k, v in calls["request_counts"].items() if " /api/" in k}
    calls_per_receipt = sum(api_counts.values()) / calls["receipts"]
    # The limit counts the API, not the token endpoint (the simulator's reading too).
    limited = sum(v for k, v in api_counts.items() if " /api/oauth/" not in k) / calls["receipts"]
    ceiling["receipts_per_s"] = round(ceiling["requests_per_s"] / limited, 2)
    ceiling["limited_calls_per_receipt"] = round(limited, 3)
    runs = []
    for count in processes:
        rt.use_worker_processes(count)
        result = book(rt, f"tp{count}", n, latency_ms)
        rate, burst = window_pacing(ceiling["requests"], ceiling["per_seconds"], count)
        own = sum(v for k, v in result["request_counts"].items() if " /api/" in k and " /api/oauth/" not in k)
        result.update(worker_processes=count, client_rate_cap_per_s=round(rate, 2), client_burst=burst,
                      calls_per_receipt=round(own / result["receipts"], 3),
                      paced_total_per_s=round(rate * count, 2),
                      share_of_ceiling=round(result["receipts_per_s"] / ceiling["receipts_per_s"], 3),
                      vendor_share=round(result["vendor_requests_per_s"] / ceiling["requests_per_s"], 3))
        runs.append(result)
    ok = calls["check"]["ok"] and all(r["check"]["ok"] for r in runs)
    return {"ceiling": ceiling, "calls": {**calls, "per_receipt": _per_receipt(api_counts, calls["receipts"]),
                                          "total_per_receipt": round(calls_per_receipt, 3),
                                          "per_journal": round(sum(api_counts.values()) / calls["journals"], 2)},
            "runs": runs, "check": {"ok": ok}}


def _check_text(check: dict) -> str:
    return (f"{check['documents_booked']}/{check['journals']} journals booked, {check['new_receipts']} new receipts "
            f"({check['distinct_receipts']} distinct, {check['parts_booked']} parts booked in the log, "
            f"log names each: {'yes' if check['log_names_each_receipt'] else 'NO'}), "
            f"{check['retried_messages']} retried, {check['rate_limited']} refused with 429")


def report(result: dict) -> str:
    ceiling, calls, runs = result["ceiling"], result["calls"], result["runs"]
    lines = [heading(11, "Procountor: payroll journals, calls per receipt and receipts/s against the vendor's ceiling", [
        "A payroll bureau's June-October runs, each with corrections for the five months before it: six JOURNAL",
        "receipts per journal (one per period). Ingested at latency 0; then wall time from POST /transfers until",
        "every receipt is at the simulator and the queue is drained. Worker processes receive from the queue",
        "themselves (as Lambda's do), each paced to 1/count of Procountor's "
        f"{ceiling['requests']:g} requests per {ceiling['per_seconds']:g} s per API client",
        "(all endpoints, all tenants; providers.toml). 429s: requests the simulator's own limiter refused.",
        f"Calls counted on {calls['journals']} journals ({calls['receipts']} receipts) at latency 0, one worker "
        "process, booking only (after connect, setup and ingest).",
    ]), table(["Procountor endpoint", "calls", "calls / receipt"],
              [*[[endpoint, calls["request_counts"][endpoint], f"{per:.2f}"]
                 for endpoint, per in calls["per_receipt"].items()],
               ["total", sum(calls["request_counts"][e] for e in calls["per_receipt"]),
                f"{calls['total_per_receipt']:.2f}"]])]
    lines.append(f"\n   {calls['per_journal']:.2f} calls per journal: one POST per receipt; the preflight's reads (fiscal "
                 "years, chart, dimensions) once per worker process and connection for a few minutes.")
    lines.append(f"   Ceiling: {ceiling['requests_per_s']:g} requests/s / {ceiling['limited_calls_per_receipt']:.2f} "
                 f"rate-limited calls per receipt = {ceiling['receipts_per_s']:g} receipts/s.  Check (calls run): "
                 f"{'OK' if calls['check']['ok'] else 'FAILED'}: {_check_text(calls['check'])}\n")
    body = [[r["worker_processes"], f"{r['client_rate_cap_per_s']:g} (+{r['client_burst']:g})",
             f"{r['paced_total_per_s']:g}", r["journals"], r["receipts"], f"{r['calls_per_receipt']:.2f}",
             f"{r['seconds']:.1f}",
             f"{r['receipts_per_s']:.2f}", f"{r['share_of_ceiling']:.0%}", f"{r['vendor_requests_per_s']:.1f}",
             f"{r['vendor_share']:.0%}", r["check"]["rate_limited"], f"{r['cpu_ms_per_receipt_total']:.0f}",
             "OK" if r["check"]["ok"] else "FAILED"] for r in runs]
    lines.append(table(["processes", "cap req/s/process", "cap all", "journals", "receipts", "calls/receipt",
                        "seconds", "receipts/s", "of ceiling", "vendor req/s", "of 20/s", "429s", "CPU ms/receipt",
                        "check"], body, "r" * 13 + "l"))
    lines += [f"   {r['worker_processes']} process(es): {_check_text(r['check'])}" for r in runs]
    lines.append(f"   Simulator latency {runs[0]['latency_ms']} ms per /api call. 'cap' = window_pacing's rate per "
                 "process (+ burst): the share minus the burst, spread over the window plus its slack (a tenth of a short window, at most 1 s).")
    return "\n".join(lines)
