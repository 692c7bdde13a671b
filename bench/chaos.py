"""python -m bench.chaos (make chaos): the hub run as an adversary would run it, through the local runtime.

N settlements (default 1,000), each sent twice (half of them both sends at once), "transfer now"
pressed from several threads at once (every 5 s) while they arrive, SQS delivering processed messages again,
and eAccounting failing voucher and attachment uploads: 10 % 5xx (half before the vendor saved
anything, half after it did), 5 % 429, 2 % timeout after commit. Then: every document must be
booked exactly once (failed ones are replayed, as a bookkeeper would), every voucher must carry its
Z-report exactly once, and no attachment may be left unlinked in the customer's inbox.

The same documents go through a fault-free stack too; both drain times are printed side by side.
Exit status 0 when every check held, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from devstack import samples
from devstack.stack import DevStack, StackOptions

from .report import heading, table

USERNAME, PASSWORD = "demo@bakery.example", "demo-password"
UPLOADS = ("/v2/vouchers", "/v2/attachments")


def chaos_faults() -> list:
    """Per upload request: 5 % 503 (nothing saved), 5 % 502 after commit, 5 % 429, 2 % timeout
    after commit. Faults are tried in order, each drawing on its own, so each later probability
    is conditional on the earlier ones not firing."""
    from simulators.visma_eaccounting import Fault

    wanted = [("status", {"status": 503}, 0.05), ("status_after_commit", {"status": 502}, 0.05),
              ("rate_limit", {"retry_after": 1}, 0.05), ("timeout_after_commit", {"delay_s": 2.5}, 0.02)]
    faults, left = [], 1.0
    for kind, extra, share in wanted:
        for path in UPLOADS:
            faults.append(Fault(kind, method="POST", path_prefix=path, times=-1, probability=share / left, **extra))
        left -= share
    return faults


def documents_for(n: int) -> list[dict]:
    """n distinct Z-reports: up to 25 registers a day over the last days."""
    today = date.today()
    return [samples.settlement(today - timedelta(days=1 + i // 25), i % 25 + 1, register=str(i % 25 + 1))
            for i in range(n)]


def run_once(bodies: list[dict], *, chaos: bool, concurrency: int, presses: int) -> dict:
    options = StackOptions(worker_concurrency=concurrency, vendor_timeout_seconds=1.0, submit_settle_seconds=3,
                           backoff_base_seconds=1, redeliver_rate=0.1 if chaos else 0.0, log_level="ERROR")
    with DevStack(options) as stack:
        api = stack.api(stack.create_tenant("chaos" if chaos else "calm"))
        created = api.post("/connections", json={"vendor": "visma_eaccounting", "name": "chaos shop",
                                                 "schedule": {"frequency": "never", "lookback_days": 30}})
        connection_id = created.json()["connection_id"]
        stack.connect_in_browser(api, connection_id, USERNAME, PASSWORD)
        saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.account_setup())
        assert saved.status_code == 200, saved.text
        if chaos:
            for fault in chaos_faults():
                stack.simulator.state.add_fault(fault)
        started = time.perf_counter()
        answers = _send_twice(stack, api, connection_id, bodies, presses)
        sent_s = time.perf_counter() - started
        final = api.post(f"/connections/{connection_id}/transfers").json()
        _wait_until_settled(stack, api, connection_id, len(bodies))
        drained_s = time.perf_counter() - started
        replays = 0
        for _ in range(5):
            failed = _count(api, connection_id, "failed")
            if not failed:
                break
            replays += api.post(f"/connections/{connection_id}/replay-failed").json()["replayed"]
            _wait_until_settled(stack, api, connection_id, len(bodies))
        total_s = time.perf_counter() - started
        stack.simulator.state.faults.clear()
        result = _verify(stack, api, connection_id, bodies)
        result["accepted_to_booked"] = _latencies(api, connection_id)
        result.update(
            chaos=chaos, documents=len(bodies), answers=answers, last_press=final, replayed=replays,
            send_seconds=round(sent_s, 1), sends_per_second=round(2 * len(bodies) / sent_s, 1), drain_seconds=round(drained_s, 1), total_seconds=round(total_s, 1),
            redelivered_messages=stack.poller.redelivered, retried_messages=stack.poller.failures,
            vendor_requests={k: v for k, v in sorted(stack.simulator.request_counts().items())
                             if k.startswith(("POST", "GET /v2/attachments/", "GET /v2/vouchers"))},
        )
        return result


def _send_twice(stack: DevStack, api, connection_id: str, bodies: list[dict], presses: int) -> dict:
    """Each settlement twice: even ones with both sends at once, odd ones one after the other;
    meanwhile "transfer now" is pressed from ``presses`` threads at once, again and again."""
    answers: dict[str, int] = {}
    lock = threading.Lock()
    done = threading.Event()
    clients = threading.local()  # one HTTP client per sending thread, as a back office would keep
    key = api.headers["Authorization"].split()[1]

    def post(body: dict) -> None:
        if not hasattr(clients, "api"):
            clients.api = stack.api(key)
        status = clients.api.post(f"/connections/{connection_id}/settlements", json=body).status_code
        with lock:
            answers[str(status)] = answers.get(str(status), 0) + 1

    def send(index_body: tuple[int, dict]) -> None:
        index, body = index_body
        if index % 2 == 0:
            pair = [threading.Thread(target=post, args=(body,)) for _ in range(2)]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join()
        else:
            post(body)
            post(body)

    def press(barrier: threading.Barrier) -> None:
        with stack.api(key) as client:
            while True:
                try:
                    barrier.wait()  # all pressers at the same moment
                except threading.BrokenBarrierError:
                    return
                client.post(f"/connections/{connection_id}/transfers")

    def burst_every_two_seconds(barrier: threading.Barrier) -> None:
        while not done.wait(5.0):
            barrier.wait()
        barrier.abort()

    barrier = threading.Barrier(presses + 1)
    pressers = [threading.Thread(target=press, args=(barrier,)) for _ in range(presses)]
    pressers.append(threading.Thread(target=burst_every_two_seconds, args=(barrier,)))
    for thread in pressers:
        thread.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(send, enumerate(bodies)))
    done.set()
    for thread in pressers:
        thread.join()
    return answers


def _documents(api, connection_id: str, state: str) -> list[dict]:
    found, cursor = [], None
    while True:
        params = {"state": state, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/connections/{connection_id}/documents", params=params).json()
        found += page["documents"]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def _latencies(api, connection_id: str) -> dict:
    """From acceptance to booked, per document: where the time of a drain goes."""
    from datetime import datetime

    from .runtime import percentile

    booked = _documents(api, connection_id, "booked")
    seconds = [(datetime.fromisoformat(d["booked_at"]) - datetime.fromisoformat(d["received_at"])).total_seconds()
               for d in booked if d.get("booked_at")]
    attempts = [d["attempts"] for d in booked]
    if not seconds:
        return {}
    return {"p50_s": round(percentile(seconds, 50), 1), "p95_s": round(percentile(seconds, 95), 1),
            "max_s": round(max(seconds), 1), "max_claims": max(attempts),
            "claims_per_document": round(sum(attempts) / len(attempts), 2)}


def _count(api, connection_id: str, state: str) -> int:
    count, cursor = 0, None
    while True:
        params = {"state": state, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/connections/{connection_id}/documents", params=params).json()
        count += len(page["documents"])
        cursor = page.get("next_cursor")
        if not cursor:
            return count


def _wait_until_settled(stack: DevStack, api, connection_id: str, n: int, timeout: float = 3600) -> None:
    """Until nothing is left in the queue and every document is booked or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.drain(timeout=max(deadline - time.monotonic(), 1))
        if _count(api, connection_id, "booked") + _count(api, connection_id, "failed") >= n:
            return
        time.sleep(1)
    raise TimeoutError(f"not settled within {timeout:g} s")


