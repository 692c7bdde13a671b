"""The protocols vendor connectors implement, and the vendor-neutral types they speak.

Every connector implements ``Connector`` (identity and "Test integration"). What else it can do
it declares in ``capabilities``, and implements the matching protocol:

- ``BOOKING`` (``BookingConnector``): read the chart, book vouchers exactly once, find a booking.
- ``COMPANIES`` (``CompanyDirectory``): one credential reaches many client companies
  (24SevenOffice identities); the core imports them and keeps each one's setup.
- ``RECONCILIATION`` (``LedgerReader``): read balances and transactions of chosen accounts.
- ``MASTER_DATA`` (``RecordSync``): read and write master-data records (customers) one by one or in
  batches, describe their fields, and say whether the vendor's change notifications still reach us.
  The vendor's notification itself is parsed by the package's module-level ``parse_notification``
  (the receiver makes no vendor call).

A per-company call takes a ``CompanyRef``; a single-company vendor (Visma) ignores it. The core
checks a capability before using it (``require``), so a vendor is never special-cased by name.

The core owns the booking state machine (claim, checkpoints, proof before re-posting, the
export log); a connector only fills the vendor-specific steps. Checkpoints let a multi-step
booking (upload attachment, post voucher, link) resume after a crash without redoing a step
that already reached the vendor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Iterable, Mapping, Protocol, runtime_checkable


from ..models.connection import Choice  # one option the user picks after connecting
# The ledger's vocabulary lives in models/ (the domain uses it without depending on connectors);
# re-exported here so connectors keep speaking it through the protocol module.
from ..models.ledger import (
    Account,
    AccountingPeriod,
    AttachmentFile,
    BookingReceipt,
    Catalog,
    Dimension,
    DimensionItem,
    FiscalYear,
    VatCode,
    Voucher,
    VoucherLine,
)
from ..models.common import LazyModel
from ..models.sync import RecordKind, RecordSchema

__all__ = [
    # re-exported vocabulary
    "Account", "AccountingPeriod", "AttachmentFile", "BookingReceipt", "Catalog", "Dimension", "DimensionItem",
    "FiscalYear", "VatCode", "Voucher", "VoucherLine",
    # the protocol and its own types
    "AccountBalance", "AccountMissing", "BOOKING", "BookingConnector", "COMPANIES", "Checkpoints",
    "CompanyAccessLost", "CompanyDirectory", "CompanyRef", "ConnectionCheck", "Connector", "LedgerEntry",
    "LedgerMismatch", "LedgerReader", "LedgerSink", "MASTER_DATA", "NotificationHealth", "PreflightCheck",
    "RECONCILIATION", "RecordExists", "RecordSync", "SUBMITTED", "VENDOR_DOCUMENT_ID",
    "VENDOR_DOCUMENT_NUMBER", "VendorCompany", "require",
]


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    company_name: str | None = None
    message: str = ""
    currency: str | None = None  # the company's accounting currency: every amount we book is in it
    # Lists the user chooses from, by setting name (e.g. {"transaction_type": [...]}).
    choices: dict[str, list[Choice]] = field(default_factory=dict)
    companies: int | None = None  # how many client companies the credential reaches, if several
    # What works but deserves attention (24SevenOffice: no GIFTCARD product for invoiced gift cards).
    warnings: list[str] = field(default_factory=list)
    # The vendor's id of the company the credential acts for (a connection stays bound to it) and its
    # business id; fiscal years with their periods and dimensions, where the vendor has them (Procountor).
    company_id: str | None = None
    business_id: str | None = None
    fiscal_years: list[FiscalYear] = field(default_factory=list)
    dimensions: list[Dimension] = field(default_factory=list)


@dataclass(frozen=True)
class CompanyRef:
    """Which client company a per-company call is about (its vendor ids)."""

    company_id: str
    identity_id: str | None = None
    name: str = ""


class VendorCompany(LazyModel):
    company_id: str
    identity_id: str | None = None
    name: str
    organisation_number: str | None = None
    currency: str | None = None
    accessible: bool = True


class LedgerEntry(LazyModel):
    """One posting on an account, as the vendor's general ledger shows it."""

    account: str
    entry_date: date
    amount: Decimal  # debit positive, credit negative
    voucher_number: str | None = None
    text: str = ""
    transaction_type: str | None = None


