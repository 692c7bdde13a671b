"""Realistic sample data: a Norwegian bakery's Z-reports and the matching account setup."""
from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from typing import Any

# A tiny but valid one-page PDF, standing in for the POS's Z-report printout.
_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

CENT = Decimal("0.01")


def z_report_pdf(document_id: str) -> str:
    return base64.b64encode(_PDF + f"% Z-report {document_id}\n".encode()).decode()


def settlement(day: date, number: int, *, register: str = "1", scale: int = 1, with_pdf: bool = True,
               extra_category: str | None = None, gift_cards: tuple[str, str] | None = None,
               with_cost: bool = False) -> dict:
    """One day's Z-report. Amounts vary with the day so that every voucher is different.

    ``gift_cards`` = (sold, redeemed): gift cards sold are paid for by card on top of the sales;
    gift cards redeemed paid for part of the sales instead of card. Neither is a sales line or a
    payment: they go in the settlement's own ``gift_cards`` (a liability, never revenue).
    """
    seed = day.toordinal() % 97 + number
    lines = [
        ("Brød og bakst", Decimal("15"), Decimal(1200 + seed * 7) * scale + Decimal("0.40")),
        ("Kaffe servert", Decimal("25"), Decimal(800 + seed * 3) * scale + Decimal("0.80")),
        ("Varer", Decimal("25"), Decimal(300 + seed) * scale),
    ]
    if extra_category:
        lines.append((extra_category, Decimal("25"), Decimal("100.00")))
    sales = []
    for category, rate, gross in lines:
        gross = gross.quantize(CENT)
        net = (gross / (1 + rate / 100)).quantize(CENT)
        sales.append({"category": category, "vat_rate": str(rate), "net": str(net), "vat": str(gross - net),
                      "gross": str(gross)})
        if with_cost:  # the cost of the goods sold, about 40 % of the net: what inventory change books
            sales[-1]["cost"] = str((net * Decimal("0.4")).quantize(CENT))
    gross_total = sum(Decimal(s["gross"]) for s in sales)
    net_total = sum(Decimal(s["net"]) for s in sales)
    vat_total = sum(Decimal(s["vat"]) for s in sales)
    # Cash is rounded to whole kroner at the till; the difference is the cash rounding.
    cash_sales = (gross_total * Decimal("0.1")).quantize(CENT)
    cash_paid = cash_sales.quantize(Decimal("1"))
    cash_rounding = cash_paid - cash_sales
    vipps = (gross_total * Decimal("0.2")).quantize(CENT)
    card = gross_total - cash_sales - vipps
    sold, redeemed = (Decimal(gift_cards[0]), Decimal(gift_cards[1])) if gift_cards else (Decimal(0), Decimal(0))
    card += sold - redeemed
    document_id = f"Z-{register}-{day.isoformat()}-{number}"
    body = {
        "document_id": document_id, "business_date": day.isoformat(), "currency": "NOK", "register_id": register,
        "sales": sales,
        "payments": [{"method": "Kort", "amount": str(card)}, {"method": "Vipps", "amount": str(vipps)},
                     {"method": "Kontant", "amount": str(cash_paid)}],
        "cash_rounding": str(cash_rounding),
        "totals": {"net": str(net_total), "vat": str(vat_total), "gross": str(gross_total)},
    }
    if gift_cards:
        body["gift_cards"] = {"sold": f"{sold:.2f}", "redeemed": f"{redeemed:.2f}"}
    if with_pdf:
        body["attachment"] = {"file_name": f"{document_id}.pdf", "content_type": "application/pdf",
                              "data": z_report_pdf(document_id)}
    return body


def closed_day(day: date, *, register: str = "1") -> dict:
    """A day the shop was closed: the Z-report has no sales and no payments."""
    return {"document_id": f"Z-{register}-{day.isoformat()}-closed", "business_date": day.isoformat(),
            "currency": "NOK", "register_id": register, "sales": [], "payments": [],
            "totals": {"net": "0.00", "vat": "0.00", "gross": "0.00"}}


