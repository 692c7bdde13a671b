"""make demo: every vendor end to end against the local stack; exits non-zero if anything is off.

Visma eAccounting (a bakery's POS back office): connect via OAuth, read the chart, save the
account setup (a wrong one first; gift cards on their liability account), ingest a week of
Z-reports (one with gift cards sold and redeemed, plus a closed day, a resend, a conflicting
resend and a malformed one), run the schedule, show the export log, fix an unmapped category
and replay, refuse a changed resend of a booked day, and check that the simulator holds exactly
one voucher per booked settlement.

24SevenOffice (an accounting office's balance reconciliation): store the integration user
(a wrong password first), pick a transaction type, import the client companies, set them up,
refresh balances, read the entries, then lose access to a client, lose an account and change
the password at the vendor, and show how each ends in the export log.

24SevenOffice (a café's books, DUELL's link): pick the company and the department from
24SevenOffice's lists, a setup refused for an account without a sales type, the first day through
voucher reception (approved in the simulator), the rest of the week straight to the ledger with a
gift card sold and redeemed and inventory change, a resend, and a check of every voucher.

Procountor (a payroll bureau's journals, Nmbrs' link): sign in picking the company (another company
on a reconnect is refused), a payroll setup refused for a dimension the company lacks, a June run
with corrections for January-May booked as six receipts in their periods, a resend, a test
company's run refused, and a second client (Rakennus Esimerkki Oy) whose run corrects January, closed
in Procountor, booked by a replay once January is open again; every receipt checked once in the
simulator.

Uniconta (a hair salon's daily sales): the stored login (a wrong password first), daily journal SALG
picked, an account setup refused for an account missing from the chart, a week of Z-reports pushed and
transferred as one InsertList of lines per day, an identical resend, the bookkeeper posting the journal
in the simulator, and the ledger's VAT and revenue checked against the Z-reports to the cent; the
day's Uniconta calls against its daily budget. Then FlexyBox's customer sync: a setup refused for a field
Uniconta lacks, 3 tagged and 2 untagged customers pushed (3 debtors appear; the same push again costs no
call), a bookkeeper's edit reaching the changes feed once, a forged notification refused, the link broken
("Has errors") and caught up by the check, and mended with nothing lost.
"""
from __future__ import annotations

import os
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx

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
    wrong = api.put(f"/connections/{connection_id}/account-setup",
                    json=samples.account_setup(food_account="3010", gift_cards=True))
    print(f"{wrong.status_code}: {wrong.json()['message']}")
    expect(wrong.status_code == 422, "a setup with account 3010 must be refused")
    # Gift cards are a liability without VAT: a VAT code on that row is refused, naming the row.
    taxed = samples.account_setup(gift_cards=True)
    taxed["rows"][-1]["vat_code"] = "3"
    refused = api.put(f"/connections/{connection_id}/account-setup", json=taxed)
    print(f"gift card row with VAT code -> {refused.status_code}: {refused.json()['message']}")
    expect(refused.status_code == 422 and "gift_card row" in refused.json()["message"], "no VAT on gift cards")
    saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.account_setup(gift_cards=True))
    expect(saved.status_code == 200, f"setup: {saved.status_code} {saved.text}")
    print(f"saved; next scheduled run: {saved.json()['next_run_at']}")

    say("4. Ingest a week of daily settlements with their PDFs")
    week = [today - timedelta(days=d) for d in range(7, 0, -1)]
    gift_card_day = week[2]
    for day in week:
        # One day sold gift cards for 500 and took 200 in gift cards as payment.
        gift_cards = ("500.00", "200.00") if day == gift_card_day else None
        response = api.post(f"/connections/{connection_id}/settlements",
                            json=samples.settlement(day, 1, gift_cards=gift_cards))
        expect(response.status_code == 201, f"ingest {day}: {response.status_code} {response.text}")
    print(f"accepted {len(week)} settlements ({week[0]} .. {week[-1]}); {gift_card_day}: gift cards sold 500.00, "
          f"redeemed 200.00")
    closed = api.post(f"/connections/{connection_id}/settlements", json=samples.closed_day(week[3], register="2"))
    print(f"closed day       -> {closed.status_code} {closed.json()['state']}: {closed.json()['reason']}")
    expect(closed.status_code == 201 and closed.json()["state"] == "nothing_to_book", "a closed day is accepted")
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
    too_old = api.post(f"/connections/{connection_id}/settlements", json=samples.settlement(today - timedelta(days=40), 9))
    expect(too_old.status_code == 201 and "from-date" in (too_old.json()["reason"] or ""), "a reason for the old one")
    print(f"before from-date -> {too_old.status_code}, stays waiting: {too_old.json()['reason']}")
    unmapped = samples.settlement(week[-1], 3, extra_category="Blomster")
    expect(api.post(f"/connections/{connection_id}/settlements", json=unmapped).status_code == 201, "unmapped ingest")

    say("5. The schedule fires (EventBridge stand-in) and the worker books")
    next_run = api.get(f"/connections/{connection_id}").json()["next_run_at"]
    summary = stack.tick(at=next_run)
    print(f"scheduler: {summary}")
    stack.drain()

    say("6. Export log")
    print_log(api, connection_id)
    failed = api.get(f"/connections/{connection_id}/documents", params={"state": "failed"}).json()["documents"]
    expect(len(failed) == 1 and "Blomster" in failed[0]["reason"], "the unmapped category fails with a reason")

    say("7. Fix the setup (map the new category) and replay the failed settlement")
    setup = samples.account_setup(gift_cards=True)
    setup["rows"].append({"kind": "sales", "key": "Blomster", "vat_rate": "25", "account": "3000", "vat_code": "3"})
    expect(api.put(f"/connections/{connection_id}/account-setup", json=setup).status_code == 200, "setup update")
    replay = api.post(f"/connections/{connection_id}/documents/{failed[0]['document_id']}/replay")
    expect(replay.status_code == 202, f"replay: {replay.status_code} {replay.text}")
    stack.drain()
    print_log(api, connection_id, state="booked")

    changed = api.post(f"/connections/{connection_id}/settlements", json=samples.settlement(week[1], 1, scale=2))
    print(f"changed resend of a booked day -> {changed.status_code}: {changed.json()['message']}")
    expect(changed.status_code == 409 and "correction" in changed.json()["message"]
           and "supersede" not in changed.json()["message"], "a booked day is corrected in eAccounting, not replaced")

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
    gift = [r for v in vouchers for r in v["Rows"] if r["AccountNumber"] == 2900]
    print("gift cards on 2900: " + ", ".join(f"{r['TransactionText']} debit {r['DebitAmount']} credit "
                                               f"{r['CreditAmount']}" for r in gift))
    expect(len(gift) == 2 and all(not r.get("VatCodeId") for r in gift), "gift cards: liability, no VAT")


