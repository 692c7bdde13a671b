"""python -m bench.settlement_core: the settlement core at 1,000 / 5,000 / 10,000 / 20,000 sales lines.

For each size: parse + validate (the ingest path: exact JSON parse, then the pydantic model),
content hash, voucher build, and peak memory of the three (tracemalloc), with the time and memory
per line so that linear growth shows as a flat column; the request size against the 6 MB
API Gateway/Lambda payload limit, and how big a Z-report PDF still fits beside the lines.
Exit status 0 when growth is linear: the per-line cost at 20,000 lines within 3x of that at 1,000
lines (caches and allocator make big inputs somewhat slower per line; a quadratic step, such as the
old pairwise duplicate check, shows as ~20x and more).
"""
from __future__ import annotations

import gc
import json
import sys
import time
import tracemalloc
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

from bench.report import heading, table  # noqa: E402
from ledgerbridge.api.common import exact_json_body  # noqa: E402
from ledgerbridge.domain.vouchers import build_settlement_voucher  # noqa: E402
from ledgerbridge.models.connection import AccountSetup  # noqa: E402
from ledgerbridge.models.settlement import MAX_ATTACHMENT_BYTES, Settlement  # noqa: E402

SIZES = (1_000, 5_000, 10_000, 20_000)
# Lambda (synchronous invocation) takes a request payload of at most 6 MB; API Gateway puts the
# body into the event as a JSON string, next to headers and the request context.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
EVENT_OVERHEAD = 3_000  # headers, request context, path parameters of a real event (generous)
LINEAR_TOLERANCE = 3.0
REPEATS = 5
DAY = date(2026, 3, 2)

# 60 product groups at two rates, realistic names (Norwegian, so non-ASCII), each mapped once.
GROUPS = [(f"{name} {i // 6 + 1}", rate) for i, (name, rate) in enumerate(
    [("Brød og bakst", "15"), ("Kaffe servert", "25"), ("Påsmurt", "15"), ("Kaker og søtt", "15"),
     ("Drikke", "25"), ("Varer", "25")] * 10)]
METHODS = ["Kort", "Vipps", "Kontant"]


def settlement_body(lines: int, *, category_length: int | None = None) -> dict:
    """A busy shop's day: one sales line per product (groups repeat), with cost of goods."""
    sales = []
    for i in range(lines):
        category, rate = GROUPS[i % len(GROUPS)]
        if category_length:
            category = (category + " – " + "Æ" * category_length)[:category_length]
        gross = Decimal(1000 + (i * 37) % 9000) / 100
        vat = (gross * Decimal(rate) / (100 + Decimal(rate))).quantize(Decimal("0.01"))
        sales.append({"category": category, "vat_rate": rate, "net": str(gross - vat), "vat": str(vat),
                      "gross": str(gross), "cost": str((gross * Decimal("0.4")).quantize(Decimal("0.01")))})
    totals = {k: str(sum(Decimal(line[k]) for line in sales)) for k in ("net", "vat", "gross")}
    gross = Decimal(totals["gross"])
    sold, redeemed = Decimal("500.00"), Decimal("200.00")
    to_pay = gross + sold - redeemed
    share = (to_pay / 3).quantize(Decimal("0.01"))
    payments = [{"method": METHODS[0], "amount": str(share)}, {"method": METHODS[1], "amount": str(share)},
                {"method": METHODS[2], "amount": str(to_pay - 2 * share)}]
    return {"document_id": f"Z-bench-{lines}", "business_date": DAY.isoformat(), "register_id": "1",
            "sales": sales, "payments": payments, "gift_cards": {"sold": str(sold), "redeemed": str(redeemed)},
            "totals": totals}


def account_setup() -> AccountSetup:
    rows = [{"kind": "sales", "key": category, "vat_rate": rate, "account": "3000" if rate == "25" else "3011",
             "vat_code": "3" if rate == "25" else "31"} for category, rate in GROUPS]
    rows += [{"kind": "vat", "key": "25", "account": "2700"}, {"kind": "vat", "key": "15", "account": "2701"}]
    rows += [{"kind": "payment", "key": m, "account": a} for m, a in zip(METHODS, ["1580", "1581", "1900"],
                                                                              strict=True)]
    rows += [{"kind": "rounding", "account": "7770"}, {"kind": "gift_card", "account": "2900"},
             {"kind": "inventory", "account": "1460"}, {"kind": "inventory_change", "account": "4090"}]
    return AccountSetup.model_validate({"rows": rows, "inventory_change": True})


