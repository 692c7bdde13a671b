"""Settlement -> voucher: right accounts, right sides, exact cents, and it always balances."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from devstack import samples
from ledgerbridge.domain.vouchers import (
    TRANSACTION_TEXT_MAX,
    VOUCHER_TEXT_MAX,
    SetupIncomplete,
    build_settlement_voucher,
)
from ledgerbridge.errors import PermanentVendorError
from ledgerbridge.models.connection import AccountSetup
from ledgerbridge.models.settlement import Settlement
from ledgerbridge.money import ZERO, round_cents

DAY = date(2026, 3, 2)
REF = "LB-0123456789abcdef"


def setup(rows=None, **kw) -> AccountSetup:
    body = samples.account_setup()
    if rows is not None:
        body["rows"] = rows
    body.update(kw)
    return AccountSetup.model_validate(body)


def settlement(sales, payments, cash_rounding="0.00", **extra) -> Settlement:
    lines = [{"category": c, "vat_rate": r, "net": n, "vat": v, "gross": str(Decimal(n) + Decimal(v))}
             for c, r, n, v in sales]
    body = {
        "document_id": "Z-1-2026-03-02-1", "business_date": DAY.isoformat(), "register_id": "1",
        "sales": lines, "payments": [{"method": m, "amount": a} for m, a in payments],
        "cash_rounding": cash_rounding,
        "totals": {k: str(sum(Decimal(line[k]) for line in lines)) for k in ("net", "vat", "gross")},
    }
    body.update(extra)
    return Settlement.model_validate(body)


def by_text(voucher):
    return {line.text: line for line in voucher.lines}


def balance_by_account(voucher) -> dict[str, Decimal]:
    """debit - credit per account."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in voucher.lines:
        out[line.account] += line.debit - line.credit
    return dict(out)


# --- the ordinary day --------------------------------------------------------------------------

def test_sample_day_books_revenue_vat_payments_and_rounding_on_the_right_sides():
    s = Settlement.model_validate(samples.settlement(DAY, 1))
    v = build_settlement_voucher(s, setup(), reference=REF)
    paid = sum(p.amount for p in s.payments)
    assert v.total_debit() == v.total_credit()
    assert v.total_debit() == paid + max(ZERO, -s.cash_rounding)
    assert v.total_credit() == s.totals.gross + max(ZERO, s.cash_rounding)

    lines = by_text(v)
    bread, coffee, goods = s.sales
    assert (lines["Salg Brød og bakst 15%"].account, lines["Salg Brød og bakst 15%"].credit) == ("3011", bread.net)
    assert lines["Salg Brød og bakst 15%"].debit == ZERO
    assert lines["Salg Kaffe servert 25%"].credit == coffee.net
    assert lines["Salg Varer 25%"].credit == goods.net
    # one VAT line per rate: the two 25% categories are added up
    assert (lines["Utgående mva 15%"].account, lines["Utgående mva 15%"].credit) == ("2701", bread.vat)
    assert (lines["Utgående mva 25%"].account, lines["Utgående mva 25%"].credit) == ("2700", coffee.vat + goods.vat)
    assert [line.text for line in v.lines].count("Utgående mva 25%") == 1
    for payment, account in zip(s.payments, ["1580", "1581", "1900"], strict=True):
        line = lines[f"Betaling {payment.method}"]
        assert (line.account, line.debit, line.credit) == (account, payment.amount, ZERO)
    assert v.voucher_date == DAY and v.currency == "NOK" and v.reference == REF


def test_exact_cents_for_a_known_day():
    s = settlement([("Varer", "25", "800.00", "200.00"), ("Brød og bakst", "15", "434.78", "65.22")],
                   [("Kort", "1234.50"), ("Kontant", "266.00")], cash_rounding="0.50")
    balances = balance_by_account(build_settlement_voucher(s, setup(), reference=REF))
    assert balances == {
        "3000": Decimal("-800.00"), "3011": Decimal("-434.78"),
        "2700": Decimal("-200.00"), "2701": Decimal("-65.22"),
        "1580": Decimal("1234.50"), "1900": Decimal("266.00"),
        "7770": Decimal("-0.50"),
    }


