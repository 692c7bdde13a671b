"""Benchmarks 5-7: the 24SevenOffice integration through the local runtime (DevStack), and how fast
GetTransactions rows are read (direct reader against zeep).

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
from datetime import date, datetime, timedelta
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


def _refresh(rt: Runtime, api, connection_id: str, body: dict, companies: int, drain_timeout: float) -> dict:
    """POST /balance-refresh ``body``, drain, and check the stored balances against the simulator."""
    stack, sim, poller = rt.stack, rt.stack.tfso, rt.stack.poller
    sim.reset_counts()
    logins, batches, failures = sim.login_count(USERNAME), poller.batches, poller.failures
    t0 = time.perf_counter()
    started = api.post(f"/connections/{connection_id}/balance-refresh", json=body)
    _check(started.status_code == 202, f"start refresh: {started.status_code} {started.text[:300]}")
    stack.drain(timeout=drain_timeout)
    seconds = time.perf_counter() - t0
    entry = _run_entry(api, connection_id, started.json()["run_id"])
    step = _step(sim, sim.request_counts(), companies, seconds, logins)
    summary = entry.get("summary") or {}
    outcomes = entry.get("outcomes") or {}
    ok_outcomes = sum(1 for o in outcomes.values() if o.get("state") == "ok")
    as_of = date.fromisoformat(body.get("as_of") or entry["business_date"])
    period_from = date.fromisoformat(body["period_from"]) if body.get("period_from") else as_of.replace(day=1)
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
                retried_messages=poller.failures - failures,
                plan=refresh_plan(len(ACCOUNTS), period_from, as_of))
    step["check"] = check = {
        "state": entry["state"], "ok_outcomes": ok_outcomes, "outcomes": len(outcomes),
        "entries_read": summary.get("entries"), "entries_expected": expected_entries,
        "accounts_matching_simulator": matching, "accounts_compared": compared,
        "get_transactions_per_company": step["per_company"].get("GetTransactions"),
        "calls_per_company_as_planned": step["per_company"].get("GetTransactions") == step["plan"]["windows"],
    }
    check["ok"] = (entry["state"] == "done" and ok_outcomes == len(outcomes) == companies
                   and summary.get("ok") == companies and summary.get("entries") == expected_entries
                   and matching == compared and check["calls_per_company_as_planned"])
    return step


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

    result: dict = {"parse": parse()}  # first, while nothing else runs in this process
    result.update({"companies": companies, "seeded": seeded, "populated": added,
                   "populate_seconds": round(populate_seconds, 2), "simulator_latency_ms": latency_ms,
                   "accounts": ACCOUNTS, "worker_threads": rt.concurrency})
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

    # --- 7: balance refresh of every ready company (month to date; 7b: the last 12 months) ---------
    result["refresh"] = step = _refresh(rt, api, connection_id, {}, companies, drain_timeout)
    logins_total = sim.login_count(USERNAME) - logins_at_start
    logins_after_first = logins_total - result["credential"]["logins"]
    step["check"].update(logins_whole_benchmark=logins_total, logins_after_first=logins_after_first)
    step["check"]["ok"] = step["check"]["ok"] and logins_total <= 1
    as_of = date.fromisoformat(step["as_of"])
    # The longest period the API takes (a year): the 12 calendar months up to as_of.
    start = (as_of.replace(day=1) - timedelta(days=320)).replace(day=1)
    result["refresh_long"] = _refresh(rt, api, connection_id, {"period_from": start.isoformat(),
                                                                "as_of": as_of.isoformat()}, companies, drain_timeout)
    logins_total = sim.login_count(USERNAME) - logins_at_start
    result["logins"] = {"whole_benchmark": logins_total, "after_first": logins_after_first}
    sim.config.latency_ms = 0
    return result



# --- GetTransactions rows: the direct reader against zeep's, and the calls of a refresh -------------

PARSE_ROWS = 50_000
ZEEP_ROWS = 5_000  # zeep at ~270 us a row: a tenth of the rows gives its per-row figure in seconds


def _transactions_body(rows: int) -> list[bytes]:
    """A GetTransactionsResponse of ``rows`` rows as the vendor streams it (64 KB pieces)."""
    ns = "http://24sevenoffice.com/webservices/economy/accounting/"
    parts = [f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
             f'envelope/"><soap:Body><GetTransactionsResponse xmlns="{ns}"><GetTransactionsResult>']
    for n in range(rows):
        parts.append(f"<Transaction><Date>2025-03-{n % 28 + 1:02d}T00:00:00</Date><AccountNo>1920</AccountNo>"
                     f"<Currency>NOK</Currency><CurrencyRate>1</CurrencyRate><CurrencyUnit>1</CurrencyUnit>"
                     f"<Amount>{n % 1000}.25</Amount><StampNo>0</StampNo><Period>3</Period>"
                     f"<TransactionTypeId>4</TransactionTypeId><Comment>Dagsoppgjør kasse {n} med litt tekst</Comment>"
                     f"<TransactionNo>{n}</TransactionNo><VatCode>0</VatCode>"
                     f"<Id>00000000-0000-0000-0000-{n:012d}</Id><LinkId>0</LinkId><InvoiceNo></InvoiceNo>"
                     f"<SequenceNo>1</SequenceNo><SystemType>Miscellaneous</SystemType>"
                     f"<RegistrationDate>2025-03-01T10:00:00</RegistrationDate>"
                     f"<DateChanged>2025-03-01T10:00:00</DateChanged><Hidden>false</Hidden><Open>false</Open>"
                     f"<HasVatDividend>false</HasVatDividend><PeriodDate>2025-03-01</PeriodDate></Transaction>")
    parts.append("</GetTransactionsResult></GetTransactionsResponse></soap:Body></soap:Envelope>")
    data = "".join(parts).encode()
    return [data[i:i + 65536] for i in range(0, len(data), 65536)]


def _read_rows(chunks: list[bytes], parse) -> tuple[int, "Decimal", float, int]:
    """Rows through SoapClient.rows (the pull parser the connector uses) with ``parse`` per row
    (None: the floor, lxml's pull parsing alone); returns rows, sum, CPU seconds, traced peak bytes."""
    import tracemalloc

    import httpx

    from ledgerbridge.connectors.twentyfourseven.soap import SoapClient

    tag = "{http://24sevenoffice.com/webservices/economy/accounting/}Transaction"
    floor = parse is None
    parse = parse or (lambda element: None)

    def once() -> tuple[int, Decimal]:
        response = httpx.Response(200, content=iter(chunks))
        count, total = 0, Decimal("0")
        for row in SoapClient.rows(response, "GetTransactions", tag, parse):
            count += 1
            if not floor:
                total += row["Amount"]
        return count, total

    started = time.process_time()
    count, total = once()
    seconds = time.process_time() - started
    tracemalloc.start()
    try:
        once()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, total, seconds, peak


def parse(rows: int = PARSE_ROWS, zeep_rows: int = ZEEP_ROWS) -> dict:
    """µs per GetTransactions row: lxml's pull parsing alone (the floor), the direct reader
    (RowParser) and zeep's generic parsing (the reader before), over the same streamed answer; and
    the memory peak of each while reading it (flat: rows are dropped once read)."""
    from ledgerbridge.connectors.twentyfourseven.soap import row_parser

    direct, by_zeep = row_parser("transaction", "Transaction"), row_parser("transaction", "Transaction", False)
    warm = _transactions_body(100)
    for reader in (None, direct, by_zeep):
        _read_rows(warm, reader)
    chunks, few = _transactions_body(rows), _transactions_body(zeep_rows)
    expected = sum(Decimal(f"{n % 1000}.25") for n in range(rows))
    result: dict = {"rows": rows, "answer_bytes": sum(len(c) for c in chunks), "zeep_rows": zeep_rows}
    for name, reader, body, n in (("floor", None, chunks, rows), ("direct", direct, chunks, rows),
                                  ("zeep", by_zeep, few, zeep_rows)):
        count, total, seconds, peak = _read_rows(body, reader)
        _check(count == n, f"{name}: {count} rows of {n}")
        if name == "direct":
            _check(total == expected, f"direct: sum {total} != {expected}")
        result[name] = {"rows": n, "cpu_seconds": round(seconds, 3), "us_per_row": round(seconds / n * 1e6, 1),
                        "rows_per_s": round(n / seconds), "peak_bytes": peak}
    floor_us = result["floor"]["us_per_row"]
    for name in ("direct", "zeep"):
        result[name]["ratio_to_floor"] = round(result[name]["us_per_row"] / floor_us, 2)
    result["speedup"] = round(result["zeep"]["us_per_row"] / result["direct"]["us_per_row"], 1)
    result["check"] = {"speedup_at_least_5": result["speedup"] >= 5,
                       "direct_peak_below_tenth_of_answer": result["direct"]["peak_bytes"] < result["answer_bytes"] / 10}
    result["check"]["ok"] = all(result["check"].values())
    return result


def report(flow: dict) -> str:
    """7b: how fast GetTransactions rows are read, and the SOAP calls of a refresh before and now."""
    from .report import heading, table

    data = flow["parse"]
    rows = [[name, f"{data[name]['rows']:,}", f"{data[name]['us_per_row']:.1f}", f"{data[name]['rows_per_s']:,}",
             "1.00" if name == "floor" else f"{data[name]['ratio_to_floor']:.2f}",
             f"{data[name]['peak_bytes'] / 1e6:.3f}"]
            for name in ("floor", "direct", "zeep")]
    parts = [heading("7b", "24SevenOffice: reading GetTransactions; calls per refresh", [
        f"One streamed answer of {data['rows']:,} Transaction rows ({data['answer_bytes'] / 1e6:.1f} MB, 64 KB "
        f"pieces) through SoapClient.rows; CPU time; peak traced (Python) memory while reading.",
        "floor: lxml's pull parser alone (rows found and dropped, nothing read); direct: RowParser (now);",
        f"zeep: zeep's generic parsing of each row (the reader before; {data['zeep_rows']:,} rows)."]),
        table(["reader", "rows", "µs / row", "rows / s", "x floor", "peak MB"], rows, "lrrrrr"),
        f"   direct is {data['speedup']}x faster than zeep (goal >= 5x), memory flat: "
        + ("OK" if data["check"]["ok"] else f"FAILED {data['check']}"),
        "",
        "   SOAP calls per company and refresh, accounts " + ", ".join(flow["accounts"]) + " (measured now; before: "
        "SetIdentityById + 2 GetAggregated + GetTransactions per account and calendar month):"]
    body = []
    for key in ("refresh", "refresh_long"):
        step = flow.get(key)
        if not step:
            continue
        plan = step["plan"]
        body.append([f"{step['period_from']} .. {step['as_of']} ({plan['months']} months)",
                     f"{plan['before']}", f"{step['per_company_total']:.2f}",
                     f"{step['per_company'].get('GetTransactions', 0):.2f}", f"{step['seconds']:.1f} s",
                     f"{step['entries_read']}", "OK" if step["check"]["ok"] else "FAILED"])
    parts.append(table(["period", "calls before", "calls now", "of which GetTransactions", "wall", "entries",
                        "check"], body, "lrrrrrl"))
    return "\n".join(parts)


def refresh_plan(accounts: int, period_from: date, as_of: date) -> dict:
    """SOAP calls per company and refresh: before (GetTransactions per account and calendar month)
    and now (one search over the account range and the period, cut at SEARCH_MONTHS)."""
    from ledgerbridge.connectors.twentyfourseven.connector import search_windows

    months = (as_of.year - period_from.year) * 12 + as_of.month - period_from.month + 1
    windows = len(list(search_windows(period_from, as_of)))
    return {"months": months, "windows": windows, "before": 3 + accounts * months, "now": 3 + windows}