def run_reconciliation_demo(stack: DevStack) -> None:
    from .stack import TFSO_USER

    tfso = stack.tfso
    username, password = TFSO_USER
    api = stack.api(stack.create_tenant("demo-accounting-office"))
    print(f"\n24SevenOffice simulator: {tfso.base_url}")
    tfso.reset_counts()  # count this connection's calls and logins only (the shop's came before)
    logins_before = tfso.login_count(username)

    say("14. 24SevenOffice: store the integration user — first with a wrong password")
    created = api.post("/connections", json={"vendor": "24sevenoffice", "name": "Regnskapskontoret – 24SevenOffice",
                                             "schedule": {"frequency": "daily", "run_at_hour": 5}})
    expect(created.status_code == 201, f"create connection: {created.status_code} {created.text}")
    connection_id = created.json()["connection_id"]
    wrong = api.put(f"/connections/{connection_id}/credential", json={"username": username, "password": "gjett"}).json()
    print(f"wrong password -> ok={wrong['ok']}: {wrong['message']}")
    expect(not wrong["ok"] and "password" in wrong["message"], "a wrong password is refused clearly")
    tested = api.put(f"/connections/{connection_id}/credential", json={"username": username, "password": password})
    result = tested.json()
    expect(tested.status_code == 200 and result["ok"], f"integration user: {tested.text}")
    print(f"right password -> ok=True: {result['message']}")
    types = result["choices"]["transaction_type"]
    print("transaction types: " + ", ".join(f"{t['id']}={t['name']}" for t in types))
    picked = api.put(f"/connections/{connection_id}/vendor-settings", json={"transaction_type": types[0]["id"]})
    expect(picked.status_code == 200, f"vendor settings: {picked.text}")

    say("15. Import every client company the integration user can access")
    run = _run_and_wait(stack, api, connection_id, api.post(f"/connections/{connection_id}/companies/import"))
    companies = api.get(f"/connections/{connection_id}/companies").json()
    _print_companies(companies)
    expect(len(companies) >= 3 and all(c["status"] == "not_set_up" for c in companies), "imported, not set up")
    print(f"import run: {run['state']} {run['summary']}")

    say("16. Set up each company: accounts to reconcile, checked against that company's own chart")
    by_name = {c["name"]: c for c in companies}
    havna = by_name["Havnekafeen AS"]
    refused = api.put(f"/connections/{connection_id}/companies/{havna['company_id']}/reconciliation",
                      json={"accounts": ["1920", "1510"]})
    print(f"Havnekafeen with 1510 -> {refused.status_code}: {refused.json()['message']}")
    expect(refused.status_code == 422, "an account missing from that company's chart is refused")
    for company in companies:
        accounts = ["1920", "1500"] if company["name"] != "Havnekafeen AS" else ["1920", "1930"]
        done = api.put(f"/connections/{connection_id}/companies/{company['company_id']}/reconciliation",
                       json={"accounts": accounts})
        expect(done.status_code == 200 and done.json()["status"] == "ready", f"set up: {done.text}")
    print("all companies ready")

    say("17. Refresh balances (the same run the daily schedule starts) and read them")
    run = _run_and_wait(stack, api, connection_id, api.post(f"/connections/{connection_id}/balance-refresh", json={}))
    expect(run["state"] == "done", f"refresh: {run}")
    print(f"refresh run: {run['state']} {run['summary']}")
    for company in api.get(f"/connections/{connection_id}/companies").json():
        balances = company["balances"]
        print(f"{company['name']:<20} as of {balances['as_of']} (from {balances['period_from']}):")
        for b in balances["accounts"]:
            print(f"    {b['account']} {b['name']:<16} opening {b['opening']:>12} movement {b['movement']:>12} "
                  f"closing {b['closing']:>12}  ({b['entries']} entries)")
    fjord = by_name["Fjordbakeriet AS"]
    page = api.get(f"/connections/{connection_id}/companies/{fjord['company_id']}/ledger",
                   params={"account": "1920", "limit": 5}).json()
    print("Fjordbakeriet 1920, first entries of the period:")
    for entry in page["entries"]:
        print(f"    {entry['entry_date']}  voucher {entry['voucher_number']:>5}  {entry['amount']:>12}  {entry['text']}")

    say("18. Things change at 24SevenOffice: access to a client removed, an account deleted")
    nordlys = by_name["Nordlys Frisør AS"]
    tfso.revoke(username, int(nordlys["company_id"]))
    tfso.remove_account(int(fjord["company_id"]), 1500)
    run = _run_and_wait(stack, api, connection_id, api.post(f"/connections/{connection_id}/companies/import"))
    print(f"re-import: {run['state']} {run['summary']}")
    companies = api.get(f"/connections/{connection_id}/companies").json()
    _print_companies(companies)
    expect(len(companies) == len(by_name), "re-import never duplicates a company")
    expect({c["name"]: c["status"] for c in companies}["Nordlys Frisør AS"] == "access_lost", "access loss is marked")
    run = _run_and_wait(stack, api, connection_id, api.post(f"/connections/{connection_id}/balance-refresh", json={}))
    print(f"refresh run: {run['state']}: {run['reason']}")
    for outcome in run["outcomes"].values():
        print(f"    {outcome['company']:<20} {outcome['state']:<8} {outcome.get('reason', '')}")
    expect(run["state"] == "failed" and "1500" in run["reason"] + str(run["outcomes"]), "the missing account is named")

    say("19. The integration user's password is changed at 24SevenOffice")
    tfso.change_password(username, "nytt-passord")
    run = _run_and_wait(stack, api, connection_id, api.post(f"/connections/{connection_id}/balance-refresh", json={}))
    connection = api.get(f"/connections/{connection_id}").json()
    print(f"refresh run: {run['state']}: {run['reason']}")
    print(f"connection: {connection['status']} ({connection['status_reason']})")
    expect(run["state"] == "failed" and connection["status"] == "needs_reauth", "a changed password stops clearly")
    stored = api.put(f"/connections/{connection_id}/credential", json={"username": username, "password": "nytt-passord"})
    expect(stored.json()["ok"], "the new password works")

    say("20. Export log of the 24SevenOffice connection")
    print_log(api, connection_id)
    logins = tfso.login_count(username) - logins_before
    print(f"\nSOAP calls: {tfso.request_counts()}")
    # No login for the right password: the café's connection of the same integration user had one
    # (sessions are per credential, shared by its connections).
    print(f"logins: {logins} (the wrong password, the refused one after the change, the new password): the café's "
          "session of the same user, every run and every company reused one stored session")
    expect(logins == 3, f"sessions are reused per credential, not logged in per connection or run: {logins} logins")