# Inventory change in the Visma eAccounting simulator: its chart (an NS 4102 excerpt) has neither
# 1460 Varelager nor 4090 Beholdningsendring, so the bakery's setup uses two accounts it does have,
# on the same sides of the books: a balance-sheet asset for the stock and a P&L account for the
# change. A real company maps 1460 and 4090 (as the 24SevenOffice shop below does).
VISMA_INVENTORY_ACCOUNT = "1500"
VISMA_INVENTORY_CHANGE_ACCOUNT = "7790"


def account_setup(food_account: str = "3011", *, gift_cards: bool = False, inventory: bool = False) -> dict:
    """The bakery's setup; ``gift_cards`` adds the gift card liability row (2900, no VAT code);
    ``inventory`` turns inventory change on with an inventory and an inventory_change row
    (VISMA_INVENTORY_ACCOUNT and VISMA_INVENTORY_CHANGE_ACCOUNT, accounts of the simulator's chart)."""
    setup = {"rows": [
        {"kind": "sales", "key": "Brød og bakst", "vat_rate": "15", "account": food_account, "vat_code": "31"},
        {"kind": "sales", "key": "Kaffe servert", "vat_rate": "25", "account": "3000", "vat_code": "3"},
        {"kind": "sales", "key": "Varer", "vat_rate": "25", "account": "3000", "vat_code": "3"},
        {"kind": "vat", "key": "15", "account": "2701"},
        {"kind": "vat", "key": "25", "account": "2700"},
        {"kind": "payment", "key": "Kort", "account": "1580"},
        {"kind": "payment", "key": "Vipps", "account": "1581"},
        {"kind": "payment", "key": "Kontant", "account": "1900"},
        {"kind": "rounding", "account": "7770"},
    ]}
    if gift_cards:
        setup["rows"].append({"kind": "gift_card", "account": "2900"})
    if inventory:
        setup["rows"] += [{"kind": "inventory", "account": VISMA_INVENTORY_ACCOUNT},
                          {"kind": "inventory_change", "account": VISMA_INVENTORY_CHANGE_ACCOUNT}]
        setup["inventory_change"] = True
    return setup


# Havnekafeen AS in the 24SevenOffice simulator: the shop's company (client 1100003).
SHOP_COMPANY = "1100003"


def shop_setup_24so(*, kiosk_account: str = "3000", inventory_change: bool = True) -> dict:
    """The café's setup in 24SevenOffice: its own chart (sales accounts with sales types), gift
    cards on 2905, and inventory change between 1460 Varelager and 4090 Beholdningsendring.
    ``kiosk_account="3090"`` maps the goods to the one sales account without a sales type."""
    rows = [
        {"kind": "sales", "key": "Brød og bakst", "vat_rate": "15", "account": "3011", "vat_code": "31"},
        {"kind": "sales", "key": "Kaffe servert", "vat_rate": "25", "account": "3000", "vat_code": "3"},
        {"kind": "sales", "key": "Varer", "vat_rate": "25", "account": kiosk_account, "vat_code": "3"},
        {"kind": "vat", "key": "15", "account": "2701"},
        {"kind": "vat", "key": "25", "account": "2700"},
        {"kind": "payment", "key": "Kort", "account": "1570"},
        {"kind": "payment", "key": "Vipps", "account": "1920"},
        {"kind": "payment", "key": "Kontant", "account": "1900"},
        {"kind": "rounding", "account": "7795"},
        {"kind": "gift_card", "account": "2905"},
    ]
    if inventory_change:
        rows += [{"kind": "inventory", "account": "1460"}, {"kind": "inventory_change", "account": "4090"}]
    return {"rows": rows, "inventory_change": inventory_change}


# Stock registrations: what each kind moves by default (category, stock value change at cost,
# signed: positive = stock up). The document id starts with the kind's Norwegian initials.
_STOCK_SAMPLES = {
    "goods_received": ("VM", [("Varer", "1250.00"), ("Kaffe servert", "830.40"), ("Varer", "99.60")]),
    "write_off": ("SV", [("Brød og bakst", "-145.50"), ("Varer", "-20.00")]),
    "count_adjustment": ("VT", [("Varer", "-32.10"), ("Kaffe servert", "12.00")]),
}