class AccountBalance(LazyModel):
    account: str
    opening: Decimal  # balance before the period's first day
    movement: Decimal  # sum of the period's entries
    closing: Decimal  # balance at the end of the as-of date
    entries: int


class LedgerSink(Protocol):
    """Receives a period's entries chunk by chunk, so a reader never holds a whole period."""

    def write(self, account: str, entries: list[LedgerEntry]) -> None: ...


class AccountMissing(Exception):
    def __init__(self, accounts: Iterable[str]):
        self.accounts = sorted(accounts)
        super().__init__(", ".join(self.accounts))


class LedgerMismatch(Exception):
    """The entries read do not add up to the vendor's own balance: nothing read may be used."""

    def __init__(self, differences: list[tuple[str, Decimal, Decimal]]):
        self.differences = differences  # (account, opening + entries read, the vendor's balance)
        super().__init__("; ".join(f"{a}: {ours} vs {theirs}" for a, ours, theirs in differences))


class CompanyAccessLost(Exception):
    """The credential no longer reaches this client company."""


class Checkpoints(Protocol):
    """Durable progress of one booking, persisted by the core on every ``save``."""

    def get(self, key: str) -> str | None: ...

    def save(self, key: str, value: str) -> None: ...

    def save_all(self, values: Mapping[str, str]) -> None:
        """Several keys in one write (a vendor's id and number together: one DynamoDB call, not two)."""
        ...

    def clear(self, key: str) -> None: ...


BOOKING = "booking"
COMPANIES = "companies"
RECONCILIATION = "reconciliation"
MASTER_DATA = "master_data"


@runtime_checkable
class Connector(Protocol):
    vendor: str
    capabilities: frozenset[str]

    def check(self) -> ConnectionCheck:
        """Prove the credential works ("Test integration") and list what the user must choose."""


@runtime_checkable
class BookingConnector(Connector, Protocol):
    def read_catalog(self, on_date: date) -> Catalog:
        """Fiscal years, the chart of accounts (for the years around ``on_date``) and VAT codes."""

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        """Book the voucher (and its attachment). Raise errors from ``ledgerbridge.errors``.

        Before the one non-idempotent call that creates the vendor document, save the
        checkpoint ``SUBMITTED`` so that after a crash the core proves absence before retrying;
        clear it when the vendor definitively refused that call (a 4xx: nothing was created).
        """

    def find_booking(self, voucher: Voucher, checkpoints: Checkpoints | None = None) -> BookingReceipt | None:
        """Look for a document we booked earlier with ``voucher.reference``; None proves absence.

        ``checkpoints``: the attempt's own (where it was sent, say). Where absence cannot be
        proven, raise a PermanentVendorError saying what a person should check before a replay
        with ``resend``."""


@runtime_checkable
class PreflightCheck(Protocol):
    """Optional for a ``BookingConnector``: what the vendor would refuse, checked before anything is sent.

    A document booked as several vouchers (a payroll journal: one receipt per period) must not be
    half booked because its third period is closed: the core calls this with every voucher of the
    document still to be sent, before sending the first of them."""

    def check_bookable(self, vouchers: list[Voucher]) -> None:
        """Raise PermanentVendorError saying what a person must fix (reopen a period, create an item)."""


@runtime_checkable
class CompanyDirectory(Connector, Protocol):
    def list_companies(self) -> list[VendorCompany]:
        """Every client company the credential can reach (one cheap call), without details."""

    def describe_company(self, company: CompanyRef) -> VendorCompany:
        """The company's details (organisation number, currency). Raises CompanyAccessLost."""


