"""24SevenOffice connector pieces on their own: how SOAP faults are classified, how a period's
entries are read (one search over the accounts and the period, answers handed on in bounded chunks),
how rows are read straight from lxml (and agree with zeep), and how the vendor session is shared per
credential and renewed (``SessionSource`` against moto's Secrets Manager and the DynamoDB lease table)."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from zeep.exceptions import Fault

from ledgerbridge.connectors.base import CompanyRef, LedgerEntry
from ledgerbridge.connectors.twentyfourseven.connector import (
    CHUNK_ENTRIES,
    MAX_BUFFERED_ENTRIES,
    CompanyUnit,
    _entry,
    search_windows,
)
from ledgerbridge.connectors.twentyfourseven.soap import NoIdentitySelected, SessionExpired, classify_fault
from ledgerbridge.errors import CredentialRejected, NotConnected, PermanentVendorError, TransientVendorError
from simulators.twentyfourseven.app import INVALID_APPLICATION, NO_IDENTITY, NOT_AUTHENTICATED, TOO_MANY_LOGINS

# --- classify_fault ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("message, code, kind", [
    # What the service says for a session it no longer knows: log in again and repeat.
    (NOT_AUTHENTICATED, "soap:Client", SessionExpired),
    ("Your session has expired", "soap:Server", SessionExpired),
    ("NOT AUTHENTICATED", "soap:Client", SessionExpired),
    # Access to the client went while its identity was selected.
    (NO_IDENTITY, "soap:Client", NoIdentitySelected),
    # The integration user refused.
    ("Wrong username or password", "soap:Client", CredentialRejected),
    ("The password has expired; the user must change it", "soap:Client", CredentialRejected),
    # Our own request is wrong: retrying cannot help.
    ("Server did not recognize the value of HTTP Header SOAPAction: X.", "soap:Client", PermanentVendorError),
    ("System.Web.Services.Protocols.SoapException: bad value", "soap:Client", PermanentVendorError),
    # An exception inside the service: worth retrying through SQS.
    ("Server was unable to process request. ---> Injected fault", "soap:Server", TransientVendorError),
    ("", None, TransientVendorError),
])
def test_faults_become_the_error_the_worker_acts_on(message, code, kind):
    error = classify_fault(Fault(message, code=code), login_retry_after=60)
    assert type(error) is kind, (message, type(error))
    assert error.vendor_code == str(code or "")
    assert (message or "").strip() in error.message


def test_a_throttled_login_is_transient_with_the_login_retry_delay_never_a_refused_password():
    error = classify_fault(Fault(TOO_MANY_LOGINS, code="soap:Client"), login_retry_after=75)
    assert type(error) is TransientVendorError and error.retry_after == 75
    assert not isinstance(error, (SessionExpired, CredentialRejected))
    # Even when the text speaks of the password, a throttle stays a throttle.
    error = classify_fault(Fault("Too many login attempts with a wrong password", code="soap:Client"), 60)
    assert type(error) is TransientVendorError and error.retry_after == 60


def test_a_refused_application_id_is_the_hubs_problem_not_the_users_credential():
    error = classify_fault(Fault(INVALID_APPLICATION, code="soap:Client"), 60)
    assert isinstance(error, PermanentVendorError) and not isinstance(error, CredentialRejected)
    assert "LB_APPLICATION_IDS" in error.message
    error = classify_fault(Fault("Invalid ApplicationId for this username", code="soap:Client"), 60)
    assert not isinstance(error, CredentialRejected)


def test_session_and_identity_errors_keep_their_families():
    assert issubclass(SessionExpired, TransientVendorError)  # the worker retries if renewing fails
    assert issubclass(NoIdentitySelected, PermanentVendorError)
    assert not issubclass(NoIdentitySelected, CredentialRejected)


# --- reading a period: one search over accounts and dates, answers streamed in bounded chunks -------------

@dataclass
class FakeTransactions:
    """GetTransactions over a list of (account, date, amount) entries with the search semantics of
    TransactionSearchParameters (account range, date range), answered row by row (as the streamed
    answer is parsed); records each call's account range and window and its size."""

    entries: list[tuple[int, date, Decimal]]
    honour_dates: bool = True
    honour_accounts: bool = True
    calls: list[tuple[int, int, date, date, int]] = field(default_factory=list)

    def stream(self, service: str, operation: str, row_type: str, *, session_id: str | None = None,
               **arguments: Any):
        assert (service, operation, row_type) == ("transaction", "GetTransactions", "Transaction")
        assert session_id == "session-1"
        search = arguments["searchParams"]
        start, end = search["DateStart"].date(), search["DateEnd"].date()
        low, high = search["AccountNoStart"], search["AccountNoEnd"]
        rows = [(number, account, day, amount) for number, (account, day, amount) in enumerate(self.entries, start=1)
                if (not self.honour_dates or start <= day <= end)
                and (not self.honour_accounts or low <= account <= high)]
        self.calls.append((low, high, start, end, len(rows)))

        def answer():
            for number, account, day, amount in rows:
                yield {"Date": datetime.combine(day, datetime.min.time()), "AccountNo": account, "Amount": amount,
                       "TransactionNo": number, "Comment": f"bilag {number}", "TransactionTypeId": 4}

        return answer()

    @property
    def windows(self) -> list[tuple[date, date]]:
        return [(start, end) for _, _, start, end, _ in self.calls]