def stock_registration(day: date, kind: str = "goods_received", number: int = 1, *,
                       lines: list[tuple[str, str]] | None = None, note: str | None = None,
                       with_pdf: bool = True) -> dict:
    """A stock registration the back office pushes: goods received (varemottak), a write-off (svinn)
    or a count adjustment (varetelling), with the delivery note or count sheet as its PDF.

    Defaults: goods received +2,180.00; a write-off -165.50; a count adjustment -20.10 (the count
    found less than the books). ``lines`` = [(category, amount)] replaces them."""
    prefix, default_lines = _STOCK_SAMPLES[kind]
    document_id = f"{prefix}-{day.isoformat()}-{number}"
    body: dict = {
        "document_id": document_id, "business_date": day.isoformat(), "kind": kind, "currency": "NOK",
        "lines": [{"category": category, "amount": amount}
                  for category, amount in (default_lines if lines is None else lines)],
    }
    if note is not None:
        body["note"] = note
    if with_pdf:
        body["attachment"] = {"file_name": f"{document_id}.pdf", "content_type": "application/pdf",
                              "data": z_report_pdf(document_id)}
    return body


# --- payroll (Procountor) ----------------------------------------------------------------------------

def payroll_setup(**overrides: Any) -> dict[str, Any]:
    """A payroll bureau's setup for Palkkatoimisto Demo Oy: cost centres on Kustannuspaikka."""
    return {"accounts": {}, "dimensions": {"cost_centre": "Kustannuspaikka"}, "create_missing_items": False,
            "approve": False, **overrides}


def payroll_journal(document_id: str = "run-2026-06", *, year: int = 2026, month: int = 6,
                    corrections: tuple[int, ...] = (1, 2, 3, 4, 5), source_company: dict | None = None,
                    cost_centre: str = "100", other_cost_centre: str = "200",
                    run_day: int = 25) -> dict[str, Any]:
    """A month's payroll run with corrections for earlier months (seed 002's example: June with
    January–May), as a payroll system's journal export gives it; every period balances.

    Salaries go to two cost centres, ``cost_centre`` (also the corrections') and ``other_cost_centre``:
    100 and 200 exist at Palkkatoimisto Demo Oy; Rakennus Esimerkki Oy has 10 and 20."""
    period = f"{year:04d}-{month:02d}"
    lines: list[dict[str, Any]] = [
        {"account": "5000", "debit": "10000.00", "text": "Palkat", "cost_centre": cost_centre},
        {"account": "5000", "debit": "8000.00", "text": "Palkat", "cost_centre": other_cost_centre},
        {"account": "6130", "debit": "3000.00", "text": "TyEL-maksut"},
        {"account": "6410", "debit": "300.00", "text": "Sosiaaliturvamaksut"},
        {"account": "2931", "credit": "3600.00", "text": "Ennakonpidätys"},
        {"account": "2932", "credit": "3000.00", "text": "TyEL-maksuvelka"},
        {"account": "2933", "credit": "300.00", "text": "Sosiaaliturvamaksuvelka"},
        {"account": "2939", "credit": "14400.00", "text": "Nettopalkat"},
    ]
    for earlier in corrections:
        concerns = f"{year:04d}-{earlier:02d}"
        amount = f"{50 * earlier + 0.25:.2f}"
        lines += [
            {"account": "5010", "debit": amount, "text": f"Korjaus {concerns}: ylityö", "cost_centre": cost_centre,
             "period": concerns},
            {"account": "2939", "credit": amount, "text": f"Korjaus {concerns}: nettopalkka", "period": concerns},
        ]
    return {"document_id": document_id, "run_reference": f"Palkat {period}", "run_date": f"{period}-{run_day:02d}",
            "pay_period": period, "currency": "EUR",
            "source_company": source_company or {"id": "nmbrs-4711", "name": "Palkkatoimisto Demo Oy"},
            "lines": lines}


# --- a Danish hair salon's Z-reports for Uniconta (Salon Sakse ApS, company 4415 in the simulator) ------

UNICONTA_LOGIN = {"username": "salon-api", "password": "Sakse-2026!",
                  "api_key": "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13", "company_id": "4415"}