def test_positive_cash_rounding_is_credited_to_the_rounding_account():
    s = settlement([("Varer", "25", "80.00", "20.00")], [("Kontant", "100.40")], cash_rounding="0.40")
    line = by_text(build_settlement_voucher(s, setup(), reference=REF))["Øreavrunding"]
    assert (line.account, line.debit, line.credit) == ("7770", ZERO, Decimal("0.40"))


def test_negative_cash_rounding_is_debited_to_the_rounding_account():
    s = settlement([("Varer", "25", "80.00", "20.00")], [("Kontant", "99.60")], cash_rounding="-0.40")
    v = build_settlement_voucher(s, setup(), reference=REF)
    line = by_text(v)["Øreavrunding"]
    assert (line.account, line.debit, line.credit) == ("7770", Decimal("0.40"), ZERO)
    assert v.total_debit() == v.total_credit() == Decimal("100.00")


def test_no_rounding_line_without_cash_rounding_and_no_zero_lines():
    s = settlement([("Varer", "25", "80.00", "20.00"), ("Aviser", "0", "0.00", "0.00")],
                   [("Kort", "100.00"), ("Vipps", "0.00")],
                   )
    rows = samples.account_setup()["rows"] + [{"kind": "sales", "key": "Aviser", "vat_rate": "0",
                                               "account": "3100", "vat_code": "6"}]
    v = build_settlement_voucher(s, setup(rows), reference=REF)
    assert all(line.debit > 0 or line.credit > 0 for line in v.lines)
    assert {line.account for line in v.lines} == {"3000", "2700", "1580"}


def test_zero_rate_line_gets_no_vat_line_and_needs_no_vat_row():
    s = settlement([("Aviser", "0", "50.00", "0.00")], [("Kort", "50.00")])
    rows = [{"kind": "sales", "key": "Aviser", "vat_rate": "0", "account": "3100", "vat_code": "6"},
            {"kind": "payment", "key": "Kort", "account": "1580"}, {"kind": "rounding", "account": "7770"}]
    v = build_settlement_voucher(s, setup(rows), reference=REF)
    assert balance_by_account(v) == {"3100": Decimal("-50.00"), "1580": Decimal("50.00")}


def test_vat_code_id_travels_with_the_revenue_line_only():
    body = samples.account_setup()
    for row in body["rows"]:
        if row["kind"] == "sales":
            row["vat_code_id"] = f"id-{row['vat_code']}"
    v = build_settlement_voucher(Settlement.model_validate(samples.settlement(DAY, 1)),
                                 AccountSetup.model_validate(body), reference=REF)
    lines = by_text(v)
    assert lines["Salg Brød og bakst 15%"].vat_code_id == "id-31"
    assert lines["Salg Varer 25%"].vat_code_id == "id-3"
    assert lines["Betaling Kort"].vat_code_id is None
    assert lines["Utgående mva 25%"].vat_code_id is None


def test_series_comes_from_the_setup():
    s = Settlement.model_validate(samples.settlement(DAY, 1))
    assert build_settlement_voucher(s, setup(voucher_series="Z"), reference=REF).series == "Z"
    assert build_settlement_voucher(s, setup(), reference=REF).series is None


# --- refunds -----------------------------------------------------------------------------------

def test_refund_day_flips_every_side():
    s = settlement([("Varer", "25", "-80.00", "-20.00")], [("Kort", "-100.00")])
    lines = by_text(build_settlement_voucher(s, setup(), reference=REF))
    assert (lines["Salg Varer 25%"].debit, lines["Salg Varer 25%"].credit) == (Decimal("80.00"), ZERO)
    assert (lines["Utgående mva 25%"].debit, lines["Utgående mva 25%"].credit) == (Decimal("20.00"), ZERO)
    assert (lines["Betaling Kort"].debit, lines["Betaling Kort"].credit) == (ZERO, Decimal("100.00"))


def test_refund_in_one_category_nets_the_vat_of_that_rate_but_not_the_revenue():
    s = settlement([("Varer", "25", "400.00", "100.00"), ("Kaffe servert", "25", "-40.00", "-10.00")],
                   [("Kort", "450.00")])
    v = build_settlement_voucher(s, setup(), reference=REF)
    lines = by_text(v)
    assert lines["Salg Varer 25%"].credit == Decimal("400.00")
    assert lines["Salg Kaffe servert 25%"].debit == Decimal("40.00")
    assert lines["Utgående mva 25%"].credit == Decimal("90.00")
    assert v.total_debit() == v.total_credit() == Decimal("490.00")


