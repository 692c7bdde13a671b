"""Connections (a tenant's link to one accounting system) and their settings."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from .common import MAX_CATEGORY_LENGTH, has_two_decimals_at_most, utcnow
from .common import LazyModel
from .payroll import PayrollSetup
from .schedule import Frequency, TransferSchedule  # noqa: F401 (Frequency: re-exported, a connection's part)
from .sync import SyncHealth, SyncSetup


class Choice(LazyModel):
    """One option the user picks after connecting (e.g. a 24SevenOffice transaction type)."""

    id: str
    name: str


class ConnectionStatus(StrEnum):
    CREATED = "created"  # no credential yet: press "connect"
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"  # the vendor refused our credential; the user must connect again


class MappingKind(StrEnum):
    SALES = "sales"  # a sales category at one VAT rate -> revenue account + VAT code
    PAYMENT = "payment"  # a payment method -> clearing/bank/cash account
    VAT = "vat"  # a VAT rate -> output VAT account
    ROUNDING = "rounding"  # cash rounding and cent differences
    GIFT_CARD = "gift_card"  # the gift card liability (sold: credit, redeemed: debit); never VAT
    INVENTORY = "inventory"  # the stock account on the balance sheet (e.g. 1460 Varelager)
    INVENTORY_CHANGE = "inventory_change"  # the P&L account for cost of goods (e.g. 4090 Beholdningsendring)


# One row of each, no key: the voucher builder looks them up by kind.
SINGLE_ROW_KINDS = (MappingKind.ROUNDING, MappingKind.GIFT_CARD, MappingKind.INVENTORY, MappingKind.INVENTORY_CHANGE)
# Balance-sheet movements with no VAT in them: a VAT code on these rows would misstate the VAT report.
NO_VAT_KINDS = (MappingKind.GIFT_CARD, MappingKind.INVENTORY, MappingKind.INVENTORY_CHANGE)


class MappingRow(LazyModel):
    model_config = ConfigDict(extra="forbid")

    kind: MappingKind
    # sales: the category name; payment: the method; vat: the rate ("25"); rounding, gift_card,
    # inventory, inventory_change: "" (one row each).
    key: Annotated[str, StringConstraints(max_length=MAX_CATEGORY_LENGTH, strip_whitespace=True)] = ""
    vat_rate: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=2,
                                     description="sales rows: the VAT rate, at most two decimals")
    account: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$")]
    vat_code: Annotated[str, StringConstraints(max_length=32)] | None = None
    # Filled in when the setup is validated against the vendor: the vendor's id for vat_code.
    vat_code_id: str | None = None

    @field_validator("vat_rate")
    @classmethod
    def _rate_in_cents(cls, rate: Decimal | None) -> Decimal | None:
        if rate is not None and not has_two_decimals_at_most(rate):
            raise ValueError("a VAT rate has at most two decimals (e.g. 25 or 25.5)")
        return rate

    @model_validator(mode="after")
    def _shape(self) -> "MappingRow":
        if self.kind == MappingKind.SALES:
            if not self.key or self.vat_rate is None:
                raise ValueError("a sales row needs key (category) and vat_rate")
            if not self.vat_code:
                raise ValueError(f"sales row '{self.key}' needs a vat_code")
        elif self.kind in (MappingKind.PAYMENT, MappingKind.VAT) and not self.key:
            raise ValueError(f"a {self.kind.value} row needs key")
        if self.kind in NO_VAT_KINDS and self.vat_code:
            what = ("a gift card is a liability without VAT (VAT falls due on the goods it pays for)"
                    if self.kind == MappingKind.GIFT_CARD else "stock movements carry no VAT")
            raise ValueError(f"{self.kind.value} row: remove vat_code {self.vat_code!r}: {what}")
        if self.kind == MappingKind.VAT:
            try:
                rate = Decimal(self.key)
            except ArithmeticError:
                rate = None
            if rate is None or not rate.is_finite() or not 0 <= rate <= 100 or not has_two_decimals_at_most(rate):
                raise ValueError(f"a vat row's key is the VAT rate in percent (e.g. 25 or 25.5), not {self.key!r}")
        return self

    @property
    def row_id(self) -> str:
        if self.kind == MappingKind.SALES:
            return f"sales:{self.key}@{format(self.vat_rate.normalize(), 'f')}"
        if self.kind == MappingKind.VAT:
            return f"vat:{format(Decimal(self.key).normalize(), 'f')}"
        if self.kind in SINGLE_ROW_KINDS:
            return self.kind.value
        return f"{self.kind.value}:{self.key}"


class AccountSetup(LazyModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[MappingRow] = Field(min_length=1, max_length=1000)
    voucher_series: Annotated[str, StringConstraints(max_length=10)] | None = None
    # Book the cost of goods sold (the sales lines' ``cost``) as inventory change: debit the
    # inventory_change row's account, credit the inventory row's. Off: costs are ignored.
    inventory_change: bool = Field(default=False, description="book cost of goods sold (sales lines' cost): "
                                   "needs an inventory and an inventory_change row")
    validated_at: datetime | None = None

    @model_validator(mode="after")
    def _unique_rows(self) -> "AccountSetup":
        seen: set[str] = set()
        repeated: set[str] = set()
        for row in self.rows:
            row_id = row.row_id
            (repeated if row_id in seen else seen).add(row_id)
        problems = []
        if repeated:
            problems.append(f"rows repeat: {', '.join(sorted(repeated))}")
        kinds = {row.kind for row in self.rows}
        if MappingKind.ROUNDING not in kinds:
            problems.append("the setup needs a rounding row (account for cash rounding and cent differences)")
        if self.inventory_change:
            missing = [kind.value for kind in (MappingKind.INVENTORY, MappingKind.INVENTORY_CHANGE) if kind not in kinds]
            if missing:
                problems.append(
                    f"inventory_change is on but the setup has no {' and no '.join(missing)} row; add "
                    + " and ".join(f'{{"kind": "{kind}", "account": "…"}}' for kind in missing)
                    + " (e.g. 1460 Varelager and 4090 Beholdningsendring), or turn inventory_change off")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def index(self) -> dict[str, MappingRow]:
        return {row.row_id: row for row in self.rows}


class Connection(LazyModel):
    tenant_id: str
    connection_id: str
    vendor: str
    name: str
    status: ConnectionStatus = ConnectionStatus.CREATED
    schedule: TransferSchedule = Field(default_factory=TransferSchedule)
    account_setup: AccountSetup | None = None
    # How payroll journals are booked (accounts, dimensions, approval): vendors that take them.
    payroll_setup: PayrollSetup | None = None
    vendor_company: str | None = None
    # The vendor's id of the company the connection is bound to, from its first connect on: a
    # reconnect to another company is refused (one company per connection, never switched silently).
    vendor_company_id: str | None = None
    vendor_currency: str | None = None
    status_reason: str | None = None
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Bumped on every write: writes are conditional on it, so concurrent updates never overwrite each other.
    revision: int = 0
    # Bumped on every (re)connect: warm workers drop tokens cached for an older credential.
    credential_version: int = 0
    # What the user picked from the lists "Test integration" offered (e.g. transaction_type),
    # and those lists as last read from the vendor.
    vendor_settings: dict[str, str] = Field(default_factory=dict)
    choices: dict[str, list[Choice]] = Field(default_factory=dict)
    # At least one client company is set up for reconciliation: the schedule refreshes balances.
    reconciles: bool = False
    # Customers kept in step with the vendor (master-data sync), and how that is doing.
    customer_sync: SyncSetup | None = None
    sync_health: SyncHealth = Field(default_factory=SyncHealth)
    # The secret the vendor echoes in its change notifications (Uniconta's Argument), kept only as its
    # SHA-256: the receiver compares hashes; the secret itself is shown once, when made.
    notification_secret_sha256: str | None = None

    @property
    def has_scheduled_work(self) -> bool:
        # Customer sync's periodic comparison runs on the schedule too (a stalled link is found then).
        return self.has_booking_setup or self.reconciles or self.customer_sync is not None

    @property
    def has_booking_setup(self) -> bool:
        """Some kind of document can be booked: an account setup (settlements) or a payroll setup."""
        return self.account_setup is not None or self.payroll_setup is not None


class ConnectionCreate(LazyModel):
    model_config = ConfigDict(extra="forbid")

    vendor: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
    schedule: TransferSchedule = Field(default_factory=TransferSchedule)


class CredentialCreate(LazyModel):
    """A stored login: an integration user (24SevenOffice: e-mail and password) or a Uniconta user (login id,
    password, API key, company id). Which fields a vendor needs is in providers.toml (credential_fields)."""

    # hide_input_in_errors: a validation error printed or logged anywhere never shows the password.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    # An e-mail address for 24SevenOffice (checked per vendor: providers.toml username_format), a login
    # id for Uniconta.
    username: Annotated[str, StringConstraints(min_length=1, max_length=254, strip_whitespace=True,
                                               pattern=r"^\S+$")]
    password: SecretStr = Field(min_length=1, max_length=256)
    api_key: SecretStr | None = Field(default=None, min_length=1, max_length=256,
                                      description="Uniconta: the API key the integration was given")
    company_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,10}$", strip_whitespace=True)] | None = Field(
        default=None, description="Uniconta: the company id (Firma ID)")

    # The vendor receives both inside an XML (SOAP) envelope: what XML 1.0 cannot carry, or what
    # no login form would ever have produced, is refused here instead of failing at the vendor.
    @field_validator("username")
    @classmethod
    def _sendable_username(cls, value: str) -> str:
        problem = unsendable_text(value)
        if problem:
            raise ValueError(f"username {problem}; type the e-mail address again")
        return value

    @field_validator("api_key")
    @classmethod
    def _sendable_key(cls, value: SecretStr | None) -> SecretStr | None:
        problem = unsendable_text(value.get_secret_value()) if value is not None else None
        if problem:
            raise ValueError(f"api_key {problem}; paste it again")
        return value

    @field_validator("password")
    @classmethod
    def _sendable_password(cls, value: SecretStr) -> SecretStr:
        problem = unsendable_text(value.get_secret_value())
        if problem:  # the message says what is wrong, never the password
            raise ValueError(f"password {problem}; type or paste it again without it")
        return value


def unsendable_text(value: str) -> str | None:
    """Why ``value`` cannot be a credential sent to a vendor, or None.

    Control characters (tab, line break, NUL, DEL, C1) are refused, and everything XML 1.0 has no
    place for (unpaired surrogates, U+FFFE, U+FFFF)."""
    for char in value:
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            return "contains a control character (a line break or tab pasted with it?)"
        if 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            return "contains a character that cannot be sent to the accounting system"
    return None


class ConnectionView(LazyModel):
    """What the API shows of a connection: never any credential."""

    connection_id: str
    vendor: str
    name: str
    status: ConnectionStatus
    status_reason: str | None
    vendor_company: str | None
    vendor_currency: str | None
    schedule: TransferSchedule
    account_setup: AccountSetup | None
    payroll_setup: PayrollSetup | None = None
    vendor_company_id: str | None = None
    next_run_at: datetime | None
    last_run_at: datetime | None
    created_at: datetime
    vendor_settings: dict[str, str] = Field(default_factory=dict)
    choices: dict[str, list[Choice]] = Field(default_factory=dict)
    customer_sync: SyncSetup | None = None
    sync_health: SyncHealth | None = None
    vendor_usage: dict[str, int | str] | None = Field(
        None, description="vendors with a daily call budget (Uniconta): today's calls by the hub for this "
                          "connection's user, the hub's share and the vendor's budget (GET of one connection)")

    @classmethod
    def of(cls, connection: Connection) -> "ConnectionView":
        return cls.model_validate(connection.model_dump(), from_attributes=False)
