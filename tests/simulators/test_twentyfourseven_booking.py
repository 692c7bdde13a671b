"""The booking side of the 24SevenOffice simulator (SaveBundleList, voucher reception, AttachmentService,
departments, type groups, products), driven with zeep clients built from the connector's WSDLs."""

from __future__ import annotations

import base64
import functools
import hashlib
import sys
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

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

from simulators.twentyfourseven import DraftRefused, Fault, SimulatorConfig, TwentyFourSevenSimulator  # noqa: E402

WSDL_DIR = Path(__file__).resolve().parents[2] / "layers/shared/ledgerbridge/connectors/twentyfourseven/wsdl"
WS_NS = "http://24sevenOffice.com/webservices"
ACC_NS = "http://24sevenoffice.com/webservices/economy/accounting/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
APP_ID = "6f0b7a52-3c1e-4c8a-9a55-24502450aa01"
USER, PASSWORD = "integration@regnskap.example", "integration-password"
FJORD, NORDLYS, HAVN = 1100001, 1100002, 1100003
SOLSIDEN, BAKKLANDET = 201, 202
DAGSOPPGJOR_NO, DAGSOPPGJOR_ID = 9, 12
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


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
    return Document(str(WSDL_DIR / wsdl_file), Transport())


class Soap:
    """zeep services of the six WSDLs sharing one requests.Session (one ASP.NET_SessionId cookie jar)."""

    def __init__(self, sim: TwentyFourSevenSimulator, timeout: float = 5):
        self.sim = sim
        self.http = requests.Session()
        transport = Transport(session=self.http, timeout=timeout, operation_timeout=timeout)

        def service(wsdl: str, ns: str, binding: str, name: str):
            client = zeep.Client(wsdl_document(wsdl), transport=transport)
            return client.create_service(f"{{{ns}}}{binding}", sim.url(name))

        self.auth = service("authService.wsdl", WS_NS, "AuthenticateSoap", "auth")
        self.client = service("clientService.wsdl", WS_NS, "ClientServiceSoap", "client")
        self.account = service("accountService.wsdl", WS_NS, "AccountServiceSoap", "account")
        self.tx = service("transactionService.wsdl", ACC_NS, "TransactionServiceSoap", "transaction")
        self.attachment = service("attachmentService.wsdl", ACC_NS, "AttachmentServiceSoap", "attachment")
        self.product = service("productService.wsdl", WS_NS, "ProductServiceSoap", "product")

    def login(self, company: int | None = HAVN) -> Soap:
        assert self.auth.Login({"ApplicationId": APP_ID, "Username": USER, "Password": PASSWORD})
        if company is not None:
            assert self.auth.SetIdentityById(self.sim.identity_id(USER, company)) is True
        return self

    def transactions(self, **params: Any) -> list:
        return self.tx.GetTransactions({"SystemType": None, "HasInvoiceId": None, **params}) or []

    def save(self, bundle_list: dict) -> Any:
        return self.account.SaveBundleList(bundle_list)

    def upload(self, content: bytes, chunk: int = 1000, image_type: str = "Pdf") -> Any:
        file = self.attachment.Create(image_type)
        for offset in range(0, len(content), chunk):
            self.attachment.AppendChunk(file, content[offset:offset + chunk], offset)
        return file

    def save_file(self, file: Any, stamp_no: int, location: str = "Journal", **metadata: str) -> None:
        frame = {"Id": 1, "StampNo": stamp_no, "Status": 0,
                 "MetaData": {"KeyValuePair": [{"Key": k, "Value": v} for k, v in metadata.items()]} or None}
        self.attachment.Save({"Id": file.Id, "Type": file.Type, "StampNo": 0, "FrameInfo": {"ImageFrameInfo": [frame]}},
                             location)


def shop(sim: TwentyFourSevenSimulator, **kwargs: Any) -> Soap:
    return Soap(sim, **kwargs).login(HAVN)


def today(sim: TwentyFourSevenSimulator) -> date:
    return sim.config.today


def entry(account: int, amount: str, comment: str, day: date, **extra: Any) -> dict:
    return {"AccountNo": account, "Date": datetime.combine(day, time()), "Amount": Decimal(amount),
            "Comment": comment, **extra}


def settlement(day: date, ref: str = "[LB-T1]", stamp: int = 0, department: int = SOLSIDEN) -> list[dict]:
    """A day's sales of 1,250.00 incl. 25 % VAT paid in cash: debit cash, credit sales and output VAT."""
    common = {"StampNo": stamp, "DepartmentId": department}
    return [entry(1900, "1250.00", f"Kontant {ref}", day, **common),
            entry(3000, "-1000.00", f"Salg 25 % {ref}", day, TaxNo="3", **common),
            entry(2700, "-250.00", f"Utgående mva {ref}", day, **common)]


def bundle_list(entries: list[dict], save_option: int | None = 0, year: int | None = None, sort: int = DAGSOPPGJOR_NO,
                transaction_no: int = 0, **options: Any) -> dict:
    year = year if year is not None else entries[0]["Date"].year
    voucher = {"TransactionNo": transaction_no, "Sort": 0, "Entries": {"Entry": entries}}
    result = {"Bundles": {"Bundle": [{"YearId": year, "Sort": sort, "Name": "Dagsoppgjør",
                                      "Vouchers": {"Voucher": [voucher]}}]}, **options}
    if save_option is not None:
        result["SaveOption"] = save_option
    return result


def ledger_size(sim: TwentyFourSevenSimulator, company: int = HAVN) -> int:
    return len(sim.transactions(company))


def soap_envelope(operation: str, ns: str, inner: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>'
            f'<{operation} xmlns="{ns}">{inner}</{operation}></soap:Body></soap:Envelope>')


# ---------------------------------------------------------------------------------------------
# Lists a hub checks its setup against
# ---------------------------------------------------------------------------------------------

def test_departments_per_company(sim):
    soap = shop(sim)
    assert [(d.Id, d.Name) for d in soap.client.GetDepartmentList()] == [(201, "Solsiden"), (202, "Bakklandet")]
    soap.auth.SetIdentityById(sim.identity_id(USER, FJORD))
    assert [(d.Id, d.Name) for d in soap.client.GetDepartmentList()] == [(101, "Bryggen")]
    soap.auth.SetIdentityById(sim.identity_id(USER, NORDLYS))
    assert not soap.client.GetDepartmentList()
    sim.add_department(NORDLYS, 301, "Sentrum")
    assert [d.Id for d in soap.client.GetDepartmentList()] == [301]