def _verify(stack: DevStack, api, connection_id: str, bodies: list[dict]) -> dict:
    vouchers = stack.simulator.vouchers()
    references = [v["VoucherText"].rsplit("[", 1)[-1].rstrip("]") for v in vouchers]
    attachments = stack.simulator.attachments()
    booked = _count(api, connection_id, "booked")
    doc_ids = {b["document_id"] for b in bodies}
    linked_once = sum(1 for v in vouchers if len(v["Attachments"]["AttachmentIds"]) == 1)
    checks = {
        "duplicates": len(references) - len(set(references)),
        "lost": len(doc_ids) - booked,
        "vouchers": len(vouchers),
        "vouchers_without_exactly_one_pdf": len(vouchers) - linked_once,
        "orphan_attachments": sum(1 for a in attachments if not a["DocumentId"]),
        "attachments": len(attachments),
    }
    checks["ok"] = (checks["duplicates"] == 0 and checks["lost"] == 0 and checks["vouchers"] == len(doc_ids)
                    and checks["vouchers_without_exactly_one_pdf"] == 0 and checks["orphan_attachments"] == 0
                    and checks["attachments"] == len(doc_ids))
    return {"check": checks}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=1000, help="settlements (1000)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker containers (4)")
    parser.add_argument("--presses", type=int, default=4, help="threads pressing transfer now at once (4)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the fault-free run")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    bodies = documents_for(args.documents)
    runs = [run_once(bodies, chaos=True, concurrency=args.concurrency, presses=args.presses)]
    if not args.no_baseline:
        runs.append(run_once(bodies, chaos=False, concurrency=args.concurrency, presses=args.presses))
    print(heading("C", "Chaos: duplicates, concurrent presses, redeliveries, vendor faults", [
        f"{args.documents} settlements, each sent twice (half at once); transfer now pressed from {args.presses} "
        "threads at once every 5 s while they arrive; 10 % of processed SQS messages delivered again; voucher and",
        "attachment uploads: 5 % 503, 5 % 502 after commit, 5 % 429, 2 % timeout after commit (chaos run only).",
        f"{args.concurrency} worker containers; vendor timeout 1 s; settle wait 3 s. 'drain': from the first send "
        "until every document was booked or failed; 'total': including replays of the failed.",
    ]))
    rows = []
    for r in runs:
        c = r["check"]
        rows.append(["chaos" if r["chaos"] else "fault-free", r["documents"], r["drain_seconds"], r["total_seconds"],
                     r["replayed"], r["redelivered_messages"], r["retried_messages"], c["vouchers"], c["duplicates"],
                     c["lost"], c["orphan_attachments"], "OK" if c["ok"] else "FAILED"])
    print(table(["run", "docs", "drain s", "total s", "replayed", "redelivered", "retried", "vouchers",
                 "duplicates", "lost", "orphans", "check"], rows, "lrrrrrrrrrrl"))
    for r in runs:
        print(f"   {'chaos' if r['chaos'] else 'fault-free'}: answers {r['answers']}, vendor POSTs "
              f"{ {k: v for k, v in r['vendor_requests'].items() if k.startswith('POST')} }")
    if len(runs) == 2 and runs[1]["drain_seconds"]:
        print(f"   chaos drain / fault-free drain: {runs[0]['drain_seconds'] / runs[1]['drain_seconds']:.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(runs, out, indent=2, default=str)
    return 0 if all(r["check"]["ok"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
