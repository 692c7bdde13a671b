"""24SevenOffice connector pieces on their own: how SOAP faults are classified, how a period's
entries are read (month windows, answers handed on in bounded chunks), and how the vendor session is shared and renewed
(``SessionSource`` against moto's Secrets Manager and the DynamoDB lease table)."""
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
from ledgerbridge.connectors.twentyfourseven.connector import CHUNK_ENTRIES, CompanyUnit, _entry, month_windows
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


# --- reading a period: month windows, answers streamed in bounded chunks ---------------------------------

@dataclass
class FakeTransactions:
    """GetTransactions over a list of (date, amount) entries, answered row by row (as the streamed
    answer is parsed); records each call's window, its size and how far it was consumed."""

    entries: list[tuple[date, Decimal]]
    honour_dates: bool = True
    calls: list[tuple[date, date, int]] = field(default_factory=list)
    max_pending: int = 0  # the most rows handed out before the reader consumed them

    def stream(self, service: str, operation: str, row_type: str, *, session_id: str | None = None,
               **arguments: Any):
        assert (service, operation, row_type) == ("transaction", "GetTransactions", "Transaction")
        assert session_id == "session-1"
        search = arguments["searchParams"]
        start, end = search["DateStart"].date(), search["DateEnd"].date()
        assert search["AccountNoStart"] == search["AccountNoEnd"] == 1920
        rows = [(number, day, amount) for number, (day, amount) in enumerate(self.entries, start=1)
                if not self.honour_dates or start <= day <= end]
        self.calls.append((start, end, len(rows)))

        def answer():
            for number, day, amount in rows:
                yield {"Date": datetime.combine(day, datetime.min.time()), "Amount": amount,
                       "TransactionNo": number, "Comment": f"bilag {number}", "TransactionTypeId": 4}

        return answer()

    @property
    def windows(self) -> list[tuple[date, date]]:
        return [(start, end) for start, end, _ in self.calls]


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
        self.chunks: list[list[LedgerEntry]] = []

    def write(self, account: str, entries: list[LedgerEntry]) -> None:
        assert account == "1920" and entries
        self.chunks.append(list(entries))

    @property
    def entries(self) -> list[LedgerEntry]:
        return [e for chunk in self.chunks for e in chunk]


def read(vendor: FakeTransactions, period_from: date, as_of: date, opening: Decimal = Decimal("100.00")):
    connector = SimpleNamespace(soap=vendor, sessions=FakeSessions(), session_lease_id="session#test")
    unit = CompanyUnit(connector, CompanyRef(company_id="1", identity_id="identity-1", name="Test AS"),
                       owner="me", lease_until=time.time() + 3600)  # far from renewal: no DynamoDB needed
    sink = Sink()
    balance = unit.read_account("1920", opening, period_from, as_of, sink)
    return balance, sink


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def assert_read_exactly(vendor: FakeTransactions, balance, sink: Sink, period_from: date, as_of: date,
                        opening: Decimal = Decimal("100.00")) -> None:
    """Windows tile the period without gap or overlap; every entry in it counted once, in date order."""
    windows = vendor.windows
    assert windows[0][0] == period_from and windows[-1][1] == as_of
    for (_, end), (next_start, _) in zip(windows, windows[1:], strict=False):
        assert next_start == end + timedelta(days=1)
    assert all(start <= end for start, end in windows)
    wanted = [(day, amount) for day, amount in vendor.entries if period_from <= day <= as_of]
    assert [(e.entry_date, e.amount) for e in sink.entries] == sorted(wanted, key=lambda x: x[0])
    movement = sum((amount for _, amount in wanted), Decimal("0"))
    assert (balance.account, balance.entries, balance.movement) == ("1920", len(wanted), movement)
    assert balance.opening == opening and balance.closing == opening + movement


