"""Tests of the 24SevenOffice SOAP simulator, driven with zeep clients built from the connector's WSDLs."""

from __future__ import annotations

import functools
import re
import sys
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import requests
import zeep
from lxml import etree
from zeep.exceptions import Fault as ZeepFault
from zeep.exceptions import TransportError
from zeep.transports import Transport
from zeep.wsdl import Document

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # project root, for `import simulators`

from simulators.twentyfourseven import Fault, SimulatorConfig, TwentyFourSevenSimulator  # noqa: E402

WSDL_DIR = Path(__file__).resolve().parents[2] / "layers/shared/ledgerbridge/connectors/twentyfourseven/wsdl"
WS_NS = "http://24sevenOffice.com/webservices"
ACC_NS = "http://24sevenoffice.com/webservices/economy/accounting/"
APP_ID = "6f0b7a52-3c1e-4c8a-9a55-24502450aa01"
USER, PASSWORD = "integration@regnskap.example", "integration-password"
NOACCESS, NOACCESS_PASSWORD = "noaccess@regnskap.example", "noaccess-password"
FJORD, NORDLYS, HAVN = 1100001, 1100002, 1100003
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NOT_AUTHENTICATED = "Not authenticated"


@pytest.fixture(scope="module")
def server():
    with TwentyFourSevenSimulator() as simulator:
        yield simulator


@pytest.fixture
def sim(server):
    server.reset()
    yield server
    server.clear_faults()


@functools.cache
def wsdl_document(wsdl_file: str) -> Document:
    """Parsed once per test run; zeep clients take a pre-parsed Document."""
    return Document(str(WSDL_DIR / wsdl_file), Transport())


class Soap:
    """zeep services of the four WSDLs sharing one requests.Session, i.e. one ASP.NET_SessionId cookie jar."""

    def __init__(self, sim: TwentyFourSevenSimulator, timeout: float = 5):
        self.http = requests.Session()
        transport = Transport(session=self.http, timeout=timeout, operation_timeout=timeout)

        def service(wsdl: str, ns: str, binding: str, name: str):
            client = zeep.Client(wsdl_document(wsdl), transport=transport)
            return client.create_service(f"{{{ns}}}{binding}", sim.url(name))

        self.auth = service("authService.wsdl", WS_NS, "AuthenticateSoap", "auth")
        self.client = service("clientService.wsdl", WS_NS, "ClientServiceSoap", "client")
        self.account = service("accountService.wsdl", WS_NS, "AccountServiceSoap", "account")
        self.tx = service("transactionService.wsdl", ACC_NS, "TransactionServiceSoap", "transaction")

    def login(self, username: str = USER, password: str = PASSWORD, application_id: str = APP_ID,
              identity_id: str | None = None) -> str | None:
        credential = {"ApplicationId": application_id, "Username": username, "Password": password}
        if identity_id:
            credential["IdentityId"] = identity_id
        return self.auth.Login(credential)

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get("ASP.NET_SessionId")

    def transactions(self, **params):
        search = {"SystemType": None, "HasInvoiceId": None, **params}
        return self.tx.GetTransactions(search) or []


def soap_envelope(operation: str, ns: str, inner: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
            f'<{operation} xmlns="{ns}">{inner}</{operation}></soap:Body></soap:Envelope>')


LOGIN_INNER = ("<credential><ApplicationId>{app}</ApplicationId><Password>{password}</Password>"
               "<Username>{user}</Username></credential>")


# ---------------------------------------------------------------------------------------------
# Login and sessions
# ---------------------------------------------------------------------------------------------

def test_login_returns_session_id_and_cookie(sim):
    soap = Soap(sim)
    assert soap.auth.HasSession() is False
    session_id = soap.login()
    assert re.fullmatch(r"[a-z0-9]{24}", session_id)
    assert soap.cookie == session_id
    assert soap.auth.HasSession() is True
    assert [s["session_id"] for s in sim.sessions()] == [session_id]
    assert sim.sessions()[0]["client_id"] == FJORD


