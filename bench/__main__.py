"""python -m bench (make bench): run the benchmarks, print a report, write bench/results/latest.json.

Sections (all by default; ``--only`` picks some, e.g. ``python -m bench --only tfso``):
  cold   1   cold start of every function (import, first use of its clients, peak RSS) against
             its floor (import boto3 + the same clients)
  visma  2-4 Visma eAccounting: vendor calls per settlement, throughput against the vendor's rate
             limit (settlements/s, share of the ceiling, 429s, CPU per settlement), 1/2/N worker processes
  tfso   1b  cold import before/after the 24SevenOffice change, the 24SO connector's first use,
             zeep/lxml after each handler import;
         5-7 24SevenOffice: company import, reconciliation setup, balance refresh; 7b GetTransactions
             rows read (direct reader against zeep) and SOAP calls per refresh (12 months)
  shop   8   24SevenOffice for a shop: SOAP calls per settlement against the minimum, logins,
             settlements/s at 50 ms
  core   9   the settlement core with 1,000-20,000 lines (linear time and memory)
  sched  10  the scheduler with 1,000-10,000 due connections: SQS and DynamoDB calls, wall and CPU per
             1,000, growth, the invocation against its timeout
  procountor
         11  Procountor payroll journals (six receipts each): calls per receipt, receipts/s at 50 ms against
             the vendor's ceiling (20 requests/s per API client), 429s, 1 and N worker processes
  uniconta
         12  Uniconta: a salon's week of daily sales (one InsertList per day), calls per day and per week
             against the 5,000-per-day budget and the hub's 4,000 share, seconds per day booked at 50 ms
  sync   13  Uniconta customer sync: 10,000 customers pushed (first time, then 1 % changed), calls per phase
             against the budget and sync's 3,000 part, echoes of the hub's own writes, seconds per phase

Exit status 0 when every correctness check held, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import imports
from .report import heading, table

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("cold", "visma", "tfso", "shop", "procountor", "uniconta", "sync", "core", "sched")
# The commit before the 24SevenOffice work: the "before" of the cold-import comparison.
BEFORE_COMMIT = "f087068"
BEFORE_FUNCTIONS = "ingest,scheduler,authorizer"


def _sections(value: str) -> list[str]:
    picked = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in picked if v not in SECTIONS]
    if unknown or not picked:
        raise argparse.ArgumentTypeError(f"unknown section {', '.join(unknown) or value!r}; "
                                         f"choose from {', '.join(SECTIONS)}")
    return picked


class _DropEmf:
    """stdout filter: swallows the CloudWatch EMF lines Powertools prints in the local runtime.

    With POWERTOOLS_METRICS_DISABLED=1 Powertools never clears its metric set, so after 100 values
    it auto-flushes (prints) regardless; those lines would break up the report. Counted, not shown.
    """

    def __init__(self, stream):
        self.stream, self.dropped, self.pending = stream, 0, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.startswith('{"_aws"'):
                self.dropped += 1
            else:
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=_sections, action="extend", metavar="SECTION[,SECTION]",
                        help=f"run only these sections ({', '.join(SECTIONS)}); repeatable; default all")
    parser.add_argument("--repeats", type=int, default=7, help="cold-import samples per target (7)")
    parser.add_argument("--calls-n", type=int, default=20, help="settlements for the vendor-call count (20)")
    parser.add_argument("--n", type=int, default=100, help="settlements for the throughput run (100)")
    parser.add_argument("--scaling-n", type=int, default=100, help="settlements per scaling run (100)")
    parser.add_argument("--latency-ms", type=int, default=50, help="simulator latency for throughput (50)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes for throughput (4)")
    parser.add_argument("--no-scaling", action="store_true", help="skip benchmark 4 (1, 2, N worker processes)")
    parser.add_argument("--tfso-companies", type=int, default=200, help="24SevenOffice client companies (200)")
    parser.add_argument("--shop-n", type=int, default=50, help="24SevenOffice shop settlements booked (50)")
    parser.add_argument("--tfso-latency-ms", type=int, default=50,
                        help="24SevenOffice simulator latency per SOAP call (50)")
    parser.add_argument("--sync-customers", type=int, default=10_000,
                        help="customers of the salon for the customer-sync benchmark (10,000)")
    parser.add_argument("--procountor-n", type=int, default=20,
                        help="Procountor payroll journals per throughput run, six receipts each (20)")
    parser.add_argument("--procountor-calls-n", type=int, default=20,
                        help="Procountor payroll journals for the call count (20)")
    parser.add_argument("--before-commit", default=BEFORE_COMMIT,
                        help=f"'before' of the cold-import comparison, checked out at {imports.BEFORE_PATH} "
                             f"({BEFORE_COMMIT})")
    parser.add_argument("--before-functions", default=BEFORE_FUNCTIONS,
                        help=f"functions compared before/after, comma-separated, or 'all' ({BEFORE_FUNCTIONS})")
    parser.add_argument("--no-before", action="store_true", help="skip the before/after cold-import comparison")
    args = parser.parse_args(argv)
    args.only = list(dict.fromkeys(args.only or SECTIONS))
    real_stdout = sys.stdout
    sys.stdout = filtered = _DropEmf(real_stdout)
    try:
        return run(args)
    finally:
        sys.stdout = real_stdout
        if filtered.pending:
            print(filtered.pending)
        if filtered.dropped:
            print(f"({filtered.dropped} CloudWatch EMF lines from Powertools were left out of the report)")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    results: dict = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "python": platform.python_version(), "cpus": os.cpu_count(),
                     "platform": platform.platform(), "args": vars(args), "sections": args.only}
    print(f"ledgerbridge benchmarks — {results['started_at']}, Python {results['python']}, "
          f"{results['cpus']} CPUs, {platform.machine()}; sections: {', '.join(args.only)}")
    checks: dict[str, bool] = {}
    seconds: dict[str, float] = {}
    lap = [time.perf_counter()]

    def took(section: str) -> None:
        now = time.perf_counter()
        seconds[section] = round(seconds.get(section, 0) + now - lap[0], 1)
        lap[0] = now

    # Cold imports run first, in subprocesses, before the DevStack changes this process's environment
    # and while nothing else runs in it.
    if "cold" in args.only:
        results["cold_import"] = cold = imports.run(args.repeats)
        print_cold_import(cold)
        took("cold")
    if "tfso" in args.only:
        results["tfso_cold_import"] = tfso_cold = tfso_cold_import(args, results.get("cold_import"))
        print_tfso_cold_import(tfso_cold)
        checks["1b handlers load no zeep/lxml"] = tfso_cold["soap_free"]["ok"]
        took("tfso cold import")

    if any(section in args.only for section in ("visma", "tfso", "shop", "procountor", "uniconta", "sync")):
        from .runtime import Runtime, throughput, vendor_calls

        with Runtime(worker_concurrency=args.concurrency) as rt:
            took("DevStack start")
            if "visma" in args.only:
                # Booking in worker processes that consume the queue themselves, as Lambda's do.
                rt.use_worker_processes(args.concurrency)
                results["vendor_calls"] = calls = vendor_calls(rt, args.calls_n)
                print_vendor_calls(calls)
                checks["2 vendor calls"] = calls["check"]["ok"]

                results["throughput"] = tp = throughput(rt, args.n, args.latency_ms, "throughput")
                print_throughput(tp)
                checks["3 throughput"] = tp["booking"]["check"]["ok"]

                if not args.no_scaling:
                    runs = []
                    for count in sorted({1, 2, args.concurrency}):
                        rt.use_worker_processes(count)
                        runs.append(throughput(rt, args.scaling_n, args.latency_ms, f"scaling-{count}"))
                    results["scaling"] = runs
                    print_scaling(runs, args.concurrency)
                    for r in runs:
                        checks[f"4 scaling {r['label']}"] = r["booking"]["check"]["ok"]
                rt.set_concurrency(args.concurrency)  # the other sections: SQS poller + containers
                took("visma")

            if "tfso" in args.only:
                from . import tfso

                results["tfso"] = flow = tfso.run(rt, args.tfso_companies, args.tfso_latency_ms)
                print_tfso_import(flow)
                print_tfso_setup(flow)
                print_tfso_refresh(flow)
                print(tfso.report(flow))
                checks["5 24SO import"] = flow["import"]["check"]["ok"]
                checks["6 24SO setup"] = flow["setup"]["check"]["ok"]
                checks["7 24SO refresh"] = flow["refresh"]["check"]["ok"]
                checks["7b 24SO rows read, calls per refresh"] = (flow["parse"]["check"]["ok"]
                                                                  and flow["refresh_long"]["check"]["ok"])
                took("tfso")

            if "shop" in args.only:
                from . import tfso_shop
                from .report import heading

                results["shop"] = shop = tfso_shop.run(rt, args.shop_n, args.tfso_latency_ms)
                print(heading(8, "A shop's settlements into 24SevenOffice (SaveBundleList with the Z-report)",
                              tfso_shop.report(shop)))
                checks["8 24SO shop booking"] = shop["check"]["ok"]
                took("shop")

            if "procountor" in args.only:
                from . import procountor

                results["procountor"] = payroll = procountor.run(
                    rt, args.procountor_n, args.procountor_calls_n, args.latency_ms,
                    processes=tuple(sorted({1, args.concurrency})))
                print(procountor.report(payroll))
                checks["11 Procountor payroll journals"] = payroll["check"]["ok"]
                rt.set_concurrency(args.concurrency)  # the other sections: SQS poller + containers
                took("procountor")

            if "uniconta" in args.only:
                from . import uniconta

                results["uniconta"] = salon = uniconta.run(rt, args.latency_ms)
                print(uniconta.report(salon))
                checks["12 Uniconta daily sales"] = salon["check"]["ok"]
                took("uniconta")

            if "sync" in args.only:
                from . import customer_sync

                results["customer_sync"] = sync = customer_sync.run(rt, args.sync_customers,
                                                                    latency_ms=args.latency_ms)
                print(customer_sync.report(sync))
                checks["13 Uniconta customer sync"] = sync["check"]["ok"]
                took("sync")

    took("DevStack stop")
    if "core" in args.only:
        from . import settlement_core

        print("\n9. The settlement core: thousands of lines (python -m bench.settlement_core)")
        settlement_core.main()
        took("core")
    if "sched" in args.only:
        from . import scheduler

        results["scheduler"] = sched = scheduler.run()
        print(scheduler.report(sched))
        checks["10 scheduler fan-out"] = sched["ok"]
        took("sched")
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["section_seconds"] = seconds
    results["checks"] = checks
    results["all_checks_ok"] = ok = all(checks.values())
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    failed = [name for name, held in checks.items() if not held]
    parts = ", ".join(f"{name} {value:g}" for name, value in seconds.items())
    print(f"\nall checks {'OK' if ok else 'FAILED: ' + '; '.join(failed)}; {results['total_seconds']} s in all "
          f"({parts}); figures in {shown}")
    return 0 if ok else 1


def tfso_cold_import(args: argparse.Namespace, cold: dict | None) -> dict:
    """1b: before/after comparison (git worktree of the commit before the 24SO work), the 24SO
    connector's first use, and zeep/lxml after each handler import."""
    import subprocess

    out: dict = {}
    if args.no_before:
        out["before_after"] = {"skipped": "--no-before"}
    else:
        names = ([d.name for d in imports.functions()] if args.before_functions == "all"
                 else [n.strip() for n in args.before_functions.split(",") if n.strip()])
        try:
            with imports.worktree(args.before_commit) as (path, commit):
                out["before_after"] = {"commit": commit, "path": str(path),
                                       **imports.compare(args.repeats, path, names)}
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            out["before_after"] = {"skipped": f"could not check out {args.before_commit}: {detail.strip()}"}
    out["connector"] = imports.tfso_connector(args.repeats)
    if cold is not None:  # section 1 imported every handler already: read its sys.modules record
        probe = [{"function": r["function"], "loaded": [m for m in imports.SOAP_MODULES if r["heavy_modules"].get(m)]}
                 for r in cold["rows"]]
        source = "section 1's samples"
    else:
        probe, source = imports.soap_probe(), "a separate import of each handler"
    out["soap_free"] = {"rows": probe, "source": source, "ok": all(not r["loaded"] for r in probe)}
    return out


