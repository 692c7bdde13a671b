"""Payroll journals a payroll system pushes (Nmbrs' "journal entries" of a run), and the setup that
books them.

A journal is the ledger side of one payroll run: lines on ledger accounts, debit or credit, each
concerning an accounting period. A normal run's lines concern the period it pays; corrections of
earlier months concern those months (seed 002: a June run with corrections for January–May is booked
in January…June). The hub books one receipt per period, so every period's lines must balance on
their own: that is checked at the door, naming the period and the difference.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..money import ZERO
from .common import Amount, Identifier, LazyModel, check_date

__all__ = ["DIMENSION_ROLES", "MAX_PAYROLL_LINES", "PAYROLL_NOTHING_TO_BOOK_REASON", "PayrollJournal", "PayrollLine",
           "PayrollSetup", "SourceCompany", "YearMonth", "period_of"]

MAX_PAYROLL_LINES = 10_000

# "2026-06": a calendar month, the unit payroll runs and their corrections are booked in.
YearMonth = Annotated[str, StringConstraints(pattern=r"^(20[0-9]{2})-(0[1-9]|1[0-2])$"),
                      Field(description="a month as YYYY-MM, e.g. 2026-06")]

# The dimensions a payroll line may carry, by the payroll system's own names for them.
DIMENSION_ROLES = ("cost_centre", "cost_unit")
DimensionRole = Literal["cost_centre", "cost_unit"]

PAYROLL_NOTHING_TO_BOOK_REASON = "every line of the journal is zero: nothing to book"

AccountCode = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,20}$"),
                        Field(description="a ledger account, e.g. 5000")]
DimensionItemCode = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


class SourceCompany(LazyModel):
    """The payroll system's company the run belongs to, with the flags that stop a journal being sent."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    test_company: bool = Field(default=False, description="flagged as a test company in the payroll system: "
                                                          "its journals are refused")
    group_blocked: bool = Field(default=False, description="the company's group is blocked: its journals are "
                                                           "refused")


class PayrollLine(LazyModel):
    model_config = ConfigDict(extra="forbid")

    account: AccountCode
    # Payroll exports write a reversal as a negative amount on the same side: a negative debit is booked
    # as a credit (and the other way round); the sign is never guessed from the account.
    debit: Amount | None = Field(default=None, description="a debit amount; give debit or credit (a negative "
                                                           "debit is a reversal, booked as a credit)")
    credit: Amount | None = Field(default=None, description="a credit amount (a negative credit is booked as a "
                                                            "debit)")
    text: Annotated[str, StringConstraints(max_length=255)] = ""
    cost_centre: DimensionItemCode | None = None
    cost_unit: DimensionItemCode | None = None
    period: YearMonth | None = Field(default=None, description="the accounting period the line concerns; "
                                                               "default: the journal's pay_period")

    @model_validator(mode="after")
    def _debit_or_credit(self) -> "PayrollLine":
        if (self.debit is None) == (self.credit is None):
            raise ValueError(f"line on account {self.account}: give either debit or credit (one of them)")
        return self

    @property
    def signed(self) -> Decimal:
        """Debit positive, credit negative."""
        return self.debit if self.debit is not None else -(self.credit or ZERO)

    def dimension(self, role: str) -> str | None:
        return self.cost_centre if role == "cost_centre" else self.cost_unit if role == "cost_unit" else None


class PayrollJournal(LazyModel):
    """POST /connections/{id}/payroll-journals: the journal of one payroll run."""

    model_config = ConfigDict(extra="forbid")

    document_id: Identifier = Field(description="the run's id in the payroll system: a resend of the same run "
                                                "uses the same id")
    run_reference: Annotated[str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True)] = Field(
        description="the run's reference, e.g. 'Palkat 2026-06'; each receipt is named with it and its period")
    run_date: date = Field(description="the run's date (payment date)")
    pay_period: YearMonth = Field(description="the period the run pays")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"
    source_company: SourceCompany
    lines: list[PayrollLine] = Field(min_length=1, max_length=MAX_PAYROLL_LINES)

    @field_validator("run_date")
    @classmethod
    def _plausible_day(cls, day: date) -> date:
        return check_date(day)  # type: ignore[return-value]

    @model_validator(mode="after")
    def _periods_balance(self) -> "PayrollJournal":
        problems = []
        later = sorted({p for p in (line.period for line in self.lines) if p and p > self.pay_period})
        if later:
            problems.append(f"lines concern {', '.join(later)}, after the pay period {self.pay_period}: a "
                            f"correction concerns an earlier period")
        for period, difference in self.differences().items():
            if difference != ZERO:
                side = "debit" if difference > 0 else "credit"
                problems.append(f"the lines of period {period} do not balance: {side} exceeds by "
                                f"{abs(difference):.2f}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def period_of_line(self, line: PayrollLine) -> str:
        return line.period or self.pay_period

    def differences(self) -> dict[str, Decimal]:
        """Debit minus credit per period (one pass)."""
        sums: dict[str, Decimal] = {}
        for line in self.lines:
            period = self.period_of_line(line)
            sums[period] = sums.get(period, ZERO) + line.signed
        return sums

    @property
    def periods(self) -> list[str]:
        """The periods the journal books into, oldest first: those with an amount (a period whose lines
        are all zero gets no receipt)."""
        return sorted({self.period_of_line(line) for line in self.lines if line.signed != ZERO})

    @property
    def total(self) -> Decimal:
        """The journal's debits (after reversals): shown in the export log as its total."""
        return sum((line.signed for line in self.lines if line.signed > 0), ZERO)

    @property
    def nothing_to_book(self) -> bool:
        return all(line.signed == ZERO for line in self.lines)

    def content_hash(self) -> str:
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class PayrollSetup(LazyModel):
    """How a connection books payroll journals (PUT /connections/{id}/payroll-setup).

    Checked at save against the company's chart and dimensions: an unknown or inactive account, an
    unknown dimension, is a 422 naming it.
    """

    model_config = ConfigDict(extra="forbid")

    accounts: dict[AccountCode, AccountCode] = Field(
        default_factory=dict, max_length=2000,
        description="the payroll system's account → the ledger account it is booked to; accounts not listed "
                    "are booked as they are (and must exist in the chart)")
    dimensions: dict[DimensionRole, Annotated[str, StringConstraints(min_length=1, max_length=255)]] = Field(
        default_factory=dict,
        description="the payroll system's dimension → the accounting system's dimension by name, e.g. "
                    "{\"cost_centre\": \"Kustannuspaikka\"}; a line's cost centre or cost unit is booked only "
                    "where its dimension is mapped")
    create_missing_items: bool = Field(
        default=False, description="a cost centre or cost unit the dimension does not have is created on first "
                                   "use (true) or fails the journal naming the item and the dimension (false)")
    approve: bool = Field(default=False, description="approve each booked receipt (true), or leave it unfinished "
                                                     "for the bookkeeper to check and approve (false)")
    validated_at: datetime | None = None

    def ledger_account(self, account: str) -> str:
        return self.accounts.get(account, account)
