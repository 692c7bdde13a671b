"""24SevenOffice connector: an integration user reaching many client companies over SOAP.

One stored session serves every connection of the same integration user and password (logins are
throttled; an accounting office's reconciliation and a shop's booking may share a user): the
session and its lease are keyed by the credential's fingerprint (``credentials.SessionSource``).
The session has a *current identity* (client company) on the vendor's side, switched with
SetIdentityById, so two workers sharing the session — of one connection or of two — must never
interleave: every per-company piece of work runs inside a ``CompanyUnit`` holding the credential's
session lease and selecting its own identity when it takes the lease, and each call inside it first
proves the lease is still ours (renewing it), so no other worker can switch the identity between
our SetIdentityById and the reads that rely on it.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterator

from ...credentials import SessionSource
from ...errors import (
    AmbiguousVendorOutcome,
    CredentialRejected,
    NoAnswer,
    PermanentVendorError,
    TransientVendorError,
)
from ...models.connection import Connection
from ...oauth.providers import Provider
from ...repositories import leases
from ...settings import get_settings
from ..base import (
    BOOKING,
    COMPANIES,
    RECONCILIATION,
    Account,
    AttachmentFile,
    BookingReceipt,
    Catalog,
    Checkpoints,
    FiscalYear,
    VatCode,
    Voucher,
    AccountBalance,
    AccountMissing,
    LedgerMismatch,
    Choice,
    CompanyAccessLost,
    CompanyRef,
    ConnectionCheck,
    LedgerEntry,
    LedgerSink,
    VendorCompany,
)
from . import booking
from .booking import ShopSettings
from .soap import NoIdentitySelected, SessionExpired, SoapClient, UnsendableValue, as_list, soap_client

ZERO = Decimal("0")
# The product 24SevenOffice invoicing needs for gift cards (DUELL's help article).
GIFTCARD = "GIFTCARD"
# GetTransactions has no paging. Its answer is parsed as it arrives and handed on in chunks of
# this many entries per account, so memory stays the same however busy the accounts are.
CHUNK_ENTRIES = 1000
# Entries held across all accounts of one search before the largest account's are handed on early.
MAX_BUFFERED_ENTRIES = 4 * CHUNK_ENTRIES
# One search covers every account of a company (an account range) and up to this many calendar
# months: any period the API takes (a year at most, so 13 calendar months at most) is one call per
# company; a longer one would be cut so that no single answer runs for years.
SEARCH_MONTHS = 13
# How long one company's unit of work may hold the session before renewing the lease.
UNIT_LEASE_SECONDS = 60
SESSION_HANDOFF_SECONDS = 1.0


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


class TwentyFourSevenConnector:
    vendor = "24sevenoffice"
    capabilities = frozenset({COMPANIES, RECONCILIATION, BOOKING})

    def __init__(self, provider: Provider, connection: Connection, soap: SoapClient):
        self.provider = provider
        self.connection = connection
        self.soap = soap
        application_id = get_settings().application_ids.get(self.vendor)
        if not application_id:
            raise PermanentVendorError("the hub has no 24SevenOffice ApplicationId configured "
                                       "(LB_APPLICATION_IDS); see README (deploy)")
        self.application_id = application_id
        self.sessions = SessionSource(connection.tenant_id, connection.connection_id, connection.credential_version,
                                      login=self._login, has_session=self._has_session,
                                      trust_seconds=provider.session_trust_seconds, vendor=self.vendor)

    @property
    def session_lease_id(self) -> str:
        """Per credential, not per connection: whoever holds the shared session's identity."""
        return self.sessions.session_lease_id()

    # --- session -------------------------------------------------------------------------------
    def _login(self, username: str, password: str) -> str:
        try:
            session = self.soap.call("auth", "Login", credential={
                "ApplicationId": self.application_id, "Username": username, "Password": password})
        except UnsendableValue as exc:
            # Stored before the API refused such values at the door: 24SevenOffice can never accept it.
            raise CredentialRejected("the stored e-mail or password contains a character 24SevenOffice cannot "
                                     "receive (a control character, e.g. a line break pasted with it); "
                                     "store the integration user again") from exc
        if not session:
            raise CredentialRejected("24SevenOffice refused the integration user's e-mail or password; "
                                     "store the current password")
        return str(session)

    def _has_session(self, session_id: str) -> bool:
        try:
            return bool(self.soap.call("auth", "HasSession", session_id=session_id))
        except SessionExpired:
            return False  # answering "not authenticated" instead of false means the same

    def _call(self, service: str, operation: str, **arguments: Any) -> Any:
        """A call that needs a session but no particular identity; logs in again once if it expired."""
        session = self.sessions.session_id()
        try:
            return self.soap.call(service, operation, session_id=session, **arguments)
        except SessionExpired:
            session = self.sessions.session_id(rejected=session)
            return self.soap.call(service, operation, session_id=session, **arguments)

    def _identities(self) -> list[dict[str, Any]]:
        return as_list(self._call("auth", "GetIdentities"), "Identity")

    @contextmanager
    def company(self, company: CompanyRef) -> Iterator["CompanyUnit"]:
        """Work on one company: hold the credential's session lease and make the company the session's
        identity (always, on taking the lease: the previous holder, of this connection or another of
        the same user, may have selected another company)."""
        settings = get_settings()
        # A call that got no answer may still run at the vendor on this session: the lease is then
        # left to expire rather than released, so no one selects another identity meanwhile.
        with leases.held(self.session_lease_id, seconds=UNIT_LEASE_SECONDS,
                         wait=settings.token_lease_wait_seconds, keep_on=(NoAnswer, AmbiguousVendorOutcome),
                         announce=True) as owner:
            unit = CompanyUnit(self, company, owner, time.time() + UNIT_LEASE_SECONDS)
            unit.select()
            yield unit
        # A run takes the lease again for its next company at once; if someone (a user's "Test
        # integration" or company setup) waits for it, leave a gap longer than the waiter's poll.
        if leases.wanted(self.session_lease_id):
            time.sleep(SESSION_HANDOFF_SECONDS)

    # --- Connector -----------------------------------------------------------------------------
    def check(self) -> ConnectionCheck:
        no_access = ConnectionCheck(ok=False, message=(
            "the integration user logged in but has no access to any client in 24SevenOffice; "
            "give it access to the clients to reconcile and accept the invitations"), companies=0)
        identities = self._identities()
        usable = [i for i in identities if not i.get("IsDisabled") and i.get("Client")]
        if not usable:
            return no_access
        picks = self.connection.vendor_settings
        picked = next((i for i in usable if str(i["Client"]["Id"]) == picks.get("company")), None)
        home = picked or next((i for i in usable if i.get("IsDefault")), usable[0])
        # Access to a client can go between GetIdentities and selecting it: CompanyAccessLost must
        # not escape "Test integration" (an HTTP 500); the next reachable client answers instead.
        for identity in [home] + [i for i in usable if i is not home]:
            ref = _ref(identity)
            try:
                with self.company(ref) as unit:
                    lists = self._company_choices(unit, with_departments=identity is picked)
                    info = unit.call("client", "GetClientInformation") or {}
                    giftcard = booking.product_exists(unit, GIFTCARD) if identity is picked else True
                break
            except CompanyAccessLost:
                continue
        else:
            return no_access
        choices = {"company": _company_choices(usable), "type_import": _type_import_choices(), **lists}
        warnings = [] if giftcard else [
            f"no product numbered {GIFTCARD} exists in {info.get('Name') or ref.name}: if gift cards are sold and "
            f"invoicing is used, create it in 24SevenOffice (Products) with that number"]
        return ConnectionCheck(
            ok=True, company_name=info.get("Name") or ref.name, currency=info.get("DefaultCurrency") or None,
            message=f"logged in as {self.sessions.username()}; {len(usable)} client companies reachable",
            choices=choices, companies=len(usable), warnings=warnings,
        )

    def settings_choices(self, picks: dict[str, str]) -> dict[str, list[Choice]]:
        """The lists the user picks from, given the picks so far: the companies the user reaches,
        and for the company picked (or the only one) its departments and voucher types."""
        usable = [i for i in self._identities() if not i.get("IsDisabled") and i.get("Client")]
        choices = {"company": _company_choices(usable), "type_import": _type_import_choices()}
        picked = next((i for i in usable if str(i["Client"]["Id"]) == picks.get("company")), None)
        if picked is None and len(usable) == 1:
            picked = usable[0]
        # Until a company is picked, the voucher types of the user's home company (what an
        # accounting office's connection, which books into none, is offered).
        source = picked or next((i for i in usable if i.get("IsDefault")), usable[0] if usable else None)
        if source is not None:
            with self.company(_ref(source)) as unit:
                choices.update(self._company_choices(unit, with_departments=source is picked))
        return choices

    @staticmethod
    def _company_choices(unit: "CompanyUnit", *, with_departments: bool) -> dict[str, list[Choice]]:
        types = as_list(unit.call("account", "GetTypeList"), "TypeData")
        lists = {"transaction_type": [Choice(id=str(t["TypeNo"]), name=f"{t.get('TypeNo')} {t.get('Title') or ''}".strip())
                                      for t in types if t.get("TypeNo") is not None]}
        if with_departments:
            departments = as_list(unit.call("client", "GetDepartmentList"), "Department")
            lists["department"] = [Choice(id=str(d["Id"]), name=d.get("Name") or str(d["Id"])) for d in departments
                                   if d.get("Id") is not None]
        return lists

    # --- BookingConnector ------------------------------------------------------------------------
    # (connection, credential version, company) -> (identity, when read): a day's bookings need not
    # ask GetIdentities each time; a refused SetIdentityById reads them again.
    _identity_cache: dict[tuple[str, int, str], tuple[CompanyRef, float]] = {}
    IDENTITY_CACHE_SECONDS = 300

    def _shop(self, *, fresh: bool = False) -> "tuple[ShopSettings, CompanyRef]":
        settings = ShopSettings.of(self.connection)
        key = (self.connection.connection_id, self.connection.credential_version, settings.company_id)
        cached = self._identity_cache.get(key)
        if cached and not fresh and time.monotonic() - cached[1] < self.IDENTITY_CACHE_SECONDS:
            return settings, cached[0]
        identity = next((i for i in self._identities() if i.get("Client")
                         and str(i["Client"]["Id"]) == settings.company_id and not i.get("IsDisabled")), None)
        if identity is None:
            self._identity_cache.pop(key, None)
            raise CredentialRejected(
                f"the integration user no longer reaches the company {settings.company_name} in 24SevenOffice; "
                f"give it access again, or choose another company")
        ref = _ref(identity)
        self._identity_cache[key] = (ref, time.monotonic())
        return settings, ref

    def _in_shop_company(self, work: "Callable[[ShopSettings, CompanyUnit], Any]") -> Any:
        """Run ``work`` in the shop's company; if the identity was refused, read it afresh once."""
        settings, ref = self._shop()
        try:
            with self.company(ref) as unit:
                return work(settings, unit)
        except CompanyAccessLost:
            settings, ref = self._shop(fresh=True)
            with self.company(ref) as unit:
                return work(settings, unit)

    def read_catalog(self, on_date: date) -> Catalog:
        return self._in_shop_company(lambda settings, unit: company_catalog(unit))

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        # Not through _in_shop_company: a booking is never repeated within an attempt (a voucher may
        # have been sent). Access lost means: read the identities afresh on the next attempt.
        settings, ref = self._shop()
        try:
            with self.company(ref) as unit:
                return booking.book(unit, voucher, attachment, settings, checkpoints)
        except CompanyAccessLost as exc:
            self._shop(fresh=True)  # still reachable under another identity id, or CredentialRejected
            raise TransientVendorError(f"24SevenOffice: the identity for {settings.company_name} changed; "
                                       f"will retry") from exc

    def find_booking(self, voucher: Voucher, checkpoints: Checkpoints | None = None) -> BookingReceipt | None:
        def find(settings: ShopSettings, unit: CompanyUnit) -> BookingReceipt | None:
            sent_to = (checkpoints.get(booking.SAVED_TO) if checkpoints else None) or settings.type_import
            return booking.find_booking(unit, voucher, sent_to)
        return self._in_shop_company(find)

    def product_exists(self, number: str) -> bool:
        return self._in_shop_company(lambda settings, unit: booking.product_exists(unit, number))

    def list_companies(self) -> list[VendorCompany]:
        return [VendorCompany(company_id=str(i["Client"]["Id"]), identity_id=str(i["Id"]),
                              name=i["Client"].get("Name") or "", accessible=not i.get("IsDisabled"))
                for i in self._identities() if i.get("Client")]

    def describe_company(self, company: CompanyRef) -> VendorCompany:
        with self.company(company) as unit:
            info = unit.call("client", "GetClientInformation") or {}
        return VendorCompany(company_id=company.company_id, identity_id=company.identity_id,
                             name=info.get("Name") or company.name,
                             organisation_number=(info.get("OrganizationNumber") or "").replace(" ", "") or None,
                             currency=info.get("DefaultCurrency") or None)

    def read_accounts(self, company: CompanyRef) -> list[Account]:
        with self.company(company) as unit:
            return unit.accounts()

    def read_ledger(self, company: CompanyRef, accounts: list[str], period_from: date, as_of: date,
                    sink: LedgerSink) -> list[AccountBalance]:
        numbers = [int(a) for a in accounts]
        with self.company(company) as unit:
            aggregated = as_list(unit.call("transaction", "GetAggregated", startDate=_midnight(period_from),
                                            accountNos={"short": numbers}, periodType="None", returnIB=True),
                                  "AggregatedData")
            opening = {str(a["AccountNo"]): Decimal(a.get("IncomingBalance") or 0) for a in aggregated}
            absent = [a for a in accounts if a not in opening]
            if absent:
                # Not aggregated: either gone from the chart, or simply without postings.
                chart = {a.number for a in unit.accounts()}
                missing = [a for a in absent if a not in chart]
                if missing:
                    raise AccountMissing(missing)
                opening.update({a: ZERO for a in absent})
            balances = unit.read_accounts(accounts, opening, period_from, as_of, sink)
            # Proof, from the vendor's own aggregate, that opening + the entries read is the
            # balance after as_of: catches a misread opening balance (what "IncomingBalance"
            # means is not documented) or entries the date windows missed.
            after = as_list(unit.call("transaction", "GetAggregated", startDate=_midnight(as_of + timedelta(days=1)),
                                       accountNos={"short": numbers}, periodType="None", returnIB=True),
                             "AggregatedData")
            closing = {str(a["AccountNo"]): Decimal(a.get("IncomingBalance") or 0) for a in after}
            wrong = [b for b in balances if closing.get(b.account, ZERO) != b.closing]
            if wrong:
                raise LedgerMismatch([(b.account, b.closing, closing.get(b.account, ZERO)) for b in wrong])
            return balances