def test_login_raw_protocol_shape(sim):
    ok = httpx.post(sim.url("auth"), content=soap_envelope("Login", WS_NS, LOGIN_INNER.format(
        app=APP_ID, user=USER, password=PASSWORD)), headers={"Content-Type": "text/xml; charset=utf-8",
                                                             "SOAPAction": f'"{WS_NS}/Login"'})
    assert ok.status_code == 200 and ok.headers["content-type"] == "text/xml; charset=utf-8"
    session_id = etree.fromstring(ok.content).findtext(f".//{{{WS_NS}}}LoginResult")
    assert ok.headers["set-cookie"] == f"ASP.NET_SessionId={session_id}; path=/; HttpOnly"
    assert ok.text.startswith('<?xml version="1.0" encoding="utf-8"?>')

    # wrong password: HTTP 200, empty LoginResult, no cookie (no SOAPAction header needed)
    bad = httpx.post(sim.url("auth"), content=soap_envelope("Login", WS_NS, LOGIN_INNER.format(
        app=APP_ID, user=USER, password="nope")), headers={"Content-Type": "text/xml; charset=utf-8"})
    assert bad.status_code == 200 and "set-cookie" not in bad.headers
    result = etree.fromstring(bad.content).find(f".//{{{WS_NS}}}LoginResult")
    assert result is not None and result.text is None and len(result) == 0


def test_login_wrong_password_gives_empty_result_and_no_session(sim):
    soap = Soap(sim)
    assert soap.login(password="wrong") is None      # zeep reads <LoginResult /> as None
    assert soap.cookie is None
    assert soap.login(username="nobody@regnskap.example") is None
    assert soap.auth.HasSession() is False
    assert sim.sessions() == []


def test_login_unknown_application_id_faults(sim):
    soap = Soap(sim)
    with pytest.raises(ZeepFault) as error:
        soap.login(application_id="00000000-0000-0000-0000-0000000000aa")
    assert error.value.message == "Invalid ApplicationId"
    assert soap.cookie is None


def test_login_throttling_sliding_window(sim):
    soap = Soap(sim)
    for _ in range(5):
        assert soap.login()
    with pytest.raises(ZeepFault) as error:
        soap.login()
    assert error.value.message == "Too many login attempts. Try again later."
    # other usernames are counted separately
    assert Soap(sim).login(NOACCESS, NOACCESS_PASSWORD)
    sim.advance_clock(61)
    assert soap.login()
    assert sim.login_count(USER) == 7
    assert sim.request_counts()["Login"] == 8


def test_failed_logins_count_towards_throttling(sim):
    soap = Soap(sim)
    for _ in range(5):
        assert soap.login(password="wrong") is None
    with pytest.raises(ZeepFault, match="Too many login attempts"):
        soap.login()


def test_throttled_login_raw_is_http_500_fault(sim):
    sim.config.login_limit, limit = 0, sim.config.login_limit
    try:
        response = httpx.post(sim.url("auth"), content=soap_envelope("Login", WS_NS, LOGIN_INNER.format(
            app=APP_ID, user=USER, password=PASSWORD)), headers={"Content-Type": "text/xml"})
    finally:
        sim.config.login_limit = limit
    assert response.status_code == 500
    fault = etree.fromstring(response.content).find(f".//{{{SOAP_ENV}}}Fault")
    assert fault.findtext("faultstring") == "Too many login attempts. Try again later."


def test_session_expires_after_idle_time(sim):
    soap = Soap(sim)
    soap.login()
    sim.advance_clock(1199)
    assert soap.auth.HasSession() is True           # use refreshes the idle timer
    sim.advance_clock(1199)
    assert soap.auth.GetIdentity() is not None
    sim.advance_clock(1200)
    assert soap.auth.HasSession() is False
    with pytest.raises(ZeepFault) as error:
        soap.auth.GetIdentities()
    assert error.value.message.startswith(NOT_AUTHENTICATED)
    assert error.value.code == "soap:Client"


@pytest.mark.parametrize("service, operation, args", [
    ("auth", "GetIdentities", ()), ("auth", "GetIdentity", ()), ("auth", "SetIdentityById", (
        "00000000-0000-0000-0000-000000000001",)),
    ("client", "GetClientInformation", ()), ("account", "GetAccountList", ()), ("account", "GetTaxCodeList", ()),
    ("tx", "GetTransactionTypes", ()), ("tx", "GetFiscalYears", ()),
])
def test_operations_without_session_fault_not_authenticated(sim, service, operation, args):
    soap = Soap(sim)
    with pytest.raises(ZeepFault) as error:
        getattr(getattr(soap, service), operation)(*args)
    assert error.value.message.startswith(NOT_AUTHENTICATED) and error.value.code == "soap:Client"


def test_unknown_session_cookie_faults(sim):
    soap = Soap(sim)
    soap.http.cookies.set("ASP.NET_SessionId", "abcdefghijklmnopqrstuvwx")
    assert soap.auth.HasSession() is False
    with pytest.raises(ZeepFault, match=NOT_AUTHENTICATED):
        soap.tx.GetTransactions({"SystemType": None, "HasInvoiceId": None})


