"""In-memory state of the 24SevenOffice simulator: users, identities, clients (companies), ledgers, sessions.

Every mutation happens under ``SimulatorState.lock`` (the werkzeug server is threaded); the SOAP handlers
hold the lock for their whole read-validate-write step. Tests may read the state directly (take the lock
while the server runs) and change it through the helper methods, which lock for themselves.
"""

from __future__ import annotations

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
    id: int
    no: int
    title: str
    turnover: bool = False


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

    def tax_code(self, tax_no: int) -> TaxCode | None:
        return next((t for t in self.tax_codes if t.tax_no == str(tax_no)), None)


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
    done), "http_status" (plain HTTP ``status`` with an IIS-style HTML body), "latency" (sleep ``delay_s``,
    then answer normally), "timeout_after" (do the work, then sleep ``delay_s`` before answering),
    "session_expired" (drop the caller's session just before handling, so the call faults
    "Not authenticated"). ``operation`` is the SOAP operation name (e.g. "GetTransactions"); None = any.
    """

    kind: str
    operation: str | None = None
    times: int | None = 1
    status: int = 500
    message: str = "Server was unable to process request. ---> Injected fault"
    delay_s: float = 0.0
    faultcode: str = "soap:Server"

    KINDS = ("soap_fault", "http_status", "latency", "timeout_after", "session_expired")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {self.KINDS}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None (forever)")

    def matches(self, operation: str) -> bool:
        return self.operation is None or self.operation.lower() == operation.lower()


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
                   fiscal_years: Iterable[int] | None = None, locked_years: Iterable[int] = ()) -> int:
        """Adds a company. accounts: Account objects or (account_no, name[, tax_no]) tuples; default the
        standard NS 4102 chart of seed.py. fiscal_years default: the previous and the current year."""
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
    "Account", "ClientCompany", "Entry", "Fault", "FiscalYear", "Identity", "Session", "SimulatorState",
    "TaxCode", "TransactionType", "User", "seed_guid", "to_money",
]