def test_type_groups_are_tied_to_accounts_by_account_id(sim):
    soap = shop(sim)
    account_ids = {a.AccountId: a.AccountNo for a in soap.account.GetAccountList()}
    sales = {account_ids[g.AccountId]: g.Name for g in soap.client.GetTypeGroupList("Sale")}
    assert sales == {3000: "Varesalg høy sats", 3011: "Servering middels sats", 3020: "Salg lav sats",
                     3100: "Avgiftsfritt salg"}
    assert 3090 in account_ids.values() and 3090 not in sales          # the deliberate gap
    purchase = {account_ids[g.AccountId] for g in soap.client.GetTypeGroupList("Purchase")}
    assert purchase == {4000, 6800}
    assert len(soap.client.GetTypeGroupList("All")) == 6
    sim.set_type_group(HAVN, 3090, "Kiosksalg")
    assert "Kiosksalg" in {g.Name for g in soap.client.GetTypeGroupList("Sale")}
    sim.remove_account(HAVN, 3090)                                     # groups of gone accounts are left out
    assert "Kiosksalg" not in {g.Name for g in soap.client.GetTypeGroupList("Sale")}

    soap.auth.SetIdentityById(sim.identity_id(USER, FJORD))            # other companies: every sales account
    account_ids = {a.AccountId: a.AccountNo for a in soap.account.GetAccountList()}
    assert {account_ids[g.AccountId] for g in soap.client.GetTypeGroupList("Sale")} == {3000, 3010, 3100}


def test_types_tax_codes_and_fiscal_years_of_the_shop(sim):
    soap = shop(sim)
    types = {t.No: t for t in soap.tx.GetTransactionTypes()}
    assert (types[9].Id, types[9].Title, types[9].Turnover) == (12, "Dagsoppgjør", True)
    assert [(t.TypeId, t.TypeNo, t.Title) for t in soap.account.GetTypeList()] == [
        (t.Id, t.No, t.Title) for t in types.values()]
    assert {t.EntrySeriesId for t in soap.account.GetTypeList()} == {1}
    rates = {t.TaxNo: (t.TaxRate, t.AccountNo) for t in soap.account.GetTaxCodeList()}
    assert rates["3"] == (Decimal("25"), 2700) and rates["31"] == (Decimal("15"), 2701)
    assert rates["33"] == (Decimal("12"), 2702) and rates["0"][0] == rates["5"][0] == Decimal("0")
    years = {y.StartingDate.year: y.IsLocked for y in soap.tx.GetFiscalYears()}
    this_year = today(sim).year
    assert years[this_year - 1] is True and years[this_year] is False and this_year + 1 not in years


def test_get_entry_id_is_the_next_number_and_not_reserved(sim):
    soap = shop(sim)
    last = max(e.transaction_no for e in sim.transactions(HAVN))
    now = datetime.combine(today(sim), time())
    first = soap.account.GetEntryId({"Date": now, "SortNo": 1, "EntryNo": 0})
    assert (first.EntryNo, first.SortNo, first.Date) == (last + 1, 1, now)
    assert soap.account.GetEntryId({"Date": now, "SortNo": 1, "EntryNo": 0}).EntryNo == last + 1   # not reserved
    assert soap.save(bundle_list(settlement(today(sim)), transaction_no=last + 1)).Type == "Ok"
    assert soap.account.GetEntryId({"Date": now, "SortNo": 1, "EntryNo": 0}).EntryNo == last + 2
    next_year = datetime(today(sim).year + 1, 1, 1)
    assert soap.account.GetEntryId({"Date": next_year, "SortNo": 1, "EntryNo": 0}).EntryNo == -1
    assert soap.account.GetEntryId({"Date": now, "SortNo": 99, "EntryNo": 0}).EntryNo == -1


# ---------------------------------------------------------------------------------------------
# SaveBundleList: posting to the ledger
# ---------------------------------------------------------------------------------------------

def test_balanced_bundle_posted_to_the_ledger_is_visible(sim):
    soap = shop(sim)
    day = today(sim)
    result = soap.save(bundle_list(settlement(day, "[LB-0001]", stamp=0)))
    assert (result.Type, result.Description) == ("Ok", None)

    [voucher] = sim.find_bookings(HAVN, "[LB-0001]")["ledger"]
    assert sim.find_bookings(HAVN, "[LB-0001]")["voucher_reception"] == []
    number = voucher["transaction_no"]
    assert voucher["origin"] == "SaveBundleList" and voucher["balance"] == 0 and voucher["department_ids"] == [201]
    rows = soap.transactions(TransactionNoStart=number, TransactionNoEnd=number)
    assert [(r.AccountNo, r.Amount, r.Comment, r.SequenceNo) for r in rows] == [
        (1900, Decimal("1250.00"), "Kontant [LB-0001]", 1), (3000, Decimal("-1000.00"), "Salg 25 % [LB-0001]", 2),
        (2700, Decimal("-250.00"), "Utgående mva [LB-0001]", 3)]
    assert {r.TransactionTypeId for r in rows} == {DAGSOPPGJOR_ID} and rows[1].VatCode == 3
    assert all(r.Date == datetime.combine(day, time()) for r in rows)
    assert [(d.Type, d.Value, d.Name) for d in rows[0].Dimensions.Dimension] == [("Department", "201", "Solsiden")]
    # the hub finds its booking by reference: a day's lines of its voucher type, comments scanned
    found = soap.transactions(DateStart=datetime.combine(day, time()), DateEnd=datetime.combine(day, time()),
                              TransactionTypeId=DAGSOPPGJOR_ID)
    assert {r.TransactionNo for r in found if "[LB-0001]" in r.Comment} == {number}
    assert soap.transactions(DepartmentId=BAKKLANDET) == []
    assert {r.TransactionNo for r in soap.transactions(DepartmentId=SOLSIDEN)} == {number}
    [cash] = soap.tx.GetAggregated(startDate=datetime.combine(day, time()), accountNos={"short": [1900]},
                                   periodType="None", returnIB=True)
    assert cash.TotalBalance == sim.balance(HAVN, 1900) and cash.Periods.KeyValuePair[0].Value == "1250.00"