UNICONTA_COMPANY = "4415"
UNICONTA_JOURNAL = "SALG"


def salon_setup(*, card_account: str = "5820") -> dict:
    """The salon's account setup: treatments and products at 25 % (VAT code U25 → 6900), card, cash and
    MobilePay, rounding on an expense account."""
    return {"rows": [
        {"kind": "sales", "key": "Behandlinger", "vat_rate": "25", "account": "1010", "vat_code": "U25"},
        {"kind": "sales", "key": "Produkter", "vat_rate": "25", "account": "1020", "vat_code": "U25"},
        {"kind": "vat", "key": "25", "account": "6900"},
        {"kind": "payment", "key": "Kort", "account": card_account},
        {"kind": "payment", "key": "Kontant", "account": "5800"},
        {"kind": "payment", "key": "MobilePay", "account": "5830"}, {"kind": "rounding", "account": "3600"}]}


def salon_day(day: date | str, number: int = 1, *, extra_items: int = 0) -> dict:
    """A salon's Z-report in DKK: treatments and products at 25 %, card, cash and MobilePay.

    ``extra_items`` products of 9.99 gross, 2.00 VAT each (the POS rounds them one by one, so Uniconta's
    split of their sum differs by a cent now and then: the hub brings it to the Z-report's)."""
    day = day if isinstance(day, str) else day.isoformat()
    sales = [{"category": "Behandlinger", "vat_rate": "25", "net": "3200.00", "vat": "800.00", "gross": "4000.00"},
             {"category": "Produkter", "vat_rate": "25", "net": "396.00", "vat": "99.00", "gross": "495.00"}]
    sales += [{"category": "Produkter", "vat_rate": "25", "net": "7.99", "vat": "2.00", "gross": "9.99"}] * extra_items
    gross = sum(Decimal(line["gross"]) for line in sales)
    net = sum(Decimal(line["net"]) for line in sales)
    return {"document_id": f"Z-{day}-{number}", "business_date": day, "currency": "DKK", "register_id": "1",
            "sales": sales, "payments": [{"method": "Kort", "amount": str(gross - Decimal("600.00"))},
                                         {"method": "Kontant", "amount": "400.00"},
                                         {"method": "MobilePay", "amount": "200.00"}],
            "cash_rounding": "0", "totals": {"net": str(net), "vat": str(gross - net), "gross": str(gross)}}


# --- the salon's customers, kept in step with Uniconta's debtors (FlexyBox's customer sync) ------------

UNICONTA_SYNC_TAG = "Uniconta"


def customer_sync_setup(**overrides: Any) -> dict[str, Any]:
    """Customers tagged "Uniconta" carry their name, e-mail, phone and three of the salon's own Uniconta
    fields (birthday, newsletter, regular stylist); new debtors go into debtor group Privat."""
    return {"tag": UNICONTA_SYNC_TAG,
            "fields": ["Name", "ContactEmail", "Phone", "Foedselsdag", "Nyhedsbrev", "FastFrisoer"],
            "create_defaults": {"Group": "Privat"}, **overrides}


_FIRST_NAMES = ("Mette", "Jonas", "Sofie", "Lars", "Ida", "Mikkel", "Freja", "Anders", "Emma", "Rasmus")
_STYLISTS = ("Mette", "Jonas", "Sofie")


def salon_customer(n: int, *, tagged: bool = True, **fields: Any) -> dict[str, Any]:
    """Customer ``n`` of the salon's booking system, as it pushes it (id C0001…)."""
    name = f"{_FIRST_NAMES[n % len(_FIRST_NAMES)]} Kunde {n}"
    values = {"Name": name, "ContactEmail": f"kunde{n}@example.dk", "Phone": f"+45 20 {n // 10000:02d} {n % 10000:04d}",
              "Foedselsdag": f"19{60 + n % 40}-{1 + n % 12:02d}-{1 + n % 28:02d}", "Nyhedsbrev": n % 3 != 0,
              "FastFrisoer": _STYLISTS[n % len(_STYLISTS)], **fields}
    return {"id": f"C{n:04d}", "tags": [UNICONTA_SYNC_TAG] if tagged else ["VIP"], "fields": values}
