"""python -m bench (make bench): run the benchmarks, print a report, write bench/results/latest.json.

Exit status 0 when every correctness check of the runtime benchmarks held, 1 otherwise.
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
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="cold-import samples per target (7)")
    parser.add_argument("--calls-n", type=int, default=20, help="settlements for the vendor-call count (20)")
    parser.add_argument("--n", type=int, default=100, help="settlements for the throughput run (100)")
    parser.add_argument("--scaling-n", type=int, default=50, help="settlements per scaling run (50)")
    parser.add_argument("--latency-ms", type=int, default=50, help="simulator latency for throughput (50)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker threads for throughput (4)")
    parser.add_argument("--no-scaling", action="store_true", help="skip benchmark 4 (concurrency 1 vs N)")
    args = parser.parse_args(argv)
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
                     "platform": platform.platform(), "args": vars(args)}
    print(f"ledgerbridge benchmarks — {results['started_at']}, Python {results['python']}, "
          f"{results['cpus']} CPUs, {platform.machine()}")

    # 1 runs first, in subprocesses, before the DevStack changes this process's environment.
    results["cold_import"] = cold = imports.run(args.repeats)
    print_cold_import(cold)

    from .runtime import Runtime, throughput, vendor_calls

    with Runtime(worker_concurrency=args.concurrency) as rt:
        results["vendor_calls"] = calls = vendor_calls(rt, args.calls_n)
        print_vendor_calls(calls)

        results["throughput"] = tp = throughput(rt, args.n, args.latency_ms, "throughput")
        print_throughput(tp)

        if not args.no_scaling:
            runs = []
            for threads, divisor in ((1, 1), (args.concurrency, args.concurrency), (args.concurrency, 1)):
                rt.set_concurrency(threads, divisor)
                runs.append(throughput(rt, args.scaling_n, args.latency_ms, f"scaling-{threads}-{divisor}"))
            results["scaling"] = runs
            print_scaling(runs, args.concurrency)

    results["total_seconds"] = round(time.perf_counter() - started, 1)
    checks = [calls["check"]["ok"], tp["booking"]["check"]["ok"]]
    checks += [r["booking"]["check"]["ok"] for r in results.get("scaling", [])]
    results["all_checks_ok"] = ok = all(checks)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    shown = out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out
    print(f"\nall checks {'OK' if ok else 'FAILED'}; {results['total_seconds']} s in all; figures in {shown}")
    return 0 if ok else 1


def print_cold_import(cold: dict) -> None:
    rows = cold["rows"]
    print(heading(1, "Handler cold-import time", [
        "time.perf_counter() around `import app` (or `import boto3`) in a fresh `python -c` per sample,",
        f"PYTHONPATH = layers/shared + the function folder; {rows[0]['repeats']} samples per target, run "
        "round-robin.",
        "'loaded': heavy modules in sys.modules after the import; 'clients at import': boto/httpx clients",
        "constructed while importing (a separate, untimed probe).",
    ]))
    short = {"aws_xray_sdk": "xray_sdk"}
    body = []
    for r in rows:
        loaded = " ".join(short.get(m, m) for m, present in r["heavy_modules"].items() if present)
        built = r["clients_built_at_import"]
        clients = ""
        if built is not None:
            parts = [f"{built['boto'].count(s)}x boto3 '{s}'" for s in sorted(set(built["boto"]))]
            parts += [f"{built['httpx']}x httpx"] if built["httpx"] else []
            clients = ", ".join(parts) or "none"
        body.append([r["target"], f"{r['median_ms']:.0f}", f"{r['min_ms']:.0f}",
                     f"{r['vs_boto3_median']:.1f}x", loaded, clients])
    print(table(["target", "median ms", "min ms", "/boto3", "loaded", "clients at import"], body, "lrrrll"))
    if any(r["clients_built_at_import"] and r["clients_built_at_import"]["boto"] for r in rows):
        print("   note: the 'xray' clients are built by aws_xray_sdk's sampler, imported by Powertools' "
              "Tracer()\n   even with POWERTOOLS_TRACE_DISABLED=1; ledgerbridge's own clients "
              "(ledgerbridge.aws, vendor_http) are lazy.")


def print_vendor_calls(calls: dict) -> None:
    print(heading(2, "Vendor calls per booked settlement", [
        f"{calls['n']} settlements with PDF booked through DevStack (tick + drain, simulator latency 0);",
        "simulator request_counts() reset after connect, account setup and ingest, so only booking counts;",
        f"divided by {calls['n']}. Check: {_check_text(calls['check'], calls['n'])}.",
    ]))
    body = [[endpoint, f"{per:.2f}"] for endpoint, per in calls["per_settlement"].items()]
    body.append(["total", f"{calls['total_per_settlement']:.2f}"])
    print(table(["simulator endpoint", "calls / settlement"], body))


def print_throughput(tp: dict) -> None:
    ing, book = tp["ingest"], tp["booking"]
    print(heading(3, "Throughput through the local runtime", [
        f"{tp['n']} distinct settlements (with PDF) POSTed one by one over the local API Gateway; then wall",
        "time from tick(at=next_run_at) until drain() returns (incl. its 0.3 s quiet period). Simulator",
        f"latency {tp['simulator_latency_ms']} ms per /v2 call; {tp['worker_threads']} SQS worker threads, "
        f"LB_WORKER_CONCURRENCY={tp['rate_share_divisor']} (the stack as configured).",
    ]))
    body = [
        ["ingest", f"{ing['requests_per_s']:.1f} req/s",
         f"p50 {ing['p50_ms']:.0f} ms, p95 {ing['p95_ms']:.0f} ms, max {ing['max_ms']:.0f} ms "
         f"({ing['n']} calls in {ing['seconds']:.1f} s, sequential)"],
        ["booking", f"{book['settlements_per_s']:.2f} settl/s",
         f"{book['n']} booked in {book['seconds']:.1f} s; {tp['vendor_requests_per_s']:.1f} vendor req/s; "
         f"client-side cap {tp['client_rate_cap_per_endpoint_per_s']:g} req/s per endpoint"],
        ["check", "OK" if book["check"]["ok"] else "FAILED", _check_text(book["check"], book["n"])],
    ]
    print(table(["stage", "rate", "detail"], body, "lrl"))


def print_scaling(runs: list[dict], concurrency: int) -> None:
    print(heading(4, "Scaling: worker concurrency", [
        f"As 3, {runs[0]['n']} settlements per run, the SQS poller restarted with the given thread count.",
        "The vendor client allows each process 600/min per endpoint / LB_WORKER_CONCURRENCY: right when each",
        "worker is its own Lambda process, but here all threads share one process and one token bucket, so",
        f"the last row sets the divisor to 1: this process gets the whole limit, as {concurrency} Lambdas "
        "would together.",
    ]))
    body = [[r["worker_threads"], r["rate_share_divisor"], f"{r['client_rate_cap_per_endpoint_per_s']:g}",
             r["n"], f"{r['booking']['seconds']:.1f}", f"{r['booking']['settlements_per_s']:.2f}",
             f"{r['vendor_requests_per_s']:.1f}", "OK" if r["booking"]["check"]["ok"] else "FAILED"]
            for r in runs]
    print(table(["threads", "LB_WORKER_CONCURRENCY", "cap req/s/endpoint", "n", "seconds", "settl/s",
                 "vendor req/s", "check"], body, "rrrrrrrl"))


def _check_text(check: dict, n: int) -> str:
    return (f"{check['jobs_enqueued']} enqueued, {check['new_vouchers']} new vouchers "
            f"({check['distinct_vouchers']} distinct), {check['documents_booked']} booked in the log, "
            f"{check['retried_messages']} retried; expected {n}")


if __name__ == "__main__":
    sys.exit(main())