def print_cold_import(cold: dict) -> None:
    rows = cold["rows"]
    goal = cold["goal_ratio"]
    print(heading(1, "Cold start of each function against its floor", [
        "Floor: `import boto3`, then the boto3 clients the function's IAM policies name (template.yaml), each",
        "built and used once. Function: `import app`, then the same clients through ledgerbridge.aws, used once.",
        "Lambda-like environment (LAMBDA_TASK_ROOT etc.: Tracer and the X-Ray SDK behave as inside Lambda);",
        f"a fresh `python -c` per sample, {rows[0]['repeats']} samples per target round-robin, medians. First "
        "calls are answered",
        "in-process (botocore before-send hook, after endpoint resolution, serialising and signing).",
        "CPU = the process's CPU time; wall = elapsed (also counts waiting for a core on this shared machine).",
        f"'x' = function / floor. Goal: import + first use (CPU) and peak RSS <= {goal:g}x the floor.",
    ]))
    def pair(r: dict, field: str, digits: int = 0) -> list[str]:
        return [f"{r['function_figures'][field]:.{digits}f}", f"{r['floor'][field]:.{digits}f}",
                f"{r['ratio'][field]:.2f}x"]

    body = [[r["function"], "+".join(s.replace("secretsmanager", "secrets") for s in r["services"]),
             *pair(r, "import_cpu_ms"), *pair(r, "first_use_cpu_ms"), f"{r['ratio']['first_use_ms']:.2f}x",
             *pair(r, "rss_mib", 1), "OK" if r["goal_met"] else "over"] for r in rows]
    print(table(["function", "clients", "import CPU ms", "floor", "x", "+first use CPU ms", "floor", "x",
                 "wall x", "peak RSS MiB", "floor", "x", "goal"], body, "ll" + "r" * 10 + "l"))
    print("\n   Against the stack floor: the floor plus what the brief prescribes, as far as the function loads")
    print("   it (pydantic; every Powertools module it had loaded after its first request: Logger, Metrics, the event")
    print("   handler with OpenAPI validation, BatchProcessor, Idempotency; Tracer patching botocore where it traces).")
    print("   What is left over it is the hub's own code: its modules, models and first-use work.")
    body = [[r["function"], str(r["stack_floor_imports"]["powertools_modules"]),
             "yes" if r["stack_floor_imports"]["tracer"] else "no",
             f"{r['function_figures']['first_use_cpu_ms']:.0f}", f"{r['stack_floor']['first_use_cpu_ms']:.0f}",
             f"{r['stack_ratio']['first_use_cpu_ms']:.2f}x",
             f"{r['function_figures']['rss_mib']:.1f}", f"{r['stack_floor']['rss_mib']:.1f}",
             f"{r['stack_ratio']['rss_mib']:.2f}x",
             f"{r['function_figures']['first_use_cpu_ms'] - r['stack_floor']['first_use_cpu_ms']:.0f}"] for r in rows]
    print(table(["function", "Powertools modules", "Tracer", "+first use CPU ms", "stack floor", "x",
                 "peak RSS MiB", "stack floor", "x", "hub's own CPU ms"], body, "lrl" + "r" * 7))
    body = [[r["function"], *[f"{r[side][f]:.0f}" for side in ("function_figures", "floor")
                              for f in ("import_ms", "first_use_ms")]] for r in rows]
    print("\n   The first request (the function's sample event through its handler, AWS answered in process),")
    print("   CPU ms after import and first use: what a cold start pays on top of the figures above (schemas")
    print("   built on first use, the handler's own work).")
    print(table(["function", "first request CPU ms"],
                [[r["function"], f"{r['function_figures']['first_request_cpu_ms']:.0f}"] for r in rows]))
    print("\n   Wall time (ms):")
    print(table(["function", "import", "+first use", "floor import", "floor +first use"], body))
    short = {"aws_xray_sdk": "xray_sdk", "pydantic_settings": "pyd_settings"}
    body = []
    for r in rows:
        loaded = " ".join(short.get(m, m) for m, present in r["heavy_modules"].items() if present)
        built = r["clients_built_at_import"]
        parts = [f"{built['boto'].count(s)}x boto3 '{s}'" for s in sorted(set(built["boto"]))]
        parts += [f"{built['httpx']}x httpx"] if built["httpx"] else []
        body.append([r["function"], r["function_figures"]["module_count"], r["floor"]["module_count"], loaded,
                     ", ".join(parts) or "none"])
    print("\n   Modules in sys.modules after the first use (function, floor); heavy ones loaded; clients built "
          "while importing:")
    print(table(["function", "modules", "floor", "heavy modules loaded", "clients at import"], body, "lrrll"))


