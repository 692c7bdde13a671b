"""Benchmark 8: a shop's settlements booked into 24SevenOffice through the local runtime.

The café of ``make run`` (Havnekafeen, department 201, voucher type 9, the ledger, inventory change
on) books ``n`` Z-reports with their PDF at the simulator's latency; the settlements are ingested at
latency 0, then "transfer now" and drain() are timed. Reported: SOAP calls per settlement by
operation against the fewest the WSDLs allow, logins (all of the day's bookings must share one
session), settlements per second, and a check that every settlement is one balanced voucher with
its file.

The fewest calls: a file needs GetStampNo, Create, AppendChunk (one per 2 MB), Save; the voucher one
SaveBundleList; the session's identity one SetIdentityById per unit of work. Proof of the booking
(the voucher number, for the export log and for exactly-once) costs one GetTransactions, and
checking the fiscal year before anything is sent one GetFiscalYears: 8 in all. What the hub adds
beyond that is reported as such.
"""
from __future__ import annotations

import time
from datetime import date, timedelta

from devstack import samples

from .runtime import Runtime, _check

MINIMUM = {"SetIdentityById": 1, "GetFiscalYears": 1, "GetStampNo": 1, "Create": 1, "AppendChunk": 1, "Save": 1,
           "SaveBundleList": 1, "GetTransactions": 1}


def run(rt: Runtime, n: int = 50, latency_ms: int = 50) -> dict:
    stack = rt.stack
    sim = stack.tfso
    shop = int(samples.SHOP_COMPANY)
    sim.config.latency_ms = 0
    api_key, connection_id = stack.shop(tenant_id=f"bench-shop-{int(time.time())}")
    api = stack.api(api_key)
    _check(api.put(f"/connections/{connection_id}/vendor-settings", json={"type_import": "ledger"}).status_code == 200,
           "type import")
    booked_before = len([v for v in sim.vouchers(shop) if v["origin"] != "helper"])
    today = date.today()
    for i in range(n):
        body = samples.settlement(today - timedelta(days=1 + i % 28), 900 + i, register=str(i // 28 + 1),
                                  with_cost=True)
        response = api.post(f"/connections/{connection_id}/settlements", json=body)
        _check(response.status_code == 201, f"ingest: {response.status_code} {response.text[:200]}")
    sim.config.latency_ms = latency_ms
    sim.reset_counts()
    logins_before = sim.login_count(samples_user())
    started = time.perf_counter()
    queued = api.post(f"/connections/{connection_id}/transfers").json()
    stack.drain(timeout=600)
    seconds = time.perf_counter() - started
    sim.config.latency_ms = 0
    counts = sim.request_counts()
    booked = [v for v in sim.vouchers(shop) if v["origin"] != "helper"][booked_before:]
    docs = api.get(f"/connections/{connection_id}/documents", params={"state": "booked", "limit": 200}).json()
    check = {"queued": queued.get("enqueued"), "vouchers": len(booked), "documents_booked": len(docs["documents"]),
             "balanced": sum(1 for v in booked if sum(line["amount"] for line in v["lines"]) == 0),
             "with_file": sum(1 for v in booked if len(v["files"]) == 1), "orphans": len(sim.orphan_attachments(shop))}
    check["ok"] = (check["vouchers"] == check["documents_booked"] == check["balanced"] == check["with_file"] == n
                   and check["orphans"] == 0)
    per_settlement = {op: round(c / n, 2) for op, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}
    return {"n": n, "latency_ms": latency_ms, "worker_containers": rt.concurrency, "seconds": round(seconds, 2),
            "settlements_per_s": round(n / seconds, 2), "soap_calls_per_settlement": per_settlement,
            "total_per_settlement": round(sum(counts.values()) / n, 2), "minimum_per_settlement": sum(MINIMUM.values()),
            "beyond_minimum": {op: round(per_settlement.get(op, 0) - MINIMUM.get(op, 0), 2)
                               for op in sorted(set(per_settlement) | set(MINIMUM))
                               if round(per_settlement.get(op, 0) - MINIMUM.get(op, 0), 2) != 0},
            "logins": sim.login_count(samples_user()) - logins_before, "check": check}


def samples_user() -> str:
    from devstack.stack import TFSO_USER

    return TFSO_USER[0]


def report(result: dict) -> list[str]:
    lines = [f"{result['n']} Z-reports with PDF booked into 24SevenOffice's ledger at {result['latency_ms']} ms per "
             f"SOAP call, {result['worker_containers']} worker containers: {result['seconds']:.1f} s, "
             f"{result['settlements_per_s']:.2f} settlements/s; logins during the bookings: {result['logins']}",
             f"SOAP calls per settlement: {result['total_per_settlement']:.2f} "
             f"(the fewest the WSDLs allow with proof of the booking: {result['minimum_per_settlement']}); by operation:"]
    lines += [f"  {op:<16} {count:>6.2f}" for op, count in result["soap_calls_per_settlement"].items()]
    lines.append(f"beyond the minimum: {result['beyond_minimum'] or 'nothing'}")
    check = result["check"]
    lines.append(f"check: {'OK' if check['ok'] else 'FAILED'} {check}")
    return lines