def test_a_dense_month_is_one_call_handed_on_in_bounded_chunks():
    period_from, as_of = date(2025, 3, 1), date(2025, 3, 31)
    vendor = FakeTransactions([(day, Decimal(i % 7 - 3) + Decimal("0.25"))
                               for day in days(period_from, as_of) for i in range(200)])
    balance, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balance, sink, period_from, as_of)
    assert vendor.windows == [(period_from, as_of)]
    assert max(len(chunk) for chunk in sink.chunks) == CHUNK_ENTRIES, "memory bounded by the chunk, not the answer"
    assert len(sink.chunks) == -(-6200 // CHUNK_ENTRIES)


def test_a_year_is_read_month_by_month_from_any_day_to_any_day():
    period_from, as_of = date(2025, 1, 15), date(2025, 12, 3)
    vendor = FakeTransactions([(day, Decimal("10.00")) for day in days(date(2025, 1, 1), date(2025, 12, 31))[::3]])
    balance, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balance, sink, period_from, as_of)
    assert vendor.windows[0] == (date(2025, 1, 15), date(2025, 1, 31))
    assert vendor.windows[1] == (date(2025, 2, 1), date(2025, 2, 28))
    assert vendor.windows[-1] == (date(2025, 12, 1), date(2025, 12, 3))
    assert len(vendor.windows) == 12


def test_month_windows_cross_leap_days_and_year_ends():
    assert list(month_windows(date(2024, 2, 10), date(2024, 3, 1))) == [
        (date(2024, 2, 10), date(2024, 2, 29)), (date(2024, 3, 1), date(2024, 3, 1))]
    assert list(month_windows(date(2025, 12, 31), date(2026, 1, 1))) == [
        (date(2025, 12, 31), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 1, 1))]
    assert list(month_windows(date(2025, 5, 2), date(2025, 5, 1))) == []


def test_an_empty_period_and_a_single_day():
    period_from, as_of = date(2025, 5, 1), date(2025, 6, 30)
    vendor = FakeTransactions([(date(2025, 4, 30), Decimal("5.00")), (date(2025, 7, 1), Decimal("6.00"))])
    balance, sink = read(vendor, period_from, as_of, opening=Decimal("-3.50"))
    assert_read_exactly(vendor, balance, sink, period_from, as_of, opening=Decimal("-3.50"))
    assert sink.chunks == [] and balance.entries == 0 and balance.closing == Decimal("-3.50")
    assert vendor.windows == [(date(2025, 5, 1), date(2025, 5, 31)), (date(2025, 6, 1), date(2025, 6, 30))]

    day = date(2025, 7, 1)
    vendor = FakeTransactions([(day, Decimal("6.00")), (day, Decimal("-1.00")), (date(2025, 7, 2), Decimal("9"))])
    balance, sink = read(vendor, day, day)
    assert vendor.windows == [(day, day)]
    assert balance.entries == 2 and balance.movement == Decimal("5.00")


def test_entries_the_vendor_returns_outside_the_window_are_never_counted_twice():
    period_from, as_of = date(2025, 3, 1), date(2025, 4, 30)
    vendor = FakeTransactions([(day, Decimal("1.50")) for day in days(date(2025, 2, 20), date(2025, 5, 10))],
                              honour_dates=False)
    balance, sink = read(vendor, period_from, as_of)
    assert_read_exactly(vendor, balance, sink, period_from, as_of)
    assert balance.entries == 61 and balance.movement == Decimal("91.50")


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

    def __init__(self, tenant_id: str, connection_id: str):
        from ledgerbridge.credentials import refresh_lease_id

        self.lease_id = refresh_lease_id(tenant_id, connection_id)
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
    """A connection with a stored integration user, a fake vendor, and a factory of SessionSources."""
    from ledgerbridge.credentials import SessionSource, store_password

    tenant_id, connection_id = "tenant-a", f"con_{uuid.uuid4().hex[:12]}"
    store_password(tenant_id, connection_id, USER, PASSWORD)
    vendor = FakeVendor(tenant_id, connection_id)
    SessionSource.forget_all()

    def source(version: int = 1, trust_seconds: float = 300) -> SessionSource:
        return SessionSource(tenant_id, connection_id, version, login=vendor.login, has_session=vendor.has_session,
                             trust_seconds=trust_seconds)

    yield SimpleNamespace(tenant_id=tenant_id, connection_id=connection_id, vendor=vendor, source=source,
                          stored=lambda: _stored(tenant_id, connection_id))
    SessionSource.forget_all()