def print_vendor_calls(calls: dict) -> None:
    print(heading(2, "Vendor calls per booked settlement", [
        f"{calls['n']} settlements with PDF booked through DevStack (tick + drain, simulator latency 0);",
        "simulator request_counts() reset after connect, account setup and ingest, so only booking counts;",
        f"divided by {calls['n']}. Check: {_check_text(calls['check'], calls['n'])}.",
    ]))
    body = [[endpoint, f"{per:.2f}"] for endpoint, per in calls["per_settlement"].items()]
    body.append(["total", f"{calls['total_per_settlement']:.2f}"])
    print(table(["simulator endpoint", "calls / settlement"], body))
    aws_calls = calls.get("aws_calls_per_settlement") or {}
    if aws_calls:
        print("\n   AWS calls per booked settlement by the worker processes' handlers (botocore before-call;")
        print("   SQS receive and delete are the event source's, not counted):")
        body = [[name, f"{per:.2f}"] for name, per in aws_calls.items()]
        body.append(["total", f"{sum(aws_calls.values()):.2f}"])
        print(table(["service.operation", "calls / settlement"], body))


def _cpu_text(booking: dict) -> str:
    short = {"worker processes": "workers", "moto server (AWS)": "moto", "other functions": "other functions",
             "this process (simulators, gateway, driver)": "simulators+gateway+driver"}
    parts = ", ".join(f"{short.get(k, k)} {v:.0f}" for k, v in booking["cpu_ms_per_settlement"].items() if v)
    return f"{booking['cpu_ms_per_settlement_total']:.0f} ms ({parts})"