class FakeSessions:
    def __init__(self):
        self.worked_with: list[str] = []

    def session_id(self, *, rejected: str | None = None) -> str:
        assert rejected is None
        return "session-1"

    def worked(self, session_id: str) -> None:
        self.worked_with.append(session_id)


class Sink:
    def __init__(self):
        self.chunks: list[tuple[str, list[LedgerEntry]]] = []

    def write(self, account: str, entries: list[LedgerEntry]) -> None:
        assert entries and all(e.account == account for e in entries)
        self.chunks.append((account, list(entries)))

    def entries(self, account: str = "1920") -> list[LedgerEntry]:
        return [e for a, chunk in self.chunks if a == account for e in chunk]


OPENING = Decimal("100.00")


def read(vendor: FakeTransactions, period_from: date, as_of: date, accounts: tuple[str, ...] = ("1920",),
         opening: Decimal = OPENING):
    connector = SimpleNamespace(soap=vendor, sessions=FakeSessions(), session_lease_id="session#test")
    unit = CompanyUnit(connector, CompanyRef(company_id="1", identity_id="identity-1", name="Test AS"),
                       owner="me", lease_until=time.time() + 3600)  # far from renewal: no DynamoDB needed
    sink = Sink()
    balances = unit.read_accounts(list(accounts), {a: opening for a in accounts}, period_from, as_of, sink)
    return {b.account: b for b in balances}, sink


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def assert_read_exactly(vendor: FakeTransactions, balances, sink: Sink, period_from: date, as_of: date,
                        opening: Decimal = OPENING) -> None:
    """Windows tile the period without gap or overlap; every entry of a chosen account in it counted
    once, in the vendor's order, under its own account."""
    windows = vendor.windows
    assert windows[0][0] == period_from and windows[-1][1] == as_of
    for (_, end), (next_start, _) in zip(windows, windows[1:], strict=False):
        assert next_start == end + timedelta(days=1)
    assert all(start <= end for start, end in windows)
    for account, balance in balances.items():
        wanted = [(day, amount) for number, day, amount in vendor.entries
                  if str(number) == account and period_from <= day <= as_of]
        assert [(e.entry_date, e.amount) for e in sink.entries(account)] == sorted(wanted, key=lambda x: x[0])
        movement = sum((amount for _, amount in wanted), Decimal("0"))
        assert (balance.account, balance.entries, balance.movement) == (account, len(wanted), movement)
        assert balance.opening == opening and balance.closing == opening + movement