def test_change_password_ends_sessions(sim):
    soap = Soap(sim)
    soap.login()
    sim.change_password(USER, "new-password")
    assert soap.auth.HasSession() is False
    assert soap.login() is None
    assert soap.login(password="new-password")


def test_expire_sessions_helper(sim):
    first, second = Soap(sim), Soap(sim)
    first.login()
    second.login(NOACCESS, NOACCESS_PASSWORD)
    assert len(sim.sessions()) == 2
    assert sim.expire_sessions(NOACCESS) == 1
    assert first.auth.HasSession() is True and second.auth.HasSession() is False
    sim.expire_sessions()
    assert sim.sessions() == []


# ---------------------------------------------------------------------------------------------
# Identities
# ---------------------------------------------------------------------------------------------

def test_identities_and_switching_changes_company_data(sim):
    soap = Soap(sim)
    soap.login()
    identities = soap.auth.GetIdentities()
    assert [(i.Client.Id, i.Client.Name, i.IsDefault, i.IsCurrent) for i in identities] == [
        (FJORD, "Fjordbakeriet AS", True, True),
        (NORDLYS, "Nordlys Frisør AS", False, False),
        (HAVN, "Havnekafeen AS", False, False),
    ]
    assert all(i.IsProtected is False and i.IsDisabled is False and i.User.Name for i in identities)
    assert soap.auth.GetIdentity().Client.Id == FJORD

    info = soap.client.GetClientInformation()
    assert (info.Name, info.OrganizationNumber, info.Country, info.DefaultCurrency) == (
        "Fjordbakeriet AS", "918273646", "NO", "NOK")
    assert info.IsUsingFactoring is False and info.ReminderDays == 0
    fjord_accounts = {a.AccountNo for a in soap.account.GetAccountList()}
    fjord_rows = soap.transactions()
    assert {1510, 3010} <= fjord_accounts and 1930 not in fjord_accounts

    havn = next(i for i in identities if i.Client.Id == HAVN)
    assert soap.auth.SetIdentityById(havn.Id) is True
    assert soap.auth.GetIdentity().Id == havn.Id
    assert [i.IsCurrent for i in soap.auth.GetIdentities()] == [False, False, True]
    info = soap.client.GetClientInformation()
    assert (info.Name, info.OrganizationNumber) == ("Havnekafeen AS", "936455123")
    havn_accounts = {a.AccountNo for a in soap.account.GetAccountList()}
    assert 1930 in havn_accounts and 1510 not in havn_accounts and 3010 not in havn_accounts
    havn_rows = soap.transactions()
    assert {r.Id for r in havn_rows}.isdisjoint({r.Id for r in fjord_rows})
    assert len(havn_rows) == len(sim.transactions(HAVN))

    assert soap.auth.SetIdentityById("00000000-0000-0000-0000-000000000000") is False
    assert soap.auth.GetIdentity().Id == havn.Id


def test_login_with_identity_id(sim):
    soap = Soap(sim)
    soap.login(identity_id=sim.identity_id(USER, NORDLYS))
    assert soap.client.GetClientInformation().Name == "Nordlys Frisør AS"
    other = Soap(sim)
    other.login(identity_id="11111111-2222-3333-4444-555555555555")   # not the user's: default identity
    assert other.client.GetClientInformation().Name == "Fjordbakeriet AS"


def test_identity_is_per_session(sim):
    first, second = Soap(sim), Soap(sim)
    first.login()
    second.login()
    assert first.cookie != second.cookie
    assert second.auth.SetIdentityById(sim.identity_id(USER, NORDLYS)) is True
    assert first.client.GetClientInformation().Name == "Fjordbakeriet AS"
    assert second.client.GetClientInformation().Name == "Nordlys Frisør AS"
    assert first.auth.GetIdentity().Client.Id == FJORD


def test_user_without_access(sim):
    soap = Soap(sim)
    assert soap.login(NOACCESS, NOACCESS_PASSWORD)
    assert not soap.auth.GetIdentities()        # empty ArrayOfIdentity (zeep reads it as None)
    assert soap.auth.GetIdentity() is None
    for call in (soap.client.GetClientInformation, soap.account.GetAccountList, soap.tx.GetFiscalYears):
        with pytest.raises(ZeepFault) as error:
            call()
        assert error.value.message == "No identity selected"