def print_throughput(tp: dict) -> None:
    ing, book = tp["ingest"], tp["booking"]
    ceiling = tp["ceiling_settlements_per_s"]
    print(heading(3, "Booking throughput against eAccounting's rate limit", [
        f"{tp['n']} distinct settlements (with PDF) POSTed one by one over the local API Gateway; then wall",
        "time from tick(at=next_run_at) until every voucher is at the simulator and the queue is drained.",
        f"Simulator latency {tp['simulator_latency_ms']} ms per /v2 call; {tp['worker_threads']} worker "
        f"{tp['workers']}, each receiving from the queue",
        "itself (as Lambda's workers do) and pacing 600/min per endpoint / LB_WORKER_CONCURRENCY="
        f"{tp['rate_share_divisor']} so that",
        f"no minute holds more. Ceiling: eAccounting's limit on POST /v2/vouchers, one per settlement = {ceiling:g}/s.",
        "429s: requests the simulator's own limiter refused. CPU: user + system from /proc per booked",
        "settlement, for every process of the local runtime (the machine's other load is not in it).",
    ]))
    body = [
        ["ingest", f"{ing['requests_per_s']:.1f} req/s",
         f"p50 {ing['p50_ms']:.0f} ms, p95 {ing['p95_ms']:.0f} ms, max {ing['max_ms']:.0f} ms "
         f"({ing['n']} calls in {ing['seconds']:.1f} s, sequential)"],
        ["booking", f"{book['settlements_per_s']:.2f} settl/s",
         f"{tp['share_of_ceiling']:.0%} of the vendor's ceiling ({ceiling:g}/s); {book['n']} booked in "
         f"{book['seconds']:.1f} s; {tp['vendor_requests_per_s']:.1f} vendor req/s"],
        ["steady", f"{book['steady_settlements_per_s'] or 0:.2f} settl/s",
         f"{tp['steady_share_of_ceiling']:.0%} of the ceiling from the vendor's first voucher to its last (the rate "
         f"its limit counts); first voucher {book['seconds_to_first_voucher']:.1f} s after the tick, "
         f"drained {book['seconds_last_voucher_to_drained']:.1f} s after the last"],
        ["client cap", f"{tp['client_rate_cap_per_endpoint_per_s']:g} req/s", "per endpoint and worker process"],
        ["429s", str(book["check"]["rate_limited"]), "refused by the vendor's limiter (must be 0)"],
        ["CPU / settlement", "", _cpu_text(book)],
        ["machine bound", f"{book['machine_bound_settlements_per_s']:g} settl/s",
         f"{book['cpus']} cores / CPU per settlement: what this machine could book with every core for the "
         f"runtime (load average {book['load_average_before']:g} before the run)"],
        ["moto bound", f"{book['moto_bound_settlements_per_s'] or 0:g} settl/s",
         "1000 ms / moto's CPU per settlement: moto's server is one process (one core at most), and every AWS "
         "call of every worker goes through it"],
        ["goal", "met" if tp["steady_share_of_ceiling"] >= 0.9 and not book["check"]["rate_limited"] else "not met",
         ">= 90% of the vendor's ceiling, steady, with no 429 (a figure, not a check: a busy machine misses it; "
         "see 'machine bound')"],
        ["check", "OK" if book["check"]["ok"] else "FAILED", _check_text(book["check"], book["n"])],
    ]
    print(table(["stage", "rate", "detail"], body, "lrl"))