def test_several_bundles_and_vouchers_in_one_call(sim):
    soap = shop(sim)
    day = today(sim)
    first, second = bundle_list(settlement(day, "[LB-A]")), bundle_list(settlement(day, "[LB-B]", department=202))
    first["Bundles"]["Bundle"][0]["Vouchers"]["Voucher"].append(
        {"TransactionNo": 0, "Sort": 5, "Entries": {"Entry": settlement(day, "[LB-C]")}})
    first["Bundles"]["Bundle"] += second["Bundles"]["Bundle"]
    assert soap.save(first).Type == "Ok"
    found = {ref: sim.find_bookings(HAVN, ref)["ledger"] for ref in ("[LB-A]", "[LB-B]", "[LB-C]")}
    assert all(len(v) == 1 for v in found.values())
    assert len({v[0]["transaction_no"] for v in found.values()}) == 3
    assert found["[LB-C]"][0]["transaction_type_ids"] == [5]        # the voucher's Sort overrides the bundle's
    assert found["[LB-B]"][0]["department_ids"] == [202]


def test_a_used_transaction_no_is_no_idempotency_key(sim):
    """24SevenOffice documents no refusal of a TransactionNo already in the ledger: the simulator books the
    lines under it again, so a resend with the same number doubles the booking."""
    soap = shop(sim)
    number = soap.account.GetEntryId({"Date": datetime.combine(today(sim), time()), "SortNo": 1, "EntryNo": 0}).EntryNo
    for _ in range(2):
        assert soap.save(bundle_list(settlement(today(sim), "[LB-TWICE]"), transaction_no=number)).Type == "Ok"
    [voucher] = sim.vouchers(HAVN, "[LB-TWICE]")
    assert voucher["transaction_no"] == number and len(voucher["lines"]) == 6


REFUSALS = [
    ("unbalanced", lambda d: [entry(1900, "1250.00", "x", d), entry(3000, "-1000.00", "x", d, TaxNo="3"),
                              entry(2700, "-249.00", "x", d)], {},
     "Bundle 1, voucher 1: the voucher does not balance: debit and credit differ by 1.00"),
    ("unknown account", lambda d: [entry(1901, "10.00", "x", d), entry(2905, "-10.00", "x", d)], {},
     "Bundle 1, voucher 1, entry 1: account 1901 does not exist in the chart of accounts"),
    ("account without type group", lambda d: [entry(1900, "125.00", "x", d),
                                              entry(3090, "-100.00", "x", d, TaxNo="3"),
                                              entry(2700, "-25.00", "x", d)], {},
     "entry 2: account 3090 Salgsinntekt kiosk has no type group (sales type); set one up in 24SevenOffice under "
     "Accounting > Settings > Sales types"),
    ("missing TaxNo", lambda d: [entry(1900, "125.00", "x", d), entry(3000, "-100.00", "x", d),
                                 entry(2700, "-25.00", "x", d)], {},
     "entry 2: account 3000 Salgsinntekt, avgiftspliktig has VAT handling (default VAT code 3); the entry needs "
     "a TaxNo"),
    ("unknown TaxNo", lambda d: [entry(1900, "125.00", "x", d), entry(3000, "-100.00", "x", d, TaxNo="99"),
                                 entry(2700, "-25.00", "x", d)], {},
     "entry 2: VAT code (TaxNo) 99 does not exist"),
    ("unknown department", lambda d: settlement(d, department=999), {},
     "entry 1: department 999 (DepartmentId) does not exist"),
    ("unknown transaction type", lambda d: settlement(d), {"sort": 99},
     "Bundle 1, voucher 1: transaction type 99 (Sort) does not exist"),
    ("no transaction type", lambda d: settlement(d), {"sort": 0}, "no transaction type: set Sort"),
    ("YearId missing", lambda d: settlement(d), {"year": 0}, "Bundle 1: YearId is not set"),
    ("entry outside YearId", lambda d: settlement(d)[:2] + [entry(2700, "-250.00", "x", date(d.year - 1, 12, 31))],
     {"year": "this"}, "entry 3: date"),
    ("three decimals", lambda d: [entry(1900, "10.005", "x", d), entry(2905, "-10.005", "x", d)], {},
     "entry 1: Amount 10.005 has more than 2 decimals"),
    ("comment too long", lambda d: [entry(1900, "10.00", "Gavekort 🎁 " + "x" * 64, d),
                                    entry(2905, "-10.00", "x", d)], {},
     "entry 1: Comment is 76 characters long; at most 75 are allowed"),
    ("foreign currency", lambda d: [entry(1900, "10.00", "x", d, CurrencyId="EUR"), entry(2905, "-10.00", "x", d)],
     {}, "entry 1: currency EUR is not supported"),
    ("SaveOption 2", lambda d: settlement(d), {"save_option": 2}, "SaveOption 2 is not valid"),
]