@runtime_checkable
class LedgerReader(Connector, Protocol):
    def read_accounts(self, company: CompanyRef) -> list[Account]:
        """The company's chart of accounts. Raises CompanyAccessLost."""

    def read_ledger(self, company: CompanyRef, accounts: list[str], period_from: date, as_of: date,
                    sink: LedgerSink) -> list[AccountBalance]:
        """Per account: opening balance at ``period_from``, the entries of the period up to
        ``as_of`` (streamed to ``sink`` in chunks) and the closing balance at ``as_of``.
        Raises AccountMissing, CompanyAccessLost or errors from ``ledgerbridge.errors``."""


@dataclass(frozen=True)
class NotificationHealth:
    """The vendor's own view of the link that notifies the hub of changes."""

    configured: bool  # a notification link to this connection's receiver exists at the vendor
    has_error: bool = False  # the vendor stopped calling it (Uniconta: "Has errors")
    message: str | None = None  # the vendor's error text
    last_event: str | None = None
    posts_records: bool = False  # each call carries the changed record (no read needed)


@runtime_checkable
class RecordSync(Connector, Protocol):
    """Master-data records (``RecordKind``) as plain dicts of the vendor's field names.

    Writes are idempotent by the record's key: a create that finds its key taken raises
    ``RecordExists`` (the caller reads and adopts it); an update replaces the whole record."""

    def record_schema(self, kind: RecordKind) -> RecordSchema:
        """The record's fields at this vendor and company (standard and user-defined)."""

    def vendor_key(self, kind: RecordKind, source_id: str) -> str:
        """The vendor key a source record gets; ValueError saying why the id cannot be one."""

    def key_of(self, kind: RecordKind, row: dict) -> str:
        """The vendor key of a record as the vendor returned it."""

    def create_records(self, kind: RecordKind, records: list[tuple[str, dict]]) -> list[dict | Exception]:
        """Create records, each a (vendor key, fields) pair (one batch call where the vendor allows). Per
        record, in order: the stored row, ``RecordExists``, or the VendorError that refused it."""

    def update_record(self, kind: RecordKind, row: dict) -> dict:
        """Replace a record (``row`` is the whole record); the stored row."""

    def read_record(self, kind: RecordKind, vendor_key: str) -> dict | None:
        """One record by its key; None if it does not exist."""

    def read_records_by_key(self, kind: RecordKind, keys: list[str]) -> dict[str, dict]:
        """The records of these keys as they are now (batched where the vendor allows), by key."""

    def read_records(self, kind: RecordKind, fields: list[str]) -> Iterable[dict]:
        """Every record with the key and ``fields`` (a periodic comparison), page by page."""

    def notification_health(self, kind: RecordKind, receiver_url: str) -> NotificationHealth:
        """Whether the vendor's notification link to ``receiver_url`` exists and works."""


class RecordExists(Exception):
    """A create found its key taken (a retry of a create whose answer was lost, or a record made there)."""

    def __init__(self, keys: list[str]):
        super().__init__(", ".join(keys))
        self.keys = keys


def require(connector: Connector, capability: str, display_name: str) -> None:
    from ..errors import ValidationFailed

    if capability not in connector.capabilities:
        raise ValidationFailed(f"{display_name} connections do not support {capability}")


# Checkpoint names the core reads; connectors may add their own.
SUBMITTED = "submitted"
VENDOR_DOCUMENT_ID = "vendor_document_id"
VENDOR_DOCUMENT_NUMBER = "vendor_document_number"


def receipt_checkpoints(receipt: BookingReceipt) -> dict[str, str]:
    """The checkpoints that record a vendor's answer (its id, and its number where it gave one),
    saved together with ``Checkpoints.save_all``: one write."""
    saved = {VENDOR_DOCUMENT_ID: receipt.vendor_document_id}
    if receipt.vendor_document_number:
        saved[VENDOR_DOCUMENT_NUMBER] = receipt.vendor_document_number
    return saved