def print_scaling(runs: list[dict], concurrency: int) -> None:
    print(heading(4, "Scaling: worker processes", [
        f"As 3, {runs[0]['n']} settlements per run, with 1, 2 and {concurrency} worker processes; each takes "
        "1/count of eAccounting's",
        "600/min per endpoint (LB_WORKER_CONCURRENCY = count), so together they stay within it. One process is",
        "bound by its own round trips (three vendor calls of 50 ms plus the hub's own work per settlement);",
        "more processes are bound by the vendor's ceiling, or by this machine's CPU (see the CPU columns).",
    ]))
    body = [[r["worker_threads"], f"{r['client_rate_cap_per_endpoint_per_s']:g}", r["n"],
             f"{r['booking']['seconds']:.1f}", f"{r['booking']['settlements_per_s']:.2f}",
             f"{r['share_of_ceiling']:.0%}", r["booking"]["check"]["rate_limited"],
             f"{r['booking']['cpu_ms_per_settlement'].get('worker processes', 0):.0f}",
             f"{r['booking']['cpu_ms_per_settlement'].get('moto server (AWS)', 0):.0f}",
             f"{r['booking']['cpu_ms_per_settlement_total']:.0f}", f"{r['booking']['machine_bound_settlements_per_s']:g}",
             f"{r['booking']['load_average_before']:g}",
             "OK" if r["booking"]["check"]["ok"] else "FAILED"] for r in runs]
    print(table(["processes", "cap req/s/endpoint", "n", "seconds", "settl/s", "of ceiling", "429s",
                 "CPU ms workers", "CPU ms moto", "CPU ms all", "machine bound/s", "load avg", "check"], body,
                "rrrrrrrrrrrrl"))