def test_a_dense_month_is_one_call_handed_on_in_bounded_chunks():
    period_from, as_of = date(2025, 3, 1), date(2025, 3, 31)
    vendor = FakeTransactions([(1920, day, Decimal(i % 7 - 3) + Decimal("0.25"))
                               for day in days(period_from, as_of) for i in range(200)])
    balances, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert vendor.windows == [(period_from, as_of)]
    assert max(len(chunk) for _, chunk in sink.chunks) == CHUNK_ENTRIES, "memory bounded by the chunk, not the answer"
    assert len(sink.chunks) == -(-6200 // CHUNK_ENTRIES)


def test_all_accounts_and_the_whole_period_are_one_search_the_rows_between_dropped():
    """TransactionSearchParameters takes an account range and a date range: a refresh of three
    accounts over three months is one call, not nine; accounts in the range that were not chosen
    (1930, 2400) are dropped as they are read, never counted."""
    period_from, as_of = date(2025, 1, 10), date(2025, 3, 20)
    entries = [(account, day, Decimal(account % 7) + Decimal("0.10"))
               for day in days(date(2025, 1, 1), date(2025, 3, 31)) for account in (1500, 1920, 1930, 2400, 2740)]
    vendor = FakeTransactions(entries)
    balances, sink = read(vendor, period_from, as_of, accounts=("1920", "1500", "2740"))
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert [(low, high) for low, high, *_ in vendor.calls] == [(1500, 2740)]
    assert vendor.windows == [(period_from, as_of)]
    assert sorted(balances) == ["1500", "1920", "2740"] and balances["1920"].entries == 70
    assert {a for a, _ in sink.chunks} == {"1500", "1920", "2740"}


def test_many_busy_accounts_in_one_search_keep_memory_bounded():
    """Each account's chunk is handed on when full, and all accounts together never hold more than
    MAX_BUFFERED_ENTRIES, however many accounts one search covers."""
    period_from, as_of = date(2025, 3, 1), date(2025, 3, 31)
    accounts = tuple(str(1900 + n) for n in range(12))
    entries = [(int(account), day, Decimal("1.00")) for day in days(period_from, as_of) for _ in range(20)
               for account in accounts]
    held = []

    class Watching(Sink):
        def write(self, account, chunk):
            super().write(account, chunk)
            held.append(len(chunk))

    vendor = FakeTransactions(entries)
    connector = SimpleNamespace(soap=vendor, sessions=FakeSessions(), session_lease_id="session#test")
    unit = CompanyUnit(connector, CompanyRef(company_id="1", identity_id="identity-1", name="Test AS"),
                       owner="me", lease_until=time.time() + 3600)
    sink = Watching()
    balances = {b.account: b for b in unit.read_accounts(list(accounts), {a: OPENING for a in accounts},
                                                         period_from, as_of, sink)}
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert len(vendor.calls) == 1
    assert max(held) <= CHUNK_ENTRIES and sum(held) == len(entries)
    assert len(sink.chunks) <= -(-len(entries) // (MAX_BUFFERED_ENTRIES // len(accounts))) + len(accounts)


def test_a_year_is_one_search_and_a_longer_period_is_cut_into_windows_from_any_day_to_any_day():
    period_from, as_of = date(2024, 1, 15), date(2025, 1, 15)  # the longest period the API takes
    vendor = FakeTransactions([(1920, day, Decimal("10.00"))
                               for day in days(date(2024, 1, 1), date(2025, 12, 31))[::3]])
    balances, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert vendor.windows == [(period_from, as_of)]

    vendor.calls.clear()
    period_from, as_of = date(2024, 1, 15), date(2025, 12, 3)
    balances, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert vendor.windows == [(date(2024, 1, 15), date(2025, 1, 31)), (date(2025, 2, 1), date(2025, 12, 3))]


def test_search_windows_cross_leap_days_and_year_ends():
    assert list(search_windows(date(2024, 2, 10), date(2024, 3, 1), months=1)) == [
        (date(2024, 2, 10), date(2024, 2, 29)), (date(2024, 3, 1), date(2024, 3, 1))]
    assert list(search_windows(date(2025, 12, 31), date(2026, 1, 1), months=1)) == [
        (date(2025, 12, 31), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 1, 1))]
    assert list(search_windows(date(2025, 5, 2), date(2025, 5, 1))) == []
    assert list(search_windows(date(2023, 12, 5), date(2025, 11, 30), months=12)) == [
        (date(2023, 12, 5), date(2024, 11, 30)), (date(2024, 12, 1), date(2025, 11, 30))]
    assert list(search_windows(date(2024, 12, 31), date(2025, 12, 31))) == [(date(2024, 12, 31), date(2025, 12, 31))]


def test_an_empty_period_and_a_single_day():
    period_from, as_of = date(2025, 5, 1), date(2025, 6, 30)
    vendor = FakeTransactions([(1920, date(2025, 4, 30), Decimal("5.00")), (1920, date(2025, 7, 1), Decimal("6.00"))])
    balances, sink = read(vendor, period_from, as_of, opening=Decimal("-3.50"))
    assert_read_exactly(vendor, balances, sink, period_from, as_of, opening=Decimal("-3.50"))
    balance = balances["1920"]
    assert sink.chunks == [] and balance.entries == 0 and balance.closing == Decimal("-3.50")
    assert vendor.windows == [(date(2025, 5, 1), date(2025, 6, 30))]

    day = date(2025, 7, 1)
    vendor = FakeTransactions([(1920, day, Decimal("6.00")), (1920, day, Decimal("-1.00")),
                               (1920, date(2025, 7, 2), Decimal("9"))])
    balances, sink = read(vendor, day, day)
    assert vendor.windows == [(day, day)]
    assert balances["1920"].entries == 2 and balances["1920"].movement == Decimal("5.00")


def test_entries_the_vendor_returns_outside_the_window_or_the_accounts_are_never_counted():
    period_from, as_of = date(2025, 3, 1), date(2025, 4, 30)
    vendor = FakeTransactions([(account, day, Decimal("1.50")) for day in days(date(2025, 2, 20), date(2025, 5, 10))
                               for account in (1920, 1921, 3000)], honour_dates=False, honour_accounts=False)
    balances, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balances, sink, period_from, as_of)
    assert balances["1920"].entries == 61 and balances["1920"].movement == Decimal("91.50")


def test_a_transaction_row_becomes_a_ledger_entry_with_the_vendors_empty_markers_dropped():
    row = {"Date": datetime(2025, 3, 4), "Amount": Decimal("-12.50"), "TransactionNo": 17, "Comment": "Husleie",
           "TransactionTypeId": 4}
    entry = _entry("1920", row)
    assert entry == LedgerEntry(account="1920", entry_date=date(2025, 3, 4), amount=Decimal("-12.50"),
                                voucher_number="17", text="Husleie", transaction_type="4")
    empty = _entry("1920", {"Date": datetime(2025, 3, 4), "Amount": None, "TransactionNo": -2147483648,
                            "Comment": None, "TransactionTypeId": -2147483648})
    assert (empty.amount, empty.voucher_number, empty.text, empty.transaction_type) == (Decimal("0"), None, "", None)


# --- SessionSource -----------------------------------------------------------------------------------------

USER, PASSWORD = "integration@regnskap.example", "integration-password"


