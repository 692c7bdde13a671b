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


class FiscalYear(LazyModel):
    id: str
    start: date
    end: date
    locked: bool = False

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def label(self) -> str:
        """"2026" for a calendar year, else its dates (a year from July to June)."""
        if self.start.year == self.end.year:
            return str(self.start.year)
        return f"{self.start.isoformat()}–{self.end.isoformat()}"


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

    def fiscal_year_for(self, day: date) -> FiscalYear | None:
        return next((fy for fy in self.fiscal_years if fy.covers(day)), None)


class VoucherLine(LazyModel):
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    vat_code_id: str | None = None
    text: str = ""


class Voucher(LazyModel):
    voucher_date: date
    text: str
    reference: str
    lines: list[VoucherLine]
    currency: str = "NOK"
    series: str | None = None

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


__all__ = ["Account", "AttachmentFile", "BookingReceipt", "Catalog", "FiscalYear", "VatCode", "Voucher",
           "VoucherLine"]
