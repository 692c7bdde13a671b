"""Client companies reached through one connection (24SevenOffice identities) and their
reconciliation setup and latest balances."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from .common import check_date, utcnow
from .common import LazyModel


class CompanyStatus(StrEnum):
    NOT_SET_UP = "not_set_up"  # imported; choose the accounts to reconcile
    READY = "ready"  # balances are read on schedule
    ACCESS_LOST = "access_lost"  # the integration user no longer reaches it (kept, with its setup)


AccountNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}$")]


class ReconciliationSetup(LazyModel):
    model_config = ConfigDict(extra="forbid")

    accounts: list[AccountNumber] = Field(min_length=1, max_length=50)

    @field_validator("accounts")
    @classmethod
    def _unique(cls, accounts: list[str]) -> list[str]:
        repeated = sorted({a for a in accounts if accounts.count(a) > 1})
        if repeated:
            raise ValueError(f"accounts repeat: {', '.join(repeated)}")
        return accounts


class ReconciledAccount(LazyModel):
    account: str
    name: str = ""


class AccountBalanceView(LazyModel):
    account: str
    name: str = ""
    opening: Decimal
    movement: Decimal
    closing: Decimal
    entries: int
    parts: int = 0  # transaction chunks stored for this account


class BalanceSnapshot(LazyModel):
    as_of: date
    period_from: date
    run_id: str
    read_id: str | None = None  # names the S3 chunks of this read (older snapshots: the run id)
    refreshed_at: datetime
    accounts: list[AccountBalanceView]
    currency: str | None = None


class Company(LazyModel):
    tenant_id: str
    connection_id: str
    company_id: str
    identity_id: str | None = None
    name: str
    organisation_number: str | None = None
    currency: str | None = None
    status: CompanyStatus = CompanyStatus.NOT_SET_UP
    status_reason: str | None = None
    accounts: list[ReconciledAccount] = Field(default_factory=list)
    balances: BalanceSnapshot | None = None
    last_error: str | None = None
    imported_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    revision: int = 0

    @property
    def set_up(self) -> bool:
        return bool(self.accounts)


class CompanyView(LazyModel):
    company_id: str
    name: str
    organisation_number: str | None
    currency: str | None
    status: CompanyStatus
    status_reason: str | None
    accounts: list[ReconciledAccount]
    balances: BalanceSnapshot | None
    last_error: str | None
    imported_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, company: Company) -> "CompanyView":
        return cls.model_validate(company.model_dump())


class BalanceRefreshRequest(LazyModel):
    model_config = ConfigDict(extra="forbid")

    as_of: date | None = Field(default=None, description="balance date; default: today in the schedule's zone; "
                                                         "from 2000-01-01 to tomorrow (UTC)")
    period_from: date | None = Field(default=None, description="first day of the period; default: as_of's month; "
                                                               "from 2000-01-01 on")

    @field_validator("as_of", "period_from")
    @classmethod
    def _plausible(cls, value: date | None) -> date | None:
        # Periods are cut at month ends and read up to as_of + 1 day: keep them where dates make sense.
        return check_date(value)


class LedgerEntryView(LazyModel):
    account: str
    entry_date: date
    amount: Decimal
    voucher_number: str | None
    text: str
    transaction_type: str | None


class LedgerPage(LazyModel):
    company_id: str
    account: str
    as_of: date
    period_from: date
    entries: list[LedgerEntryView]
    next_cursor: str | None