def _stored(tenant_id: str, connection_id: str) -> dict:
    from ledgerbridge.credentials import _read, connection_secret_name

    return _read(connection_secret_name(tenant_id, connection_id))


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
    assert stored["session_id"] == "session-1" and stored["session_obtained_at"]
    assert (stored["kind"], stored["username"], stored["password"]) == ("password", USER, PASSWORD)
    assert source.username() == USER


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
    from ledgerbridge.credentials import PasswordCredential, connection_secret_name, write_secret

    creds.source().session_id()
    creds.vendor.live.clear()
    new_container()

    def another_container_logs_in(session_id: str) -> None:
        if session_id == "session-1":  # while we found ours dead, another container logged in and stored its own
            creds.vendor.live.add("theirs")
            write_secret(connection_secret_name(creds.tenant_id, creds.connection_id),
                         PasswordCredential(username=USER, password=PASSWORD, session_id="theirs").dump_secret())

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
    assert creds.stored()["session_id"] == "session-1" and creds.stored()["password"] == PASSWORD
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
    assert creds.vendor.lease_free() and creds.stored()["session_id"] is None
    assert creds.source().session_id() == "session-1"


def test_a_new_credential_version_never_uses_the_previous_users_session(creds):
    from ledgerbridge.credentials import store_password

    assert creds.source(version=1).session_id() == "session-1"
    store_password(creds.tenant_id, creds.connection_id, "ny@regnskap.example", "nytt-passord")
    creds.vendor.password = "nytt-passord"
    assert creds.stored()["session_id"] is None, "storing a user drops the old session"
    assert creds.source(version=2).session_id() == "session-2"
    assert creds.vendor.logins[-1] == ("ny@regnskap.example", "nytt-passord")


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

def test_a_huge_getransactions_answer_is_read_in_constant_memory():
    """50,000 rows (about 20 MB of XML) streamed through the real zeep types: the reader's memory
    peak stays a small fraction of the answer, because each row is dropped once parsed."""
    import tracemalloc

    import httpx

    from ledgerbridge.connectors.twentyfourseven.soap import SoapClient
    from ledgerbridge.oauth.providers import Provider

    rows = 50_000
    ns = "http://24sevenoffice.com/webservices/economy/accounting/"

    def body():
        yield (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
               f'envelope/"><soap:Body><GetTransactionsResponse xmlns="{ns}"><GetTransactionsResult>').encode()
        for n in range(rows):
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
                   f"</Transaction>").encode()
        yield b"</GetTransactionsResult></GetTransactionsResponse></soap:Body></soap:Envelope>"

    answer_bytes = sum(len(chunk) for chunk in body())
    client = SoapClient(Provider(vendor="24sevenoffice", display_name="24SevenOffice", auth_mode="password_session",
                                 api_url="http://vendor.invalid"))
    client.http._client = httpx.Client(base_url="http://vendor.invalid", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"Content-Type": "text/xml; charset=utf-8"}, content=body())))
    search = {"DateStart": datetime(2025, 3, 1), "DateEnd": datetime(2025, 3, 31), "AccountNoStart": 1920,
              "AccountNoEnd": 1920, "SystemType": None, "HasInvoiceId": None}
    client.stream("transaction", "GetTransactions", "Transaction", searchParams=search)  # warm zeep's caches

    tracemalloc.start()
    try:
        count, total = 0, Decimal("0")
        for row in client.stream("transaction", "GetTransactions", "Transaction", searchParams=search):
            count += 1
            total += row["Amount"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows and total == sum(Decimal(f"{n % 1000}.25") for n in range(rows))
    assert answer_bytes > 15_000_000
    assert peak < answer_bytes / 10, f"peak {peak} bytes for a {answer_bytes}-byte answer"


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
