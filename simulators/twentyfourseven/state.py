"""In-memory state of the 24SevenOffice simulator: users, identities, clients (companies), ledgers, sessions,
and per company the booking side: departments, type groups (sales types), products, voucher reception (journal
drafts saved with SaveBundleList SaveOption=1) and attachment files (AttachmentService).

Every mutation happens under ``SimulatorState.lock`` (the werkzeug server is threaded); the SOAP handlers
hold the lock for their whole read-validate-write step. Tests may read the state directly (take the lock
while the server runs) and change it through the helper methods, which lock for themselves.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from . import seed as seed_data
from .config import SimulatorConfig

# Deterministic ids: uuid5 over kind + key, so a seeded identity, fiscal year or entry has the same
# guid in every simulator run (handy for fixtures and the local dev setup).
SEED_NAMESPACE = uuid.UUID("2c4f7d10-24a7-4e0b-9b1e-7a24e5e7f0a1")
CENT = Decimal("0.01")
SESSION_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz012345"   # what ASP.NET session ids are made of
SESSION_ID_LENGTH = 24


def seed_guid(*parts: Any) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, "/".join(str(p) for p in parts)))


def to_money(value: Any) -> Decimal:
    """Exact Decimal with at most 2 decimals (ValueError otherwise), normalised to 2 decimals."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite() or amount != amount.quantize(CENT):
        raise ValueError(f"amount must have at most 2 decimals: {value!r}")
    return amount.quantize(CENT)


# ---------------------------------------------------------------------------------------------
# Data model
# ---------------------------------------------------------------------------------------------

@dataclass
class Account:
    """AccountData: AccountId is an internal id, TaxNo the account's default VAT code."""

    account_no: int
    name: str
    tax_no: int = 0
    account_id: int = 0


@dataclass
class TaxCode:
    """TaxCodeElement; rate in percent (25 == 25 %), account_no the VAT account (None = no posting)."""

    tax_id: int
    tax_no: str
    name: str
    rate: Decimal
    account_no: int | None = None


@dataclass
class TransactionType:
    """TransactionType of GetTransactionTypes and TypeData of GetTypeList (TypeId = id, TypeNo = no).
    SaveBundleList's Sort is the No; ledger lines carry the Id (TransactionTypeId). Every type of the
    simulator numbers its vouchers from one series per company (EntrySeriesId 1, GetEntryId's SortNo)."""

    id: int
    no: int
    title: str
    turnover: bool = False
    entry_series_id: int = 1


@dataclass
class Department:
    """Department of ClientService.GetDepartmentList; SaveBundleList entries refer to it by DepartmentId."""

    id: int
    name: str
    email: str = ""


@dataclass
class TypeGroup:
    """AccountingGroup of ClientService.GetTypeGroupList: a type group ("Salgstype", sales type, module Sale;
    or a purchase type, module Purchase) tied to one account. The WSDL's AccountData (GetAccountList) has no
    type group field: the tie is AccountingGroup.AccountId = AccountData.AccountId of the account (the REST
    API's SalesType.account.id says the same), so GetTypeGroupList is the only place it can be seen."""

    id: int
    name: str
    account_no: int
    module: str = "Sale"      # "Sale" or "Purchase"


@dataclass
class Product:
    """Product of ProductService.GetProducts (the fields the simulator keeps)."""

    id: int
    no: str
    name: str
    price: Decimal = Decimal("0.00")
    tax_rate: Decimal = Decimal("25")
    in_price: Decimal | None = None
    ean1: str = ""
    category_id: int | None = None
    stock: Decimal | None = None
    stock_controlled: bool = False
    date_changed: datetime = datetime(2024, 1, 1)


@dataclass
class FiscalYear:
    id: str
    year: int
    locked: bool = False


@dataclass
class Entry:
    """One ledger line (Transaction in the WSDL). Amount: debit positive, credit negative."""

    id: str
    date: date
    account_no: int
    amount: Decimal
    transaction_no: int
    sequence_no: int
    comment: str
    transaction_type_id: int
    stamp_no: int
    vat_code: int
    registration_date: datetime
    date_changed: datetime
    currency: str = "NOK"
    department_id: int = 0
    project_id: int = 0
    customer_id: int = 0
    origin: str = "helper"     # "helper" (add_voucher, seed), "SaveBundleList" (posted), "voucher reception"


@dataclass
class BookingLine:
    """One Entry of a SaveBundleList voucher as the simulator keeps it (in a draft, or before posting)."""

    account_no: int
    date: date
    amount: Decimal
    tax_no: str = ""                 # Entry.TaxNo as sent ("" = none)
    vat_amount: Decimal = Decimal("0")
    department_id: int = 0
    project_id: int = 0
    customer_id: int = 0
    comment: str = ""
    stamp_no: int = 0
    currency: str = ""
    invoice_reference_no: str = ""


@dataclass
class Draft:
    """A voucher in voucher reception ("bilagsmottak", 24SevenOffice's journal/registration module): saved
    by SaveBundleList with SaveOption=1, not in the ledger until approved (``SimulatorState.approve_draft``,
    the /_sim endpoint). One Draft per voucher of the bundle."""

    id: int
    bundle_name: str
    year: int                        # Bundle.YearId
    sort: int                        # TransactionType.No (Voucher.Sort, else Bundle.Sort)
    transaction_type_id: int
    transaction_no: int              # Voucher.TransactionNo as sent; 0 = numbered when approved
    lines: list[BookingLine]
    created: datetime
    allow_difference: bool = False
    direct_ledger: bool = False
    bundle_direct_accounting: bool = False


