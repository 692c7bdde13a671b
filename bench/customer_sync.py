"""Benchmark 13: a salon's 10,000 customers kept in step with Uniconta's debtors, against the daily call budget.

The salon of ``make run`` (customer sync set up, its modification URL in Uniconta with Post ticked) pushes
its whole customer list, 500 a request: the first time every customer is new (debtors created by
InsertList, 100 a call). Then a check compares Uniconta's debtors with what the hub saw (OData, 1,000 a
page) and finds the link healthy. Then the booking system pushes all 10,000 again with 1 % changed: the
unchanged ones cost no call (content hash per side); the changed ones are read 50 a call (an update
replaces the whole debtor, so the hub never writes over a change made in Uniconta meanwhile) and updated
one call each (Uniconta's REST API has no UpdateList); Uniconta's notifications of those updates come back
with the record (Post) and are recognised as the hub's own (no call, nothing in the changes feed).

Reported: Uniconta calls by endpoint for each phase, the 1 % sync's calls against the goal (about 100) and
against the 5,000-a-day budget and sync's part of it (providers.toml: 60 %), seconds per phase at the
simulator's latency. Checked: every customer a debtor once, the changed values in Uniconta, nothing in the
changes feed, no call past sync's part. Nothing about timings is asserted.
"""
from __future__ import annotations

import time

from devstack import samples

from .report import heading, table
from .runtime import Runtime, _check

BATCH = 500


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in sorted(after)
            if after[k] - before.get(k, 0) and " /_sim" not in k}


def _push_all(api, connection_id: str, customers: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(customers), BATCH):
        answer = api.post(f"/connections/{connection_id}/customers", json={"customers": customers[start:start + BATCH]})
        _check(answer.status_code == 202, f"push: {answer.status_code} {answer.text[:300]}")
        for outcome, n in answer.json()["counts"].items():
            counts[outcome] = counts.get(outcome, 0) + n
    return counts


def _settle(stack) -> None:
    for _ in range(3):
        stack.uniconta.wait_for_deliveries(timeout_s=120)
        stack.drain(timeout=600)


def run(rt: Runtime, customers: int = 10_000, changed_share: float = 0.01, latency_ms: int = 50) -> dict:
    from ledgerbridge.oauth.providers import provider

    stack, sim = rt.stack, rt.stack.uniconta
    vendor = provider("uniconta")
    budget = int(vendor.daily_call_budget)
    sync_part = int(budget * vendor.sync_budget_share)
    sim.config.latency_ms = 0
    # The first load before the modification URL is pasted into Uniconta (as a shop would start): 10,000
    # notifications of the hub's own creates would only be echoes.
    api_key, connection_id = stack.salon(tenant_id=f"bench-sync-{int(time.time())}", link=False)
    api = stack.api(api_key)
    sim.config.latency_ms = latency_ms
    phases = []

    def phase(name: str, work) -> dict:
        counts = sim.request_counts()
        started = time.perf_counter()
        outcome = work()
        _settle(stack)
        seconds = time.perf_counter() - started
        calls = _delta(counts, sim.request_counts())
        row = {"phase": name, "calls": calls, "total": sum(calls.values()), "seconds": round(seconds, 2),
               "outcome": outcome}
        phases.append(row)
        return row

    everyone = [samples.salon_customer(n) for n in range(1, customers + 1)]
    first = phase(f"first sync: {customers:,} new", lambda: _push_all(api, connection_id, everyone))
    stack.link_salon()  # now the modification URL is pasted into Uniconta
    phase("check: every debtor compared", lambda: api.post(
        f"/connections/{connection_id}/customer-sync/check").status_code)
    step = max(1, round(1 / changed_share))
    changed_ids = set()
    again = []
    for n, customer in enumerate(everyone, start=1):
        if n % step == 0:
            customer = samples.salon_customer(n, Phone=f"+45 30 {n // 10000:02d} {n % 10000:04d}")
            changed_ids.add(customer["id"])
        again.append(customer)
    changed = phase(f"again, {len(changed_ids)} changed ({changed_share:.0%})",
                    lambda: _push_all(api, connection_id, again))
    sim.config.latency_ms = 0
    debtors = {d["Account"]: d for d in sim.debtors(samples.UNICONTA_COMPANY)}
    wrong = [c["id"] for c in again if debtors.get(c["id"], {}).get("Phone") != c["fields"]["Phone"]]
    feed = api.get(f"/connections/{connection_id}/customers/changes").json()
    view = api.get(f"/connections/{connection_id}/customer-sync").json()
    usage = api.get(f"/connections/{connection_id}").json()["vendor_usage"]
    result_check = {
        "debtors": sum(1 for k in debtors if k.startswith("C")), "customers": customers,
        "wrong_values": len(wrong), "feed_entries": len(feed["changes"]),
        "health": view["health"]["state"], "records": view["records"],
        "first_outcomes": first["outcome"], "again_outcomes": changed["outcome"],
        "calls_today": usage["calls"], "sync_part": sync_part,
    }
    result_check["ok"] = (result_check["debtors"] == customers and not wrong and not feed["changes"]
                          and view["records"].get("synced") == customers and view["health"]["state"] == "ok"
                          and usage["calls"] <= sync_part)
    return {"customers": customers, "changed": len(changed_ids), "latency_ms": latency_ms, "budget": budget,
            "sync_part": sync_part, "phases": phases, "check": result_check}


def report(result: dict) -> str:
    check = result["check"]
    lines = [heading(13, f"Uniconta customer sync: {result['customers']:,} customers, "
                         f"{result['changed']} changed, against the daily call budget", [
        f"The salon's whole customer list pushed 500 a request; a check; then the list again with {result['changed']} "
        "changed (Phone). Calls counted at the",
        f"simulator (latency {result['latency_ms']} ms per /api and /odata call); Uniconta's budget "
        f"{result['budget']:,} per user and day, sync's part {result['sync_part']:,} (providers.toml).",
    ])]
    body = []
    for row in result["phases"]:
        for endpoint, n in row["calls"].items():
            body.append([row["phase"], endpoint, n])
        body.append([row["phase"], "all", row["total"]])
    lines.append(table(["phase", "Uniconta endpoint", "calls"], body, "llr"))
    body = [[row["phase"], row["total"], f"{row['total'] / result['budget']:.1%}", f"{row['seconds']:.1f}"]
            for row in result["phases"]]
    lines.append(table(["phase", "calls", "of the day's budget", "seconds"], body, "lrrr"))
    changed = result["phases"][-1]
    lines.append(f"\n   {result['changed']} changed customers synced with {changed['total']} Uniconta calls (goal: about "
                 f"{result['changed']}); the {result['customers'] - result['changed']:,} unchanged cost none. "
                 "Uniconta's notifications of the hub's own updates came back with the record and cost none.")
    lines.append(f"   Check: {'OK' if check['ok'] else 'FAILED'}: {check['debtors']:,} of {check['customers']:,} "
                 f"customers are debtors, {check['wrong_values']} with a wrong value, {check['feed_entries']} "
                 f"echoes in the changes feed, sync state {check['health']}, records {check['records']}, "
                 f"{check['calls_today']:,} hub calls today (sync's part {check['sync_part']:,}).")
    return "\n".join(lines)