class CompanyUnit:
    """One company's work under the session lease (see the module docstring)."""

    def __init__(self, connector: TwentyFourSevenConnector, company: CompanyRef, owner: str, lease_until: float):
        self.connector = connector
        self.company = company
        self.owner = owner
        self.lease_until = lease_until
        self.session = connector.sessions.session_id()

    def _keep_lease(self) -> None:
        # Renew before a call could outlast the lease (call timeout plus a margin for clocks).
        headroom = get_settings().vendor_timeout_seconds * 2 + 5
        if time.time() + headroom < self.lease_until:
            return
        if not leases.renew(self.connector.session_lease_id, self.owner, UNIT_LEASE_SECONDS):
            raise TransientVendorError("24SevenOffice: lost the session lease to another worker; will retry")
        self.lease_until = time.time() + UNIT_LEASE_SECONDS

    def select(self) -> None:
        if not self.company.identity_id:
            raise CompanyAccessLost(self.company.company_id)
        self._keep_lease()
        try:
            selected = self._raw("auth", "SetIdentityById", identityId=self.company.identity_id)
        except SessionExpired:
            # The trusted session died since it last worked: renew it (once) and select again.
            self.session = self.connector.sessions.session_id(rejected=self.session)
            selected = self._raw("auth", "SetIdentityById", identityId=self.company.identity_id)
        if not selected:
            raise CompanyAccessLost(self.company.company_id)

    def _raw(self, service: str, operation: str, **arguments: Any) -> Any:
        return self.connector.soap.call(service, operation, session_id=self.session, **arguments)

    def call(self, service: str, operation: str, **arguments: Any) -> Any:
        return self._send(lambda: self._raw(service, operation, **arguments))

    def stream(self, service: str, operation: str, row_type: str, **arguments: Any) -> Iterator[dict[str, Any]]:
        """Rows of a long answer as they arrive (faults are raised before the first row)."""
        return self._send(lambda: self.connector.soap.stream(service, operation, row_type, session_id=self.session,
                                                             **arguments))

    def _send(self, send: Callable[[], Any]) -> Any:
        self._keep_lease()
        try:
            try:
                result = send()
            except SessionExpired:
                # A new session starts at the user's default identity: select ours again first.
                self.session = self.connector.sessions.session_id(rejected=self.session)
                self.select()
                result = send()
        except NoIdentitySelected:
            # Our identity was selected under the lease, so nobody switched it: most likely access
            # to this client was removed since. Selecting again tells (SetIdentityById answers
            # false, and select() raises CompanyAccessLost), and a server-side reset is survived.
            self.select()
            try:
                result = send()
            except NoIdentitySelected as exc:
                raise CompanyAccessLost(self.company.company_id) from exc
        self.connector.sessions.worked(self.session)
        return result

    def accounts(self) -> list[Account]:
        rows = as_list(self.call("account", "GetAccountList"), "AccountData")
        return [Account(number=str(r["AccountNo"]), name=r.get("AccountName") or "") for r in rows
                if r.get("AccountNo") is not None]

    def read_accounts(self, accounts: list[str], opening: dict[str, Decimal], period_from: date, as_of: date,
                      sink: LedgerSink) -> list[AccountBalance]:
        """Every entry of ``accounts`` in the period: one GetTransactions over the account range and
        the period (cut at SEARCH_MONTHS), handed on per account in chunks as the answer arrives.

        TransactionSearchParameters takes an account range and a date range; a search per account
        and month cost accounts x months calls. Rows of accounts between the chosen ones, and rows
        outside the window, are dropped as they are read (the filters are taken as hints)."""
        wanted = {int(account): account for account in accounts}
        movement = {account: ZERO for account in accounts}
        count = {account: 0 for account in accounts}
        chunks: dict[str, list[LedgerEntry]] = {account: [] for account in accounts}
        buffered = 0
        for start, end in search_windows(period_from, as_of):
            seen = 0
            for row in self.stream("transaction", "GetTransactions", "Transaction", searchParams={
                # The whole last day, whether the vendor compares dates or timestamps.
                "DateStart": _midnight(start), "DateEnd": _midnight(end) + timedelta(hours=23, minutes=59, seconds=59),
                "AccountNoStart": min(wanted), "AccountNoEnd": max(wanted),
                "SystemType": None, "HasInvoiceId": None,
            }):
                seen += 1
                if seen % CHUNK_ENTRIES == 0:
                    self._keep_lease()  # a long answer must not outlive the lease it is read under
                number = row.get("AccountNo")
                if number is None and len(wanted) > 1:
                    raise PermanentVendorError("24SevenOffice answered GetTransactions rows without AccountNo: "
                                               "the entries of several accounts cannot be told apart")
                account = wanted.get(number) if number is not None else accounts[0]
                if account is None:
                    continue  # an account in the range that was not chosen
                entry = _entry(account, row)
                if not start <= entry.entry_date <= end:
                    continue  # the vendor's date filter is taken as a hint, never trusted to the day
                chunk = chunks[account]
                chunk.append(entry)
                movement[account] += entry.amount
                count[account] += 1
                buffered += 1
                if len(chunk) == CHUNK_ENTRIES or buffered >= MAX_BUFFERED_ENTRIES:
                    fullest = account if len(chunk) == CHUNK_ENTRIES else max(chunks, key=lambda a: len(chunks[a]))
                    sink.write(fullest, chunks[fullest])
                    buffered -= len(chunks[fullest])
                    chunks[fullest] = []
        for account in accounts:
            if chunks[account]:
                sink.write(account, chunks[account])
        return [AccountBalance(account=account, opening=opening[account], movement=movement[account],
                               closing=opening[account] + movement[account], entries=count[account])
                for account in accounts]