@dataclass
class AttachmentFile:
    """A file of AttachmentService: created (a "ghost"), filled by AppendChunk, stored by Save with its stamp
    number. The stamp number ties it to vouchers: a ledger voucher whose entries carry it has the file."""

    id: int
    type: str                        # ImageType: Pdf, Png, ...
    created: datetime
    data: bytearray = field(default_factory=bytearray)
    saved: datetime | None = None
    changed: datetime | None = None
    location: str | None = None      # Save's AttachmentLocation: Retrieval or Journal
    stamp_no: int = 0
    metadata: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ClientCompany:
    """A 24SevenOffice client (company) with its chart of accounts and general ledger."""

    id: int
    name: str
    organization_number: str
    default_currency: str = "NOK"
    address: dict[str, str] = field(default_factory=dict)    # Street, PostalCode, City
    accounts: dict[int, Account] = field(default_factory=dict)
    tax_codes: list[TaxCode] = field(default_factory=list)
    transaction_types: list[TransactionType] = field(default_factory=list)
    fiscal_years: dict[int, FiscalYear] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    last_transaction_no: int = 0
    departments: list[Department] = field(default_factory=list)
    type_groups: list[TypeGroup] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    drafts: dict[int, Draft] = field(default_factory=dict)       # voucher reception, by draft id
    files: dict[int, AttachmentFile] = field(default_factory=dict)   # AttachmentService files, by file id

    def tax_code(self, tax_no: int | str) -> TaxCode | None:
        key = str(tax_no).strip()
        if key.lstrip("-").isdigit():
            key = str(int(key))
        return next((t for t in self.tax_codes if t.tax_no == key), None)

    def department(self, department_id: int) -> Department | None:
        return next((d for d in self.departments if d.id == department_id), None)

    def transaction_type_by_no(self, no: int) -> TransactionType | None:
        return next((t for t in self.transaction_types if t.no == no), None)

    def type_group(self, account_no: int, module: str = "Sale") -> TypeGroup | None:
        return next((g for g in self.type_groups if g.account_no == account_no and g.module == module), None)

    def used_stamp_nos(self) -> set[int]:
        """Stamp numbers taken: on ledger lines, on drafts in voucher reception, on saved files."""
        used = {e.stamp_no for e in self.entries}
        used.update(line.stamp_no for draft in self.drafts.values() for line in draft.lines)
        used.update(f.stamp_no for f in self.files.values() if f.saved is not None)
        used.discard(0)
        return used


@dataclass
class Identity:
    """Access of one user to one client; Id is what SetIdentityById takes."""

    id: str
    client_id: int
    is_default: bool = False
    disabled: bool = False
    contact_id: int = 0
    employee_id: int = 0


@dataclass
class User:
    username: str
    password: str
    name: str
    guid: str
    user_id: int                      # Client.UserId in GetClientInformation
    identities: list[Identity] = field(default_factory=list)

    def identity(self, identity_id: str | None) -> Identity | None:
        if not identity_id:
            return None
        return next((i for i in self.identities if i.id == identity_id.lower()), None)

    def default_identity(self) -> Identity | None:
        return next((i for i in self.identities if i.is_default and not i.disabled), None)


@dataclass
class Session:
    id: str
    username: str                      # lower-case key of SimulatorState.users
    identity_id: str | None
    created: float
    last_used: float


@dataclass
class Fault:
    """An injected misbehaviour. Matching faults fire in FIFO order, ``times`` times (None = forever).

    kinds: "soap_fault" (HTTP 500 SOAP fault, faultcode ``faultcode``, faultstring ``message``; nothing is
    done), "http_status" (plain HTTP ``status`` with an IIS-style HTML body; nothing is done), "latency"
    (sleep ``delay_s``, then answer normally), "timeout_after" (commit then time out: do the work, then sleep
    ``delay_s`` before answering, so a client timeout shorter than that fires after the vendor committed),
    "fault_after" (commit then fault: do the work, then answer a SOAP fault ``faultcode``/``message`` instead
    of the result, or with ``status`` other than 500 the IIS-style page of that status, as a proxy that lost
    the answer would), "save_result" (SaveBundleList only: nothing is done and the call answers HTTP 200 with
    SaveResponse Type ``result_type`` - SystemError, Exception, NotAuthenticated, ... - and Description
    ``message``), "session_expired" (drop the caller's session just before handling, so the call faults
    "Not authenticated"). ``operation`` is the SOAP operation name (e.g. "GetTransactions", "SaveBundleList",
    "AppendChunk", "Save"); None = any.
    """

    kind: str
    operation: str | None = None
    times: int | None = 1
    status: int = 500
    message: str = "Server was unable to process request. ---> Injected fault"
    delay_s: float = 0.0
    faultcode: str = "soap:Server"
    result_type: str = "SystemError"

    KINDS = ("soap_fault", "http_status", "latency", "timeout_after", "fault_after", "save_result",
             "session_expired")
    RESULT_TYPES = ("Ok", "DuplicateData", "DataAlreadySaved", "NotAuthenticated", "SystemError", "Exception",
                    "NotSaved")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {self.KINDS}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None (forever)")
        if self.result_type not in self.RESULT_TYPES:
            raise ValueError(f"result_type must be one of {self.RESULT_TYPES}")

    def matches(self, operation: str) -> bool:
        return self.operation is None or self.operation.lower() == operation.lower()


