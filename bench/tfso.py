"""Benchmarks 5-7: the 24SevenOffice integration through the local runtime (DevStack).

One flow on one connection of the seed integration user, with ``companies`` client companies
(the simulator's seeded ones plus ``populate``d ones) and the simulator's latency per SOAP call
set for the flow (the connection is created, and the companies added, at latency 0):

- PUT /connections/{id}/credential: the first (and only expected) Login; not a benchmark, its
  SOAP calls are recorded for reference;
- 5, company import: POST /companies/import, then drain(); the run's export-log entry;
- 6, setup: PUT /companies/{company_id}/reconciliation {"accounts": [...]} for every company, one
  after another (synchronous: each reads the company's chart of accounts over SOAP);
- 7, balance refresh: POST /balance-refresh {}, then drain(); the export-log entry, the stored
  balances compared with the simulator's ledger, and the logins of the whole flow.

Simulator ``request_counts()`` are reset before each step, so each step counts only its own calls.
"""
from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal

from devstack.stack import TFSO_USER

from .runtime import Runtime, _check, percentile

USERNAME, PASSWORD = TFSO_USER
ACCOUNTS = ["1920", "1500"]


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _step(sim, counts: dict[str, int], n: int, seconds: float, logins_before: int) -> dict:
    total = sum(counts.values())
    return {"soap_calls": _ordered(counts), "soap_calls_total": total,
            "per_company": {op: round(c / n, 2) for op, c in _ordered(counts).items()},
            "per_company_total": round(total / n, 2), "seconds": round(seconds, 2),
            "soap_calls_per_s": round(total / seconds, 1) if seconds else None,
            "logins": sim.login_count(USERNAME) - logins_before}


def _run_entry(api, connection_id: str, run_id: str) -> dict:
    response = api.get(f"/connections/{connection_id}/documents/{run_id}")
    _check(response.status_code == 200, f"export-log entry {run_id}: {response.status_code} {response.text[:300]}")
    return response.json()


def _run_seconds(entry: dict) -> float | None:
    """The run's own duration in the export log: queued (received_at) to finished (updated_at)."""
    try:
        return round((datetime.fromisoformat(entry["updated_at"].replace("Z", "+00:00"))
                      - datetime.fromisoformat(entry["received_at"].replace("Z", "+00:00"))).total_seconds(), 2)
    except (KeyError, TypeError, ValueError):
        return None


def _expected_ledger(sim, client_id: int, account: str, period_from: date, as_of: date) -> tuple[int, Decimal]:
    """What the refresh should have read from the simulator: entries in the period and the closing balance."""
    number = int(account)
    entries = [e for e in sim.transactions(client_id) if e.account_no == number]
    in_period = [e for e in entries if period_from <= e.date <= as_of]
    return len(in_period), sum((e.amount for e in entries if e.date <= as_of), Decimal("0"))