# --- missing mappings --------------------------------------------------------------------------

def test_missing_mappings_name_every_missing_row_once():
    s = settlement([("Is", "15", "100.00", "15.00"), ("Varer", "12", "100.00", "12.00"),
                    ("Varer", "25", "80.00", "20.00")],
                   [("Gavekort", "100.00"), ("Gavekort", "27.00"), ("Kort", "200.00")])
    with pytest.raises(SetupIncomplete) as info:
        build_settlement_voucher(s, setup(), reference=REF)
    message = info.value.message
    assert "sales category 'Is' at 15% VAT" in message
    assert "sales category 'Varer' at 12% VAT" in message
    assert "output VAT at 12%" in message
    assert message.count("payment method 'Gavekort'") == 1
    assert "Varer' at 25%" not in message and "'Kort'" not in message and "output VAT at 25%" not in message
    assert "replay" in message
    assert isinstance(info.value, PermanentVendorError)  # retrying cannot help


def test_mapping_matches_rate_written_with_decimals():
    s = settlement([("Varer", "25.00", "80.00", "20.00")], [("Kort", "100.00")])
    v = build_settlement_voucher(s, setup(), reference=REF)
    assert by_text(v)["Salg Varer 25%"].account == "3000"


# --- texts -------------------------------------------------------------------------------------

def test_voucher_text_names_date_register_z_number_and_reference():
    s = Settlement.model_validate(samples.settlement(DAY, 1, register="7"))
    v = build_settlement_voucher(s, setup(), reference=REF)
    assert v.text == f"Dagsoppgjør 2026-03-02 kasse 7 (Z Z-7-2026-03-02-1) [{REF}]"