class AttachmentError(Exception):
    """An AttachmentService call the service refuses (unknown file, wrong offset, ...): a soap:Server fault."""


class DraftRefused(Exception):
    """Approving a voucher reception draft failed its checks; ``problems`` says why."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------

class SimulatorState:
    """All mutable simulator data. Tests may read and modify it directly (take ``lock`` if the server runs)."""

    FIRST_CLIENT_ID = 1100001

    def __init__(self, config: SimulatorConfig):
        self.lock = threading.RLock()
        self.config = config
        self.clock_offset_s = 0.0
        self.reset()

    def reset(self) -> None:
        """Back to seed data: drops sessions, faults, counters, login history and the clock offset."""
        with self.lock:
            self.clock_offset_s = 0.0
            self.users: dict[str, User] = {}
            self.clients: dict[int, ClientCompany] = {}
            self.sessions: dict[str, Session] = {}
            self.faults: deque[Fault] = deque()
            self.request_counts: Counter = Counter()
            self.login_attempts: dict[str, deque[float]] = {}   # username -> Login call times (clock)
            self.login_totals: Counter = Counter()
            self.transaction_page_sizes: list[int] = []          # rows returned by each GetTransactions
            self._next_user_id = 500101
            self._next_file_id = 7000001      # AttachmentService file ids (ImageFile.Id), unique over companies
            self._next_draft_id = 1            # voucher reception draft ids, unique over companies
            self.too_large_requests = 0        # requests refused for their size (see app.py, "Request size")
            if self.config.seed:
                seed_data.load_demo_data(self)
            for username, password in self.config.users.items():
                if username.lower() not in self.users:
                    self.add_user(username, password)

    # -- clock -----------------------------------------------------------------------------------

    def clock(self) -> float:
        """Simulator time as epoch seconds (real time shifted by advance_clock)."""
        return time.time() + self.clock_offset_s

    def now(self) -> datetime:
        """Simulator time as a naive UTC datetime without microseconds (how the service writes it)."""
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).replace(tzinfo=None, microsecond=0)

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_s += seconds

    # -- users and identities --------------------------------------------------------------------

    def user(self, username: str) -> User:
        try:
            return self.users[username.lower()]
        except KeyError:
            raise KeyError(f"no such user: {username}") from None

    def add_user(self, username: str, password: str, name: str | None = None) -> User:
        with self.lock:
            if username.lower() in self.users:
                raise ValueError(f"user {username} already exists")
            user = User(username=username, password=password, name=name or username.split("@")[0],
                        guid=seed_guid("user", username.lower()), user_id=self._next_user_id)
            self._next_user_id += 1
            self.users[username.lower()] = user
            return user

    def client(self, client_id: int) -> ClientCompany:
        try:
            return self.clients[int(client_id)]
        except KeyError:
            raise KeyError(f"no such client: {client_id}") from None

    def grant(self, username: str, client_id: int, default: bool = False) -> str:
        """Give the user an identity on the client (idempotent); returns the identity id."""
        with self.lock:
            user, client = self.user(username), self.client(client_id)
            identity = next((i for i in user.identities if i.client_id == client.id), None)
            if identity is None:
                identity = Identity(id=seed_guid("identity", user.username.lower(), client.id), client_id=client.id,
                                    contact_id=client.id % 100000 * 10 + len(user.identities) + 1,
                                    employee_id=len(user.identities) + 1)
                user.identities.append(identity)
            identity.disabled = False
            if default:
                for other in user.identities:
                    other.is_default = other is identity
            return identity.id

    def revoke(self, username: str, client_id: int) -> None:
        """Remove the user's identity on the client; sessions using it are left without identity."""
        with self.lock:
            user = self.user(username)
            user.identities = [i for i in user.identities if i.client_id != int(client_id)]

    def set_identity_disabled(self, username: str, client_id: int, disabled: bool = True) -> None:
        with self.lock:
            user = self.user(username)
            for identity in user.identities:
                if identity.client_id == int(client_id):
                    identity.disabled = disabled

    def change_password(self, username: str, new_password: str) -> None:
        """Sets the password and ends every session of the user."""
        with self.lock:
            user = self.user(username)
            user.password = new_password
            for session_id in [s.id for s in self.sessions.values() if s.username == user.username.lower()]:
                del self.sessions[session_id]

    # -- sessions --------------------------------------------------------------------------------

    def record_login(self, username: str) -> int:
        """Records a Login call; returns the number of calls for the username inside the window (incl. this)."""
        with self.lock:
            key = (username or "").lower()
            now = self.clock()
            window = self.login_attempts.setdefault(key, deque())
            while window and window[0] <= now - self.config.login_window_seconds:
                window.popleft()
            window.append(now)
            self.login_totals[key] += 1
            return len(window)

    def create_session(self, user: User, identity_id: str | None) -> Session:
        with self.lock:
            session_id = "".join(secrets.choice(SESSION_ID_ALPHABET) for _ in range(SESSION_ID_LENGTH))
            now = self.clock()
            session = Session(id=session_id, username=user.username.lower(), identity_id=identity_id,
                              created=now, last_used=now)
            self.sessions[session_id] = session
            return session

    def live_session(self, session_id: str | None, touch: bool = True) -> Session | None:
        """The session if it exists and has not idled out (expired ones are dropped); refreshes its idle timer."""
        if not session_id:
            return None
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                return None
            now = self.clock()
            if now - session.last_used >= self.config.session_idle_seconds or session.username not in self.users:
                del self.sessions[session_id]
                return None
            if touch:
                session.last_used = now
            return session

    def drop_session(self, session_id: str | None) -> None:
        with self.lock:
            self.sessions.pop(session_id or "", None)

    def expire_sessions(self, username: str | None = None) -> int:
        with self.lock:
            doomed = [s.id for s in self.sessions.values() if username is None or s.username == username.lower()]
            for session_id in doomed:
                del self.sessions[session_id]
            return len(doomed)

    def current_identity(self, session: Session) -> Identity | None:
        """The session's identity while it is still granted and enabled (revoke/disable take effect at once)."""
        user = self.users.get(session.username)
        identity = user.identity(session.identity_id) if user else None
        return identity if identity is not None and not identity.disabled else None

    def session_list(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock()
            result = []
            for session in list(self.sessions.values()):
                if self.live_session(session.id, touch=False) is None:
                    continue
                identity = self.current_identity(session)
                result.append({
                    "session_id": session.id, "username": self.users[session.username].username,
                    "identity_id": identity.id if identity else None,
                    "client_id": identity.client_id if identity else None,
                    "idle_seconds": now - session.last_used,
                })
            return result

    # -- clients ---------------------------------------------------------------------------------

    def add_client(self, name: str, organization_number: str,
                   accounts: Iterable[Account | tuple] | None = None, *,
                   tax_codes: Iterable[TaxCode] | None = None,
                   transaction_types: Iterable[TransactionType] | None = None,
                   client_id: int | None = None, default_currency: str = "NOK",
                   address: dict[str, str] | None = None,
                   fiscal_years: Iterable[int] | None = None, locked_years: Iterable[int] = (),
                   departments: Iterable[Department | tuple] = (),
                   type_groups: Iterable[TypeGroup | tuple] | None = None,
                   products: Iterable[Product] = ()) -> int:
        """Adds a company. accounts: Account objects or (account_no, name[, tax_no]) tuples; default the
        standard NS 4102 chart of seed.py. fiscal_years default: the previous and the current year.
        departments: Department or (id, name). type_groups: TypeGroup or (account_no, name[, module]); default
        (None) one sales type per sales account (3000-3999) and one purchase type per account whose default
        VAT code is input VAT (seed.default_type_groups). products: Product objects."""
        if not (len(organization_number) == 9 and organization_number.isdigit()):
            raise ValueError("organization_number must be 9 digits")
        with self.lock:
            if client_id is None:
                client_id = max(self.clients, default=self.FIRST_CLIENT_ID - 1) + 1
            if client_id in self.clients:
                raise ValueError(f"client {client_id} already exists")
            client = ClientCompany(
                id=client_id, name=name, organization_number=organization_number,
                default_currency=default_currency, address=dict(address or {}),
                tax_codes=[TaxCode(**vars(t)) for t in (tax_codes or seed_data.tax_codes())],
                transaction_types=[TransactionType(**vars(t))
                                   for t in (transaction_types or seed_data.transaction_types())],
            )
            self.clients[client_id] = client
            for account in (seed_data.standard_accounts() if accounts is None else accounts):
                self._put_account(client, account)
            years = list(fiscal_years) if fiscal_years is not None else [self.config.today.year - 1,
                                                                         self.config.today.year]
            for year in years:
                self._ensure_fiscal_year(client, year).locked = year in set(locked_years)
            for department in departments:
                department = department if isinstance(department, Department) else Department(*department)
                client.departments.append(Department(**vars(department)))
            groups = seed_data.default_type_groups(client) if type_groups is None else type_groups
            for group in groups:
                if isinstance(group, TypeGroup):
                    self._put_type_group(client, group.account_no, group.name, group.module, group.id)
                else:
                    self._put_type_group(client, *group)
            for product in products:
                client.products.append(Product(**vars(product)))
            return client_id

    def _put_account(self, client: ClientCompany, account: Account | tuple) -> Account:
        if not isinstance(account, Account):
            account = Account(*account)
        else:
            account = Account(**vars(account))
        if not -32768 <= account.account_no <= 32767:
            raise ValueError("AccountNo is a short")
        existing = client.accounts.get(account.account_no)
        account.account_id = existing.account_id if existing else (
            client.id % 100000 * 10000 + len(client.accounts) + 1)
        client.accounts[account.account_no] = account
        client.accounts = dict(sorted(client.accounts.items()))
        return account

    def add_account(self, client_id: int, account_no: int, name: str, tax_no: int = 0) -> None:
        with self.lock:
            self._put_account(self.client(client_id), Account(account_no, name, tax_no))

    def remove_account(self, client_id: int, account_no: int) -> None:
        """Drops the account from the chart; its booked entries stay in the ledger."""
        with self.lock:
            client = self.client(client_id)
            if client.accounts.pop(int(account_no), None) is None:
                raise KeyError(f"client {client_id} has no account {account_no}")

    def _ensure_fiscal_year(self, client: ClientCompany, year: int) -> FiscalYear:
        if year not in client.fiscal_years:
            client.fiscal_years[year] = FiscalYear(id=seed_guid("fiscalyear", client.id, year), year=year)
            client.fiscal_years = dict(sorted(client.fiscal_years.items()))
        return client.fiscal_years[year]

    def set_fiscal_year_locked(self, client_id: int, year: int, locked: bool = True) -> None:
        with self.lock:
            self._ensure_fiscal_year(self.client(client_id), year).locked = locked

    def remove_fiscal_year(self, client_id: int, year: int) -> None:
        with self.lock:
            self.client(client_id).fiscal_years.pop(int(year), None)

    # -- departments, type groups, transaction types, products -----------------------------------

    def add_department(self, client_id: int, department_id: int, name: str) -> None:
        with self.lock:
            client = self.client(client_id)
            if client.department(department_id) is not None:
                raise ValueError(f"client {client_id} already has department {department_id}")
            client.departments.append(Department(department_id, name))

    def remove_department(self, client_id: int, department_id: int) -> None:
        with self.lock:
            client = self.client(client_id)
            client.departments = [d for d in client.departments if d.id != department_id]

    def _put_type_group(self, client: ClientCompany, account_no: int, name: str, module: str = "Sale",
                        group_id: int | None = None) -> TypeGroup:
        if module not in ("Sale", "Purchase"):
            raise ValueError("module must be Sale or Purchase")
        client.type_groups = [g for g in client.type_groups if not (g.account_no == account_no
                                                                    and g.module == module)]
        if group_id is None:
            group_id = max((g.id for g in client.type_groups), default=0) + 1
        group = TypeGroup(group_id, name, int(account_no), module)
        client.type_groups.append(group)
        client.type_groups.sort(key=lambda g: g.id)
        return group

    def set_type_group(self, client_id: int, account_no: int, name: str | None = None,
                       module: str = "Sale") -> int:
        """Ties a type group (sales type, or purchase type) to the account, replacing the account's one of that
        module; returns the type group id."""
        with self.lock:
            client = self.client(client_id)
            account = client.accounts.get(int(account_no))
            label = name or (account.name if account else f"Konto {account_no}")
            return self._put_type_group(client, int(account_no), label, module).id

    def remove_type_group(self, client_id: int, account_no: int, module: str = "Sale") -> None:
        with self.lock:
            client = self.client(client_id)
            client.type_groups = [g for g in client.type_groups if not (g.account_no == int(account_no)
                                                                        and g.module == module)]

    def add_transaction_type(self, client_id: int, type_id: int, no: int, title: str,
                             turnover: bool = False) -> None:
        with self.lock:
            client = self.client(client_id)
            if any(t.id == type_id or t.no == no for t in client.transaction_types):
                raise ValueError(f"client {client_id} already has transaction type id {type_id} or no {no}")
            client.transaction_types.append(TransactionType(type_id, no, title, turnover))

    def remove_transaction_type(self, client_id: int, no: int) -> None:
        with self.lock:
            client = self.client(client_id)
            client.transaction_types = [t for t in client.transaction_types if t.no != no]

    def add_product(self, client_id: int, no: str, name: str, price: Decimal | str | int = "0.00",
                    tax_rate: Decimal | str | int = "25", **fields: Any) -> int:
        """Adds a product (ProductService); returns its Id."""
        with self.lock:
            client = self.client(client_id)
            product_id = client.id % 100000 * 1000 + len(client.products) + 1
            while any(p.id == product_id for p in client.products):
                product_id += 1
            client.products.append(Product(product_id, no, name, Decimal(str(price)), Decimal(str(tax_rate)),
                                           date_changed=fields.pop("date_changed", self.now()), **fields))
            return product_id

    def remove_product(self, client_id: int, no: str) -> None:
        with self.lock:
            client = self.client(client_id)
            client.products = [p for p in client.products if p.no.lower() != no.lower()]

    # -- ledger ----------------------------------------------------------------------------------

    def add_voucher(self, client_id: int, voucher_date: date, lines: Iterable[tuple],
                    transaction_type_id: int = 1, registered: datetime | None = None) -> int:
        """Books a voucher; lines are (account_no, amount, comment) with debit positive. Returns TransactionNo.

        Rejects (ValueError) unbalanced vouchers, unknown accounts/transaction types and amounts with
        more than 2 decimals.
        """
        lines = list(lines)
        if not lines:
            raise ValueError("a voucher needs at least one line")
        if isinstance(voucher_date, datetime):
            voucher_date = voucher_date.date()
        parsed = []
        for line in lines:
            account_no, amount, comment = (tuple(line) + ("",))[:3]
            parsed.append((int(account_no), to_money(amount), str(comment or "")))
        total = sum((amount for _, amount, _ in parsed), Decimal("0.00"))
        if total != 0:
            raise ValueError(f"voucher is not balanced: the lines sum to {total}")
        with self.lock:
            client = self.client(client_id)
            missing = sorted({no for no, _, _ in parsed if no not in client.accounts})
            if missing:
                raise ValueError(f"client {client.id} has no account {', '.join(map(str, missing))}")
            if not any(t.id == transaction_type_id for t in client.transaction_types):
                raise ValueError(f"client {client.id} has no transaction type {transaction_type_id}")
            self._ensure_fiscal_year(client, voucher_date.year)
            client.last_transaction_no += 1
            transaction_no = client.last_transaction_no
            registered = registered or self.now()
            for sequence_no, (account_no, amount, comment) in enumerate(parsed, start=1):
                client.entries.append(Entry(
                    id=seed_guid("entry", client.id, transaction_no, sequence_no),
                    date=voucher_date, account_no=account_no, amount=amount, transaction_no=transaction_no,
                    sequence_no=sequence_no, comment=comment, transaction_type_id=transaction_type_id,
                    stamp_no=transaction_no, vat_code=client.accounts[account_no].tax_no,
                    registration_date=registered, date_changed=registered,
                ))
            return transaction_no

    def generate_transactions(self, client_id: int, account_no: int, contra_account_no: int, count: int,
                              start: date, end: date, seed: int = 0,
                              transaction_type_id: int = 1) -> list[int]:
        """``count`` two-line vouchers (account_no vs contra_account_no), dates spread evenly from start
        to end, amounts pseudo-random (deterministic for the seed) with 2 decimals, either sign."""
        if end < start:
            raise ValueError("end before start")
        rng = random.Random(f"generate/{client_id}/{account_no}/{contra_account_no}/{seed}")
        span = (end - start).days
        numbers = []
        with self.lock:
            for i in range(count):
                day = start + timedelta(days=(span * i // (count - 1)) if count > 1 else 0)
                amount = Decimal(rng.randrange(100, 2_500_000)) / 100 * rng.choice((1, 1, 1, -1))
                numbers.append(self.add_voucher(
                    client_id, day, [(account_no, amount, f"Generert bilag {i + 1}"),
                                     (contra_account_no, -amount, f"Generert bilag {i + 1}")],
                    transaction_type_id=transaction_type_id,
                    registered=datetime.combine(day, datetime.min.time()) + timedelta(hours=10)))
        return numbers

    def populate(self, username: str, count: int, seed: int = 0) -> list[int]:
        """Adds ``count`` companies (standard chart, the demo vouchers of the previous and the current month up
        to today), all granted to the user (not as default)."""
        rng = random.Random(f"populate/{seed}")
        with self.lock:
            self.user(username)
            taken_names = {c.name for c in self.clients.values()}
            taken_orgs = {c.organization_number for c in self.clients.values()}
            ids = []
            for _ in range(count):
                name = seed_data.company_name(rng, taken_names)
                org = seed_data.organization_number(rng, taken_orgs)
                taken_names.add(name)
                taken_orgs.add(org)
                client_id = self.add_client(name, org, address=seed_data.address(rng))
                today = self.config.today
                last_month = today.replace(day=1) - timedelta(days=1)
                for year, month in ((last_month.year, last_month.month), (today.year, today.month)):
                    seed_data.book_demo_month(self, self.client(client_id), year, month, today,
                                              rng_key=f"{name}/{seed}")
                self.grant(username, client_id)
                ids.append(client_id)
            return ids

    # -- booking: posting, voucher reception ----------------------------------------------------------
    # The SOAP side (SaveBundleList: reading, validation, result) is booking.py; these are the state changes
    # and the views the test helpers and /_sim endpoints give. Callers of the underscore methods hold the lock.

    def _post_lines(self, client: ClientCompany, lines: list[BookingLine], transaction_type_id: int,
                    transaction_no: int = 0, origin: str = "SaveBundleList") -> int:
        """Books validated lines as one ledger voucher; returns its TransactionNo. A TransactionNo > 0 is used
        as sent (lines join whatever is already booked under it); 0 takes the next number of the series."""
        now = self.now()
        if transaction_no > 0:
            number = transaction_no
            client.last_transaction_no = max(client.last_transaction_no, number)
        else:
            client.last_transaction_no += 1
            number = client.last_transaction_no
        sequence_no = max((e.sequence_no for e in client.entries if e.transaction_no == number), default=0)
        for line in lines:
            sequence_no += 1
            account = client.accounts[line.account_no]
            tax = client.tax_code(line.tax_no) if line.tax_no else None
            client.entries.append(Entry(
                id=seed_guid("entry", client.id, number, sequence_no), date=line.date, account_no=line.account_no,
                amount=line.amount, transaction_no=number, sequence_no=sequence_no, comment=line.comment,
                transaction_type_id=transaction_type_id, stamp_no=line.stamp_no,
                vat_code=int(tax.tax_no) if tax else account.tax_no, registration_date=now, date_changed=now,
                currency=client.default_currency, department_id=line.department_id, project_id=line.project_id,
                customer_id=line.customer_id, origin=origin,
            ))
        stamps = {line.stamp_no for line in lines} - {0}
        for file in client.files.values():
            if file.saved is not None and file.stamp_no in stamps:
                file.changed = now
        return number

    def _add_draft(self, client: ClientCompany, **fields: Any) -> Draft:
        draft = Draft(id=self._next_draft_id, created=self.now(), **fields)
        self._next_draft_id += 1
        client.drafts[draft.id] = draft
        return draft

    def approve_draft(self, client_id: int, draft_id: int) -> int:
        """Approves a voucher in voucher reception, as a bookkeeper does in 24SevenOffice: it is checked again
        as a posting (balance always required, accounts, VAT codes, type groups, departments, transaction
        type, an open fiscal year) and moved into the ledger; returns its TransactionNo (the number it was
        sent with, else the next one). KeyError if there is no such draft, DraftRefused with the reasons."""
        from .booking import check_draft   # booking imports this module
        with self.lock:
            client = self.client(client_id)
            draft = client.drafts.get(int(draft_id))
            if draft is None:
                raise KeyError(f"client {client_id} has no draft {draft_id} in voucher reception")
            problems = check_draft(client, draft, self.config.comment_max_length)
            if problems:
                raise DraftRefused(problems)
            ttype = client.transaction_type_by_no(draft.sort)
            number = self._post_lines(client, draft.lines, ttype.id, draft.transaction_no, "voucher reception")
            del client.drafts[draft.id]
            return number

    def delete_draft(self, client_id: int, draft_id: int) -> None:
        """Deletes a voucher from voucher reception (a bookkeeper discarding it). KeyError if there is none."""
        with self.lock:
            client = self.client(client_id)
            if client.drafts.pop(int(draft_id), None) is None:
                raise KeyError(f"client {client_id} has no draft {draft_id} in voucher reception")

    @staticmethod
    def _line_dict(line: BookingLine | Entry) -> dict[str, Any]:
        return {"account_no": line.account_no, "date": line.date, "amount": line.amount,
                "tax_no": line.tax_no if isinstance(line, BookingLine) else str(line.vat_code),
                "department_id": line.department_id, "project_id": line.project_id,
                "customer_id": line.customer_id, "comment": line.comment, "stamp_no": line.stamp_no}

    def _files_with_stamps(self, client: ClientCompany, stamps: set[int]) -> list[int]:
        return sorted(f.id for f in client.files.values() if f.saved is not None and f.stamp_no in stamps)

    def _draft_dict(self, client: ClientCompany, draft: Draft) -> dict[str, Any]:
        total = sum((line.amount for line in draft.lines), Decimal("0.00"))
        stamps = {line.stamp_no for line in draft.lines} - {0}
        ttype = client.transaction_type_by_no(draft.sort)
        return {
            "draft_id": draft.id, "client_id": client.id, "created": draft.created,
            "bundle_name": draft.bundle_name, "year_id": draft.year, "sort": draft.sort,
            "transaction_type_id": ttype.id if ttype else None, "transaction_no": draft.transaction_no,
            "allow_difference": draft.allow_difference, "direct_ledger": draft.direct_ledger,
            "bundle_direct_accounting": draft.bundle_direct_accounting,
            "balanced": total == 0, "difference": total,
            "comments": sorted({line.comment for line in draft.lines if line.comment}),
            "stamp_nos": sorted(stamps), "files": self._files_with_stamps(client, stamps),
            "lines": [self._line_dict(line) for line in draft.lines],
        }

    def voucher_reception(self, client_id: int) -> list[dict[str, Any]]:
        """The company's drafts in voucher reception, oldest first (see _draft_dict for the keys)."""
        with self.lock:
            client = self.client(client_id)
            return [self._draft_dict(client, d) for d in sorted(client.drafts.values(), key=lambda d: d.id)]

    def vouchers(self, client_id: int, text: str | None = None) -> list[dict[str, Any]]:
        """The company's ledger vouchers (entries grouped by TransactionNo), by number; with ``text`` only those
        with a line whose comment contains it (case-sensitive), e.g. the hub's reference "[LB-...]"."""
        with self.lock:
            client = self.client(client_id)
            grouped: dict[int, list[Entry]] = {}
            for entry in client.entries:
                grouped.setdefault(entry.transaction_no, []).append(entry)
            result = []
            for number in sorted(grouped):
                entries = sorted(grouped[number], key=lambda e: e.sequence_no)
                if text is not None and not any(text in e.comment for e in entries):
                    continue
                stamps = {e.stamp_no for e in entries} - {0}
                result.append({
                    "transaction_no": number, "date": min(e.date for e in entries),
                    "transaction_type_ids": sorted({e.transaction_type_id for e in entries}),
                    "origin": entries[-1].origin, "registered": max(e.registration_date for e in entries),
                    "comments": sorted({e.comment for e in entries if e.comment}),
                    "department_ids": sorted({e.department_id for e in entries} - {0}),
                    "stamp_nos": sorted(stamps), "files": self._files_with_stamps(client, stamps),
                    "balance": sum((e.amount for e in entries), Decimal("0.00")),
                    "lines": [self._line_dict(e) for e in entries],
                })
            return result

    def find_bookings(self, client_id: int, text: str) -> dict[str, list[dict[str, Any]]]:
        """Where a reference (e.g. "[LB-...]") is found: ledger vouchers whose line comments contain it and
        voucher reception drafts whose line comments or bundle name contain it."""
        with self.lock:
            drafts = [d for d in self.voucher_reception(client_id)
                      if text in d["bundle_name"] or any(text in c for c in d["comments"])]
            return {"ledger": self.vouchers(client_id, text), "voucher_reception": drafts}

    # -- booking: attachments (AttachmentService) -------------------------------------------------

    def _file(self, client: ClientCompany, file_id: int | None) -> AttachmentFile:
        file = client.files.get(file_id) if file_id is not None else None
        if file is None:
            raise AttachmentError(f"The file {file_id} does not exist.")
        return file

    def _create_file(self, client: ClientCompany, image_type: str) -> AttachmentFile:
        now = self.now()
        file = AttachmentFile(id=self._next_file_id, type=image_type, created=now, changed=now)
        self._next_file_id += 1
        client.files[file.id] = file
        return file

    def _append_chunk(self, client: ClientCompany, file_id: int | None, data: bytes, offset: int) -> None:
        file = self._file(client, file_id)
        if file.saved is not None:
            raise AttachmentError(f"The file {file.id} is saved; no more chunks can be appended.")
        if offset != len(file.data):
            raise AttachmentError(f"Invalid offset {offset}: the file {file.id} has {len(file.data)} bytes; "
                                  f"the next chunk must start at offset {len(file.data)}.")
        file.data.extend(data)
        file.changed = self.now()

    def _next_stamp_no(self, client: ClientCompany) -> int:
        return max(client.used_stamp_nos(), default=0) + 1

    def _save_file(self, client: ClientCompany, file_id: int | None, location: str, stamp_no: int,
                   metadata: list[tuple[str, str]]) -> AttachmentFile:
        file = self._file(client, file_id)
        if location not in ("Retrieval", "Journal"):
            raise AttachmentError(f"Location {location} is not implemented; use Retrieval or Journal.")
        if file.saved is not None:
            if (stamp_no in (0, file.stamp_no)) and location == file.location:
                return file      # the same Save again (e.g. repeated after a timeout): nothing changes
            raise AttachmentError(f"The file {file.id} is already saved with stamp number {file.stamp_no} "
                                  f"in {file.location}.")
        if not file.data:
            raise AttachmentError(f"The file {file.id} is empty: append its content with AppendChunk first.")
        now = self.now()
        file.stamp_no = stamp_no if stamp_no > 0 else self._next_stamp_no(client)
        file.location, file.saved, file.changed, file.metadata = location, now, now, list(metadata)
        return file

    def file_flags(self, client: ClientCompany, file: AttachmentFile) -> list[str]:
        """FlagType values of a saved file (our reading; see app.py, "AttachmentService"): PostedInJournal once
        a ledger voucher carries its stamp number, else PrepostedInJournal if saved to Journal, else None.
        Drafts in voucher reception do not change a file's flags."""
        if any(e.stamp_no == file.stamp_no for e in client.entries):
            return ["PostedInJournal"]
        if file.location == "Journal":
            return ["PrepostedInJournal"]
        return ["None"]

    def _file_dict(self, client: ClientCompany, file: AttachmentFile) -> dict[str, Any]:
        saved = file.saved is not None
        return {
            "file_id": file.id, "client_id": client.id, "type": file.type, "size": len(file.data),
            "md5": hashlib.md5(bytes(file.data)).hexdigest(), "created": file.created, "saved": file.saved,
            "location": file.location, "stamp_no": file.stamp_no if saved else None,
            "flags": self.file_flags(client, file) if saved else [],
            "vouchers": sorted({e.transaction_no for e in client.entries if saved and e.stamp_no == file.stamp_no}),
            "drafts": sorted(d.id for d in client.drafts.values()
                             if saved and any(line.stamp_no == file.stamp_no for line in d.lines)),
            "metadata": dict(file.metadata),
        }

    def attachments(self, client_id: int) -> list[dict[str, Any]]:
        """Every file of the company (saved ones and unsaved "ghosts" from Create/AppendChunk), by id."""
        with self.lock:
            client = self.client(client_id)
            return [self._file_dict(client, f) for f in sorted(client.files.values(), key=lambda f: f.id)]

    def orphan_attachments(self, client_id: int) -> list[dict[str, Any]]:
        """Saved files whose stamp number no ledger voucher and no voucher reception draft carries."""
        return [f for f in self.attachments(client_id) if f["saved"] and not f["vouchers"] and not f["drafts"]]

    def voucher_files(self, client_id: int) -> dict[int, list[int]]:
        """TransactionNo -> ids of the saved files tied to that ledger voucher by stamp number (vouchers with
        files only)."""
        return {v["transaction_no"]: v["files"] for v in self.vouchers(client_id) if v["files"]}

    def file_content(self, client_id: int, file_id: int) -> bytes:
        with self.lock:
            return bytes(self._file(self.client(client_id), file_id).data)

    # -- faults and counters ---------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, operation: str) -> Fault | None:
        """The first queued fault matching the operation, consuming one of its firings."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(operation):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
            return None


__all__ = [
    "Account", "AttachmentError", "AttachmentFile", "BookingLine", "ClientCompany", "Department", "Draft",
    "DraftRefused", "Entry", "Fault", "FiscalYear", "Identity", "Product", "Session", "SimulatorState", "TaxCode",
    "TransactionType", "TypeGroup", "User", "seed_guid", "to_money",
]
