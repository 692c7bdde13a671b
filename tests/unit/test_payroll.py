"""Payroll journals at the door and as vouchers: periods, balance per period, receipt dates and names."""
from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from devstack import samples
from ledgerbridge.connectors.procountor.connector import receipt_name
from ledgerbridge.domain.payroll import build_payroll_vouchers, receipt_date, validate_payroll_setup
from ledgerbridge.errors import ValidationFailed
from ledgerbridge.models.ledger import Account, Catalog, Dimension, DimensionItem
from ledgerbridge.models.payroll import PayrollJournal, PayrollSetup


def journal(**changes) -> PayrollJournal:
    return PayrollJournal.model_validate({**samples.payroll_journal(), **changes})


def test_a_run_with_corrections_becomes_one_balanced_voucher_per_period_dated_inside_it():
    run = journal()
    vouchers = build_payroll_vouchers(run, PayrollSetup(dimensions={"cost_centre": "Kustannuspaikka"}), "LB-abc")
    assert [v.part for v in vouchers] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    assert [v.voucher_date for v in vouchers] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31),
                                                 date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 25)]
    for voucher in vouchers:
        assert voucher.total_debit() == voucher.total_credit() > 0
        assert voucher.reference == f"LB-abc/{voucher.part}"
        assert voucher.text == f"Palkat 2026-06 {voucher.part} [LB-abc/{voucher.part}]"
    assert vouchers[0].lines[0].dimensions == {"Kustannuspaikka": "100"}
    assert vouchers[-1].lines[2].dimensions == {}  # 6130 carries no cost centre


def test_the_paid_period_is_dated_at_its_last_day_when_the_run_date_lies_outside_it():
    run = journal(run_date="2026-07-03")
    assert receipt_date(run, "2026-06") == date(2026, 6, 30)
    assert receipt_date(run, "2024-02") == date(2024, 2, 29)


def test_unmapped_dimensions_are_not_booked_and_accounts_are_mapped():
    run = journal()
    setup = PayrollSetup(accounts={"5010": "5000"})
    vouchers = build_payroll_vouchers(run, setup, "LB-x")
    assert all(not line.dimensions for v in vouchers for line in v.lines)
    assert vouchers[0].lines[0].account == "5000"


def test_zero_lines_are_left_out_and_a_journal_of_zeros_books_nothing():
    body = samples.payroll_journal(corrections=())
    body["lines"].append({"account": "5400", "debit": "0.00", "text": "Lomapalkat"})
    vouchers = build_payroll_vouchers(PayrollJournal.model_validate(body), PayrollSetup(), "LB-x")
    assert all(line.account != "5400" for line in vouchers[0].lines)
    zeros = dict(body, lines=[{"account": "5000", "debit": "0"}, {"account": "2939", "credit": "0.00"}])
    assert PayrollJournal.model_validate(zeros).nothing_to_book


@pytest.mark.parametrize("change, words", [
    (lambda b: b["lines"][-1].update(credit="250.00"), "period 2026-05 do not balance: debit exceeds by 0.25"),
    (lambda b: b["lines"][0].update(debit="10000.01"), "period 2026-06 do not balance: debit exceeds by 0.01"),
    (lambda b: b["lines"][1].update(credit="1.00"), "give either debit or credit"),
    (lambda b: b["lines"][3].update(debit="1.001"), "debit"),
    (lambda b: b["lines"][3].update(period="2026-07"), "after the pay period 2026-06"),
    (lambda b: b["lines"][3].update(period="2026-13"), "period"),
    (lambda b: b.update(pay_period="June"), "pay_period"),
    (lambda b: b.update(run_date="2999-01-01"), "out of range"),
    (lambda b: b.update(lines=[]), "lines"),
    (lambda b: b["lines"][0].update(account="50 00"), "account"),
])
def test_malformed_journals_are_refused_saying_what(change, words):
    body = copy.deepcopy(samples.payroll_journal())
    change(body)
    with pytest.raises(ValidationError) as caught:
        PayrollJournal.model_validate(body)
    assert words in str(caught.value)


def test_a_negative_amount_is_a_reversal_on_the_other_side_and_an_all_zero_period_gets_no_receipt():
    body = samples.payroll_journal(corrections=())
    body["lines"] += [{"account": "5000", "debit": "-120.00", "text": "Peruutus", "period": "2026-03"},
                      {"account": "2939", "credit": "-120.00", "text": "Peruutus", "period": "2026-03"},
                      {"account": "5400", "debit": "0.00", "period": "2026-02"},
                      {"account": "2939", "credit": "0", "period": "2026-02"}]
    run = PayrollJournal.model_validate(body)
    assert run.periods == ["2026-03", "2026-06"]
    march = build_payroll_vouchers(run, PayrollSetup(), "LB-x")[0]
    assert [(line.account, line.debit, line.credit) for line in march.lines] == [
        ("5000", Decimal("0"), Decimal("120.00")), ("2939", Decimal("120.00"), Decimal("0"))]
    unbalanced = copy.deepcopy(body)
    unbalanced["lines"][-3]["credit"] = "120.00"  # a reversal on one side only
    with pytest.raises(ValidationError) as caught:
        PayrollJournal.model_validate(unbalanced)
    assert "period 2026-03 do not balance: credit exceeds by 240.00" in str(caught.value)


def test_an_unchanged_journal_has_the_same_hash_and_a_changed_one_another():
    assert journal().content_hash() == journal().content_hash()
    assert journal().content_hash() != journal(run_reference="Palkat 2026-06 b").content_hash()


def test_the_receipt_name_keeps_our_reference_whole_within_80_characters():
    run = journal(run_reference="P" * 60)
    voucher = build_payroll_vouchers(run, PayrollSetup(), "LB-0123456789abcdef")[0]
    name = receipt_name(voucher)
    assert len(name) <= 80 and name.endswith("[LB-0123456789abcdef/2026-01]") and name.startswith("PPP")


def test_the_payroll_setup_is_checked_against_the_chart_and_dimensions():
    catalog = Catalog(company_name="Demo Oy", accounts={"coa": [Account(number="5000", name="Palkat"),
                                                                Account(number="5990", name="Vanha", active=False)]},
                      dimensions=[Dimension(id="301", name="Kustannuspaikka",
                                            items=[DimensionItem(id="1", code="100")]),
                                  Dimension(id="302", name="Vanha", active=False)])
    ok = validate_payroll_setup(PayrollSetup(accounts={"L1": "5000"}, dimensions={"cost_centre": "KUSTANNUSPAIKKA"}),
                                catalog)
    assert ok.dimensions == {"cost_centre": "Kustannuspaikka"}
    with pytest.raises(ValidationFailed) as caught:
        validate_payroll_setup(PayrollSetup(accounts={"L1": "5990", "L2": "4000"},
                                            dimensions={"cost_centre": "Projekti", "cost_unit": "Vanha"}), catalog)
    rows = {d["row"]: d["message"] for d in caught.value.details}
    assert "inactive" in rows["accounts.L1"] and "does not exist" in rows["accounts.L2"]
    assert "'Projekti' does not exist" in rows["dimensions.cost_centre"]
    assert "Kustannuspaikka" in rows["dimensions.cost_centre"]  # the dimensions that do exist are named
    assert "inactive" in rows["dimensions.cost_unit"]


def test_totals_are_exact_decimals():
    run = journal()
    assert run.total == Decimal("21300.00") + sum(Decimal(50 * m) + Decimal("0.25") for m in range(1, 6))