def test_voucher_text_without_register_and_with_prefix():
    s = settlement([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")], register_id=None)
    v = build_settlement_voucher(s, setup(), reference=REF, text_prefix="Z-rapport")
    assert v.text == f"Z-rapport 2026-03-02 (Z Z-1-2026-03-02-1) [{REF}]"
    assert "kasse" not in v.text


def test_reference_survives_the_longest_document_id_and_register():
    s = settlement([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")],
                   document_id="Z" * 128, register_id="R" * 64)
    v = build_settlement_voucher(s, setup(), reference=REF)
    assert v.text.endswith(f"[{REF}]")
    assert len(v.text) <= VOUCHER_TEXT_MAX


def test_long_texts_are_cut_to_vendor_limits():
    category = "K" * 64
    s = settlement([(category, "25", "80.00", "20.00")], [("Kort", "100.00")])
    rows = samples.account_setup()["rows"] + [{"kind": "sales", "key": category, "vat_rate": "25",
                                               "account": "3000", "vat_code": "3"}]
    v = build_settlement_voucher(s, setup(rows), reference=REF, text_prefix="P" * 2000)
    assert len(v.text) == VOUCHER_TEXT_MAX
    revenue = [line for line in v.lines if line.account == "3000"][0]
    assert len(revenue.text) == TRANSACTION_TEXT_MAX
    assert revenue.text == f"Salg {category}"[:TRANSACTION_TEXT_MAX]
    assert all(len(line.text) <= TRANSACTION_TEXT_MAX for line in v.lines)


def test_inconsistent_settlement_is_balanced_explicitly_on_the_rounding_account():
    # Never produced by validation; model_construct bypasses it to exercise the safety net.
    good = settlement([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    broken = good.model_copy(update={"payments": [good.payments[0].model_copy(update={"amount": Decimal("100.03")})]})
    v = build_settlement_voucher(broken, setup(), reference=REF)
    assert v.total_debit() == v.total_credit() == Decimal("100.03")
    fix = by_text(v)["Avrunding"]
    assert (fix.account, fix.credit, fix.debit) == ("7770", Decimal("0.03"), ZERO)


# --- property: random days always balance ------------------------------------------------------

CATEGORIES = ["Brød", "Kaffe", "Varer", "Mat", "Aviser", "Drikke", "Is"]
RATES = ["0", "12", "15", "25"]
METHODS = ["Kort", "Vipps", "Kontant", "Gavekort"]


def full_setup() -> AccountSetup:
    rows = []
    for i, (category, rate) in enumerate((c, r) for c in CATEGORIES for r in RATES):
        rows.append({"kind": "sales", "key": category, "vat_rate": rate, "account": str(3000 + i), "vat_code": rate})
    rows += [{"kind": "vat", "key": rate, "account": f"27{i:02d}"} for i, rate in enumerate(RATES)]
    rows += [{"kind": "payment", "key": m, "account": str(1900 + i)} for i, m in enumerate(METHODS)]
    rows.append({"kind": "rounding", "account": "7770"})
    return AccountSetup.model_validate({"rows": rows})


def random_settlement(rng: random.Random, number: int) -> Settlement:
    keys = rng.sample([(c, r) for c in CATEGORIES for r in RATES], rng.randint(1, 8))
    sales = []
    for category, rate in keys:
        gross = Decimal(rng.randint(0, 5_000_000)) / 100
        if rng.random() < 0.25:
            gross = -gross  # refund
        vat = ZERO if rate == "0" else round_cents(gross * Decimal(rate) / (100 + Decimal(rate)))
        sales.append((category, rate, str(gross - vat), str(vat)))
    gross_total = sum(Decimal(n) + Decimal(v) for _, _, n, v in sales)
    cash_rounding = Decimal(rng.randint(-49, 49)) / 100 if rng.random() < 0.6 else ZERO
    to_pay = gross_total + cash_rounding
    payments = []
    for _ in range(rng.randint(0, 4)):
        amount = Decimal(rng.randint(-2_000_000, 2_000_000)) / 100
        payments.append((rng.choice(METHODS), str(amount)))
        to_pay -= amount
    payments.append((rng.choice(METHODS), str(to_pay)))  # whatever is left; may be negative or zero
    return settlement(sales, payments, cash_rounding=str(cash_rounding), document_id=f"Z-{number}")


def test_property_random_days_balance_exactly_with_the_expected_totals():
    rng = random.Random(1729)
    the_setup = full_setup()
    sales_accounts = {row.row_id: row.account for row in the_setup.rows}
    for number in range(200):
        s = random_settlement(rng, number)
        v = build_settlement_voucher(s, the_setup, reference=f"LB-{number}")

        debit, credit = v.total_debit(), v.total_credit()
        assert debit == credit, f"unbalanced voucher for {s.model_dump(mode='json')}"

        vat_by_rate: dict[Decimal, Decimal] = defaultdict(lambda: ZERO)
        for line in s.sales:
            vat_by_rate[line.vat_rate.normalize()] += line.vat
        expected_debit = (
            sum((p.amount for p in s.payments if p.amount > 0), ZERO)
            + sum((-line.net for line in s.sales if line.net < 0), ZERO)
            + sum((-v_ for v_ in vat_by_rate.values() if v_ < 0), ZERO)
            + max(ZERO, -s.cash_rounding)
        )
        expected_credit = (
            sum((-p.amount for p in s.payments if p.amount < 0), ZERO)
            + sum((line.net for line in s.sales if line.net > 0), ZERO)
            + sum((v_ for v_ in vat_by_rate.values() if v_ > 0), ZERO)
            + max(ZERO, s.cash_rounding)
        )
        assert debit == expected_debit
        assert credit == expected_credit

        # each line is one-sided, non-zero, in cents; the safety net never fires on valid input
        for line in v.lines:
            assert (line.debit > 0) != (line.credit > 0)
            assert line.debit == line.debit.quantize(Decimal("0.01"))
            assert line.credit == line.credit.quantize(Decimal("0.01"))
            assert line.text != "Avrunding"

        # every revenue account carries exactly its category's net, on the credit side for sales
        balances = balance_by_account(v)
        for line in s.sales:
            account = sales_accounts[f"sales:{line.mapping_key}"]
            assert balances.get(account, ZERO) == -line.net
        # payment accounts carry what came in per method
        paid: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in s.payments:
            paid[sales_accounts[f"payment:{p.method}"]] += p.amount
        for account, amount in paid.items():
            assert balances.get(account, ZERO) == amount
        assert balances.get("7770", ZERO) == -s.cash_rounding
        assert str(s.business_date) in v.text and f"[LB-{number}]" in v.text
