"""The ledger's vocabulary: vouchers and their lines, accounts, VAT codes, fiscal years, the catalog.

Vendor-neutral. The domain builds vouchers and checks account setups in these terms, and every
connector translates them to and from its vendor's API. They live in models/ (not beside the
connector protocol) so that domain/ depends on nothing but models/: no import cycles, and no
vendor plumbing pulled into pure code. ``connectors.base`` re-exports them for connectors.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from pydantic import Field

from ..money import ZERO
from .common import LazyModel


class Account(LazyModel):
    number: str
    name: str
    active: bool = True
    vat_code_id: str | None = None
    # The account's sales type (24SevenOffice: its type group), where the vendor needs one on
    # every account a sale is booked to; None: none set up.
    sales_type: str | None = None


class VatCode(LazyModel):
    id: str
    code: str
    description: str = ""
    rate: Decimal


class AccountingPeriod(LazyModel):
    """A period of a fiscal year (a month, usually) and whether it takes entries."""

    start: date
    end: date
    status: str = "open"  # open | closed (the vendor's own word in vendor_status)
    vendor_status: str | None = None

    @property
    def open(self) -> bool:
        return self.status == "open"

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"


class FiscalYear(LazyModel):
    id: str
    start: date
    end: date
    locked: bool = False
    # Where the vendor keeps periods of its own (Procountor's tracking periods); empty: not tracked.
    periods: list[AccountingPeriod] = Field(default_factory=list)

    def period_for(self, day: date) -> AccountingPeriod | None:
        return next((p for p in self.periods if p.start <= day <= p.end), None)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def label(self) -> str:
        """"2026" for a calendar year, else its dates (a year from July to June)."""
        if self.start.year == self.end.year:
            return str(self.start.year)
        return f"{self.start.isoformat()}–{self.end.isoformat()}"


class DimensionItem(LazyModel):
    id: str
    code: str
    name: str = ""
    active: bool = True


class Dimension(LazyModel):
    """A way to tag entries besides the account (cost centre, cost unit, project): Procountor's dimensions."""

    id: str
    name: str
    active: bool = True
    items: list[DimensionItem] = Field(default_factory=list)

    def item(self, code: str) -> DimensionItem | None:
        """By code; exact first, else ignoring case and surrounding spaces (as the vendor keeps codes unique)."""
        exact = next((i for i in self.items if i.code == code), None)
        if exact is not None:
            return exact
        wanted = code.strip().casefold()
        return next((i for i in self.items if i.code.strip().casefold() == wanted), None)


class Catalog(LazyModel):
    """What the customer has in the accounting system: the ground truth for the account setup."""

    company_name: str | None = None
    fiscal_years: list[FiscalYear] = Field(default_factory=list)
    accounts: dict[str, list[Account]] = Field(default_factory=dict, description="by fiscal year id")
    vat_codes: list[VatCode] = Field(default_factory=list)
    # The vendor refuses sales on an account without a sales type (24SevenOffice); where the
    # customer sets one up, said in the 422 that names the account.
    sales_types_required: bool = False
    sales_type_setup: str | None = None
    dimensions: list[Dimension] = Field(default_factory=list)
    # False: the vendor's API publishes no fiscal years (Uniconta's REST); ``accounts`` then holds one
    # chart, checked as such, and the vendor alone decides which dates it takes.
    fiscal_years_published: bool = True

    def dimension(self, name: str) -> Dimension | None:
        """By name, as a person types it (case and surrounding spaces do not matter)."""
        wanted = name.strip().casefold()
        return next((d for d in self.dimensions if d.name.strip().casefold() == wanted), None)

    def account(self, number: str) -> Account | None:
        """The account in any fiscal year's chart (the newest year's entry first)."""
        for accounts in self.accounts.values():
            for account in accounts:
                if account.number == number:
                    return account
        return None

    def fiscal_year_for(self, day: date) -> FiscalYear | None:
        return next((fy for fy in self.fiscal_years if fy.covers(day)), None)


class VoucherLine(LazyModel):
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    vat_code_id: str | None = None
    text: str = ""
    # Dimension name -> item code (e.g. {"Kustannuspaikka": "200"}), where the vendor has dimensions.
    dimensions: dict[str, str] = Field(default_factory=dict)


class Voucher(LazyModel):
    voucher_date: date
    text: str
    reference: str
    lines: list[VoucherLine]
    currency: str = "NOK"
    series: str | None = None
    # Which part of its document this voucher is, where a document books as several (a payroll
    # journal: one receipt per period, part = "2026-01"); None: the document's one voucher.
    part: str | None = None

    def total_debit(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    def total_credit(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


@dataclass(frozen=True)
class AttachmentFile:
    file_name: str
    content_type: str
    content: bytes
    # Stable across attempts and versions of one document (tenant/connection/document id): with
    # the content, a connector derives an id of its own so the file is never stored twice.
    owner: str = ""


class BookingReceipt(LazyModel):
    vendor_document_id: str
    vendor_document_number: str | None = None
    # The vendor's state of the document (Procountor: UNFINISHED or APPROVED), where it has one.
    vendor_status: str | None = None


__all__ = ["Account", "AccountingPeriod", "AttachmentFile", "BookingReceipt", "Catalog", "Dimension", "DimensionItem",
           "FiscalYear", "VatCode", "Voucher", "VoucherLine"]
