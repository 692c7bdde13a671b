"""The one protocol every vendor connector implements, and the vendor-neutral types it speaks.

The core owns the booking state machine (claim, checkpoints, proof before re-posting, the
export log); a connector only fills the vendor-specific steps. Checkpoints let a multi-step
booking (upload attachment, post voucher, link) resume after a crash without redoing a step
that already reached the vendor.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..money import ZERO


class Account(BaseModel):
    number: str
    name: str
    active: bool = True
    vat_code_id: str | None = None


class VatCode(BaseModel):
    id: str
    code: str
    description: str = ""
    rate: Decimal


class FiscalYear(BaseModel):
    id: str
    start: date
    end: date
    locked: bool = False

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class Catalog(BaseModel):
    """What the customer has in the accounting system: the ground truth for the account setup."""

    company_name: str | None = None
    fiscal_years: list[FiscalYear] = Field(default_factory=list)
    accounts: dict[str, list[Account]] = Field(default_factory=dict, description="by fiscal year id")
    vat_codes: list[VatCode] = Field(default_factory=list)

    def fiscal_year_for(self, day: date) -> FiscalYear | None:
        return next((fy for fy in self.fiscal_years if fy.covers(day)), None)


class VoucherLine(BaseModel):
    account: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    vat_code_id: str | None = None
    text: str = ""


class Voucher(BaseModel):
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


class BookingReceipt(BaseModel):
    vendor_document_id: str
    vendor_document_number: str | None = None


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    company_name: str | None = None
    message: str = ""
    currency: str | None = None  # the company's accounting currency: every amount we book is in it


class Checkpoints(Protocol):
    """Durable progress of one booking, persisted by the core on every ``save``."""

    def get(self, key: str) -> str | None: ...

    def save(self, key: str, value: str) -> None: ...

    def clear(self, key: str) -> None: ...


@runtime_checkable
class Connector(Protocol):
    vendor: str

    def check(self) -> ConnectionCheck:
        """Prove the credential works ("Test integration")."""

    def read_catalog(self, on_date: date) -> Catalog:
        """Fiscal years, the chart of accounts (for the years around ``on_date``) and VAT codes."""

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        """Book the voucher (and its attachment). Raise errors from ``ledgerbridge.errors``.

        Before the one non-idempotent call that creates the vendor document, save the
        checkpoint ``SUBMITTED`` so that after a crash the core proves absence before retrying;
        clear it when the vendor definitively refused that call (a 4xx: nothing was created).
        """

    def find_booking(self, voucher: Voucher) -> BookingReceipt | None:
        """Look for a document we booked earlier with ``voucher.reference``; None proves absence."""


# Checkpoint names the core reads; connectors may add their own.
SUBMITTED = "submitted"
VENDOR_DOCUMENT_ID = "vendor_document_id"
VENDOR_DOCUMENT_NUMBER = "vendor_document_number"
