"""Payroll journals as vouchers: one per accounting period the journal's lines concern.

Seed 002: "a normal run for June with corrections of the year's earlier months … is booked in the
periods the corrections concern, in this case January, February, March, April and May." So a
journal becomes one voucher per period, dated inside that period (the run's date for the period
it pays, when the run date lies in it; else the period's last day), named with the run's reference
and the period, each balanced on its own (the door checked that). Pure: models in, models out.
"""
from __future__ import annotations

import calendar
from datetime import date

# ValidationFailed, as in setup_validation.py: errors.py is a leaf module the API maps to HTTP (422).
from ..errors import ValidationFailed
from ..models.ledger import Catalog, Voucher, VoucherLine
from ..models.payroll import DIMENSION_ROLES, PayrollJournal, PayrollSetup, period_of
from ..money import ZERO

__all__ = ["build_payroll_vouchers", "part_reference", "receipt_date", "validate_payroll_setup"]


def receipt_date(journal: PayrollJournal, period: str) -> date:
    """The date of the period's receipt: inside the period, always."""
    if period_of(journal.run_date) == period:
        return journal.run_date
    year, month = (int(x) for x in period.split("-"))
    return date(year, month, calendar.monthrange(year, month)[1])


def part_reference(reference: str, period: str) -> str:
    """Our reference for one period's receipt: the document's, plus the period (found again by it)."""
    return f"{reference}/{period}"


def build_payroll_vouchers(journal: PayrollJournal, setup: PayrollSetup, reference: str) -> list[Voucher]:
    """One voucher per period, oldest period first; lines in the journal's order, zero lines left out."""
    by_period: dict[str, list[VoucherLine]] = {period: [] for period in journal.periods}
    for line in journal.lines:
        amount = line.signed
        if amount == ZERO:
            continue
        dimensions = {}
        for role in DIMENSION_ROLES:
            code = line.dimension(role)
            target = setup.dimensions.get(role)  # type: ignore[call-overload]
            if code and target:
                dimensions[target] = code
        by_period[journal.period_of_line(line)].append(VoucherLine(
            account=setup.ledger_account(line.account),
            debit=amount if amount > 0 else ZERO, credit=-amount if amount < 0 else ZERO,
            text=line.text, dimensions=dimensions))
    vouchers = []
    for period, lines in by_period.items():
        part_ref = part_reference(reference, period)
        vouchers.append(Voucher(
            voucher_date=receipt_date(journal, period), text=f"{journal.run_reference} {period} [{part_ref}]",
            reference=part_ref, lines=lines, currency=journal.currency, part=period))
    return vouchers


def validate_payroll_setup(setup: PayrollSetup, catalog: Catalog) -> PayrollSetup:
    """Every mapped account in the chart and active, every mapped dimension known and active."""
    problems: list[dict[str, str]] = []
    for source, account in sorted(setup.accounts.items()):
        found = catalog.account(account)
        if found is None:
            problems.append({"row": f"accounts.{source}", "message": (
                f"account {account} does not exist in the chart of accounts of {catalog.company_name or 'the company'}")})
        elif not found.active:
            problems.append({"row": f"accounts.{source}", "message": (
                f"account {account} is inactive in the chart of accounts; activate it or map {source} to another "
                f"account")})
    for role, name in sorted(setup.dimensions.items()):
        dimension = catalog.dimension(name)
        if dimension is None:
            known = ", ".join(d.name for d in catalog.dimensions) or "none"
            problems.append({"row": f"dimensions.{role}", "message": (
                f"dimension {name!r} does not exist; the company's dimensions: {known}")})
        elif not dimension.active:
            problems.append({"row": f"dimensions.{role}", "message": f"dimension {name!r} is inactive"})
    if problems:
        raise ValidationFailed(
            f"the payroll setup does not match the accounting system ({len(problems)} problem(s)): "
            + "; ".join(f"{p['row']}: {p['message']}" for p in problems), details=problems)
    # Stored by the vendor's own spelling, so the booking finds it without guessing.
    canonical = {role: (catalog.dimension(name).name if catalog.dimension(name) else name)  # type: ignore[union-attr]
                 for role, name in setup.dimensions.items()}
    return setup.model_copy(update={"dimensions": canonical})