def _run_and_wait(stack: DevStack, api, connection_id: str, started) -> dict:
    expect(started.status_code == 202, f"start run: {started.status_code} {started.text}")
    stack.drain()
    return api.get(f"/connections/{connection_id}/documents/{started.json()['run_id']}").json()


def _print_companies(companies: list[dict]) -> None:
    print(f"{'company':<20} {'id':>8} {'org. no.':>10}  status")
    for c in companies:
        print(f"{c['name']:<20} {c['company_id']:>8} {c['organisation_number'] or '':>10}  {c['status']}")


def run_shop_demo(stack: DevStack) -> None:
    """24SevenOffice as a shop's books (DUELL's link): pick company and department, a setup refused
    for an account without a sales type, a week booked (one day via voucher reception)."""
    from .stack import TFSO_USER

    tfso = stack.tfso
    shop = int(samples.SHOP_COMPANY)
    username, password = TFSO_USER
    api = stack.api(stack.create_tenant("demo-cafe"))
    today = date.today()

    say("9. 24SevenOffice for a shop: the integration user, then the company and department to book into")
    created = api.post("/connections", json={"vendor": "24sevenoffice", "name": "Havnekafeen – kasse",
                                             "schedule": {"frequency": "daily", "lookback_days": 10}})
    expect(created.status_code == 201, f"create connection: {created.text}")
    connection_id = created.json()["connection_id"]
    tested = api.put(f"/connections/{connection_id}/credential", json={"username": username, "password": password})
    expect(tested.status_code == 200 and tested.json()["ok"], f"Test integration: {tested.text}")
    companies = tested.json()["choices"]["company"]
    print("companies (\"Flere firma\"): " + ", ".join(f"{c['id']} {c['name']}" for c in companies))
    picked = api.put(f"/connections/{connection_id}/vendor-settings", json={"company": samples.SHOP_COMPANY})
    expect(picked.status_code == 200, f"pick company: {picked.text}")
    choices = picked.json()["choices"]
    print("departments (\"Flere avdelinger\"): " + ", ".join(f"{d['id']} {d['name']}" for d in choices["department"]))
    wrong = api.put(f"/connections/{connection_id}/vendor-settings", json={"department": "999"})
    print(f"department 999 -> {wrong.status_code}: {wrong.json()['message'][:120]}")
    expect(wrong.status_code == 422, "a department not in the list is refused")
    picked = api.put(f"/connections/{connection_id}/vendor-settings",
                     json={"department": "201", "transaction_type": "9", "type_import": "reception"})
    expect(picked.status_code == 200, f"settings: {picked.text}")
    print(f"picked: {picked.json()['vendor_settings']}")

    say("10. Account setup — first with the kiosk sales on 3090, which has no sales type in 24SevenOffice")
    refused = api.put(f"/connections/{connection_id}/account-setup", json=samples.shop_setup_24so(kiosk_account="3090"))
    print(f"{refused.status_code}: {refused.json()['message'][:200]}")
    expect(refused.status_code == 422 and "3090 has no sales type" in refused.json()["message"], "3090 refused")
    saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.shop_setup_24so())
    expect(saved.status_code == 200, f"setup: {saved.text}")
    print("saved: sales types present, gift cards on 2905, inventory change 1460/4090 on")

    say("11. The first day goes to voucher reception; a bookkeeper approves it there")
    first_day = today - timedelta(days=7)
    body = samples.settlement(first_day, 1, with_cost=True)
    expect(api.post(f"/connections/{connection_id}/settlements", json=body).status_code == 201, "ingest")
    api.post(f"/connections/{connection_id}/transfers")
    stack.drain()
    drafts = tfso.voucher_reception(shop)
    expect(len(drafts) == 1, f"one draft in voucher reception, not {len(drafts)}")
    print(f"voucher reception: draft {drafts[0]['draft_id']} ({drafts[0]['bundle_name'][:60]})")
    number = tfso.approve_draft(shop, drafts[0]["draft_id"])
    print(f"approved in 24SevenOffice as voucher {number}")

    say("12. The rest of the week straight into the ledger: a gift card sold and redeemed, a resend")
    expect(api.put(f"/connections/{connection_id}/vendor-settings", json={"type_import": "ledger"}).status_code == 200,
           "type import")
    week = [today - timedelta(days=d) for d in range(6, 0, -1)]
    for n, day in enumerate(week, start=2):
        body = samples.settlement(day, n, with_cost=True, gift_cards=("500.00", "200.00") if n == 2 else None)
        expect(api.post(f"/connections/{connection_id}/settlements", json=body).status_code == 201, f"ingest {day}")
    resend = api.post(f"/connections/{connection_id}/settlements",
                      json=samples.settlement(week[0], 2, with_cost=True, gift_cards=("500.00", "200.00")))
    print(f"identical resend -> {resend.status_code}")
    api.post(f"/connections/{connection_id}/transfers")
    stack.drain()
    print_log(api, connection_id)

    say("13. Check: each settlement once in 24SevenOffice, balanced, with its Z-report, department and inventory change")
    booked = [v for v in tfso.vouchers(shop) if v["origin"] != "helper"]
    docs = api.get(f"/connections/{connection_id}/documents", params={"state": "booked"}).json()["documents"]
    print(f"booked in the log: {len(docs)}; vouchers from the hub in 24SevenOffice's ledger: {len(booked)}")
    expect(len(booked) == len(docs) == len(week) + 1, "one voucher per settlement")
    for voucher in booked:
        expect(sum(line["amount"] for line in voucher["lines"]) == 0, f"voucher {voucher['transaction_no']} balanced")
        expect(len(voucher["files"]) == 1 and voucher["department_ids"] == [201], "PDF and department on each")
        expect({1460, 4090} <= {line["account_no"] for line in voucher["lines"]}, "inventory change on each")
    expect(tfso.orphan_attachments(shop) == [], "no file without its voucher")
    gift = [line["amount"] for v in booked for line in v["lines"] if line["account_no"] == 2905]
    print(f"gift cards on 2905 (liability, no VAT): {', '.join(str(a) for a in sorted(gift))}")
    print("all balanced to the cent, each with its Z-report (stamp number), department 201 and inventory change")