def _best(fn, repeats: int = REPEATS) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def _event_bytes(raw: str) -> int:
    """The body as API Gateway hands it to Lambda: a JSON string inside the event (quotes escaped)."""
    return len(json.dumps({"body": raw}, ensure_ascii=False).encode()) + EVENT_OVERHEAD


def measure(lines: int, setup: AccountSetup) -> dict:
    raw = json.dumps(settlement_body(lines), ensure_ascii=False)
    parse_s, settlement = _best(lambda: Settlement.model_validate(exact_json_body(raw)))
    hash_s, _ = _best(settlement.content_hash)
    build_s, voucher = _best(lambda: build_settlement_voucher(settlement, setup, reference="LB-bench"))
    assert voucher.total_debit() == voucher.total_credit(), "every voucher balances to the cent"

    gc.collect()
    tracemalloc.start()
    parsed = Settlement.model_validate(exact_json_body(raw))
    parsed.content_hash()
    build_settlement_voucher(parsed, setup, reference="LB-bench")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"lines": lines, "body_bytes": len(raw.encode()), "event_bytes": _event_bytes(raw),
            "parse_s": parse_s, "hash_s": hash_s, "build_s": build_s, "peak_bytes": peak,
            "voucher_lines": len(voucher.lines)}


def main() -> int:
    setup = account_setup()
    results = [measure(n, setup) for n in SIZES]
    print(heading("S", "Settlement core: validation, hashing and voucher building by number of sales lines", [
        "One line per product (60 product groups at 15 % and 25 %, cost of goods on every line, gift cards),",
        f"best of {REPEATS}; peak = tracemalloc peak of parse + validate + hash + build together.",
    ]))
    rows = []
    for r in results:
        n = r["lines"]
        rows.append([f"{n:,}", f"{r['parse_s'] * 1000:.1f}", f"{r['hash_s'] * 1000:.1f}", f"{r['build_s'] * 1000:.1f}",
                     f"{r['peak_bytes'] / 2**20:.1f}", f"{r['parse_s'] / n * 1e6:.1f}", f"{r['hash_s'] / n * 1e6:.1f}",
                     f"{r['build_s'] / n * 1e6:.1f}", f"{r['peak_bytes'] / n / 1024:.2f}", r["voucher_lines"]])
    print(table(["lines", "parse+validate ms", "hash ms", "build ms", "peak MiB", "µs/line parse", "µs/line hash",
                 "µs/line build", "KiB/line peak", "voucher lines"], rows))

    first, last = results[0], results[-1]
    ratios = {name: (last[key] / last["lines"]) / (first[key] / first["lines"])
              for name, key in (("parse+validate", "parse_s"), ("hash", "hash_s"), ("build", "build_s"),
                                ("peak memory", "peak_bytes"))}
    linear = all(ratio <= LINEAR_TOLERANCE for ratio in ratios.values())
    print("\n   per-line cost at 20,000 lines / at 1,000 lines (1.0 = perfectly linear, quadratic would be ~20): "
          + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
          + f"  -> {'linear' if linear else 'NOT LINEAR'}")

    print("\n   Request size against the 6 MB API Gateway/Lambda payload limit:")
    size_rows = []  # the room left carries a base64 PDF: 4 characters per 3 bytes of file
    for r in results:
        room = LAMBDA_PAYLOAD_LIMIT - r["event_bytes"]
        size_rows.append([f"{r['lines']:,}", f"{r['body_bytes'] / 1e6:.2f}", f"{r['event_bytes'] / 1e6:.2f}",
                          f"{r['event_bytes'] / r['lines']:.0f}", f"{min(max(room, 0) * 3 / 4, MAX_ATTACHMENT_BYTES) / 1e6:.2f}"])
    long_raw = json.dumps(settlement_body(20_000, category_length=200), ensure_ascii=False)
    long_event = _event_bytes(long_raw)
    size_rows.append(["20,000 (200-char categories in Æ)", f"{len(long_raw.encode()) / 1e6:.2f}", f"{long_event / 1e6:.2f}",
                      f"{long_event / 20_000:.0f}",
                      "does not fit" if long_event > LAMBDA_PAYLOAD_LIMIT else
                      f"{min((LAMBDA_PAYLOAD_LIMIT - long_event) * 3 / 4, MAX_ATTACHMENT_BYTES) / 1e6:.2f}"])
    print(table(["lines", "body MB", "as Lambda event MB", "bytes/line", "PDF that still fits MB (at most 4 MiB)"], size_rows))
    return 0 if linear else 1


if __name__ == "__main__":
    sys.exit(main())