def run(rt: Runtime, companies: int = 200, latency_ms: int = 50) -> dict:
    stack, sim, poller = rt.stack, rt.stack.tfso, rt.stack.poller
    drain_timeout = max(180.0, companies * 3.0)

    # --- arrange, at latency 0 -------------------------------------------------------------------
    sim.config.latency_ms = 0
    with sim.state.lock:
        seeded = len([i for i in sim.state.user(USERNAME).identities if not i.disabled])
    added = max(0, companies - seeded)
    t0 = time.perf_counter()
    sim.populate(USERNAME, added)
    populate_seconds = time.perf_counter() - t0
    api = stack.api(stack.create_tenant("bench-tfso"))
    created = api.post("/connections", json={"vendor": "24sevenoffice", "name": "bench 24SevenOffice"})
    _check(created.status_code == 201, f"create connection: {created.status_code} {created.text[:300]}")
    connection_id = created.json()["connection_id"]
    logins_at_start = sim.login_count(USERNAME)

    result: dict = {"companies": companies, "seeded": seeded, "populated": added,
                    "populate_seconds": round(populate_seconds, 2), "simulator_latency_ms": latency_ms,
                    "accounts": ACCOUNTS, "worker_threads": rt.concurrency}
    sim.config.latency_ms = latency_ms  # read by the simulator on every SOAP call

    # --- the integration user: the first login ---------------------------------------------------
    sim.reset_counts()
    t0 = time.perf_counter()
    stored = api.put(f"/connections/{connection_id}/credential", json={"username": USERNAME, "password": PASSWORD})
    seconds = time.perf_counter() - t0
    _check(stored.status_code == 200 and stored.json().get("ok"),
           f"store credential: {stored.status_code} {stored.text[:300]}")
    _check(stored.json().get("companies") == companies,
           f"credential check reaches {stored.json().get('companies')} companies, expected {companies}")
    result["credential"] = {"soap_calls": _ordered(sim.request_counts()), "seconds": round(seconds, 2),
                            "logins": sim.login_count(USERNAME) - logins_at_start}

    # --- 5: company import -----------------------------------------------------------------------
    sim.reset_counts()
    logins, batches, failures = sim.login_count(USERNAME), poller.batches, poller.failures
    t0 = time.perf_counter()
    started = api.post(f"/connections/{connection_id}/companies/import")
    _check(started.status_code == 202, f"start import: {started.status_code} {started.text[:300]}")
    stack.drain(timeout=drain_timeout)
    seconds = time.perf_counter() - t0
    entry = _run_entry(api, connection_id, started.json()["run_id"])
    listed = api.get(f"/connections/{connection_id}/companies").json()
    step = _step(sim, sim.request_counts(), companies, seconds, logins)
    summary = entry.get("summary") or {}
    with_details = sum(1 for c in listed if c.get("organisation_number") and c.get("currency"))
    step.update(run_id=entry["document_id"], state=entry["state"], reason=entry.get("reason"), summary=summary,
                run_seconds=_run_seconds(entry), worker_invocations=poller.batches - batches,
                retried_messages=poller.failures - failures)
    step["check"] = check = {
        "state": entry["state"], "companies_listed": len(listed), "new": summary.get("new"),
        "with_org_number_and_currency": with_details,
    }
    check["ok"] = (entry["state"] == "done" and len(listed) == companies and summary.get("new") == companies
                   and with_details == companies)
    result["import"] = step

    # --- 6: reconciliation setup, company by company ---------------------------------------------
    sim.reset_counts()
    logins = sim.login_count(USERNAME)
    latencies = []
    t0 = time.perf_counter()
    for company in listed:
        t1 = time.perf_counter()
        response = api.put(f"/connections/{connection_id}/companies/{company['company_id']}/reconciliation",
                           json={"accounts": ACCOUNTS})
        latencies.append(time.perf_counter() - t1)
        _check(response.status_code == 200, f"set up {company['name']}: {response.status_code} {response.text[:300]}")
    seconds = time.perf_counter() - t0
    step = _step(sim, sim.request_counts(), companies, seconds, logins)
    listed = api.get(f"/connections/{connection_id}/companies").json()
    ready = sum(1 for c in listed if c["status"] == "ready" and [a["account"] for a in c["accounts"]] == ACCOUNTS)
    step.update(p50_ms=round(percentile(latencies, 50) * 1000, 1), p95_ms=round(percentile(latencies, 95) * 1000, 1),
                max_ms=round(max(latencies) * 1000, 1))
    step["check"] = {"ready": ready, "ok": ready == companies}
    result["setup"] = step

    # --- 7: balance refresh of every ready company -----------------------------------------------
    sim.reset_counts()
    logins, batches, failures = sim.login_count(USERNAME), poller.batches, poller.failures
    t0 = time.perf_counter()
    started = api.post(f"/connections/{connection_id}/balance-refresh", json={})
    _check(started.status_code == 202, f"start refresh: {started.status_code} {started.text[:300]}")
    stack.drain(timeout=drain_timeout)
    seconds = time.perf_counter() - t0
    entry = _run_entry(api, connection_id, started.json()["run_id"])
    step = _step(sim, sim.request_counts(), companies, seconds, logins)
    summary = entry.get("summary") or {}
    outcomes = entry.get("outcomes") or {}
    ok_outcomes = sum(1 for o in outcomes.values() if o.get("state") == "ok")
    as_of = date.fromisoformat(entry["business_date"])
    period_from = as_of.replace(day=1)
    # The stored balances against the simulator's own ledger, account by account.
    listed = api.get(f"/connections/{connection_id}/companies").json()
    expected_entries, matching, compared = 0, 0, 0
    for company in listed:
        snapshot = company.get("balances") or {}
        stored_accounts = {a["account"]: a for a in snapshot.get("accounts", [])}
        for account in ACCOUNTS:
            count, closing = _expected_ledger(sim, int(company["company_id"]), account, period_from, as_of)
            expected_entries += count
            compared += 1
            got = stored_accounts.get(account)
            if (got and snapshot.get("run_id") == entry["document_id"] and got["entries"] == count
                    and Decimal(str(got["closing"])) == closing):
                matching += 1
    step.update(run_id=entry["document_id"], state=entry["state"], reason=entry.get("reason"), summary=summary,
                run_seconds=_run_seconds(entry), as_of=as_of.isoformat(), period_from=period_from.isoformat(),
                period_days=(as_of - period_from).days + 1, entries_read=summary.get("entries"),
                worker_invocations=poller.batches - batches, handovers=max(0, poller.batches - batches - 1),
                retried_messages=poller.failures - failures)
    logins_total = sim.login_count(USERNAME) - logins_at_start
    logins_after_first = logins_total - result["credential"]["logins"]
    step["check"] = check = {
        "state": entry["state"], "ok_outcomes": ok_outcomes, "outcomes": len(outcomes),
        "entries_read": summary.get("entries"), "entries_expected": expected_entries,
        "accounts_matching_simulator": matching, "accounts_compared": compared,
        "logins_whole_benchmark": logins_total, "logins_after_first": logins_after_first,
    }
    check["ok"] = (entry["state"] == "done" and ok_outcomes == len(outcomes) == companies
                   and summary.get("ok") == companies and summary.get("entries") == expected_entries
                   and matching == compared and logins_total <= 1)
    result["refresh"] = step
    result["logins"] = {"whole_benchmark": logins_total, "after_first": logins_after_first}
    sim.config.latency_ms = 0
    return result