class FakeVendor:
    """Login / HasSession of a vendor, remembering who asked what and whether the lease was held."""

    def __init__(self, lease_id: str):
        self.lease_id = lease_id  # the credential's login lease
        self.password = PASSWORD
        self.live: set[str] = set()
        self.logins: list[tuple[str, str]] = []
        self.checked: list[str] = []
        self.lease_held_at_login: list[bool] = []
        self.on_check = None  # hook: called with the session id before answering HasSession

    def lease_free(self) -> bool:
        from ledgerbridge.repositories import leases

        if leases.try_acquire(self.lease_id, "probe", 5):
            leases.release(self.lease_id, "probe")
            return True
        return False

    def login(self, username: str, password: str) -> str:
        self.logins.append((username, password))
        self.lease_held_at_login.append(not self.lease_free())
        if password != self.password:
            raise CredentialRejected("24SevenOffice refused the integration user's e-mail or password")
        session = f"session-{len(self.logins)}"
        self.live.add(session)
        return session

    def has_session(self, session_id: str) -> bool:
        self.checked.append(session_id)
        if self.on_check:
            self.on_check(session_id)
        return session_id in self.live


@pytest.fixture(scope="module")
def moto():
    """moto's Secrets Manager and the template's tables, once for this module (each test has its own
    connection): SessionSource needs no more, and this keeps the module fast."""
    import boto3
    from moto import mock_aws

    from devstack import aws_resources, reset_process_caches

    with pytest.MonkeyPatch.context() as patch:
        for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_REGION": "eu-north-1",
                           "AWS_DEFAULT_REGION": "eu-north-1", "LB_STAGE": "test",
                           # a lease left behind would show as LeaseBusy, fast
                           "LB_TOKEN_LEASE_WAIT_SECONDS": "3"}.items():
            patch.setenv(key, value)
        patch.delenv("LB_AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            session = boto3.session.Session(region_name="eu-north-1")
            for key, value in aws_resources.create_all(session, None, prefix="test").items():
                patch.setenv(key, value)
            reset_process_caches()
            yield session
    reset_process_caches()


@pytest.fixture
def creds(moto):
    """A connection with a stored integration user (a password unique to the test, so its session
    is the test's own), a fake vendor, and a factory of SessionSources."""
    from ledgerbridge.credentials import SessionSource, store_password

    # Sessions are stored per credential and moto lives for the whole module: a password of the
    # test's own keeps another test's stored session out of it.
    global PASSWORD
    PASSWORD = f"integration-password-{uuid.uuid4().hex[:8]}"
    tenant_id, connection_id = "tenant-a", f"con_{uuid.uuid4().hex[:12]}"
    store_password(tenant_id, connection_id, USER, PASSWORD)
    SessionSource.forget_all()
    vendor = FakeVendor(lease_id="")

    def source(version: int = 1, trust_seconds: float = 300, connection: str = connection_id,
               tenant: str = tenant_id) -> SessionSource:
        return SessionSource(tenant, connection, version, login=vendor.login, has_session=vendor.has_session,
                             trust_seconds=trust_seconds)

    vendor.lease_id = source().login_lease_id()
    yield SimpleNamespace(tenant_id=tenant_id, connection_id=connection_id, vendor=vendor, source=source,
                          stored=lambda of=None: _stored_session(of or source()),
                          credential=lambda: _read_secret(tenant_id, connection_id))
    SessionSource.forget_all()


def _read_secret(tenant_id: str, connection_id: str) -> dict:
    from ledgerbridge.credentials import _read, connection_secret_name

    return _read(connection_secret_name(tenant_id, connection_id))


def _stored_session(source) -> dict | None:
    """The credential's session secret (None before the first login)."""
    from ledgerbridge.credentials import _read

    return _read(source.session_secret_name)


def new_container() -> None:
    from ledgerbridge.credentials import SessionSource

    SessionSource.forget_all()


def test_the_first_session_comes_from_one_login_under_the_lease_and_is_stored(creds):
    source = creds.source()
    assert source.session_id() == "session-1"
    assert creds.vendor.logins == [(USER, PASSWORD)] and source.logins == 1
    assert creds.vendor.lease_held_at_login == [True], "logged in under the credential lease"
    assert creds.vendor.lease_free(), "and the lease released afterwards"
    stored = creds.stored()
    assert stored["session_id"] == "session-1" and stored["obtained_at"] and stored["kind"] == "session"
    assert "password" not in stored and "username" not in stored, "the session secret holds the session only"
    credential = creds.credential()
    assert (credential["kind"], credential["username"], credential["password"]) == ("password", USER, PASSWORD)
    assert "session_id" not in credential, "the connection's secret holds the integration user only"
    assert source.username() == USER
    # Stored under the credential's fingerprint, in a prefix of its own; no trace of the user in the names.
    assert source.session_secret_name == f"ledgerbridge/test/sessions/24sevenoffice/{source.fingerprint()}"
    for name in (source.session_secret_name, source.session_lease_id(), source.login_lease_id()):
        assert PASSWORD not in name and USER not in name and "integration" not in name


def test_a_session_that_worked_recently_is_used_without_asking_the_vendor(creds, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    source = creds.source(trust_seconds=300)
    session = source.session_id()
    clock[0] += 299
    assert source.session_id() == session
    assert creds.source().session_id() == session, "the trust is shared by the whole container"
    assert creds.vendor.checked == [] and len(creds.vendor.logins) == 1

    source.worked(session)  # a call just succeeded with it
    clock[0] += 299
    assert source.session_id() == session and creds.vendor.checked == []
    clock[0] += 2  # past the trust window: asked, not renewed
    assert source.session_id() == session
    assert creds.vendor.checked == [session] and len(creds.vendor.logins) == 1


def test_a_new_container_reuses_the_stored_session_while_the_vendor_knows_it(creds):
    session = creds.source().session_id()
    new_container()
    assert creds.source().session_id() == session
    assert creds.vendor.checked == [session] and len(creds.vendor.logins) == 1

    creds.vendor.live.clear()  # the vendor ended it (idle timeout, password change, restart)
    new_container()
    renewed = creds.source().session_id()
    assert renewed != session and len(creds.vendor.logins) == 2
    assert creds.stored()["session_id"] == renewed


def test_a_rejected_session_is_never_handed_out_again(creds):
    source = creds.source()
    first = source.session_id()
    # The vendor refused a call with it, even if HasSession would still say yes.
    second = source.session_id(rejected=first)
    assert second != first and len(creds.vendor.logins) == 2
    assert first not in creds.vendor.checked, "a rejected session is not even asked about"
    assert creds.stored()["session_id"] == second
    assert source.session_id() == second
    # Another container that saw the first session refused gets the stored second one, without a login.
    new_container()
    assert creds.source().session_id(rejected=first) == second
    assert len(creds.vendor.logins) == 2


def test_a_session_stored_by_another_container_meanwhile_is_used_instead_of_logging_in(creds):
    from ledgerbridge.credentials import VendorSession, write_secret

    creds.source().session_id()
    creds.vendor.live.clear()
    new_container()

    def another_container_logs_in(session_id: str) -> None:
        if session_id == "session-1":  # while we found ours dead, another container logged in and stored its own
            creds.vendor.live.add("theirs")
            write_secret(creds.source().session_secret_name, VendorSession(session_id="theirs").dump_secret())

    creds.vendor.on_check = another_container_logs_in
    assert creds.source().session_id() == "theirs"
    assert len(creds.vendor.logins) == 1 and creds.vendor.checked == ["session-1", "theirs"]


def test_two_workers_needing_a_new_session_at_once_log_in_once(creds):
    creds.source().session_id()
    creds.vendor.live.clear()
    new_container()
    both_saw_it_dead = threading.Barrier(2, timeout=10)

    def meet(session_id: str) -> None:
        if session_id == "session-1":
            both_saw_it_dead.wait()

    creds.vendor.on_check = meet
    got: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            got.append(creds.source().session_id())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert got == ["session-2", "session-2"]
    assert len(creds.vendor.logins) == 2, "one login for both (plus the first one)"


def test_a_refused_login_stores_nothing_and_leaves_the_lease_free(creds):
    creds.source().session_id()
    creds.vendor.password = "changed at the vendor"
    creds.vendor.live.clear()
    new_container()
    with pytest.raises(CredentialRejected):
        creds.source().session_id()
    assert creds.stored()["session_id"] == "session-1" and creds.credential()["password"] == PASSWORD
    assert creds.vendor.lease_free()
    with pytest.raises(CredentialRejected):  # and the next attempt is not stuck behind a lease
        creds.source().session_id()


def test_a_transient_login_failure_leaves_the_lease_free(creds):
    def throttled(username: str, password: str) -> str:
        raise TransientVendorError("24SevenOffice throttled the login", retry_after=60)

    from ledgerbridge.credentials import SessionSource

    source = SessionSource(creds.tenant_id, creds.connection_id, 1, login=throttled,
                           has_session=creds.vendor.has_session, trust_seconds=300)
    with pytest.raises(TransientVendorError):
        source.session_id()
    assert creds.vendor.lease_free() and creds.stored() is None
    assert creds.source().session_id() == "session-1"


def test_a_new_credential_version_never_uses_the_previous_users_session(creds):
    from ledgerbridge.credentials import store_password

    old = creds.source(version=1)
    assert old.session_id() == "session-1"
    store_password(creds.tenant_id, creds.connection_id, "ny@regnskap.example", PASSWORD + "-nytt")
    creds.vendor.password = PASSWORD + "-nytt"
    new = creds.source(version=2)
    assert new.fingerprint() != old.fingerprint(), "another user and password: another session"
    assert creds.stored(new) is None, "nothing is stored for the new credential yet"
    creds.vendor.lease_id = new.login_lease_id()
    assert new.session_id() == "session-2"
    assert creds.vendor.logins[-1] == ("ny@regnskap.example", PASSWORD + "-nytt")
    assert creds.vendor.lease_held_at_login[-1], "logged in under the new credential's lease"


def test_a_changed_password_alone_is_a_new_session(creds):
    from ledgerbridge.credentials import store_password

    old = creds.source(version=1)
    assert old.session_id() == "session-1"
    store_password(creds.tenant_id, creds.connection_id, USER, PASSWORD + "-ny")
    creds.vendor.password = PASSWORD + "-ny"
    new = creds.source(version=2)
    assert new.fingerprint() != old.fingerprint() and new.session_lease_id() != old.session_lease_id()
    assert new.session_id() == "session-2" and creds.vendor.logins[-1] == (USER, PASSWORD + "-ny")


def test_connections_of_one_integration_user_share_one_session_and_one_lease(creds):
    """An accounting office's reconciliation and a shop's booking with the same user and password
    (different tenants even): one login, one stored session, one session lease."""
    from ledgerbridge.credentials import store_password

    store_password("tenant-shop", "con_shop", USER, PASSWORD)
    office, shop = creds.source(), creds.source(tenant="tenant-shop", connection="con_shop")
    assert office.fingerprint() == shop.fingerprint()
    assert office.session_lease_id() == shop.session_lease_id()
    assert office.session_secret_name == shop.session_secret_name
    assert office.session_id() == shop.session_id() == "session-1"
    new_container()  # and in a container that saw neither: the stored session, no login
    assert creds.source(tenant="tenant-shop", connection="con_shop").session_id() == "session-1"
    assert len(creds.vendor.logins) == 1

    # The vendor ended it: whichever connection notices logs in once, for both.
    creds.vendor.live.clear()
    new_container()
    assert shop.session_id() == "session-2" and office.session_id() == "session-2"
    assert len(creds.vendor.logins) == 2


def test_different_credentials_never_share_a_session(creds):
    from ledgerbridge.credentials import store_password

    store_password("tenant-b", "con_b", "annen@regnskap.example", PASSWORD)
    ours, theirs = creds.source(), creds.source(tenant="tenant-b", connection="con_b")
    assert ours.fingerprint() != theirs.fingerprint()
    assert ours.session_lease_id() != theirs.session_lease_id()
    assert ours.session_id() == "session-1"
    creds.vendor.lease_id = theirs.login_lease_id()
    assert theirs.session_id() == "session-2", "its own login, never the other user's session"
    assert creds.vendor.logins == [(USER, PASSWORD), ("annen@regnskap.example", PASSWORD)]
    assert ours.session_id() == "session-1"


def test_the_fingerprint_is_a_slow_keyed_hash_stored_with_the_password_and_computed_when_missing(creds):
    import hashlib
    import json

    from ledgerbridge.credentials import (
        FINGERPRINT_ITERATIONS,
        PasswordCredential,
        SessionSource,
        connection_secret_name,
        credential_fingerprint,
        write_secret,
    )

    fingerprint = credential_fingerprint("24sevenoffice", USER, PASSWORD)
    assert fingerprint == creds.credential()["fingerprint"] == creds.source().fingerprint()
    assert len(fingerprint) == 40 and FINGERPRINT_ITERATIONS >= 100_000
    assert fingerprint != hashlib.sha256(json.dumps(["24sevenoffice", USER, PASSWORD]).encode()).hexdigest()[:40]
    assert credential_fingerprint("24sevenoffice", USER.upper(), PASSWORD) != fingerprint
    # A secret stored before fingerprints existed: computed the same way, so it finds the same session.
    write_secret(connection_secret_name("tenant-old", "con_old"), json.dumps(
        {"kind": "password", "username": USER, "password": PASSWORD, "session_id": "legacy"}))
    SessionSource.forget_all()
    assert creds.source(tenant="tenant-old", connection="con_old").fingerprint() == fingerprint
    assert PasswordCredential(username=USER, password=PASSWORD).fingerprint is None


def test_without_a_stored_integration_user_the_connection_is_not_connected(creds):
    from ledgerbridge.credentials import OAuthTokens, SessionSource, store_tokens

    def login(username: str, password: str) -> str:
        raise AssertionError("no login without a user")

    missing = SessionSource(creds.tenant_id, f"{creds.connection_id}_missing", 1, login=login, has_session=creds.vendor.has_session,
                            trust_seconds=300)
    with pytest.raises(NotConnected):
        missing.session_id()
    store_tokens(creds.tenant_id, f"{creds.connection_id}_oauth", OAuthTokens(access_token="a", refresh_token="r",
                                                           expires_at=datetime(2030, 1, 1)))
    oauth = SessionSource(creds.tenant_id, f"{creds.connection_id}_oauth", 1, login=login, has_session=creds.vendor.has_session,
                          trust_seconds=300)
    with pytest.raises(NotConnected):
        oauth.session_id()


# --- SoapClient.stream: a long answer is parsed as it arrives -----------------------------------------------

TRANSACTIONS_NS = "http://24sevenoffice.com/webservices/economy/accounting/"
SEARCH = {"DateStart": datetime(2025, 3, 1), "DateEnd": datetime(2025, 3, 31), "AccountNoStart": 1920,
          "AccountNoEnd": 1920, "SystemType": None, "HasInvoiceId": None}


def _answering(rows_xml):
    """A SoapClient whose vendor answers GetTransactions with these row elements, streamed."""
    import httpx

    from ledgerbridge.connectors.twentyfourseven.soap import SoapClient
    from ledgerbridge.oauth.providers import Provider

    def body():
        yield (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
               f'envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>'
               f'<GetTransactionsResponse xmlns="{TRANSACTIONS_NS}"><GetTransactionsResult>').encode()
        for row in rows_xml():
            yield row.encode()
        yield b"</GetTransactionsResult></GetTransactionsResponse></soap:Body></soap:Envelope>"

    client = SoapClient(Provider(vendor="24sevenoffice", display_name="24SevenOffice", auth_mode="password_session",
                                 api_url="http://vendor.invalid"))
    client.http._client = httpx.Client(base_url="http://vendor.invalid", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"Content-Type": "text/xml; charset=utf-8"}, content=body())))
    return client, sum(len(chunk) for chunk in body())