def run_payroll_demo(stack: DevStack) -> None:
    """Procountor for a payroll bureau (Nmbrs' link): connect with the company pick, a payroll setup
    refused for a dimension the company lacks, a June run with corrections for January-May booked as
    six receipts in their periods, a resend, a test company's run refused, and a second client whose
    run corrects a period closed in Procountor, booked by a replay once the period is open again."""
    from .stack import BUILDER_COMPANY, PAYROLL_COMPANY

    sim = stack.procountor
    api = stack.api(stack.create_tenant("demo-payroll-bureau"))
    print(f"\nProcountor simulator: {sim.base_url}")

    say("21. Procountor: create a connection and sign in, picking the company (Palkkatoimisto Demo Oy)")
    created = api.post("/connections", json={"vendor": "procountor", "name": "Palkkatoimisto – Procountor"})
    expect(created.status_code == 201, f"create connection: {created.status_code} {created.text}")
    connection_id = created.json()["connection_id"]
    page = stack.connect_procountor(api, connection_id, PAYROLL_COMPANY)
    expect(page.status_code == 200 and "connected" in page.text, f"callback page: {page.status_code} {page.text[:300]}")
    connection = api.get(f"/connections/{connection_id}").json()
    print(f"status: {connection['status']}, company: {connection['vendor_company']} "
          f"(id {connection['vendor_company_id']}, {connection['vendor_currency']})")
    expect(connection["status"] == "connected" and connection["vendor_company"] == PAYROLL_COMPANY,
           "connected to the company picked at sign-in")
    check = api.post(f"/connections/{connection_id}/check").json()
    expect(check["ok"], f"test integration: {check}")
    year = next(fy for fy in check["fiscal_years"] if fy["start"] == "2026-01-01")
    open_periods = sum(1 for p in year["periods"] if p["status"] == "open")
    print(f"test integration: {check['message']}; fiscal year 2026: {open_periods} of {len(year['periods'])} "
          "periods open")
    for dimension in check["dimensions"]:
        items = ", ".join(i["code"] + ("" if i.get("active", True) else " (inactive)") for i in dimension["items"])
        print(f"    dimension {dimension['name']}: {items or 'no items'}")
    other = stack.connect_procountor(api, connection_id, BUILDER_COMPANY)
    print(f"reconnect picking {BUILDER_COMPANY} -> {other.status_code} (the connection stays with {PAYROLL_COMPANY})")
    expect(other.status_code == 409 and "create a new connection" in other.text, "another company is refused")
    kept = api.get(f"/connections/{connection_id}").json()
    expect(kept["status"] == "connected" and kept["vendor_company"] == PAYROLL_COMPANY, f"company kept: {kept}")

    say("22. Payroll setup — first with cost units on Kustannusyksikkö, a dimension this company lacks")
    refused = api.put(f"/connections/{connection_id}/payroll-setup", json=samples.payroll_setup(
        dimensions={"cost_centre": "Kustannuspaikka", "cost_unit": "Kustannusyksikkö"}))
    print(f"{refused.status_code}: {refused.json()['message'][:200]}")
    expect(refused.status_code == 422 and "Kustannusyksikkö" in refused.json()["message"],
           "a dimension missing from the company is refused, naming it")
    saved = api.put(f"/connections/{connection_id}/payroll-setup", json=samples.payroll_setup())
    expect(saved.status_code == 200, f"payroll setup: {saved.status_code} {saved.text}")
    print(f"saved: dimensions {saved.json()['payroll_setup']['dimensions']}, receipts left UNFINISHED for the "
          "bookkeeper")

    say("23. Push the June run with corrections for January-May; a resend; a test company's run")
    journal = samples.payroll_journal()
    pushed = api.post(f"/connections/{connection_id}/payroll-journals", json=journal)
    expect(pushed.status_code == 201, f"push journal: {pushed.status_code} {pushed.text}")
    parts = [p["part"] for p in pushed.json()["parts"]]
    print(f"accepted {journal['document_id']} ({journal['run_reference']}, {len(journal['lines'])} lines): one receipt "
          f"per period: {', '.join(parts)}")
    expect(parts == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"], f"six periods: {parts}")
    resend = api.post(f"/connections/{connection_id}/payroll-journals", json=journal)
    print(f"identical resend -> {resend.status_code} (nothing changes)")
    expect(resend.status_code == 200, f"an identical resend is accepted without change: {resend.status_code}")
    test_run = samples.payroll_journal("run-2026-06-testi", source_company={"id": "nmbrs-9999", "name": "Testi Oy",
                                                                           "test_company": True})
    refused = api.post(f"/connections/{connection_id}/payroll-journals", json=test_run)
    print(f"test company     -> {refused.status_code}: {refused.json()['message']}")
    expect(refused.status_code == 422 and "test company" in refused.json()["message"], "a test company is refused")

    say("24. Transfer now: six receipts, each in its own period")
    transferred = api.post(f"/connections/{connection_id}/transfers")
    expect(transferred.status_code == 202, f"transfer: {transferred.status_code} {transferred.text}")
    stack.drain()
    booked = api.get(f"/connections/{connection_id}/documents/{journal['document_id']}").json()
    expect(booked["state"] == "booked", f"the June run is booked: {booked['state']} {booked['reason']}")
    _print_receipts(sim, PAYROLL_COMPANY, booked)
    receipts = _hub_receipts(sim, PAYROLL_COMPANY)
    dates = [r["receiptDate"] for r in sorted(receipts, key=lambda r: r["receiptDate"])]
    expect(dates == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31", "2026-06-25"],
           f"corrections on their month's last day, the run on its date: {dates}")
    expect({p["vendor_document_id"] for p in booked["parts"]} == {str(r["id"]) for r in receipts},
           "the export log names each receipt")

    say("25. A second client of the bureau, Rakennus Esimerkki Oy: a new connection, the same user picks that company")
    builder = api.post("/connections", json={"vendor": "procountor", "name": "Rakennus Esimerkki – Procountor"})
    expect(builder.status_code == 201, f"create connection: {builder.status_code} {builder.text}")
    builder_id = builder.json()["connection_id"]
    page = stack.connect_procountor(api, builder_id, BUILDER_COMPANY)
    expect(page.status_code == 200, f"callback page: {page.status_code} {page.text[:300]}")
    check = api.post(f"/connections/{builder_id}/check").json()
    print(f"test integration: {check['message']}; warnings: {'; '.join(check['warnings']) or 'none'}")
    expect(check["ok"] and any("2026-01" in w for w in check["warnings"]), "January 2026 is closed there")
    saved = api.put(f"/connections/{builder_id}/payroll-setup", json=samples.payroll_setup())
    expect(saved.status_code == 200, f"payroll setup: {saved.status_code} {saved.text}")
    june = samples.payroll_journal(cost_centre="10", other_cost_centre="20",
                                   source_company={"id": "nmbrs-4712", "name": BUILDER_COMPANY})
    expect(api.post(f"/connections/{builder_id}/payroll-journals", json=june).status_code == 201, "push the June run")

    say("26. Its June run corrects January, a period closed in Procountor: the journal fails whole")
    api.post(f"/connections/{builder_id}/transfers")
    stack.drain()
    failed = api.get(f"/connections/{builder_id}/documents/{june['document_id']}").json()
    print(f"{june['document_id']}: {failed['state']}: {failed['reason']}")
    expect(failed["state"] == "failed" and "period 2026-01 is closed in Procountor" in (failed["reason"] or ""),
           "a closed period fails the journal, naming the period")
    expect(all(p["state"] == "pending" for p in failed["parts"]) and not _hub_receipts(sim, BUILDER_COMPANY),
           "nothing of the journal was sent")
    print(f"no receipt of it was sent (all {len(failed['parts'])} parts pending)")
    _set_period(sim.base_url, BUILDER_COMPANY, "2026-01", "OPEN")
    replay = api.post(f"/connections/{builder_id}/documents/{june['document_id']}/replay")
    expect(replay.status_code == 202, f"replay: {replay.status_code} {replay.text}")
    stack.drain()
    done = api.get(f"/connections/{builder_id}/documents/{june['document_id']}").json()
    expect(done["state"] == "booked", f"the replay books the run: {done['state']} {done['reason']}")
    print("January reopened in Procountor, replayed:")
    _print_receipts(sim, BUILDER_COMPANY, done)

    say("27. Export logs; check: each receipt once in Procountor, balanced, JOURNAL, left UNFINISHED")
    print_log(api, connection_id)
    rejected = api.get(f"/connections/{connection_id}/documents", params={"state": "rejected"}).json()["documents"]
    expect([d["document_id"] for d in rejected] == [test_run["document_id"]], "the test company's run is logged")
    print_log(api, builder_id)
    for company in (PAYROLL_COMPANY, BUILDER_COMPANY):
        receipts = _hub_receipts(sim, company)
        names = {r["name"] for r in receipts}
        print(f"{company}: {len(receipts)} receipts from the hub ({len(names)} distinct names)")
        expect(len(receipts) == len(names) == 6, f"six receipts in {company}, each once")
        expect(all(sum(t["accountingValue"] for t in r["transactions"]) == 0 for r in receipts), "all balanced")
        expect(all(r["status"] == "UNFINISHED" and r["type"] == "JOURNAL" for r in receipts), "left unfinished")
    with sim.state.lock:
        refused = sim.state.rate_limited
    print(f"all balanced to the cent, JOURNAL receipts left UNFINISHED for the bookkeeper; {refused} refused with 429")
    expect(refused == 0, "no request refused by Procountor's rate limit")


INSERT_LIST = "POST /api/Entities/InsertList/{name}"


def run_uniconta_demo(stack: DevStack) -> None:
    """Uniconta for a hair salon: login, journal, setup, a week of Z-reports as one InsertList of journal
    lines per day, a resend, the bookkeeper's posting and the ledger checked against the Z-reports."""
    sim = stack.uniconta
    company, journal = samples.UNICONTA_COMPANY, samples.UNICONTA_JOURNAL
    login = samples.UNICONTA_LOGIN
    api = stack.api(stack.create_tenant("demo-salon"))
    print(f"\nUniconta simulator: {sim.base_url}")

    say("28. Uniconta: store the salon's login (user, password, API key, company id) — first a wrong password")
    created = api.post("/connections", json={"vendor": "uniconta", "name": "Salon Sakse – Uniconta"})
    expect(created.status_code == 201, f"create connection: {created.status_code} {created.text}")
    connection_id = created.json()["connection_id"]
    wrong = api.put(f"/connections/{connection_id}/credential", json={**login, "password": "Sakse-2025!"})
    result = wrong.json()
    print(f"wrong password -> ok={result['ok']}: {result['message']}")
    expect(wrong.status_code == 200 and not result["ok"] and "user name or the password" in result["message"]
           and "Sakse-2025!" not in result["message"], "a wrong password is refused, naming user name or password")
    right = api.put(f"/connections/{connection_id}/credential", json=login)
    result = right.json()
    expect(right.status_code == 200 and result["ok"], f"login: {right.status_code} {right.text}")
    journals = [c["id"] for c in result["choices"]["journal"]]
    print(f"right password -> ok=True: {result['message']}")
    print(f"company: {result['company_name']}; daily journals: {', '.join(journals)}")
    expect(result["company_name"] == "Salon Sakse ApS" and journal in journals, "the salon's company and journals")
    picked = api.put(f"/connections/{connection_id}/vendor-settings", json={"journal": journal})
    expect(picked.status_code == 200, f"vendor settings: {picked.status_code} {picked.text}")
    print(f"journal picked: {journal}")

    say("29. Account setup — first with card payments on 5821, an account missing from the chart")
    refused = api.put(f"/connections/{connection_id}/account-setup", json=samples.salon_setup(card_account="5821"))
    body = refused.json()
    print(f"{refused.status_code}: {body['message'][:200]}")
    expect(refused.status_code == 422 and "5821" in body["message"], "an unknown account is refused, naming it")
    saved = api.put(f"/connections/{connection_id}/account-setup", json=samples.salon_setup())
    expect(saved.status_code == 200, f"setup: {saved.status_code} {saved.text}")
    print("saved: treatments 1010 and products 1020 with VAT code U25 (-> 6900), card 5820, cash 5800, "
          "MobilePay 5830")

    say("30. Push a week of the salon's Z-reports (DKK), an identical resend, transfer now")
    today = date.today()
    # Day i has i products the POS rounded one by one: Uniconta's VAT split of their sum is off by a cent
    # on some days; the hub brings each day to its Z-report's.
    week = [samples.salon_day(today - timedelta(days=d), 1, extra_items=7 - d) for d in range(7, 0, -1)]
    for day in week:
        pushed = api.post(f"/connections/{connection_id}/settlements", json=day)
        expect(pushed.status_code == 201, f"ingest {day['document_id']}: {pushed.status_code} {pushed.text}")
    print(f"accepted {len(week)} Z-reports ({week[0]['business_date']} .. {week[-1]['business_date']}), gross "
          f"{week[0]['totals']['gross']} .. {week[-1]['totals']['gross']} DKK")
    resend = api.post(f"/connections/{connection_id}/settlements", json=week[0])
    print(f"identical resend -> {resend.status_code} (nothing changes)")
    expect(resend.status_code == 200, f"an identical resend is accepted without change: {resend.status_code}")
    before = sim.request_counts()
    transferred = api.post(f"/connections/{connection_id}/transfers")
    expect(transferred.status_code == 202, f"transfer: {transferred.status_code} {transferred.text}")
    stack.drain()
    after = sim.request_counts()
    calls = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) and " /_sim" not in k}
    print_log(api, connection_id)

    say(f"31. Check: one InsertList of lines per day in journal {journal}, balanced, each day once")
    references = {}
    for day in week:
        document = api.get(f"/connections/{connection_id}/documents/{day['document_id']}").json()
        expect(document["state"] == "booked", f"{day['document_id']} booked: {document['state']} {document['reason']}")
        references[document["reference"]] = day
    lines = httpx.get(f"{sim.base_url}/_sim/companies/{company}/journals/{journal}/lines").json()
    by_reference: dict[str, list[dict]] = {}
    for line in lines:
        by_reference.setdefault(line["Text"].rsplit("[", 1)[-1].rstrip("]"), []).append(line)
    print(f"journal {journal}: {len(lines)} lines in {len(by_reference)} batches; Uniconta calls for the week: "
          + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    expect(calls.get(INSERT_LIST, 0) == len(week), f"one InsertList per day: {calls}")
    expect(set(by_reference) == set(references), f"each day's lines once: {sorted(by_reference)}")
    for reference, day_lines in by_reference.items():
        debit = sum(Decimal(str(line.get("Debit") or 0)) for line in day_lines)
        credit = sum(Decimal(str(line.get("Credit") or 0)) for line in day_lines)
        expect(debit == credit, f"{reference} balanced: {debit} != {credit}")
    print(f"{len(week)} InsertList calls for {len(week)} days; every batch balanced to the cent, each day once")

    say("32. The bookkeeper posts the journal in Uniconta: the ledger against the Z-reports")
    posted = httpx.post(f"{sim.base_url}/_sim/companies/{company}/journals/{journal}/post")
    expect(posted.status_code == 200, f"post the journal: {posted.status_code} {posted.text}")
    ledger = httpx.get(f"{sim.base_url}/_sim/companies/{company}/ledger").json()
    total: dict[str, Decimal] = {}
    for entry in ledger:
        total[entry["Account"]] = total.get(entry["Account"], Decimal(0)) + Decimal(str(entry["Amount"]))
    expected = {"6900": -sum(Decimal(d["totals"]["vat"]) for d in week),
                "1010": -sum(Decimal(s["net"]) for d in week for s in d["sales"] if s["category"] == "Behandlinger"),
                "1020": -sum(Decimal(s["net"]) for d in week for s in d["sales"] if s["category"] == "Produkter")}
    print(f"{'account':<8} {'ledger':>12} {'Z-reports':>12}")
    for account, amount in expected.items():
        print(f"{account:<8} {total.get(account, Decimal(0)):>12.2f} {amount:>12.2f}")
        expect(total.get(account) == amount, f"account {account}: ledger {total.get(account)} != Z-reports {amount}")
    print("VAT (6900) and revenue (1010, 1020) equal the sums of the Z-reports to the cent")

    say("33. Uniconta's daily call budget: the hub's calls today for this user")
    usage = api.get(f"/connections/{connection_id}").json()["vendor_usage"]
    print(f"vendor_usage: {usage['calls']} calls on {usage['date']} (the hub's share {usage['hub_share']:,} of "
          f"Uniconta's {usage['budget']:,} per user and day)")
    at_sim = sim.usage(login["username"])
    print(f"Uniconta's own count for {login['username']} today: {at_sim['calls']} calls, delayed calls "
          f"{at_sim['delayed_calls']} (the login checks, the catalog reads for the setup, one InsertList per day; "
          "the hub also counts its refused login, Uniconta only authenticated calls)")
    expect(0 < usage["calls"] <= usage["hub_share"], f"within the hub's share: {usage}")
    expect(at_sim["delayed_calls"] == 0, "no call slowed by Uniconta's budget")


def run_customer_sync_demo(stack: DevStack) -> None:
    """FlexyBox's customer sync with Uniconta: setup against the real debtor fields, tagged customers pushed,
    a bookkeeper's edit in Uniconta reaching the changes feed once, a forged notification refused, the link
    broken ("Has errors") and mended with nothing lost."""
    sim = stack.uniconta
    company = samples.UNICONTA_COMPANY
    api = stack.api(stack.create_tenant("demo-salon-sync"))
    created = api.post("/connections", json={"vendor": "uniconta", "name": "Salon Sakse – kunder"})
    connection_id = created.json()["connection_id"]
    expect(api.put(f"/connections/{connection_id}/credential", json=samples.UNICONTA_LOGIN).json()["ok"],
           "the salon's login")

    say("34. Customer sync setup — first with a field Uniconta's debtors do not have (Email)")
    wrong = samples.customer_sync_setup(fields=["Name", "Email", "Phone", "foedselsdag"])
    refused = api.put(f"/connections/{connection_id}/customer-sync", json=wrong)
    body = refused.json()
    print(f"{refused.status_code}: {body['message'][:240]}")
    for detail in body.get("details", []):
        print(f"  {detail['field']}: {detail['message']}")
    expect(refused.status_code == 422 and "Email" in body["message"] and "foedselsdag" in body["message"],
           "names Uniconta does not have are refused, each named")
    saved = api.put(f"/connections/{connection_id}/customer-sync", json=samples.customer_sync_setup())
    expect(saved.status_code == 200, f"setup: {saved.status_code} {saved.text}")
    view = saved.json()
    print(f"saved: tag {view['setup']['tag']!r}, fields {', '.join(view['setup']['fields'])}")
    print(f"modification URL for Uniconta: {view['notification_url']} (Argument shown once, Post ticked)")
    setting = sim.add_modification_url(company, view["notification_url"], argument=view["notification_argument"],
                                       post=True)

    say("35. The booking system pushes 3 tagged and 2 untagged customers")
    customers = [samples.salon_customer(n) for n in (1, 2, 3)] + [samples.salon_customer(n, tagged=False)
                                                                  for n in (4, 5)]
    before = sim.usage(samples.UNICONTA_LOGIN["username"])["calls"]
    pushed = api.post(f"/connections/{connection_id}/customers", json={"customers": customers})
    expect(pushed.status_code == 202, f"push: {pushed.status_code} {pushed.text}")
    print(f"{pushed.status_code}: {pushed.json()['counts']}")
    _settle(stack)
    debtors = {d["Account"]: d for d in sim.debtors(company)}
    synced = sorted(k for k in debtors if k.startswith("C"))
    print(f"debtors in Uniconta: {', '.join(sorted(debtors))} ({sim.usage(samples.UNICONTA_LOGIN['username'])['calls'] - before} calls)")
    expect(synced == ["C0001", "C0002", "C0003"], f"the 3 tagged customers became debtors: {synced}")
    again = api.post(f"/connections/{connection_id}/customers", json={"customers": customers})
    spent = sim.usage(samples.UNICONTA_LOGIN["username"])["calls"]
    _settle(stack)
    print(f"the same push again: {again.json()['counts']}, Uniconta calls: "
          f"{sim.usage(samples.UNICONTA_LOGIN['username'])['calls'] - spent}")
    expect(again.json()["counts"].get("unchanged") == 3 and
           sim.usage(samples.UNICONTA_LOGIN["username"])["calls"] == spent, "unchanged customers cost no call")
    changes = api.get(f"/connections/{connection_id}/customers/changes").json()
    expect(changes["changes"] == [], f"the hub's own writes never come back as changes: {changes}")

    say("36. The bookkeeper edits debtor C0002 in Uniconta: the change reaches the changes feed once")
    edited = httpx.patch(f"{sim.base_url}/_sim/companies/{company}/debtors/C0002",
                         json={"Phone": "+45 70 11 22 33", "City": "Odense"})
    expect(edited.status_code == 200, f"edit: {edited.status_code} {edited.text}")
    _settle(stack)
    page = api.get(f"/connections/{connection_id}/customers/changes").json()
    for change in page["changes"]:
        print(f"  #{change['cursor']} {change['operation']} {change['source_id']} ({change['vendor_key']}): "
              f"changed {change['changed']} -> {[change['fields'][f] for f in change['changed']]}")
    expect(len(page["changes"]) == 1 and page["changes"][0]["changed"] == ["Phone"],
           f"one change, Phone only (City is not carried): {page}")
    cursor = page["cursor"]

    say("37. A forged notification (no or a wrong Argument) is refused")
    params = {"CompanyId": company, "Table": "Debtor", "RowId": "1", "Key": "C0001", "Operation": "Delete"}
    for argument in (None, "guessed"):
        forged = httpx.get(view["notification_url"], params={**params, **({"Argument": argument} if argument else {})})
        print(f"Argument={argument!r} -> {forged.status_code} {forged.json()['message']}")
        expect(forged.status_code == 401, "forged notifications are refused")

    say("38. The link breaks (a wrong Argument pasted): Uniconta marks it 'Has errors' and sends nothing more")
    httpx.delete(f"{sim.base_url}/_sim/companies/{company}/modification-urls/{setting['RowId']}").raise_for_status()
    broken = sim.add_modification_url(company, view["notification_url"], argument="a-typo", post=True)
    for n in range(3):
        httpx.patch(f"{sim.base_url}/_sim/companies/{company}/debtors/C0001",
                    json={"FastFrisoer": ("Mette", "Jonas", "Sofie")[n]}).raise_for_status()
    sim.wait_for_deliveries()
    links = httpx.get(f"{sim.base_url}/_sim/companies/{company}/modification-urls").json()
    state = next(link for link in links if link["RowId"] == broken["RowId"])
    print(f"Uniconta: HasError={state['HasError']} ({state['ErrorMessage']})")
    expect(state["HasError"], "three refused deliveries mark the link")
    httpx.patch(f"{sim.base_url}/_sim/companies/{company}/debtors/C0003",
                json={"Nyhedsbrev": True}).raise_for_status()  # not sent at all: the link has errors
    checked = api.post(f"/connections/{connection_id}/customer-sync/check")
    expect(checked.status_code == 202, f"check: {checked.status_code} {checked.text}")
    _settle(stack)
    health = api.get(f"/connections/{connection_id}/customer-sync").json()["health"]
    print(f"sync state: {health['state']}: {health['reason']}")
    expect(health["state"] == "stalled" and "Refresh" in health["reason"] and health["caught_up"] == 2,
           f"the broken link is noticed and the missed changes caught up: {health}")

    say("39. Mended in Uniconta (the right Argument, Refresh): healthy again, nothing lost, nothing twice")
    httpx.delete(f"{sim.base_url}/_sim/companies/{company}/modification-urls/{broken['RowId']}").raise_for_status()
    sim.add_modification_url(company, view["notification_url"], argument=view["notification_argument"], post=True)
    api.post(f"/connections/{connection_id}/customer-sync/check")
    _settle(stack)
    httpx.patch(f"{sim.base_url}/_sim/companies/{company}/debtors/C0003",
                json={"Phone": "+45 70 99 88 77"}).raise_for_status()
    _settle(stack)
    health = api.get(f"/connections/{connection_id}/customer-sync").json()
    page = api.get(f"/connections/{connection_id}/customers/changes", params={"cursor": cursor}).json()
    for change in page["changes"]:
        print(f"  #{change['cursor']} {change['operation']} {change['source_id']}: changed {change['changed']}")
    print(f"sync state: {health['health']['state']}; customers: {health['records']}")
    expect(health["health"]["state"] == "ok", f"healthy again: {health['health']}")
    expect([(c["source_id"], c["changed"]) for c in page["changes"]] ==
           [("C0001", ["FastFrisoer"]), ("C0003", ["Nyhedsbrev"]), ("C0003", ["Phone"])],
           f"every change once, the missed ones included: {page['changes']}")
    usage = api.get(f"/connections/{connection_id}").json()["vendor_usage"]
    print(f"Uniconta calls today for this user (bookkeeping and sync): {usage['calls']} of the hub's share "
          f"{usage['hub_share']:,}")


def _settle(stack: DevStack) -> None:
    """Until Uniconta has delivered its notifications and the hub has worked every job they queued."""
    for _ in range(3):
        stack.uniconta.wait_for_deliveries()
        stack.drain()


def _hub_receipts(sim, company: str) -> list[dict]:
    """The JOURNAL receipts the hub posted (their name carries its reference, "[LB-…]")."""
    return [r for r in sim.receipts(company, type="JOURNAL") if "[LB-" in r["name"]]


def _print_receipts(sim, company: str, document: dict) -> None:
    by_id = {str(r["id"]): r for r in sim.receipts(company, type="JOURNAL")}
    print(f"{'period':<8} {'receipt date':<12} {'receipt id':>10} {'number':>6}  {'state':<7} {'in Procountor':<13} "
          "name")
    for part in document["parts"]:
        receipt = by_id.get(part["vendor_document_id"] or "", {})
        expect(part["state"] == "booked" and receipt.get("receiptDate", "").startswith(part["part"]),
               f"part {part['part']} booked in its own period: {part}, {receipt.get('receiptDate')}")
        print(f"{part['part']:<8} {receipt['receiptDate']:<12} {part['vendor_document_id']:>10} "
              f"{part['vendor_document_number'] or '':>6}  {part['state']:<7} {part['vendor_status'] or '':<13} "
              f"{receipt['name']}")


def _set_period(base_url: str, company: str, period: str, status: str) -> None:
    """What the bookkeeper does in Procountor's UI, through the simulator's control endpoint."""
    answer = httpx.post(f"{base_url}/_sim/periods", json={"company": company, "period": period, "status": status})
    expect(answer.status_code == 200, f"/_sim/periods: {answer.status_code} {answer.text}")
    print(f"POST /_sim/periods {{company: {company}, period: {period}, status: {status}}} -> {answer.status_code}")


def print_log(api, connection_id: str, state: str | None = None) -> None:
    params = {"limit": 50, **({"state": state} if state else {})}
    documents = api.get(f"/connections/{connection_id}/documents", params=params).json()["documents"]
    print(f"{'date':<11} {'document / run':<30} {'state':<15} {'gross':>10}  voucher / reason / summary")
    for d in documents:
        summary = " ".join(f"{k}={v}" for k, v in (d.get("summary") or {}).items())
        detail = d["vendor_document_number"] or d["reason"] or summary
        print(f"{d['business_date']:<11} {d['document_id']:<30} {d['state']:<15} {d['gross_total'] or '':>10}  "
              f"{detail[:100]}")


def main() -> int:
    started = datetime.now(timezone.utc)
    with DevStack(StackOptions(log_level=os.environ.get("LOG_LEVEL", "WARNING"))) as stack:
        run_demo(stack)
        # The shop first: the reconciliation demo ends by changing the integration user's password.
        run_shop_demo(stack)
        run_reconciliation_demo(stack)
        run_payroll_demo(stack)
        run_uniconta_demo(stack)
        run_customer_sync_demo(stack)
    print(f"\ndemo OK in {(datetime.now(timezone.utc) - started).total_seconds():.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