def print_tfso_cold_import(data: dict) -> None:
    ba, conn, free = data["before_after"], data["connector"], data["soap_free"]
    print(heading("1b", "Cold import before/after the 24SevenOffice change; the 24SO connector's first use", [
        "As 1 (fresh interpreter per sample, PYTHONPATH = that checkout's layers/shared + function folder).",
        (f"'before': commit {ba['commit'][:7]} checked out as a git worktree at {ba['path']} (removed afterwards), "
         "'after': this checkout" if "commit" in ba else f"before/after comparison skipped: {ba['skipped']}"),
        *([f"(working tree); round-robin, {ba['repeats']} samples each after one untimed import (the worktree's "
           ".pyc). 'modules': len(sys.modules) after the import, before -> after."] if "commit" in ba else []),
    ]))
    if "commit" in ba:
        body = [[r["function"] + "/app.py", f"{r['before']['median_ms']:.0f}", f"{r['after']['median_ms']:.0f}",
                 f"{r['change_ms']:+.0f} ({r['change_pct']:+.1f}%)", f"{r['before']['min_ms']:.0f}",
                 f"{r['after']['min_ms']:.0f}",
                 f"{r['before']['modules_after_import']} -> {r['after']['modules_after_import']}"] for r in ba["rows"]]
        print(table(["function", "before median ms", "after median ms", "change", "before min", "after min",
                     "modules"], body, "lrrrrrr"))
        if ba.get("missing"):
            print(f"   not in both checkouts: {', '.join(ba['missing'])}")
    print("\n   24SevenOffice connector, first use: `import ledgerbridge.connectors.twentyfourseven` (brings zeep "
          "and lxml),\n   then soap._zeep_client(wsdl) for each of the 4 WSDLs (parse + zeep client), "
          f"medians of {conn['repeats']} fresh interpreters;\n   `import zeep` alone in a bare interpreter: "
          f"{conn['import_zeep_alone_ms']:.0f} ms (min {conn['import_zeep_alone_min_ms']:.0f}).")
    services = list(conn["rows"][0]["clients_ms"])
    body = [[r["context"], "" if r["host_import_ms"] is None else f"{r['host_import_ms']:.0f}",
             f"{r['import_ms']:.0f}", *[f"{r['clients_ms'][s]:.0f}" for s in services],
             f"{sum(r['clients_ms'].values()):.0f}", f"{r['first_use_ms']:.0f}"] for r in conn["rows"]]
    print(table(["context", "import app ms", "import 24SO ms", *[f"{s} ms" for s in services], "4 clients ms",
                 "first use ms"], body, "l" + "r" * (5 + len(services))))
    print(f"\n   zeep / lxml in sys.modules after each handler's `import app` (from {free['source']}; "
          "must be no for all):")
    body = [[r["function"] + "/app.py", "yes" if "zeep" in r["loaded"] else "no",
             "yes" if "lxml" in r["loaded"] else "no"] for r in free["rows"]]
    body.append(["check", "OK" if free["ok"] else "FAILED", ""])
    print(table(["function", "zeep", "lxml"], body, "lll"))