def _plain_rows(count: int):
    def rows():
        for n in range(count):
            yield (f"<Transaction><Date>2025-03-{n % 28 + 1:02d}T00:00:00</Date><AccountNo>1920</AccountNo>"
                   f"<Currency>NOK</Currency><CurrencyRate>1</CurrencyRate><CurrencyUnit>1</CurrencyUnit>"
                   f"<Amount>{n % 1000}.25</Amount><StampNo>0</StampNo><Period>3</Period>"
                   f"<TransactionTypeId>4</TransactionTypeId><Comment>Dagsoppgjør kasse {n} med litt tekst</Comment>"
                   f"<TransactionNo>{n}</TransactionNo><VatCode>0</VatCode>"
                   f"<Id>00000000-0000-0000-0000-{n:012d}</Id><LinkId>0</LinkId><InvoiceNo></InvoiceNo>"
                   f"<SequenceNo>1</SequenceNo><SystemType>Miscellaneous</SystemType>"
                   f"<RegistrationDate>2025-03-01T10:00:00</RegistrationDate>"
                   f"<DateChanged>2025-03-01T10:00:00</DateChanged><Hidden>false</Hidden><Open>false</Open>"
                   f"<HasVatDividend>false</HasVatDividend><PeriodDate>2025-03-01</PeriodDate>"
                   f"</Transaction>")
    return rows


