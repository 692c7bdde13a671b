"""Realistic sample data: a Norwegian bakery's Z-reports and the matching account setup."""
from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal

# A tiny but valid one-page PDF, standing in for the POS's Z-report printout.
_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

CENT = Decimal("0.01")


def z_report_pdf(document_id: str) -> str:
    return base64.b64encode(_PDF + f"% Z-report {document_id}\n".encode()).decode()


def settlement(day: date, number: int, *, register: str = "1", scale: int = 1, with_pdf: bool = True,
               extra_category: str | None = None) -> dict:
    """One day's Z-report. Amounts vary with the day so that every voucher is different."""
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
    gross_total = sum(Decimal(s["gross"]) for s in sales)
    net_total = sum(Decimal(s["net"]) for s in sales)
    vat_total = sum(Decimal(s["vat"]) for s in sales)
    # Cash is rounded to whole kroner at the till; the difference is the cash rounding.
    cash_sales = (gross_total * Decimal("0.1")).quantize(CENT)
    cash_paid = cash_sales.quantize(Decimal("1"))
    cash_rounding = cash_paid - cash_sales
    vipps = (gross_total * Decimal("0.2")).quantize(CENT)
    card = gross_total - cash_sales - vipps
    document_id = f"Z-{register}-{day.isoformat()}-{number}"
    body = {
        "document_id": document_id, "business_date": day.isoformat(), "currency": "NOK", "register_id": register,
        "sales": sales,
        "payments": [{"method": "Kort", "amount": str(card)}, {"method": "Vipps", "amount": str(vipps)},
                     {"method": "Kontant", "amount": str(cash_paid)}],
        "cash_rounding": str(cash_rounding),
        "totals": {"net": str(net_total), "vat": str(vat_total), "gross": str(gross_total)},
    }
    if with_pdf:
        body["attachment"] = {"file_name": f"{document_id}.pdf", "content_type": "application/pdf",
                              "data": z_report_pdf(document_id)}
    return body


def account_setup(food_account: str = "3011") -> dict:
    return {"rows": [
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