def test_revoke_and_grant(sim):
    soap = Soap(sim)
    soap.login()
    nordlys_identity = sim.identity_id(USER, NORDLYS)
    sim.revoke(USER, NORDLYS)
    assert soap.auth.SetIdentityById(nordlys_identity) is False
    assert [i.Client.Id for i in soap.auth.GetIdentities()] == [FJORD, HAVN]
    assert soap.client.GetClientInformation().Name == "Fjordbakeriet AS"

    sim.revoke(USER, FJORD)                    # the current identity goes away at once
    with pytest.raises(ZeepFault, match="No identity selected"):
        soap.client.GetClientInformation()
    assert soap.auth.GetIdentity() is None

    assert sim.grant(USER, NORDLYS) == nordlys_identity
    assert soap.auth.SetIdentityById(nordlys_identity) is True
    assert soap.client.GetClientInformation().Name == "Nordlys Frisør AS"

    sim.disable_identity(USER, NORDLYS)
    assert soap.auth.SetIdentityById(nordlys_identity) is False


def test_populate_and_add_client(sim):
    ids = sim.populate(NOACCESS, 3, seed=7)
    assert len(ids) == 3 == len(set(ids))
    assert ids == TwentyFourSevenSimulator().populate(NOACCESS, 3, seed=7)   # deterministic
    soap = Soap(sim)
    soap.login(NOACCESS, NOACCESS_PASSWORD)
    identities = soap.auth.GetIdentities()
    assert sorted(i.Client.Id for i in identities) == sorted(ids)
    assert soap.auth.SetIdentityById(identities[1].Id) is True
    info = soap.client.GetClientInformation()
    assert re.fullmatch(r"\d{9}", info.OrganizationNumber) and info.Name.endswith(" AS")
    assert soap.transactions()

    own = sim.add_client("Testbedrift AS", "812345672", accounts=[(1920, "Bank"), (3000, "Salg", 3)])
    sim.grant(NOACCESS, own, default=True)
    other = Soap(sim)
    other.login(NOACCESS, NOACCESS_PASSWORD)
    assert other.client.GetClientInformation().Name == "Testbedrift AS"
    assert [a.AccountNo for a in other.account.GetAccountList()] == [1920, 3000]
    assert other.transactions() == []


# ---------------------------------------------------------------------------------------------
# Lists
# ---------------------------------------------------------------------------------------------

def test_account_tax_type_and_fiscal_year_lists(sim):
    soap = Soap(sim)
    soap.login()
    accounts = soap.account.GetAccountList()
    sales = next(a for a in accounts if a.AccountNo == 3000)
    assert sales.AccountName == "Salgsinntekt, avgiftspliktig" and sales.TaxNo == 3
    taxes = {t.TaxNo: t for t in soap.account.GetTaxCodeList()}
    assert taxes["3"].TaxRate == Decimal("25") and taxes["3"].AccountNo == 2700 and taxes["0"].AccountNo is None
    assert sales.AccountTax == taxes["3"].TaxId
    types = soap.tx.GetTransactionTypes()
    assert [(t.Id, t.No, t.Title) for t in types][:2] == [(1, 1, "Generelt bilag"), (2, 2, "Utgående faktura")]
    years = soap.tx.GetFiscalYears()
    this_year = sim.config.today.year
    assert [y.StartingDate for y in years][-2:] == [datetime(this_year - 1, 1, 1), datetime(this_year, 1, 1)]
    assert years[-1].EndingDate == datetime(this_year, 12, 31) and years[-1].IsLocked is False
    assert all(re.fullmatch(r"[0-9a-f-]{36}", y.Id) for y in years)

    sim.remove_account(FJORD, 6800)
    assert 6800 not in {a.AccountNo for a in soap.account.GetAccountList()}


# ---------------------------------------------------------------------------------------------
# Transactions
# ---------------------------------------------------------------------------------------------

def test_get_transactions_filters_and_order(sim):
    soap = Soap(sim)
    soap.login()
    everything = soap.transactions()
    assert len(everything) == len(sim.transactions(FJORD))
    keys = [(r.Date, r.TransactionNo, r.SequenceNo) for r in everything]
    assert keys == sorted(keys)
    by_voucher: dict[int, Decimal] = {}
    for row in everything:
        by_voucher[row.TransactionNo] = by_voucher.get(row.TransactionNo, Decimal(0)) + row.Amount
        assert row.SystemType == "Miscellaneous" and row.Currency == "NOK" and row.StampNo == row.TransactionNo
    assert set(by_voucher.values()) == {Decimal("0.00")}

    year = sim.config.today.year - 1
    march = soap.transactions(DateStart=datetime(year, 3, 1), DateEnd=datetime(year, 3, 31))
    assert march and all(r.Date.year == year and r.Date.month == 3 for r in march)
    assert len(march) == sum(1 for e in sim.transactions(FJORD) if e.date.year == year and e.date.month == 3)

    bank = soap.transactions(AccountNoStart=1900, AccountNoEnd=1999)
    assert bank and {r.AccountNo for r in bank} == {1900, 1920}
    assert soap.transactions(AccountNoStart=3000, AccountNoEnd=3000, DateStart=datetime(year, 3, 1),
                             DateEnd=datetime(year, 3, 31))[0].AccountNo == 3000

    invoices = soap.transactions(TransactionTypeId=2)
    assert invoices and {r.TransactionTypeId for r in invoices} == {2}
    first = soap.transactions(TransactionNoStart=1, TransactionNoEnd=2)
    assert {r.TransactionNo for r in first} == {1, 2}