def _stream_peak(count: int) -> tuple[int, int]:
    """Stream ``count`` rows; returns (peak traced bytes while reading, answer bytes)."""
    import tracemalloc

    client, answer_bytes = _answering(_plain_rows(count))
    tracemalloc.start()
    try:
        seen, total = 0, Decimal("0")
        for row in client.stream("transaction", "GetTransactions", "Transaction", searchParams=SEARCH):
            seen += 1
            total += row["Amount"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count and total == sum(Decimal(f"{n % 1000}.25") for n in range(count)), "every row, exactly"
    return peak, answer_bytes


def test_a_long_getransactions_answer_is_read_in_flat_memory():
    """Each row is read and dropped from the tree as the answer arrives: ten times the rows
    (about 3.7 MB of XML) take no more memory than a tenth of them. (The 50,000-row figures, time
    and memory, are in `make bench --only tfso`.)"""
    client, _ = _answering(_plain_rows(10))
    list(client.stream("transaction", "GetTransactions", "Transaction", searchParams=SEARCH))  # warm the caches
    small, small_bytes = _stream_peak(500)
    large, large_bytes = _stream_peak(5_000)
    assert large_bytes > 3_000_000 and large_bytes > 9 * small_bytes
    assert large < small * 1.5 + 64 * 1024, f"peak {large} bytes for 5,000 rows against {small} for 500"
    assert large < large_bytes / 20


def test_the_direct_row_reader_reads_exactly_what_zeep_reads():
    """A rich answer — every field type of Transaction (dateTime, date, decimal, short, int,
    unsignedByte, boolean, string, guid, enumeration, the complex Dimensions), nil and empty
    elements, absent ones, whitespace, offsets and fractions of seconds, malformed values, another
    namespace prefix and a field added after the WSDL — read by RowParser and by zeep's generic
    parsing: the same rows, value for value and type for type."""
    nil = 'xsi:nil="true"'
    rows = [
        "<Transaction><Date>2025-03-01T00:00:00</Date><AccountNo>1920</AccountNo><Currency>NOK</Currency>"
        "<CurrencyRate>1.0000</CurrencyRate><CurrencyUnit>1</CurrencyUnit><Amount>-1234567890123.4567</Amount>"
        "<StampNo>-2147483648</StampNo><Period>255</Period><TransactionTypeId>4</TransactionTypeId>"
        "<Comment>  Dagsoppgjør &amp; kasse 😀 [LB-1] </Comment><TransactionNo>2147483647</TransactionNo>"
        "<VatCode>-32768</VatCode><Id>0f8fad5b-d9cb-469f-a165-70867728950e</Id><LinkId>0</LinkId>"
        "<InvoiceNo>F-10</InvoiceNo><SequenceNo>3</SequenceNo><SystemType>InvoiceCustomer</SystemType>"
        "<DueDate>2025-04-01T00:00:00</DueDate><Dimensions><Dimension><Type>Department</Type><Name>Solsiden</Name>"
        "<Value>201</Value></Dimension><Dimension><Type>Project</Type><Value>7</Value></Dimension></Dimensions>"
        "<RegistrationDate>2025-03-01T10:00:00.1234567</RegistrationDate>"
        "<DateChanged>2025-03-01T10:00:00+01:00</DateChanged><Hidden>true</Hidden><Open>1</Open><OCR>000123</OCR>"
        "<VatDividend>0.00</VatDividend><HasVatDividend>false</HasVatDividend><PeriodDate>2025-03-01</PeriodDate>"
        "<AddedLater>x</AddedLater></Transaction>",
        # nil and empty elements; absent fields; whitespace around numbers and booleans
        f"<Transaction><Date {nil}/><AccountNo> 1500 </AccountNo><Currency/><CurrencyRate {nil}/>"
        f"<Amount>\n 12.50\t</Amount><Comment></Comment><TransactionNo {nil}/><Id {nil}/>"
        f"<Dimensions {nil}/><RegistrationDate>2025-03-01T10:00:00Z</RegistrationDate>"
        f"<Hidden> false </Hidden><Open>0</Open><OCR>  </OCR><HasVatDividend>TRUE</HasVatDividend>"
        f"<PeriodDate>2025-03-01+01:00</PeriodDate></Transaction>",
        # malformed values: zeep reads them as None, so must the direct reader
        "<Transaction><Date>2025-02-30T00:00:00</Date><AccountNo>19.5</AccountNo><Amount>1e2</Amount>"
        "<StampNo>  </StampNo><DueDate>2025-03-01</DueDate><PeriodDate>2025-3-1</PeriodDate></Transaction>",
        # another prefix for the same namespace; an empty Dimensions
        f'<t:Transaction xmlns:t="{TRANSACTIONS_NS}"><t:Date>2024-02-29T23:59:59</t:Date><t:AccountNo>3000'
        f"</t:AccountNo><t:Amount>0</t:Amount><t:Dimensions/><t:Hidden>false</t:Hidden><t:Open>false</t:Open>"
        f"<t:HasVatDividend>true</t:HasVatDividend></t:Transaction>",
        # a field in no namespace (zeep, lax as our clients are, matches by local name)
        "<Transaction><Amount>5.00</Amount><Comment xmlns=\"\">uten navnerom</Comment></Transaction>",
    ]
    client, _ = _answering(lambda: iter(rows))
    direct = list(client.stream("transaction", "GetTransactions", "Transaction", searchParams=SEARCH))
    by_zeep = list(client.stream("transaction", "GetTransactions", "Transaction", searchParams=SEARCH, direct=False))
    assert len(direct) == len(by_zeep) == 5
    for ours, zeeps in zip(direct, by_zeep, strict=True):
        assert list(ours) == list(zeeps), "every field of the type, in its order"
        for name in zeeps:
            assert (ours[name], type(ours[name])) == (zeeps[name], type(zeeps[name])), name
    first = direct[0]
    assert first["Amount"] == Decimal("-1234567890123.4567") and isinstance(first["Amount"], Decimal)
    assert first["Comment"] == "  Dagsoppgjør & kasse 😀 [LB-1] " and first["Period"] == 255
    assert first["Dimensions"]["Dimension"][0]["Value"] == "201"
    assert direct[1]["Amount"] == Decimal("12.50") and direct[1]["Date"] is None and direct[1]["Currency"] is None
    assert direct[1]["HasVatDividend"] is False, "only 'true' and '1' are true, as zeep reads it"
    assert direct[2]["AccountNo"] is None and direct[2]["Date"] is None

    # A decimal zeep cannot read at all fails the answer, in both, as an unreadable answer.
    client, _ = _answering(lambda: iter(["<Transaction><Amount>12,50</Amount></Transaction>"]))
    for direct_reading in (True, False):
        with pytest.raises(TransientVendorError, match="unreadable answer"):
            list(client.stream("transaction", "GetTransactions", "Transaction", searchParams=SEARCH,
                               direct=direct_reading))


# --- the session lease is shared fairly -----------------------------------------------------------------

def test_a_waiter_gets_the_session_lease_between_a_runs_companies(moto):
    """A run takes the lease company after company; a user's call announced as waiting gets it in the
    gap the run leaves (instead of timing out with 503 while a long refresh goes on)."""
    from ledgerbridge.connectors.twentyfourseven.connector import SESSION_HANDOFF_SECONDS
    from ledgerbridge.repositories import leases

    lease_id = f"session#test-{uuid.uuid4().hex}"
    stop = threading.Event()
    companies_read = []

    def run() -> None:
        while not stop.is_set():
            with leases.held(lease_id, seconds=10, wait=10, announce=True):
                time.sleep(0.2)  # one company's reads
                companies_read.append(1)
            if leases.wanted(lease_id):
                time.sleep(SESSION_HANDOFF_SECONDS)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        time.sleep(0.3)
        # Without the announcement the waiter would rarely hit the run's few-millisecond gaps and
        # give up (LeaseBusy) after its wait.
        with leases.held(lease_id, seconds=10, wait=5, announce=True):
            assert not leases.wanted(lease_id), "the waiter's announcement is gone once it holds the lease"
    finally:
        stop.set()
        worker.join()
    assert companies_read, "the run was going on"