@pytest.mark.parametrize("name, entries, options, message", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_answer_not_saved_and_save_nothing(sim, name, entries, options, message):
    soap = shop(sim)
    before = ledger_size(sim)
    options = dict(options)
    if options.get("year") == "this":
        options["year"] = today(sim).year
    result = soap.save(bundle_list(entries(today(sim)), **options))
    assert result.Type == "NotSaved"
    assert message in result.Description, result.Description
    assert ledger_size(sim) == before and sim.voucher_reception(HAVN) == []


@pytest.mark.parametrize("years_back, message", [
    (1, "fiscal year {year} (YearId) is closed (locked); nothing can be booked in it"),
    (-1, "fiscal year {year} (YearId) does not exist in Havnekafeen AS; set it up in the accounting settings first")])
def test_closed_or_missing_fiscal_year_is_refused(sim, years_back, message):
    soap = shop(sim)
    day = today(sim).replace(year=today(sim).year - years_back, month=6, day=15)
    result = soap.save(bundle_list(settlement(day)))
    assert result.Type == "NotSaved" and result.Description == "Bundle 1: " + message.format(year=day.year)
    assert sim.find_bookings(HAVN, "[LB-T1]") == {"ledger": [], "voucher_reception": []}
    sim.set_fiscal_year_locked(HAVN, day.year, locked=False)          # opened (or set up): now it books
    assert soap.save(bundle_list(settlement(day))).Type == "Ok"


def test_a_call_is_all_or_nothing_and_lists_every_problem(sim):
    soap = shop(sim)
    good, bad = bundle_list(settlement(today(sim), "[LB-GOOD]")), bundle_list(
        settlement(today(sim), "[LB-BAD]", department=999)[:2])
    good["Bundles"]["Bundle"] += bad["Bundles"]["Bundle"]
    result = soap.save(good)
    assert result.Type == "NotSaved"
    assert result.Description.splitlines() == [
        "Bundle 2, voucher 1, entry 1: department 999 (DepartmentId) does not exist",
        "Bundle 2, voucher 1, entry 2: department 999 (DepartmentId) does not exist",
        "Bundle 2, voucher 1: the voucher does not balance: debit and credit differ by 250.00 (amounts: debit "
        "positive, credit negative)"]
    assert sim.find_bookings(HAVN, "[LB-GOOD]")["ledger"] == []


def test_vat_warnings_refuse_unless_ignored(sim):
    soap = shop(sim)
    day = today(sim)
    no_vat_line = [entry(1900, "1000.00", "x", day), entry(3000, "-1000.00", "[LB-NOVAT]", day, TaxNo="3")]
    result = soap.save(bundle_list(no_vat_line))
    assert result.Type == "NotSaved" and result.Description == (
        "Warning vatisnotinbalance: Bundle 1, voucher 1: the entries with VAT code 3 make -250.00 VAT on account "
        "2700, the voucher posts 0.00 there")
    assert soap.save(bundle_list(no_vat_line, IgnoreWarnings={"string": ["VatIsNotInBalance"]})).Type == "Ok"
    assert len(sim.vouchers(HAVN, "[LB-NOVAT]")) == 1

    vat_only = [entry(1900, "25.00", "x", day), entry(2700, "-25.00", "[LB-VATONLY]", day)]
    result = soap.save(bundle_list(vat_only))
    assert result.Type == "NotSaved" and result.Description.startswith("Warning vatismissingfoundation: ")
    assert soap.save(bundle_list(vat_only, IgnoreWarnings={"string": ["vatismissingfoundation"]})).Type == "Ok"

    rounding = settlement(day, "[LB-ROUND]")        # a few øre off (VAT computed from the gross) passes
    rounding[0]["Amount"], rounding[2]["Amount"] = Decimal("1250.03"), Decimal("-250.03")
    assert soap.save(bundle_list(rounding)).Type == "Ok"


def test_gift_cards_cash_rounding_and_inventory_lines_book(sim):
    """What a shop's settlement carries besides sales: a gift card sold (liability, no VAT) and redeemed (a
    means of payment), cash rounding, and the cost of goods sold moved out of inventory."""
    soap = shop(sim)
    day = today(sim)
    lines = [
        entry(1900, "1300.00", "Kontant [LB-MIX]", day), entry(1570, "499.50", "Kort [LB-MIX]", day),
        entry(2905, "200.00", "Gavekort innløst [LB-MIX]", day),
        entry(2905, "-500.00", "Gavekort solgt [LB-MIX]", day),
        entry(3011, "-1304.35", "Servering 15 % [LB-MIX]", day, TaxNo="31"),
        entry(2701, "-195.65", "Utgående mva 15 % [LB-MIX]", day),
        entry(7795, "0.50", "Øreavrunding [LB-MIX]", day),
        entry(4090, "410.00", "Varekost [LB-MIX]", day), entry(1460, "-410.00", "Varelager [LB-MIX]", day),
    ]
    result = soap.save(bundle_list(lines, BundleDirectAccounting=True))
    assert result.Type == "Ok", result.Description
    [voucher] = sim.vouchers(HAVN, "[LB-MIX]")
    assert voucher["balance"] == 0 and len(voucher["lines"]) == 9


# ---------------------------------------------------------------------------------------------
# Voucher reception (SaveOption = 1)
# ---------------------------------------------------------------------------------------------

def test_save_option_1_lands_in_voucher_reception_and_approval_moves_it(sim):
    soap = shop(sim)
    day = today(sim)
    before = ledger_size(sim)
    options = {"DirectLedger": True}           # DirectLedger is the customer ledger switch, not "post"
    result = soap.save(bundle_list(settlement(day, "[LB-DRAFT]"), save_option=1, **options))
    assert (result.Type, result.Description) == ("Ok", None)
    assert ledger_size(sim) == before
    assert [r for r in soap.transactions() if "[LB-DRAFT]" in r.Comment] == []

    listed = httpx.get(f"{sim.base_url}/_sim/clients/{HAVN}/voucher-reception").json()
    [draft] = listed
    assert draft["bundle_name"] == "Dagsoppgjør" and draft["sort"] == DAGSOPPGJOR_NO
    assert draft["transaction_type_id"] == DAGSOPPGJOR_ID and draft["transaction_no"] == 0
    assert draft["balanced"] is True and draft["direct_ledger"] is True and draft["bundle_direct_accounting"] is False
    assert [(line["account_no"], line["amount"], line["department_id"]) for line in draft["lines"]] == [
        (1900, "1250.00", 201), (3000, "-1000.00", 201), (2700, "-250.00", 201)]
    assert sim.find_bookings(HAVN, "[LB-DRAFT]")["voucher_reception"][0]["draft_id"] == draft["draft_id"]

    approved = httpx.post(f"{sim.base_url}/_sim/clients/{HAVN}/voucher-reception/{draft['draft_id']}/approve")
    assert approved.status_code == 200
    number = approved.json()["transaction_no"]
    assert number == max(e.transaction_no for e in sim.transactions(HAVN))
    rows = soap.transactions(TransactionNoStart=number, TransactionNoEnd=number)
    assert len(rows) == 3 and {r.TransactionTypeId for r in rows} == {DAGSOPPGJOR_ID}
    assert sim.voucher_reception(HAVN) == [] and sim.vouchers(HAVN, "[LB-DRAFT]")[0]["origin"] == "voucher reception"
    again = httpx.post(f"{sim.base_url}/_sim/clients/{HAVN}/voucher-reception/{draft['draft_id']}/approve")
    assert again.status_code == 404


def test_absent_save_option_is_the_wsdl_default_1(sim):
    soap = shop(sim)
    assert soap.save(bundle_list(settlement(today(sim), "[LB-DEFAULT]"), save_option=None)).Type == "Ok"
    assert sim.find_bookings(HAVN, "[LB-DEFAULT]")["ledger"] == []
    assert len(sim.voucher_reception(HAVN)) == 1


def test_allow_difference_only_for_voucher_reception(sim):
    soap = shop(sim)
    unbalanced = [entry(1900, "1250.00", "Kontant [LB-DIFF]", today(sim)),
                  entry(2905, "-1000.00", "Gavekort solgt [LB-DIFF]", today(sim))]
    assert soap.save(bundle_list(unbalanced, AllowDifference=True)).Type == "NotSaved"        # posting
    assert soap.save(bundle_list(unbalanced, save_option=1, AllowDifference=True)).Type == "Ok"
    [draft] = sim.voucher_reception(HAVN)
    assert draft["balanced"] is False and draft["difference"] == Decimal("250.00")
    with pytest.raises(DraftRefused) as refused:
        sim.approve_draft(HAVN, draft["draft_id"])
    assert refused.value.problems == ["Draft: the voucher does not balance: debit and credit differ by 250.00 "
                                      "(amounts: debit positive, credit negative)"]
    response = httpx.post(f"{sim.base_url}/_sim/clients/{HAVN}/voucher-reception/{draft['draft_id']}/approve")
    assert response.status_code == 409 and response.json()["problems"] == refused.value.problems
    assert httpx.delete(f"{sim.base_url}/_sim/clients/{HAVN}/voucher-reception/{draft['draft_id']}").json() == {
        "draft_id": draft["draft_id"], "deleted": True}
    assert sim.voucher_reception(HAVN) == []


def test_draft_keeps_its_transaction_no_and_is_checked_again_at_approval(sim):
    soap = shop(sim)
    number = soap.account.GetEntryId({"Date": datetime.combine(today(sim), time()), "SortNo": 1, "EntryNo": 0}).EntryNo
    assert soap.save(bundle_list(settlement(today(sim), "[LB-KEEP]"), save_option=1, transaction_no=number)).Type == "Ok"
    [draft] = sim.voucher_reception(HAVN)
    sim.remove_department(HAVN, SOLSIDEN)                             # changed in 24SevenOffice meanwhile
    with pytest.raises(DraftRefused, match="department 201"):
        sim.approve_draft(HAVN, draft["draft_id"])
    sim.add_department(HAVN, SOLSIDEN, "Solsiden")
    assert sim.approve_draft(HAVN, draft["draft_id"]) == number


def test_a_draft_leaves_no_trace_the_api_can_read(sim):
    """No SOAP call lists voucher reception: a draft is not in GetTransactions, and the file it carries looks
    the same to GetFileInfo before and after the draft was saved."""
    soap = shop(sim)
    stamp = soap.attachment.GetStampNo()
    file = soap.upload(PDF)
    soap.save_file(file, stamp, "Retrieval")
    search = {"StampNo": {"int": [stamp]}, "HasStampNo": None, "FileApproved": None}
    before = soap.attachment.GetFileInfo(search)
    assert soap.save(bundle_list(settlement(today(sim), "[LB-HIDDEN]", stamp=stamp), save_option=1)).Type == "Ok"
    assert [r for r in soap.transactions() if "[LB-HIDDEN]" in r.Comment] == []
    assert soap.attachment.GetFileInfo(search) == before
    for flag in ("PrepostedInJournal", "PostedInJournal"):
        assert not soap.attachment.GetFileInfo({**search, "AttachmentStatus": {"FlagType": [flag]}})
    assert sim.find_bookings(HAVN, "[LB-HIDDEN]")["voucher_reception"][0]["files"] == [file.Id]
    assert sim.orphan_attachments(HAVN) == []                         # the draft holds it


# ---------------------------------------------------------------------------------------------
# AttachmentService
# ---------------------------------------------------------------------------------------------

def test_chunked_upload_stamp_number_and_voucher_tie(sim):
    soap = shop(sim)
    assert soap.attachment.GetMaxRequestLength() == 4096               # KB, httpRuntime maxRequestLength
    stamp = soap.attachment.GetStampNo()
    assert stamp == max(e.stamp_no for e in sim.transactions(HAVN)) + 1
    assert soap.attachment.GetStampNo() == stamp                      # not reserved until used

    file = soap.attachment.Create("Pdf")
    assert (file.Type, file.StampNo) == ("Pdf", 0) and file.Id > 0
    for offset in range(0, len(PDF), 4000):
        soap.attachment.AppendChunk(file, PDF[offset:offset + 4000], offset)
        assert soap.attachment.GetSize(file) == min(offset + 4000, len(PDF))
    soap.attachment.AppendChunkByLength(file, b"tail-and-garbage", 4, len(PDF))
    content = PDF + b"tail"
    assert soap.attachment.GetChecksum(file) == hashlib.md5(content).hexdigest()
    assert soap.attachment.DownloadChunk(file, 0, 9) == b"%PDF-1.4\n"
    by_id = {"FileId": {"int": [file.Id]}, "HasStampNo": None, "FileApproved": None}
    assert not soap.attachment.GetFileInfo(by_id)                     # not saved yet: not listed

    soap.save_file(file, stamp, "Journal", PageNo="1", InvoiceOCR="[LB-0042]")
    assert soap.attachment.GetStampNo() == stamp + 1
    [info] = soap.attachment.GetFileInfo({"StampNo": {"int": [stamp]}, "HasStampNo": True, "FileApproved": None})
    assert (info.Id, info.Type, info.StampNo, info.FrameInfo.ImageFrameInfo[0].StampNo) == (file.Id, "Pdf", stamp, stamp)
    assert {(p.Key, p.Value) for p in info.StampMeta.KeyValuePair} == {("PageNo", "1"), ("InvoiceOCR", "[LB-0042]")}
    flagged = {"StampNo": {"int": [stamp]}, "HasStampNo": None, "FileApproved": None}
    assert soap.attachment.GetFileInfo({**flagged, "AttachmentStatus": {"FlagType": ["PrepostedInJournal"]}})
    assert [f["file_id"] for f in sim.orphan_attachments(HAVN)] == [file.Id]     # tied to nothing yet
    assert sim.file_content(HAVN, file.Id) == content

    assert soap.save(bundle_list(settlement(today(sim), "[LB-0042]", stamp=stamp))).Type == "Ok"
    [voucher] = sim.vouchers(HAVN, "[LB-0042]")
    assert voucher["stamp_nos"] == [stamp] and voucher["files"] == [file.Id]
    assert sim.voucher_files(HAVN)[voucher["transaction_no"]] == [file.Id]
    assert sim.orphan_attachments(HAVN) == []
    [listed] = [f for f in sim.attachments(HAVN) if f["file_id"] == file.Id]
    assert listed["vouchers"] == [voucher["transaction_no"]] and listed["flags"] == ["PostedInJournal"]
    assert listed["size"] == len(content) and listed["location"] == "Journal"
    assert soap.attachment.GetFileInfo({**flagged, "AttachmentStatus": {"FlagType": ["PostedInJournal"]}})
    assert {r.StampNo for r in soap.transactions(TransactionNoStart=voucher["transaction_no"],
                                                 TransactionNoEnd=voucher["transaction_no"])} == {stamp}


def test_upload_refusals(sim):
    soap = shop(sim)
    file = soap.attachment.Create("Png")
    soap.attachment.AppendChunk(file, b"12345", 0)
    for offset in (0, 4, 6):                                          # a repeated or skipped chunk
        with pytest.raises(ZeepFault) as error:
            soap.attachment.AppendChunk(file, b"67890", offset)
        assert error.value.code == "soap:Server" and f"Invalid offset {offset}" in error.value.message
    assert soap.attachment.GetSize(file) == 5
    with pytest.raises(ZeepFault, match="Scanning is not implemented"):
        soap.save_file(file, 0, "Scanning")
    empty = soap.attachment.Create("Png")
    with pytest.raises(ZeepFault, match="is empty"):
        soap.save_file(empty, 0)
    soap.save_file(file, 0)                                           # stamp 0: the next free one is taken
    [saved] = [f for f in sim.attachments(HAVN) if f["file_id"] == file.Id]
    assert saved["stamp_no"] == max(e.stamp_no for e in sim.transactions(HAVN)) + 1
    soap.save_file(file, saved["stamp_no"])                           # the same Save again changes nothing
    with pytest.raises(ZeepFault, match="already saved"):
        soap.save_file(file, saved["stamp_no"] + 5)
    with pytest.raises(ZeepFault, match="is saved; no more chunks"):
        soap.attachment.AppendChunk(file, b"x", 5)
    with pytest.raises(ZeepFault, match="does not exist"):
        soap.attachment.GetSize({"Id": 999, "Type": "Png", "StampNo": 0})
    soap.auth.SetIdentityById(sim.identity_id(USER, FJORD))           # files are per company
    with pytest.raises(ZeepFault, match=f"The file {file.Id} does not exist"):
        soap.attachment.GetSize(file)


def test_pdf_refused_when_configured_as_documented(sim):
    soap = shop(sim)
    sim.config.pdf_attachments = False
    try:
        with pytest.raises(ZeepFault, match="PDF files are not supported"):
            soap.attachment.Create("Pdf")
        assert soap.attachment.Create("Tiff").Type == "Tiff"
    finally:
        sim.config.pdf_attachments = True


def test_too_large_requests_are_refused(sim):
    soap = shop(sim)
    file = soap.attachment.Create("Pdf")
    limit = sim.config.max_request_kb * 1024
    too_big = b"x" * (limit * 3 // 4 + 1)                             # base64 makes it more than the limit
    with pytest.raises(ZeepFault) as error:
        soap.attachment.AppendChunk(file, too_big, 0)
    assert error.value.code == "soap:Client"
    assert error.value.message == "Server was unable to read request. ---> Maximum request length exceeded."
    assert soap.attachment.GetSize(file) == 0
    fits = b"x" * (limit * 3 // 4 - 4096)
    soap.attachment.AppendChunk(file, fits, 0)
    assert soap.attachment.GetSize(file) == len(fits)
    assert httpx.get(f"{sim.base_url}/_sim/stats").json()["too_large_requests"] == 1

    sim.config.iis_max_content_length, iis_limit = 1_000_000, sim.config.iis_max_content_length
    try:
        raw = httpx.post(sim.url("attachment"), content=b"<x>" + b" " * 1_000_000 + b"</x>",
                         headers={"Content-Type": "text/xml"})
    finally:
        sim.config.iis_max_content_length = iis_limit
    assert raw.status_code == 404 and "404.13" in raw.text and raw.headers["content-type"].startswith("text/html")


# ---------------------------------------------------------------------------------------------
# ProductService
# ---------------------------------------------------------------------------------------------

def test_get_products_finds_giftcard_where_it_exists(sim):
    soap = shop(sim)
    [giftcard] = soap.product.GetProducts({"No": "GIFTCARD"})
    assert (giftcard.No, giftcard.Name, giftcard.TaxRate) == ("GIFTCARD", "Gavekort", Decimal("0"))
    assert soap.product.GetProducts({"No": "giftcard"})[0].Id == giftcard.Id        # case-insensitive
    assert [p.No for p in soap.product.GetProducts({"Name": "kaffe"})] == ["K-100", "V-300"]
    assert len(soap.product.GetProducts({})) == 4
    [only] = soap.product.GetProducts({"Id": giftcard.Id}, {"string": ["No"]})
    assert only.No == "GIFTCARD" and only.Name is None and only.Id is None

    soap.auth.SetIdentityById(sim.identity_id(USER, FJORD))
    assert not soap.product.GetProducts({"No": "GIFTCARD"})
    assert [p.No for p in soap.product.GetProducts({})] == ["1001", "1002"]
    sim.add_product(FJORD, "GIFTCARD", "Gavekort")
    assert soap.product.GetProducts({"No": "GIFTCARD"})[0].Name == "Gavekort"


# ---------------------------------------------------------------------------------------------
# Sessions, identities, faults
# ---------------------------------------------------------------------------------------------

NEW_OPERATIONS = [
    ("client", "GetDepartmentList", ()), ("client", "GetTypeGroupList", ("Sale",)),
    ("account", "GetTypeList", ()), ("account", "GetEntryId", ({"Date": datetime(2026, 1, 1), "SortNo": 1,
                                                                "EntryNo": 0},)),
    ("account", "SaveBundleList", ({"Bundles": None},)),
    ("attachment", "Create", ("Pdf",)), ("attachment", "GetStampNo", ()),
    ("attachment", "GetSize", ({"Id": 1, "Type": "Pdf", "StampNo": 0},)),
    ("attachment", "GetFileInfo", ({"HasStampNo": None, "FileApproved": None},)),
    ("product", "GetProducts", ({"No": "GIFTCARD"},)),
]


@pytest.mark.parametrize("service, operation, args", NEW_OPERATIONS, ids=[o[1] for o in NEW_OPERATIONS])
def test_new_operations_need_a_session_and_an_identity(sim, service, operation, args):
    soap = Soap(sim)
    with pytest.raises(ZeepFault) as error:
        getattr(getattr(soap, service), operation)(*args)
    assert error.value.message.startswith("Not authenticated") and error.value.code == "soap:Client"
    soap.login(company=None)
    sim.revoke(USER, FJORD)                                           # the session's identity goes away
    with pytest.raises(ZeepFault) as error:
        getattr(getattr(soap, service), operation)(*args)
    assert error.value.message == "No identity selected"


def test_get_max_request_length_needs_only_a_session(sim):
    soap = Soap(sim)
    with pytest.raises(ZeepFault, match="Not authenticated"):
        soap.attachment.GetMaxRequestLength()
    soap.login(company=None)
    sim.revoke(USER, FJORD)
    assert soap.attachment.GetMaxRequestLength() == 4096


def test_commit_then_server_fault_on_save_bundle_list(sim):
    soap = shop(sim)
    sim.add_fault(Fault("fault_after", operation="SaveBundleList"))
    with pytest.raises(ZeepFault) as error:
        soap.save(bundle_list(settlement(today(sim), "[LB-LOST]")))
    assert error.value.code == "soap:Server"
    assert len(sim.find_bookings(HAVN, "[LB-LOST]")["ledger"]) == 1         # committed all the same
    assert [r.TransactionNo for r in soap.transactions() if r.Comment == "Kontant [LB-LOST]"]


def test_commit_then_gateway_error_and_fault_before_commit(sim):
    soap = shop(sim)
    sim.add_fault(Fault("fault_after", operation="SaveBundleList", status=502))
    with pytest.raises(TransportError) as error:
        soap.save(bundle_list(settlement(today(sim), "[LB-502]"), save_option=1))
    assert error.value.status_code == 502
    assert len(sim.find_bookings(HAVN, "[LB-502]")["voucher_reception"]) == 1
    sim.add_fault(Fault("soap_fault", operation="SaveBundleList"))
    with pytest.raises(ZeepFault):
        soap.save(bundle_list(settlement(today(sim), "[LB-NOTDONE]")))
    assert sim.find_bookings(HAVN, "[LB-NOTDONE]") == {"ledger": [], "voucher_reception": []}


def test_commit_then_timeout_on_save_bundle_list(sim):
    soap = shop(sim, timeout=0.5)
    sim.add_fault(Fault("timeout_after", operation="SaveBundleList", delay_s=2))
    with pytest.raises(requests.exceptions.ReadTimeout):
        soap.save(bundle_list(settlement(today(sim), "[LB-SLOW]")))
    assert len(sim.find_bookings(HAVN, "[LB-SLOW]")["ledger"]) == 1


def test_save_result_fault_answers_a_failed_save_response(sim):
    soap = shop(sim)
    sim.add_fault(Fault("save_result", operation="SaveBundleList", result_type="SystemError", message="Timeout"))
    result = soap.save(bundle_list(settlement(today(sim), "[LB-SYSERR]")))
    assert (result.Type, result.Description) == ("SystemError", "Timeout")
    assert sim.find_bookings(HAVN, "[LB-SYSERR]")["ledger"] == []
    with pytest.raises(ValueError):
        Fault("save_result", result_type="Maybe")


def test_commit_then_fault_on_append_chunk_and_save(sim):
    soap = shop(sim, timeout=0.5)
    file = soap.attachment.Create("Pdf")
    sim.add_fault(Fault("fault_after", operation="AppendChunk"))
    with pytest.raises(ZeepFault):
        soap.attachment.AppendChunk(file, PDF[:100], 0)
    with pytest.raises(ZeepFault, match="Invalid offset 0"):         # the blind resend is refused ...
        soap.attachment.AppendChunk(file, PDF[:100], 0)
    assert soap.attachment.GetSize(file) == 100                       # ... GetSize says where to go on
    soap.attachment.AppendChunk(file, PDF[100:], 100)

    stamp = soap.attachment.GetStampNo()
    sim.add_fault(Fault("timeout_after", operation="Save", delay_s=2))
    with pytest.raises(requests.exceptions.ReadTimeout):
        soap.save_file(file, stamp)
    assert soap.attachment.GetFileInfo({"FileId": {"int": [file.Id]}, "HasStampNo": None,
                                        "FileApproved": None})[0].StampNo == stamp
    soap.save_file(file, stamp)                                       # the same Save again: no-op, no fault

    other = soap.upload(b"GIF89a")
    sim.add_fault(Fault("fault_after", operation="Save", faultcode="soap:Server", message="Server was unable to "
                                                                                           "process request."))
    with pytest.raises(ZeepFault):
        soap.save_file(other, 0)
    assert [f["saved"] is not None for f in sim.attachments(HAVN) if f["file_id"] == other.Id] == [True]
    assert {f["file_id"] for f in sim.orphan_attachments(HAVN)} == {file.Id, other.Id}


def test_control_endpoints_for_bookings(sim):
    soap = shop(sim)
    stamp = soap.attachment.GetStampNo()
    file = soap.upload(PDF)
    soap.save_file(file, stamp)
    soap.save(bundle_list(settlement(today(sim), "[LB-HTTP]", stamp=stamp)))
    soap.save(bundle_list(settlement(today(sim), "[LB-HTTP2]"), save_option=1))
    base = f"{sim.base_url}/_sim/clients/{HAVN}"
    [voucher] = httpx.get(f"{base}/vouchers", params={"text": "[LB-HTTP]"}).json()
    assert voucher["files"] == [file.Id] and voucher["balance"] == "0.00" and voucher["date"] == str(today(sim))
    bookings = httpx.get(f"{base}/bookings", params={"text": "[LB-HTTP2]"}).json()
    assert bookings["ledger"] == [] and len(bookings["voucher_reception"]) == 1
    assert httpx.get(f"{base}/bookings").status_code == 400
    [listed] = httpx.get(f"{base}/attachments").json()
    assert listed["file_id"] == file.Id and listed["vouchers"] == [voucher["transaction_no"]]
    assert httpx.get(f"{base}/attachments/orphans").json() == []
    assert httpx.get(f"{sim.base_url}/_sim/clients/999/vouchers").status_code == 404
    assert httpx.post(f"{base}/voucher-reception/424242/approve").status_code == 404
    fault = httpx.post(f"{sim.base_url}/_sim/faults", json={"kind": "fault_after", "operation": "SaveBundleList"})
    assert fault.status_code == 201 and fault.json()["kind"] == "fault_after"


# ---------------------------------------------------------------------------------------------
# Protocol
# ---------------------------------------------------------------------------------------------

def test_wsdls_served_with_the_local_address(sim):
    for name in ("attachment", "product"):
        response = httpx.get(sim.url(name) + "?wsdl")
        assert response.status_code == 200 and f'location="{sim.url(name)}"' in response.text
        assert "24sevenoffice.com/" not in response.text.split("<wsdl:service")[1]


def wsdl_schema(wsdl_file: str, folder: Path) -> etree.XMLSchema:
    xs = "http://www.w3.org/2001/XMLSchema"
    schemas = etree.parse(str(WSDL_DIR / wsdl_file)).findall(f".//{{{xs}}}schema")
    main = next(s for s in schemas if s.get("targetNamespace") != "http://microsoft.com/wsdl/types/")
    guid = next((s for s in schemas if s.get("targetNamespace") == "http://microsoft.com/wsdl/types/"), None)
    if guid is not None:
        (folder / "guid.xsd").write_bytes(etree.tostring(guid))
        for schema_import in main.findall(f"{{{xs}}}import"):
            schema_import.set("schemaLocation", (folder / "guid.xsd").as_uri())
    return etree.XMLSchema(etree.fromstring(etree.tostring(main)))


def test_every_new_response_validates_against_the_wsdl_schema(sim, tmp_path):
    soap = shop(sim)
    stamp = soap.attachment.GetStampNo()
    file = soap.upload(PDF)
    soap.save_file(file, stamp, "Journal", PageNo="1")
    assert soap.save(bundle_list(settlement(today(sim), "[LB-XSD]", stamp=stamp))).Type == "Ok"
    cookies = {"ASP.NET_SessionId": soap.http.cookies["ASP.NET_SessionId"]}
    nil = 'xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    image = f"<file><Id>{file.Id}</Id><Type>Pdf</Type><StampNo>0</StampNo></file>"
    day = today(sim).isoformat()
    calls = [
        ("client", "clientService.wsdl", WS_NS, "GetDepartmentList", ""),
        ("client", "clientService.wsdl", WS_NS, "GetTypeGroupList", "<module>All</module>"),
        ("account", "accountService.wsdl", WS_NS, "GetTypeList", ""),
        ("account", "accountService.wsdl", WS_NS, "GetEntryId",
         f"<argEntryId><Date>{day}T00:00:00</Date><SortNo>1</SortNo><EntryNo>0</EntryNo></argEntryId>"),
        ("account", "accountService.wsdl", WS_NS, "SaveBundleList", "<BundleList><SaveOption>0</SaveOption>"
         "</BundleList>"),
        ("transaction", "transactionService.wsdl", ACC_NS, "GetTransactions",
         f"<searchParams><DepartmentId>201</DepartmentId><SystemType {nil}/><HasInvoiceId {nil}/></searchParams>"),
        ("attachment", "attachmentService.wsdl", ACC_NS, "Create", "<type>Png</type>"),
        ("attachment", "attachmentService.wsdl", ACC_NS, "GetStampNo", ""),
        ("attachment", "attachmentService.wsdl", ACC_NS, "GetMaxRequestLength", ""),
        ("attachment", "attachmentService.wsdl", ACC_NS, "GetSize", image),
        ("attachment", "attachmentService.wsdl", ACC_NS, "GetChecksum", image),
        ("attachment", "attachmentService.wsdl", ACC_NS, "DownloadChunk",
         f"{image}<offset>0</offset><bufferSize>10</bufferSize>"),
        ("attachment", "attachmentService.wsdl", ACC_NS, "GetFileInfo",
         f"<parameters><StampNo><int>{stamp}</int></StampNo><HasStampNo {nil}/><FileApproved {nil}/></parameters>"),
        ("attachment", "attachmentService.wsdl", ACC_NS, "AppendChunk",
         f"<file><Id>{soap.attachment.Create('Png').Id}</Id><Type>Png</Type><StampNo>0</StampNo></file>"
         f"<buffer>{base64.b64encode(b'png').decode()}</buffer><offset>0</offset>"),
        ("attachment", "attachmentService.wsdl", ACC_NS, "Save",
         f"<file><Id>{soap.upload(b'png').Id}</Id><Type>Pdf</Type><StampNo>0</StampNo></file>"
         f"<location>Retrieval</location>"),
        ("product", "productService.wsdl", WS_NS, "GetProducts", "<searchParams><No>GIFTCARD</No></searchParams>"),
    ]
    schemas: dict[str, etree.XMLSchema] = {}
    for service, wsdl_file, ns, operation, inner in calls:
        if wsdl_file not in schemas:
            folder = tmp_path / wsdl_file
            folder.mkdir()
            schemas[wsdl_file] = wsdl_schema(wsdl_file, folder)
        response = httpx.post(sim.url(service), content=soap_envelope(operation, ns, inner), cookies=cookies,
                              headers={"Content-Type": "text/xml; charset=utf-8"})
        assert response.status_code == 200, (operation, response.text)
        payload = etree.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")[0]
        assert payload.tag == f"{{{ns}}}{operation}Response"
        schema = schemas[wsdl_file]
        assert schema.validate(etree.ElementTree(etree.fromstring(etree.tostring(payload)))), (
            operation, schema.error_log)
    rows = soap.transactions(DepartmentId=SOLSIDEN)
    assert rows and rows[0].Dimensions.Dimension[0].Value == "201"


def test_a_fresh_simulator_seeds_the_same_booking_data():
    one, two = TwentyFourSevenSimulator(), TwentyFourSevenSimulator(SimulatorConfig(today=date(2026, 3, 1)))
    assert [d.id for d in one.state.client(HAVN).departments] == [SOLSIDEN, BAKKLANDET]
    assert {y: f.locked for y, f in two.state.client(HAVN).fiscal_years.items()} == {2024: True, 2025: True,
                                                                                    2026: False}
    assert {y: f.locked for y, f in two.state.client(FJORD).fiscal_years.items()} == {2024: True, 2025: False,
                                                                                     2026: False}
    assert two.state.client(HAVN).type_group(3090) is None and two.state.client(HAVN).type_group(3011) is not None