def test_get_transactions_records_page_sizes(sim):
    soap = Soap(sim)
    soap.login()
    sim.reset_counts()
    year = sim.config.today.year - 1
    sizes = []
    for month in (1, 2, 3):
        start = date(year, month, 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        sizes.append(len(soap.transactions(DateStart=start, DateEnd=end)))
    assert sim.state.transaction_page_sizes == sizes
    assert sim.request_counts() == {"GetTransactions": 3}


def test_add_and_generate_vouchers(sim):
    number = sim.add_voucher(NORDLYS, date(2026, 3, 1), [(1920, Decimal("1234.50"), "Innskudd"),
                                                         (3000, Decimal("-1234.50"), "Salg")])
    with pytest.raises(ValueError, match="not balanced"):
        sim.add_voucher(NORDLYS, date(2026, 3, 1), [(1920, Decimal("10.00"), ""), (3000, Decimal("-9.99"), "")])
    with pytest.raises(ValueError):
        sim.add_voucher(NORDLYS, date(2026, 3, 1), [(1920, Decimal("0.001"), ""), (3000, Decimal("-0.001"), "")])
    numbers = sim.generate_transactions(NORDLYS, 1920, 1900, 25, date(2026, 1, 1), date(2026, 2, 28), seed=3)
    assert numbers == list(range(number + 1, number + 26))

    soap = Soap(sim)
    soap.login(identity_id=sim.identity_id(USER, NORDLYS))
    rows = soap.transactions(TransactionNoStart=number, TransactionNoEnd=number)
    assert [(r.AccountNo, r.Amount, r.Comment, r.SequenceNo) for r in rows] == [
        (1920, Decimal("1234.50"), "Innskudd", 1), (3000, Decimal("-1234.50"), "Salg", 2)]
    assert rows[0].Date == datetime(2026, 3, 1) and rows[0].PeriodDate == date(2026, 3, 1) and rows[1].VatCode == 3
    generated = soap.transactions(TransactionNoStart=numbers[0], TransactionNoEnd=numbers[-1])
    assert len(generated) == 50
    assert min(r.Date for r in generated) == datetime(2026, 1, 1)
    assert max(r.Date for r in generated) == datetime(2026, 2, 28)
    assert all(r.Amount == r.Amount.quantize(Decimal("0.01")) for r in generated)


def test_transaction_amounts_in_invariant_culture(sim):
    sim.add_voucher(FJORD, date(2026, 3, 1), [(6300, Decimal("80"), "Leie"), (1920, Decimal("-80"), "Leie")])
    session_id = Soap(sim).login()
    body = soap_envelope("GetTransactions", ACC_NS, '<searchParams><DateStart>2026-03-01T00:00:00</DateStart>'
                         '<DateEnd>2026-03-01T00:00:00</DateEnd><AccountNoStart>1920</AccountNoStart>'
                         '<AccountNoEnd>1920</AccountNoEnd><SystemType xsi:nil="true" '
                         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/><HasInvoiceId xsi:nil="true" '
                         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></searchParams>')
    response = httpx.post(sim.url("transaction"), content=body, cookies={"ASP.NET_SessionId": session_id},
                          headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 200
    assert "<Amount>-80.00</Amount>" in response.text
    assert "<Date>2026-03-01T00:00:00</Date>" in response.text


# ---------------------------------------------------------------------------------------------
# GetAggregated
# ---------------------------------------------------------------------------------------------

def test_get_aggregated_monthly(sim):
    soap = Soap(sim)
    soap.login()
    start = date(sim.config.today.year - 1, 7, 1)
    result = soap.tx.GetAggregated(startDate=datetime.combine(start, datetime.min.time()), dimensions=None,
                                   accountNos={"short": [1920, 3000, 9999, 3010]}, periodType="Month",
                                   returnIB=True)
    assert [r.AccountNo for r in result] == [1920, 3000, 3010]       # 9999 is not in the chart
    everything = soap.transactions()
    for row in result:
        periods = row.Periods.KeyValuePair
        assert periods[0].Key == f"{start.year}-07"
        assert all(re.fullmatch(r"\d{4}-\d{2}", p.Key) for p in periods)
        assert row.IncomingBalance + sum(Decimal(p.Value) for p in periods) == row.TotalBalance
        assert row.IncomingBalance == sum((r.Amount for r in everything
                                           if r.AccountNo == row.AccountNo and r.Date.date() < start), Decimal(0))
        assert row.TotalBalance == sum((r.Amount for r in everything if r.AccountNo == row.AccountNo), Decimal(0))
        assert row.TotalBalance == sim.balance(FJORD, row.AccountNo)
        for period in periods:
            year, month = map(int, period.Key.split("-"))
            assert Decimal(period.Value) == sum((r.Amount for r in everything if r.AccountNo == row.AccountNo
                                                 and (r.Date.year, r.Date.month) == (year, month)), Decimal(0))


def test_get_aggregated_without_ib_and_total_period(sim):
    soap = Soap(sim)
    soap.login()
    start = datetime(sim.config.today.year - 1, 6, 15)
    no_ib = soap.tx.GetAggregated(startDate=start, accountNos={"short": [3000]}, periodType="Month", returnIB=False)
    assert no_ib[0].IncomingBalance == Decimal("0.00")
    assert no_ib[0].TotalBalance == sum(Decimal(p.Value) for p in no_ib[0].Periods.KeyValuePair)
    assert no_ib[0].TotalBalance == sim.balance(FJORD, 3000) - sim.balance(FJORD, 3000, before=start.date())

    total = soap.tx.GetAggregated(startDate=start, accountNos={"short": [3000]}, periodType="None", returnIB=True)
    pairs = total[0].Periods.KeyValuePair
    assert [p.Key for p in pairs] == ["total"]
    assert total[0].IncomingBalance == sim.balance(FJORD, 3000, before=start.date())
    assert total[0].TotalBalance == sim.balance(FJORD, 3000)

    sim.remove_account(FJORD, 3000)
    assert not soap.tx.GetAggregated(startDate=start, accountNos={"short": [3000]}, periodType="Month",
                                     returnIB=True)


def test_get_aggregated_gaps_and_future_start(sim):
    client = sim.add_client("Gap AS", "812345672", accounts=[(1920, "Bank"), (3000, "Salg")])
    sim.grant(USER, client)
    sim.add_voucher(client, date(2026, 1, 10), [(1920, Decimal("100.00")), (3000, Decimal("-100.00"))])
    sim.add_voucher(client, date(2026, 4, 5), [(1920, Decimal("50.25")), (3000, Decimal("-50.25"))])
    soap = Soap(sim)
    soap.login(identity_id=sim.identity_id(USER, client))
    [bank] = soap.tx.GetAggregated(startDate=datetime(2026, 2, 1), accountNos={"short": [1920]},
                                   periodType="Month", returnIB=True)
    assert [(p.Key, p.Value) for p in bank.Periods.KeyValuePair] == [
        ("2026-02", "0.00"), ("2026-03", "0.00"), ("2026-04", "50.25")]
    assert (bank.IncomingBalance, bank.TotalBalance) == (Decimal("100.00"), Decimal("150.25"))
    [late] = soap.tx.GetAggregated(startDate=datetime(2026, 5, 1), accountNos={"short": [1920]},
                                   periodType="Month", returnIB=True)
    assert late.Periods is None and late.TotalBalance == late.IncomingBalance == Decimal("150.25")


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

def test_soap_fault_injection(sim):
    soap = Soap(sim)
    soap.login()
    sim.add_fault(Fault("soap_fault", operation="GetAccountList", message="Server was unable to process request."))
    soap.tx.GetTransactionTypes()                      # other operations unaffected
    with pytest.raises(ZeepFault) as error:
        soap.account.GetAccountList()
    assert error.value.message == "Server was unable to process request." and error.value.code == "soap:Server"
    assert soap.account.GetAccountList()               # times=1


def test_http_status_fault(sim):
    soap = Soap(sim)
    soap.login()
    sim.add_fault(Fault("http_status", status=503, times=2))
    for _ in range(2):
        with pytest.raises(TransportError) as error:
            soap.client.GetClientInformation()
        assert error.value.status_code == 503
    assert soap.client.GetClientInformation().Name == "Fjordbakeriet AS"
    sim.add_fault(Fault("http_status", status=503))
    raw = httpx.post(sim.url("client"), content=soap_envelope("GetClientInformation", WS_NS),
                     headers={"Content-Type": "text/xml"})
    assert raw.status_code == 503 and "Service Unavailable" in raw.text
    assert raw.headers["content-type"].startswith("text/html")


def test_fault_forever_until_cleared(sim):
    soap = Soap(sim)
    soap.login()
    sim.add_fault(Fault("soap_fault", operation="GetFiscalYears", times=None, message="boom"))
    for _ in range(3):
        with pytest.raises(ZeepFault, match="boom"):
            soap.tx.GetFiscalYears()
    sim.clear_faults()
    assert soap.tx.GetFiscalYears()


def test_latency_fault_and_config_latency(sim):
    soap = Soap(sim)
    soap.login()
    sim.add_fault(Fault("latency", operation="HasSession", delay_s=0.3))
    started = time.monotonic()
    assert soap.auth.HasSession() is True
    assert time.monotonic() - started >= 0.3
    sim.config.latency_ms = 200
    try:
        started = time.monotonic()
        soap.auth.HasSession()
        assert time.monotonic() - started >= 0.2
    finally:
        sim.config.latency_ms = 0


def test_timeout_after_does_the_work_then_answers_late(sim):
    soap = Soap(sim, timeout=0.3)
    sim.add_fault(Fault("timeout_after", operation="Login", delay_s=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        soap.login()
    assert len(sim.sessions()) == 1                    # the session was created; only the answer was lost
    assert sim.login_count(USER) == 1


def test_session_expired_fault(sim):
    soap = Soap(sim)
    soap.login()
    soap.transactions(TransactionNoStart=1, TransactionNoEnd=1)
    sim.add_fault(Fault("session_expired", operation="GetTransactions"))
    with pytest.raises(ZeepFault) as error:
        soap.transactions(TransactionNoStart=2, TransactionNoEnd=2)
    assert error.value.message.startswith(NOT_AUTHENTICATED)
    assert soap.auth.HasSession() is False
    soap.login()
    assert soap.transactions(TransactionNoStart=2, TransactionNoEnd=2)


def test_stop_cuts_injected_sleep_short():
    simulator = TwentyFourSevenSimulator(SimulatorConfig(latency_ms=20_000))
    simulator.start()
    thread = threading.Thread(target=lambda: httpx.post(simulator.url("auth"), content=soap_envelope(
        "HasSession", WS_NS), headers={"Content-Type": "text/xml"}, timeout=30), daemon=True)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    simulator.stop()
    thread.join(timeout=5)
    assert time.monotonic() - started < 3 and not thread.is_alive()


# ---------------------------------------------------------------------------------------------
# Protocol details
# ---------------------------------------------------------------------------------------------

def test_wsdl_served_with_local_address_and_usable_by_zeep(sim):
    response = httpx.get(sim.url("transaction") + "?wsdl")
    assert response.status_code == 200 and "TransactionServiceSoap" in response.text
    assert f'location="{sim.url("transaction")}"' in response.text
    http = requests.Session()
    client = zeep.Client(sim.url("auth") + "?WSDL", transport=Transport(session=http))
    assert client.service.Login({"ApplicationId": APP_ID, "Username": USER, "Password": PASSWORD})
    assert client.service.HasSession() is True


def test_unknown_operation_and_bad_requests(sim):
    wrong_service = httpx.post(sim.url("client"), content=soap_envelope("GetAccountList", WS_NS),
                               headers={"Content-Type": "text/xml"})
    assert wrong_service.status_code == 500
    assert etree.fromstring(wrong_service.content).findtext(f".//{{{SOAP_ENV}}}Fault/faultcode") == "soap:Client"
    not_implemented = httpx.post(sim.url("account"), content=soap_envelope("CheckAccountNo", WS_NS),
                                 headers={"Content-Type": "text/xml"})
    assert not_implemented.status_code == 500 and "not implemented" in not_implemented.text
    garbage = httpx.post(sim.url("auth"), content="<not-xml", headers={"Content-Type": "text/xml"})
    assert garbage.status_code == 500 and "Server was unable to read request" in garbage.text
    assert httpx.post(sim.url("auth"), content="{}", headers={"Content-Type": "application/json"}).status_code == 415
    assert httpx.get(sim.base_url + "/nope.asmx").status_code == 404
    lower = httpx.post(sim.url("auth").lower(), content=soap_envelope("HasSession", WS_NS),
                       headers={"Content-Type": "text/xml"})
    assert lower.status_code == 200 and "<HasSessionResult>false</HasSessionResult>" in lower.text


def test_control_endpoints(sim):
    fault = httpx.post(sim.base_url + "/_sim/faults", json={"kind": "soap_fault", "operation": "HasSession",
                                                            "message": "remote fault"})
    assert fault.status_code == 201
    assert httpx.post(sim.base_url + "/_sim/faults", json={"kind": "bogus"}).status_code == 400
    soap = Soap(sim)
    with pytest.raises(ZeepFault, match="remote fault"):
        soap.auth.HasSession()
    soap.login()
    assert httpx.post(sim.base_url + "/_sim/clock", json={"advance_seconds": 1200}).status_code == 200
    assert soap.auth.HasSession() is False
    stats = httpx.get(sim.base_url + "/_sim/stats").json()
    assert stats["request_counts"] == {"HasSession": 2, "Login": 1} and stats["login_counts"] == {USER: 1}
    assert httpx.post(sim.base_url + "/_sim/reset").json() == {"reset": True}
    assert sim.request_counts() == {}


def wsdl_schema(wsdl_file: str, tmp_path: Path) -> etree.XMLSchema:
    """The WSDL's types as an lxml XMLSchema (the guid schema written out so the import resolves)."""
    xs = "http://www.w3.org/2001/XMLSchema"
    schemas = etree.parse(str(WSDL_DIR / wsdl_file)).findall(f".//{{{xs}}}schema")
    guid = next(s for s in schemas if s.get("targetNamespace") == "http://microsoft.com/wsdl/types/")
    (tmp_path / "guid.xsd").write_bytes(etree.tostring(guid))
    main = next(s for s in schemas if s is not guid)
    for schema_import in main.findall(f"{{{xs}}}import"):
        schema_import.set("schemaLocation", (tmp_path / "guid.xsd").as_uri())
    return etree.XMLSchema(etree.fromstring(etree.tostring(main)))


def test_every_response_validates_against_the_wsdl_schema(sim, tmp_path):
    """Element order, namespaces and value formats of every operation, checked by XSD validation."""
    sim.add_voucher(FJORD, date(2026, 3, 1), [(6300, Decimal("80"), "Leie"), (1920, Decimal("-80"), "Leie")])
    nil = 'xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    calls = [
        ("auth", "authService.wsdl", WS_NS, "Login", LOGIN_INNER.format(app=APP_ID, user=USER, password=PASSWORD)),
        ("auth", "authService.wsdl", WS_NS, "Login", LOGIN_INNER.format(app=APP_ID, user=USER, password="x")),
        ("auth", "authService.wsdl", WS_NS, "HasSession", ""),
        ("auth", "authService.wsdl", WS_NS, "GetIdentities", ""),
        ("auth", "authService.wsdl", WS_NS, "SetIdentityById",
         f"<identityId>{sim.identity_id(USER, HAVN)}</identityId>"),
        ("auth", "authService.wsdl", WS_NS, "GetIdentity", ""),
        ("client", "clientService.wsdl", WS_NS, "GetClientInformation", ""),
        ("account", "accountService.wsdl", WS_NS, "GetAccountList", ""),
        ("account", "accountService.wsdl", WS_NS, "GetTaxCodeList", ""),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetTransactionTypes", ""),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetFiscalYears", ""),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetTransactions",
         f"<searchParams><SystemType {nil}/><HasInvoiceId {nil}/></searchParams>"),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetAggregated",
         "<startDate>2026-01-01T00:00:00</startDate><accountNos><short>1920</short><short>3000</short></accountNos>"
         "<periodType>Month</periodType><returnIB>true</returnIB>"),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetAggregated",
         "<startDate>2026-01-01T00:00:00</startDate><accountNos><short>1920</short></accountNos>"
         "<periodType>None</periodType><returnIB>false</returnIB>"),
    ]
    schemas: dict[str, etree.XMLSchema] = {}
    cookies: dict[str, str] = {}
    for service, wsdl_file, ns, operation, inner in calls:
        if wsdl_file not in schemas:
            folder = tmp_path / wsdl_file
            folder.mkdir()
            schemas[wsdl_file] = wsdl_schema(wsdl_file, folder)
        response = httpx.post(sim.url(service), content=soap_envelope(operation, ns, inner), cookies=cookies,
                              headers={"Content-Type": "text/xml; charset=utf-8",
                                       "SOAPAction": f'"{ns.rstrip("/")}/{operation}"'})
        assert response.status_code == 200, response.text
        if "set-cookie" in response.headers:
            cookies = {"ASP.NET_SessionId": response.headers["set-cookie"].split(";")[0].split("=", 1)[1]}
        payload = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")[0]
        assert payload.tag == f"{{{ns}}}{operation}Response"
        schema = schemas[wsdl_file]
        assert schema.validate(etree.ElementTree(etree.fromstring(etree.tostring(payload)))), (
            operation, schema.error_log)
