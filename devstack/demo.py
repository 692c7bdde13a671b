"""make demo: the spine end to end against the local stack; exits non-zero if anything is off.

Connect via OAuth, read the chart, save the account setup (a wrong one first), ingest a
week of Z-reports (plus a resend, a conflicting resend and a malformed one), run the
schedule, show the export log, fix an unmapped category and replay, and check that the
simulator holds exactly one voucher per booked settlement.
"""
from __future__ import annotations

import os
import sys
from datetime import date, datetime, timedelta, timezone

from . import samples
from .stack import DevStack, StackOptions


def say(text: str) -> None:
    print(f"\n== {text}")


def expect(condition: bool, message: str) -> None:
    if not condition:
        print(f"DEMO FAILED: {message}")
        raise SystemExit(1)


def run_demo(stack: DevStack) -> None:
    today = date.today()
    api_key = stack.create_tenant("demo-bakery")
    api = stack.api(api_key)
    print(f"hub API: {stack.url}   simulator: {stack.simulator.base_url}")

    say("1. Create a connection to Visma eAccounting and connect it (OAuth in a scripted browser)")
    created = api.post("/connections", json={
        "vendor": "visma_eaccounting", "name": "Demo Bakery – eAccounting",
        "schedule": {"frequency": "daily", "lookback_days": 7, "from_date": (today - timedelta(days=30)).isoformat()},
    })
    expect(created.status_code == 201, f"create connection: {created.status_code} {created.text}")
    connection_id = created.json()["connection_id"]
    page = stack.connect_in_browser(api, connection_id, "demo@bakery.example", "demo-password")
    expect(page.status_code == 200 and "connected" in page.text, f"callback page: {page.status_code} {page.text[:300]}")
    connection = api.get(f"/connections/{connection_id}").json()
    print(f"status: {connection['status']}, company: {connection['vendor_company']}")

    say("2. Read the chart of accounts and VAT codes through the hub")
    catalog = api.get(f"/connections/{connection_id}/catalog").json()
    years = ", ".join(fy["start"][:4] for fy in catalog["fiscal_years"])
    print(f"fiscal years: {years}; VAT codes: {', '.join(v['code'] for v in catalog['vat_codes'])}; "
          f"accounts this year: {len(next(iter(catalog['accounts'].values())))}")

    say("3. Save the account setup — first with an account that no longer exists")
    wrong = api.put(f"/connections/{connection_id}/account-setup", json=samples.account_setup(food_account="3010"))
    print(f"{wrong.status_code}: {wrong.json()['message']}")
    expect(wrong.status_code == 422, "a setup with account 3010 must be refused")
    saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.account_setup())
    expect(saved.status_code == 200, f"setup: {saved.status_code} {saved.text}")
    print(f"saved; next scheduled run: {saved.json()['next_run_at']}")

    say("4. Ingest a week of daily settlements with their PDFs")
    week = [today - timedelta(days=d) for d in range(7, 0, -1)]
    for day in week:
        response = api.post(f"/connections/{connection_id}/settlements", json=samples.settlement(day, 1))
        expect(response.status_code == 201, f"ingest {day}: {response.status_code} {response.text}")
    print(f"accepted {len(week)} settlements ({week[0]} .. {week[-1]})")
    resend = api.post(f"/connections/{connection_id}/settlements", json=samples.settlement(week[0], 1))
    print(f"identical resend -> {resend.status_code} (nothing changes)")
    expect(resend.status_code == 200, "an identical resend is accepted without change")
    changed = samples.settlement(week[0], 1, scale=2)
    conflict = api.post(f"/connections/{connection_id}/settlements", json=changed)
    print(f"changed resend   -> {conflict.status_code}: {conflict.json()['message']}")
    expect(conflict.status_code == 409, "a changed resend without supersede is refused")
    broken = samples.settlement(week[1], 2)
    broken["totals"]["gross"] = "1.00"
    bad = api.post(f"/connections/{connection_id}/settlements", json=broken)
    print(f"bad totals       -> {bad.status_code}: {bad.json()['message'][:160]}")
    expect(bad.status_code == 422, "unbalanced totals are refused")
    unmapped = samples.settlement(week[-1], 3, extra_category="Gavekort solgt")
    expect(api.post(f"/connections/{connection_id}/settlements", json=unmapped).status_code == 201, "unmapped ingest")

    say("5. The schedule fires (EventBridge stand-in) and the worker books")
    next_run = api.get(f"/connections/{connection_id}").json()["next_run_at"]
    summary = stack.tick(at=next_run)
    print(f"scheduler: {summary}")
    stack.drain()

    say("6. Export log")
    print_log(api, connection_id)
    failed = api.get(f"/connections/{connection_id}/documents", params={"state": "failed"}).json()["documents"]
    expect(len(failed) == 1 and "Gavekort solgt" in failed[0]["reason"], "the unmapped category fails with a reason")

    say("7. Fix the setup (map the new category) and replay the failed settlement")
    setup = samples.account_setup()
    setup["rows"].append({"kind": "sales", "key": "Gavekort solgt", "vat_rate": "25", "account": "3000", "vat_code": "3"})
    expect(api.put(f"/connections/{connection_id}/account-setup", json=setup).status_code == 200, "setup update")
    replay = api.post(f"/connections/{connection_id}/documents/{failed[0]['document_id']}/replay")
    expect(replay.status_code == 202, f"replay: {replay.status_code} {replay.text}")
    stack.drain()
    print_log(api, connection_id, state="booked")

    say("8. Check: exactly one voucher per booked settlement in eAccounting")
    booked = api.get(f"/connections/{connection_id}/documents", params={"state": "booked", "limit": 200}).json()
    vouchers = stack.simulator.vouchers()
    print(f"booked in the log: {len(booked['documents'])}; vouchers in eAccounting: {len(vouchers)}")
    expect(len(vouchers) == len(booked["documents"]) == len(week) + 1, "one voucher per settlement")
    for voucher in vouchers:
        debit = sum(r["DebitAmount"] for r in voucher["Rows"])
        credit = sum(r["CreditAmount"] for r in voucher["Rows"])
        expect(debit == credit, f"voucher {voucher['NumberAndNumberSeries']} is balanced")
        expect(bool(voucher["Attachments"]["AttachmentIds"]), "every voucher has its Z-report attached")
    print("all vouchers balanced to the cent, each with its PDF attached")


def print_log(api, connection_id: str, state: str | None = None) -> None:
    params = {"limit": 50, **({"state": state} if state else {})}
    documents = api.get(f"/connections/{connection_id}/documents", params=params).json()["documents"]
    print(f"{'date':<11} {'document':<26} {'state':<9} {'gross':>10}  voucher / reason")
    for d in documents:
        detail = d["vendor_document_number"] or d["reason"] or ""
        print(f"{d['business_date']:<11} {d['document_id']:<26} {d['state']:<9} {d['gross_total'] or '':>10}  {detail[:90]}")


def main() -> int:
    started = datetime.now(timezone.utc)
    with DevStack(StackOptions(log_level=os.environ.get("LOG_LEVEL", "WARNING"))) as stack:
        run_demo(stack)
    print(f"\ndemo OK in {(datetime.now(timezone.utc) - started).total_seconds():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