def search_windows(period_from: date, as_of: date, months: int | None = None) -> Iterator[tuple[date, date]]:
    """The period cut into windows of ``months`` calendar months (SEARCH_MONTHS), the first from
    period_from to the end of its window's last month, the last ending at as_of."""
    months = months or SEARCH_MONTHS
    start = period_from
    while start <= as_of:
        index = start.year * 12 + start.month - 1 + months  # the first month after the window
        end = min(date(index // 12, index % 12 + 1, 1) - timedelta(days=1), as_of)
        yield start, end
        start = end + timedelta(days=1)


def _entry(account: str, row: dict[str, Any]) -> LedgerEntry:
    day = row.get("Date")
    number = row.get("TransactionNo")
    return LedgerEntry(
        account=account, entry_date=day.date() if isinstance(day, datetime) else day,
        amount=Decimal(row.get("Amount") or 0),
        voucher_number=str(number) if number not in (None, -2147483648) else None,
        text=row.get("Comment") or "",
        transaction_type=str(row["TransactionTypeId"]) if row.get("TransactionTypeId") not in (None, -2147483648)
        else None,
    )


def _company_choices(usable: list[dict[str, Any]]) -> list[Choice]:
    return [Choice(id=str(i["Client"]["Id"]), name=i["Client"].get("Name") or str(i["Client"]["Id"])) for i in usable]


def _type_import_choices() -> list[Choice]:
    return [Choice(id=key, name=name) for key, name in booking.TYPE_IMPORT_CHOICES.items()]


def company_catalog(unit: "CompanyUnit") -> Catalog:
    """The company's chart with its sales types, its tax codes and fiscal years, for the setup check.

    24SevenOffice's chart is one for all years; each fiscal year gets the same list. The sales
    type (type group) of an account is not in AccountData: GetTypeGroupList(Sale) ties groups to
    accounts by AccountId.
    """
    groups = {g["AccountId"]: g.get("Name") or str(g.get("Id"))
              for g in as_list(unit.call("client", "GetTypeGroupList", module="Sale"), "AccountingGroup")
              if g.get("AccountId") is not None}
    accounts = [Account(number=str(a["AccountNo"]), name=a.get("AccountName") or "",
                        vat_code_id=str(a["TaxNo"]) if a.get("TaxNo") else None,
                        sales_type=groups.get(a.get("AccountId")))
                for a in as_list(unit.call("account", "GetAccountList"), "AccountData") if a.get("AccountNo") is not None]
    vat_codes = [VatCode(id=str(t["TaxNo"]), code=str(t["TaxNo"]), description=t.get("TaxName") or "",
                         rate=Decimal(str(t.get("TaxRate") or 0)))
                 for t in as_list(unit.call("account", "GetTaxCodeList"), "TaxCodeElement") if t.get("TaxNo") is not None]
    years = []
    for year in as_list(unit.call("transaction", "GetFiscalYears"), "FiscalYear"):
        start, end = booking._day(year.get("StartingDate")), booking._day(year.get("EndingDate"))
        if start and end:
            years.append(FiscalYear(id=str(start.year), start=start, end=end, locked=bool(year.get("IsLocked"))))
    return Catalog(company_name=unit.company.name, fiscal_years=years, accounts={y.id: accounts for y in years},
                   vat_codes=vat_codes, sales_types_required=True,
                   sales_type_setup="Accounting > Settings > Sales types in 24SevenOffice")


def _ref(identity: dict[str, Any]) -> CompanyRef:
    return CompanyRef(company_id=str(identity["Client"]["Id"]), identity_id=str(identity["Id"]),
                      name=identity["Client"].get("Name") or "")


def build_connector(provider: Provider, connection: Connection) -> TwentyFourSevenConnector:
    return TwentyFourSevenConnector(provider, connection, soap_client(provider))