def _calls_table(step: dict) -> str:
    body = [[op, calls, f"{step['per_company'][op]:.2f}"] for op, calls in step["soap_calls"].items()]
    body.append(["total", step["soap_calls_total"], f"{step['per_company_total']:.2f}"])
    return table(["SOAP operation", "calls", "calls / company"], body)


def print_tfso_import(flow: dict) -> None:
    step, n = flow["import"], flow["companies"]
    cred = flow["credential"]
    print(heading(5, "24SevenOffice: company import", [
        f"{n} client companies ({flow['seeded']} seeded + {flow['populated']} added with populate()) of one "
        f"integration user; simulator latency {flow['simulator_latency_ms']} ms per SOAP call.",
        "PUT /credential first (the connection's first Login; not timed here: "
        f"{', '.join(f'{k} {v}' for k, v in cred['soap_calls'].items())}; {cred['seconds']:.1f} s).",
        "Then wall time from POST /companies/import (202) until drain() returns (incl. its 0.3 s quiet period);",
        "'run time' is the export-log entry's received_at -> updated_at. Calls counted from the POST on.",
    ]))
    print(_calls_table(step))
    check = step["check"]
    body = [
        ["wall time, POST -> drained", f"{step['seconds']:.1f} s"],
        ["run time (export log)", f"{step['run_seconds']:.1f} s" if step["run_seconds"] is not None else "?"],
        ["per company", f"{1000 * step['seconds'] / n:.0f} ms"],
        ["SOAP calls / s", f"{step['soap_calls_per_s']:.1f}"],
        ["logins", step["logins"]],
        ["worker invocations", f"{step['worker_invocations']} ({step['retried_messages']} retried)"],
        ["run", f"{step['state']}; summary {step['summary']}"],
        ["check", ("OK" if check["ok"] else "FAILED") + f": run {check['state']}, {check['companies_listed']} "
                  f"companies listed, {check['new']} new, {check['with_org_number_and_currency']} with "
                  f"organisation number and currency; expected {n}"],
    ]
    print(table(["figure", "value"], body, "ll"))


