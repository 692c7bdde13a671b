"""Benchmark 12: a week of a hair salon's bookkeeping in Uniconta through the local runtime.

The salon of ``make run`` (Salon Sakse ApS, company 4415: the login stored and tested, daily journal SALG
picked, the account setup saved) books a week of Z-reports the way it would: each evening one Z-report is
pushed and "transfer now" pressed, and the day lands as one InsertList of lines in the journal. Uniconta
includes 5,000 calls per user and day and slows every call past that; the hub keeps to its share
(providers.toml: 80 %, 4,000). Reported: Uniconta calls by endpoint for setting the connection up (the
login check and the catalog reads for the journal list and the account setup) and per day booked (one
InsertList expected), a week's calls against the budget and the hub's share, and the wall time per day
from POST /transfers until the lines are at the simulator and the queue is drained, with the
simulator's latency per /api and /odata call set (50 ms). Checked: each day booked once (one InsertList
per day, its lines once in the journal, balanced), no call past the hub's share, none slowed by Uniconta.
Nothing about timings is asserted.
"""
from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from devstack import samples

from .report import heading, table
from .runtime import Runtime, _check

INSERT_LIST = "POST /api/Entities/InsertList/{name}"
DAYS = 7


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Calls to Uniconta's API (not the simulator's /_sim control endpoints) between two counts."""
    return {k: after[k] - before.get(k, 0) for k in sorted(after)
            if after[k] - before.get(k, 0) and " /_sim" not in k}


def _journal(sim) -> dict[str, list[dict]]:
    """The journal's lines by the hub's reference (the "[LB-…]" closing each line's text)."""
    import httpx

    lines = httpx.get(f"{sim.base_url}/_sim/companies/{samples.UNICONTA_COMPANY}/journals/"
                      f"{samples.UNICONTA_JOURNAL}/lines").json()
    by_reference: dict[str, list[dict]] = {}
    for line in lines:
        if "[LB-" in line.get("Text", ""):
            by_reference.setdefault(line["Text"].rsplit("[", 1)[-1].rstrip("]"), []).append(line)
    return by_reference


def _insert_lists(sim) -> int:
    return sim.request_counts().get(INSERT_LIST, 0)


def run(rt: Runtime, latency_ms: int = 50, days: int = DAYS) -> dict:
    from ledgerbridge.oauth.providers import provider

    stack, sim = rt.stack, rt.stack.uniconta
    user = samples.UNICONTA_LOGIN["username"]
    vendor = provider("uniconta")
    budget = int(vendor.daily_call_budget)
    share = int(budget * vendor.budget_share)
    sim.config.latency_ms = latency_ms
    sim_calls_before = sim.usage(user)["calls"]
    counts = sim.request_counts()
    started = time.perf_counter()
    api_key, connection_id = stack.salon(tenant_id=f"bench-salon-{int(time.time())}")
    setup_seconds = time.perf_counter() - started
    setup_calls = _delta(counts, sim.request_counts())
    api = stack.api(api_key)
    today = date.today()
    week = [samples.salon_day(today - timedelta(days=d), 1, extra_items=days - d) for d in range(days, 0, -1)]
    rows, booked_references = [], []
    for day in week:
        sim.config.latency_ms = 0
        pushed = api.post(f"/connections/{connection_id}/settlements", json=day)
        _check(pushed.status_code == 201, f"ingest {day['document_id']}: {pushed.status_code} {pushed.text[:300]}")
        sim.config.latency_ms = latency_ms
        counts = sim.request_counts()
        inserted_before = counts.get(INSERT_LIST, 0)
        started = time.perf_counter()
        queued = api.post(f"/connections/{connection_id}/transfers")
        _check(queued.status_code == 202, f"transfer: {queued.status_code} {queued.text[:300]}")
        # Watch the simulator (in this process) until the day's InsertList is there, and only then ask the
        # queue whether all is done (moto counts a queue by walking it).
        deadline = time.monotonic() + 120
        while _insert_lists(sim) == inserted_before and time.monotonic() < deadline:
            time.sleep(0.02)
        at_vendor = time.perf_counter() - started
        stack.drain(timeout=max(deadline - time.monotonic(), 5))
        seconds = time.perf_counter() - started
        calls = _delta(counts, sim.request_counts())
        document = api.get(f"/connections/{connection_id}/documents/{day['document_id']}").json()
        booked_references.append(document.get("reference"))
        rows.append({"day": day["business_date"], "state": document["state"], "calls": calls,
                     "insert_lists": calls.get(INSERT_LIST, 0), "seconds_to_vendor": round(at_vendor, 3),
                     "seconds": round(seconds, 3)})
    sim.config.latency_ms = 0
    usage = api.get(f"/connections/{connection_id}").json()["vendor_usage"]
    at_sim = sim.usage(user)
    journal = _journal(sim)
    balanced = all(sum(Decimal(str(line.get("Debit") or 0)) for line in lines)
                   == sum(Decimal(str(line.get("Credit") or 0)) for line in lines) for lines in journal.values())
    booking_calls: dict[str, int] = {}
    for row in rows:
        for endpoint, n in row["calls"].items():
            booking_calls[endpoint] = booking_calls.get(endpoint, 0) + n
    week_calls = sum(setup_calls.values()) + sum(booking_calls.values())
    check = {"days": days, "booked": sum(1 for r in rows if r["state"] == "booked"),
             "one_insert_list_per_day": all(r["insert_lists"] == 1 for r in rows),
             "days_in_journal": len(set(booked_references) & set(journal)), "batches_in_journal": len(journal),
             "balanced": balanced, "hub_calls_today": usage["calls"], "hub_share": usage["hub_share"],
             "calls_past_share": max(0, usage["calls"] - usage["hub_share"]),
             "uniconta_calls_today": at_sim["calls"] - sim_calls_before,
             "delayed_by_uniconta": at_sim["delayed_calls"]}
    check["ok"] = (check["booked"] == days and check["one_insert_list_per_day"]
                   and check["days_in_journal"] == check["batches_in_journal"] == days and balanced
                   and check["calls_past_share"] == 0 and check["delayed_by_uniconta"] == 0)
    booking_per_day = sum(booking_calls.values()) / days
    return {"latency_ms": latency_ms, "days": days, "budget": budget, "hub_share": share,
            "setup": {"calls": setup_calls, "total": sum(setup_calls.values()), "seconds": round(setup_seconds, 2)},
            "booking": {"calls": booking_calls, "per_day": round(booking_per_day, 2),
                        "per_day_by_endpoint": {k: round(v / days, 2) for k, v in booking_calls.items()}},
            "week_calls": week_calls, "rows": rows,
            "seconds_per_day": round(sum(r["seconds"] for r in rows) / days, 3),
            "seconds_to_vendor_per_day": round(sum(r["seconds_to_vendor"] for r in rows) / days, 3),
            "share_of_budget_per_day": booking_per_day / budget, "share_of_hub_share_per_day": booking_per_day / share,
            "usage": usage, "check": check}


def _check_text(check: dict) -> str:
    return (f"{check['booked']}/{check['days']} days booked, one InsertList per day: "
            f"{'yes' if check['one_insert_list_per_day'] else 'NO'}, {check['days_in_journal']} days' lines in the "
            f"journal ({check['batches_in_journal']} batches, balanced: {'yes' if check['balanced'] else 'NO'}), "
            f"{check['calls_past_share']} calls past the hub's share, {check['delayed_by_uniconta']} slowed by "
            "Uniconta")


def report(result: dict) -> str:
    setup, booking, check = result["setup"], result["booking"], result["check"]
    days, budget, share = result["days"], result["budget"], result["hub_share"]
    lines = [heading(12, "Uniconta: a week of a salon's bookkeeping against the daily call budget", [
        f"The salon's connection set up (login tested, journal {samples.UNICONTA_JOURNAL} picked, account setup "
        f"saved), then {days} days booked one by one: each evening",
        "POST /settlements (simulator latency 0) and POST /transfers, timed until the day's InsertList is at the",
        "simulator and the queue is drained, with the simulator's latency per /api and /odata call "
        f"{result['latency_ms']} ms.",
        f"Uniconta's budget: {budget:,} calls per user and day (slower past it); the hub's share {share:,} "
        "(providers.toml). Calls counted at the simulator.",
    ])]
    body = [[f"setup: {endpoint}", n, ""] for endpoint, n in setup["calls"].items()]
    body += [[f"booking: {endpoint}", n, f"{booking['per_day_by_endpoint'][endpoint]:.2f}"]
             for endpoint, n in booking["calls"].items()]
    body.append(["booking, all endpoints", sum(booking["calls"].values()), f"{booking['per_day']:.2f}"])
    body.append(["week (setup + booking)", result["week_calls"], ""])
    lines.append(table(["Uniconta endpoint", f"calls ({days} days)", "per day booked"], body))
    lines.append(f"\n   Setup once: {setup['total']} calls in {setup['seconds']:.1f} s (the login check, the company, "
                 "journals, chart and VAT codes read for the picks and the account setup).")
    lines.append(f"   Per day booked: {booking['per_day']:.2f} calls (expected 1 InsertList) = "
                 f"{result['share_of_budget_per_day']:.3%} of Uniconta's {budget:,} per day, "
                 f"{result['share_of_hub_share_per_day']:.3%} of the hub's {share:,}; a week, setup included: "
                 f"{result['week_calls']} calls.")
    lines.append(f"   The hub's counter today (GET /connections/{{id}} vendor_usage): {result['usage']['calls']} of "
                 f"{result['usage']['hub_share']:,}; Uniconta's own count for the user: "
                 f"{check['uniconta_calls_today']}.\n")
    body = [[r["day"], r["state"], sum(r["calls"].values()), r["insert_lists"], f"{r['seconds_to_vendor']:.2f}",
             f"{r['seconds']:.2f}"] for r in result["rows"]]
    body.append(["mean", "", "", "", f"{result['seconds_to_vendor_per_day']:.2f}", f"{result['seconds_per_day']:.2f}"])
    lines.append(table(["business day", "state", "calls", "InsertList", "s to Uniconta", "s to drained"], body,
                       "llrrrr"))
    lines.append("   The first day's time includes the worker container's cold start.")
    lines.append(f"   Check: {'OK' if check['ok'] else 'FAILED'}: {_check_text(check)}")
    lines.append("   's to Uniconta': POST /transfers until the InsertList is at the simulator (the queue's pick-up, "
                 "the worker's\n   own work and one call at the simulator's latency); 's to drained' adds the "
                 "worker's bookkeeping and drain()'s 0.3 s quiet period.")
    return "\n".join(lines)