def print_tfso_setup(flow: dict) -> None:
    step, n = flow["setup"], flow["companies"]
    print(heading(6, "24SevenOffice: reconciliation setup", [
        f"PUT /companies/{{company_id}}/reconciliation {{\"accounts\": {json.dumps(flow['accounts'])}}} for each of "
        f"the {n} companies, one after another",
        "over the local API Gateway; synchronous: each reads that company's chart of accounts over SOAP.",
    ]))
    print(_calls_table(step))
    body = [
        ["wall time, all companies", f"{step['seconds']:.1f} s"],
        ["per request", f"p50 {step['p50_ms']:.0f} ms, p95 {step['p95_ms']:.0f} ms, max {step['max_ms']:.0f} ms"],
        ["SOAP calls / s", f"{step['soap_calls_per_s']:.1f}"],
        ["logins", step["logins"]],
        ["check", ("OK" if step["check"]["ok"] else "FAILED") + f": {step['check']['ready']} companies ready with "
                  f"accounts {', '.join(flow['accounts'])}; expected {n}"],
    ]
    print(table(["figure", "value"], body, "ll"))


def print_tfso_refresh(flow: dict) -> None:
    step, n = flow["refresh"], flow["companies"]
    check = step["check"]
    print(heading(7, "24SevenOffice: balance refresh", [
        f"POST /balance-refresh {{}} (every ready company; period {step['period_from']} .. {step['as_of']}, "
        f"{step['period_days']} days), then drain().",
        "One run = one SQS job, companies one after another under the credential's session lease (one",
        "session, one current identity): worker threads do not parallelise it. Per company SetIdentityById,",
        "GetAggregated (opening balances), one GetTransactions over the accounts' range and the period (streamed,",
        "stored in chunks of 1,000), GetAggregated after as_of (proof that opening + entries = the vendor's balance).",
        "Check: run done, one ok outcome per company, entries and closing balances equal to the simulator's",
        "ledger, at most 1 login in the whole flow (5-7).",
    ]))
    print(_calls_table(step))
    body = [
        ["wall time, POST -> drained", f"{step['seconds']:.1f} s"],
        ["run time (export log)", f"{step['run_seconds']:.1f} s" if step["run_seconds"] is not None else "?"],
        ["per company", f"{1000 * step['seconds'] / n:.0f} ms"],
        ["SOAP calls / s", f"{step['soap_calls_per_s']:.1f}"],
        ["entries read", f"{step['entries_read']} ({step['entries_read'] / n:.1f} per company)"
         if step["entries_read"] is not None else "?"],
        ["logins (this step)", step["logins"]],
        ["logins (whole flow)", f"{check['logins_whole_benchmark']} ({check['logins_after_first']} after the first, "
                                "at PUT /credential)"],
        ["worker invocations", f"{step['worker_invocations']} ({step['handovers']} handovers, "
                               f"{step['retried_messages']} retried)"],
        ["run", f"{step['state']}; summary {step['summary']}"],
        ["check", ("OK" if check["ok"] else "FAILED") + f": run {check['state']}, {check['ok_outcomes']}/"
                  f"{check['outcomes']} ok outcomes (expected {n}), entries {check['entries_read']}/"
                  f"{check['entries_expected']}, {check['accounts_matching_simulator']}/{check['accounts_compared']} "
                  f"accounts match the simulator, {check['logins_whole_benchmark']} login(s) (<= 1)"],
    ]
    print(table(["figure", "value"], body, "ll"))


def _check_text(check: dict, n: int) -> str:
    return (f"{check['new_vouchers']} new vouchers ({check['distinct_vouchers']} distinct), "
            f"{check['documents_booked']} booked in the log, {check['retried_messages']} retried, "
            f"{check.get('rate_limited', 0)} refused with 429; expected {n} and no 429")


if __name__ == "__main__":
    sys.exit(main())
