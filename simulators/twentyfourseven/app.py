"""WSGI app of the 24SevenOffice simulator: four ASMX SOAP 1.1 services and /_sim control endpoints.

Endpoints (paths as on api.24sevenoffice.com, matched case-insensitively like IIS):

* ``/authenticate/v001/authenticate.asmx`` - Login, HasSession, GetIdentities, GetIdentity, SetIdentityById
* ``/Client/V001/ClientService.asmx`` - GetClientInformation
* ``/Economy/Account/V004/Accountservice.asmx`` - GetAccountList, GetTaxCodeList
* ``/Economy/Accounting/V001/TransactionService.asmx`` - GetTransactionTypes, GetTransactions, GetAggregated,
  GetFiscalYears

``POST`` with ``Content-Type: text/xml`` and a SOAP 1.1 envelope; the operation is taken from the body's first
element (SOAPAction is optional and not checked). ``GET <path>?wsdl`` returns the WSDL with the soap:address
pointing at this simulator. Faults are HTTP 500 SOAP 1.1 faults: ``soap:Client`` for everything the caller
caused (not authenticated, invalid ApplicationId, login throttling, no identity selected, unreadable request,
unknown operation), ``soap:Server`` for injected faults and WSDL operations the simulator does not implement.

GetAggregated - the WSDL does not define its semantics; **our assumption** (what the simulator does):

* One AggregatedData per requested account number (``accountNos``, duplicates dropped, request order) that
  exists in the current client's chart; accounts not in the chart are omitted. No ``accountNos`` means every
  chart account that has entries. ``dimensions`` is ignored and ``Dimension`` never returned.
* ``IncomingBalance`` = sum of the account's amounts dated before ``startDate`` if ``returnIB`` else 0.
* ``Periods`` (periodType "Month") = one KeyValuePair per calendar month, Key ``"YYYY-MM"``, Value the
  decimal string of the sum of the account's amounts dated on/after ``startDate`` in that month, from
  ``startDate``'s month to the last month that has such entries (months without entries are "0.00"; no
  entries at all gives an empty Periods). periodType "None": a single pair with Key ``"total"`` holding the
  sum of all the account's amounts dated on/after ``startDate``.
* ``TotalBalance`` = IncomingBalance + the sum of the Periods values; ``AccountNo`` the account.

GetTransactions honours DateSearchParameters (EntryDate: Date, DateChangedUTC: DateChanged), DateStart and
DateEnd (inclusive; 0001-01-01 = not given), AccountNoStart/End (-32768 = not given), TransactionNoStart/End
and TransactionTypeId (-2147483648 = not given), SystemType, RegisteredAfter, HasInvoiceId, InvoiceNo and
VatCode (nil/absent = not given). LinkId, ProjectId, CustomerId, DepartmentId and ShowOpenEntries are ignored.
Rows are sorted by Date, TransactionNo, SequenceNo; the row count of every call is appended to
``state.transaction_page_sizes``.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from .config import SimulatorConfig
from .soap import (CONTENT_TYPE, NIL, Reader, RequestReadError, SoapFault, fault_envelope, local_name, namespace,
                   parse_body_element, response_envelope)
from .state import ClientCompany, Entry, Fault, Identity, Session, SimulatorState, User

WEBSERVICES_NS = "http://24sevenOffice.com/webservices"
ACCOUNTING_NS = "http://24sevenoffice.com/webservices/economy/accounting/"

AUTH_PATH = "/authenticate/v001/authenticate.asmx"
CLIENT_PATH = "/Client/V001/ClientService.asmx"
ACCOUNT_PATH = "/Economy/Account/V004/Accountservice.asmx"
TRANSACTION_PATH = "/Economy/Accounting/V001/TransactionService.asmx"

SESSION_COOKIE = "ASP.NET_SessionId"
NOT_AUTHENTICATED = "Not authenticated: the session has expired or ASP.NET_SessionId is missing"
NO_IDENTITY = "No identity selected"
INVALID_APPLICATION = "Invalid ApplicationId"
TOO_MANY_LOGINS = "Too many login attempts. Try again later."
LIVE_ADDRESS = "https://api.24sevenoffice.com"

DATE_UNSET = 1          # year of the 0001-01-01 default of optional dateTime search fields
SHORT_UNSET = -32768
INT_UNSET = -2147483648
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_IIS_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
                    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class Service:
    name: str
    path: str
    wsdl_file: str
    ns: str
    operations: tuple[str, ...]          # implemented
    other_operations: tuple[str, ...]    # in the WSDL, not implemented by the simulator


SERVICES: tuple[Service, ...] = (
    Service("Authenticate", AUTH_PATH, "authService.wsdl", WEBSERVICES_NS,
            ("Login", "HasSession", "GetIdentities", "GetIdentity", "SetIdentityById"),
            ("AuthenticateByToken", "SetIdentity", "GetIdentitiesWithCredential",
             "GetIdentitiesWithCredentialByService")),
    Service("ClientService", CLIENT_PATH, "clientService.wsdl", WEBSERVICES_NS,
            ("GetClientInformation",),
            ("GetUsers", "GetDepartmentList", "GetCurrencyList", "GetTypeGroupList", "GetVatTypeList")),
    Service("AccountService", ACCOUNT_PATH, "accountService.wsdl", WEBSERVICES_NS,
            ("GetAccountList", "GetTaxCodeList"),
            ("SaveBundleList", "GetEntryId", "GetTypeList", "CheckAccountNo", "CreateLink", "AddLinkEntries",
             "ReplaceLinkEntries", "UpdateEntryDueDate")),
    Service("TransactionService", TRANSACTION_PATH, "transactionService.wsdl", ACCOUNTING_NS,
            ("GetTransactionTypes", "GetTransactions", "GetAggregated", "GetFiscalYears"),
            ("GetUserDefinedDimensions", "GetUserDefinedDimensionValues")),
)
_SERVICES_BY_PATH = {s.path.lower(): s for s in SERVICES}


def iis_error(status: int, detail: str | None = None) -> Response:
    """A plain IIS/HTTP.sys style error page (what a load balancer or IIS answers, not ASP.NET)."""
    title = _IIS_STATUS_TEXT.get(status, "Error")
    body = (f'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN""http://www.w3.org/TR/html4/strict.dtd">\r\n'
            f"<HTML><HEAD><TITLE>{title}</TITLE>\r\n"
            f'<META HTTP-EQUIV="Content-Type" Content="text/html; charset=us-ascii"></HEAD>\r\n'
            f"<BODY><h2>{title}</h2>\r\n<hr><p>HTTP Error {status}. {html.escape(detail or title)}</p>\r\n"
            f"</BODY></HTML>\r\n")
    return Response(body, status=status, content_type="text/html; charset=us-ascii")


def soap_fault_response(faultcode: str, faultstring: str) -> Response:
    return Response(fault_envelope(faultcode, faultstring), status=500, content_type=CONTENT_TYPE)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


@dataclass
class Call:
    """One SOAP call being handled."""

    service: Service
    operation: str
    params: Reader
    session_id: str | None
    set_cookie: str | None = None


class TwentyFourSevenApp:
    """The WSGI application. Handlers run under ``state.lock``; sleeps happen outside it."""

    def __init__(self, config: SimulatorConfig, state: SimulatorState, stop_event: threading.Event):
        self.config, self.state, self.stop_event = config, state, stop_event
        self._wsdl_cache: dict[str, str] = {}
        self.handlers: dict[str, Callable[[Call], Any]] = {
            "Login": self.login, "HasSession": self.has_session, "GetIdentities": self.get_identities,
            "GetIdentity": self.get_identity, "SetIdentityById": self.set_identity_by_id,
            "GetClientInformation": self.get_client_information,
            "GetAccountList": self.get_account_list, "GetTaxCodeList": self.get_tax_code_list,
            "GetTransactionTypes": self.get_transaction_types, "GetTransactions": self.get_transactions,
            "GetAggregated": self.get_aggregated, "GetFiscalYears": self.get_fiscal_years,
        }

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self.stop_event.wait(seconds)

    # -- routing ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        path = request.path.lower()
        if path.startswith("/_sim/"):
            return self.control(request, path)
        service = _SERVICES_BY_PATH.get(path.rstrip("/"))
        if service is None:
            return iis_error(404, "The resource you are looking for has been removed, had its name changed, "
                                  "or is temporarily unavailable.")
        if request.method in ("GET", "HEAD"):
            if any(key.lower() == "wsdl" for key in request.args):
                return self.wsdl(service, request)
            return self.help_page(service)
        if request.method != "POST":
            return iis_error(405)
        if request.mimetype != "text/xml":
            return iis_error(415, "SOAP 1.1 requests must be sent with Content-Type text/xml.")
        return self.soap_call(service, request)

    def soap_call(self, service: Service, request: Request) -> Response:
        try:
            element = parse_body_element(request.get_data())
        except SoapFault as fault:
            return soap_fault_response(fault.faultcode, fault.faultstring)
        operation = local_name(element)
        with self.state.lock:
            self.state.request_counts[operation] += 1
        if namespace(element) != service.ns or operation not in service.operations + service.other_operations:
            return soap_fault_response(
                "soap:Client", f"Server did not recognize the value of HTTP Header SOAPAction: "
                               f"{request.headers.get('SOAPAction', '').strip(chr(34)) or operation}.")
        if operation not in service.operations:
            return soap_fault_response(
                "soap:Server", f"Server was unable to process request. ---> {operation} is not implemented "
                               f"by the 24SevenOffice simulator.")

        call = Call(service, operation, Reader(element, service.ns), request.cookies.get(SESSION_COOKIE))
        delay_after = 0.0
        fault = self.state.take_fault(operation)
        if fault is not None:
            if fault.kind == "http_status":
                return iis_error(fault.status)
            if fault.kind == "soap_fault":
                return soap_fault_response(fault.faultcode, fault.message)
            if fault.kind == "latency":
                self.pause(fault.delay_s)
            elif fault.kind == "timeout_after":
                delay_after = fault.delay_s
            elif fault.kind == "session_expired":
                self.state.drop_session(call.session_id)
        self.pause(self.config.latency_ms / 1000)

        try:
            with self.state.lock:
                result = self.handlers[operation](call)
            response = Response(response_envelope(service.ns, operation, result), status=200,
                                content_type=CONTENT_TYPE)
            if call.set_cookie:
                response.headers.add("Set-Cookie", call.set_cookie)
        except SoapFault as error:
            response = soap_fault_response(error.faultcode, error.faultstring)
        except Exception as error:  # noqa: BLE001 - a simulator bug still answers like ASP.NET would
            response = soap_fault_response("soap:Server", f"Server was unable to process request. ---> "
                                                          f"{type(error).__name__}: {error}")
        # timeout_after: the work is done; only the answer is late (the client's timeout fires first).
        self.pause(delay_after)
        return response

    def wsdl(self, service: Service, request: Request) -> Response:
        if service.wsdl_file not in self._wsdl_cache:
            path = Path(self.config.wsdl_dir) / service.wsdl_file
            try:
                self._wsdl_cache[service.wsdl_file] = path.read_text(encoding="utf-8")
            except OSError:
                return iis_error(404, f"WSDL file {service.wsdl_file} not found")
        text = self._wsdl_cache[service.wsdl_file].replace(LIVE_ADDRESS, request.host_url.rstrip("/"))
        return Response(text, status=200, content_type=CONTENT_TYPE)

    def help_page(self, service: Service) -> Response:
        items = "".join(f'<li><a href="{service.path}?op={op}">{op}</a></li>' for op in service.operations)
        body = (f"<html><head><title>{service.name} Web Service</title></head><body>"
                f"<h1>{service.name}</h1><p>24SevenOffice simulator. The following operations are supported. "
                f'For a formal definition, please review the <a href="{service.path}?WSDL">Service '
                f"Description</a>.</p><ul>{items}</ul></body></html>")
        return Response(body, status=200, content_type="text/html; charset=utf-8")

    # -- sessions --------------------------------------------------------------------------------

    def require_session(self, call: Call) -> tuple[Session, User]:
        session = self.state.live_session(call.session_id)
        if session is None:
            raise SoapFault(NOT_AUTHENTICATED, "soap:Client")
        return session, self.state.users[session.username]

    def require_client(self, call: Call) -> tuple[Session, ClientCompany]:
        session, _ = self.require_session(call)
        identity = self.state.current_identity(session)
        if identity is None or identity.client_id not in self.state.clients:
            raise SoapFault(NO_IDENTITY, "soap:Client")
        return session, self.state.clients[identity.client_id]

    # -- Authenticate ----------------------------------------------------------------------------

    def login(self, call: Call) -> Any:
        credential = call.params.child("credential")
        application_id = credential.guid("ApplicationId")
        identity_id = credential.guid("IdentityId")
        password = credential.text("Password")
        username = credential.text("Username") or ""
        if self.state.record_login(username) > self.config.login_limit:
            raise SoapFault(TOO_MANY_LOGINS, "soap:Client")
        if application_id is None or application_id not in {a.lower() for a in self.config.application_ids}:
            raise SoapFault(INVALID_APPLICATION, "soap:Client")
        user = self.state.users.get(username.lower())
        if user is None or password is None or not secrets.compare_digest(
                user.password.encode("utf-8"), password.encode("utf-8")):
            return ""   # <LoginResult />: no session, no cookie
        identity = user.identity(identity_id)
        if identity is None or identity.disabled:
            identity = user.default_identity()
        session = self.state.create_session(user, identity.id if identity else None)
        call.set_cookie = f"{SESSION_COOKIE}={session.id}; path=/; HttpOnly"
        return session.id

    def has_session(self, call: Call) -> Any:
        return self.state.live_session(call.session_id) is not None

    def identity_xml(self, user: User, identity: Identity, current: Identity | None) -> list[tuple[str, Any]]:
        client = self.state.clients.get(identity.client_id)
        return [
            ("Id", identity.id),
            ("User", [("ContactId", identity.contact_id), ("Id", user.guid), ("Name", user.name),
                      ("EmployeeId", identity.employee_id)]),
            ("Client", [("Id", identity.client_id), ("Name", client.name if client else None)]),
            ("IsCurrent", current is not None and current.id == identity.id),
            ("IsDefault", identity.is_default),
            ("IsProtected", False),
            ("IsDisabled", identity.disabled),
        ]

    def get_identities(self, call: Call) -> Any:
        session, user = self.require_session(call)
        current = self.state.current_identity(session)
        return [("Identity", self.identity_xml(user, identity, current)) for identity in user.identities]

    def get_identity(self, call: Call) -> Any:
        session, user = self.require_session(call)
        current = self.state.current_identity(session)
        return self.identity_xml(user, current, current) if current else None

    def set_identity_by_id(self, call: Call) -> Any:
        session, user = self.require_session(call)
        identity = user.identity(call.params.guid("identityId"))
        if identity is None or identity.disabled or identity.client_id not in self.state.clients:
            return False
        session.identity_id = identity.id
        return True

    # -- ClientService ---------------------------------------------------------------------------

    def get_client_information(self, call: Call) -> Any:
        session, client = self.require_client(call)
        user = self.state.users[session.username]
        address = None
        if client.address:
            address = [("Post", [("Street", client.address.get("Street")),
                                 ("PostalCode", client.address.get("PostalCode")),
                                 ("Name", client.name), ("City", client.address.get("City")),
                                 ("Country", "NO")])]
        return [
            ("AddressList", address),
            ("Country", "NO"),
            ("IsUsingFactoring", False),
            ("Name", client.name),
            ("ReminderDays", 0),
            ("ReminderDays2", 0),
            ("ReminderDays3", 0),
            ("UserId", user.user_id),
            ("OrganizationNumber", client.organization_number),
            ("DefaultCurrency", client.default_currency),
        ]

    # -- AccountService --------------------------------------------------------------------------

    def get_account_list(self, call: Call) -> Any:
        _, client = self.require_client(call)
        rows = []
        for account in client.accounts.values():
            tax_code = client.tax_code(account.tax_no)
            rows.append(("AccountData", [
                ("AccountId", account.account_id), ("AccountNo", account.account_no),
                ("AccountName", account.name), ("AccountTax", tax_code.tax_id if tax_code else 0),
                ("TaxNo", account.tax_no),
            ]))
        return rows

    def get_tax_code_list(self, call: Call) -> Any:
        _, client = self.require_client(call)
        return [("TaxCodeElement", [
            ("TaxId", t.tax_id), ("TaxNo", t.tax_no), ("TaxName", t.name), ("TaxRate", t.rate),
            ("AccountNo", t.account_no if t.account_no is not None else NIL),
        ]) for t in client.tax_codes]

    # -- TransactionService ----------------------------------------------------------------------

    def get_transaction_types(self, call: Call) -> Any:
        _, client = self.require_client(call)
        return [("TransactionType", [("Turnover", t.turnover), ("Title", t.title), ("No", t.no), ("Id", t.id)])
                for t in client.transaction_types]

    def get_fiscal_years(self, call: Call) -> Any:
        _, client = self.require_client(call)
        return [("FiscalYear", [("Id", fy.id), ("StartingDate", datetime(fy.year, 1, 1)),
                                ("EndingDate", datetime(fy.year, 12, 31)), ("IsLocked", fy.locked)])
                for fy in client.fiscal_years.values()]

    def get_transactions(self, call: Call) -> Any:
        _, client = self.require_client(call)
        search = call.params.child("searchParams")
        by_change = search.text("DateSearchParameters") == "DateChangedUTC"
        if search.text("DateSearchParameters") not in (None, "EntryDate", "DateChangedUTC"):
            raise RequestReadError(f"Instance validation error: '{search.text('DateSearchParameters')}' is not a "
                                   f"valid value for DateSearchParameters.")
        date_start, date_end = search.datetime("DateStart"), search.datetime("DateEnd")
        date_start = date_start if date_start and date_start.year != DATE_UNSET else None
        date_end = date_end if date_end and date_end.year != DATE_UNSET else None
        registered_after = search.datetime("RegisteredAfter")
        registered_after = registered_after if registered_after and registered_after.year != DATE_UNSET else None

        def given(value: int | None, unset: int) -> int | None:
            return None if value is None or value == unset else value

        account_start = given(search.int("AccountNoStart"), SHORT_UNSET)
        account_end = given(search.int("AccountNoEnd"), SHORT_UNSET)
        number_start = given(search.int("TransactionNoStart"), INT_UNSET)
        number_end = given(search.int("TransactionNoEnd"), INT_UNSET)
        type_id = given(search.int("TransactionTypeId"), INT_UNSET)
        system_type = search.text("SystemType")
        has_invoice_id = search.bool("HasInvoiceId")
        invoice_no = search.text("InvoiceNo") or None
        vat_code = search.int("VatCode")

        def wanted(entry: Entry) -> bool:
            if by_change:
                moment = entry.date_changed
                if date_start and moment < date_start:
                    return False
                if date_end and (moment >= date_end + timedelta(days=1) if date_end.time() == time()
                                 else moment > date_end):
                    return False
            else:
                if date_start and entry.date < date_start.date():
                    return False
                if date_end and entry.date > date_end.date():
                    return False
            return not (
                (account_start is not None and entry.account_no < account_start)
                or (account_end is not None and entry.account_no > account_end)
                or (number_start is not None and entry.transaction_no < number_start)
                or (number_end is not None and entry.transaction_no > number_end)
                or (type_id is not None and entry.transaction_type_id != type_id)
                or (system_type is not None and system_type != "Miscellaneous")
                or (registered_after is not None and entry.registration_date <= registered_after)
                or has_invoice_id is True or invoice_no is not None
                or (vat_code is not None and entry.vat_code != vat_code)
            )

        rows = sorted((e for e in client.entries if wanted(e)),
                      key=lambda e: (e.date, e.transaction_no, e.sequence_no))
        self.state.transaction_page_sizes.append(len(rows))
        return [("Transaction", self.transaction_xml(entry)) for entry in rows]

    @staticmethod
    def transaction_xml(entry: Entry) -> list[tuple[str, Any]]:
        return [
            ("Date", _midnight(entry.date)),
            ("AccountNo", entry.account_no),
            ("Currency", entry.currency),
            ("CurrencyRate", Decimal("1")),
            ("CurrencyUnit", 1),
            ("Amount", entry.amount),
            ("StampNo", entry.stamp_no),
            ("Period", entry.date.month),
            ("TransactionTypeId", entry.transaction_type_id),
            ("Comment", entry.comment),
            ("TransactionNo", entry.transaction_no),
            ("VatCode", entry.vat_code),
            ("Id", entry.id),
            ("LinkId", 0),
            ("InvoiceNo", ""),
            ("SequenceNo", entry.sequence_no),
            ("SystemType", "Miscellaneous"),
            ("RegistrationDate", entry.registration_date),
            ("DateChanged", entry.date_changed),
            ("Hidden", False),
            ("Open", False),
            ("HasVatDividend", False),
            ("PeriodDate", entry.date.replace(day=1)),
        ]

    def get_aggregated(self, call: Call) -> Any:
        """See the module docstring ("our assumption")."""
        _, client = self.require_client(call)
        start = call.params.datetime("startDate")
        if start is None:
            raise RequestReadError("startDate is required.")
        start_day = start.date()
        period_type = call.params.text("periodType")
        if period_type not in ("Month", "None"):
            raise RequestReadError(f"Instance validation error: '{period_type}' is not a valid value for PeriodType.")
        return_ib = bool(call.params.bool("returnIB"))
        requested = [r.int() for r in call.params.child("accountNos").children("short")]
        if not requested:
            requested = sorted({e.account_no for e in client.entries})
        result = []
        for account_no in dict.fromkeys(requested):
            if account_no not in client.accounts:
                continue
            entries = [e for e in client.entries if e.account_no == account_no]
            incoming = sum((e.amount for e in entries if e.date < start_day), ZERO) if return_ib else ZERO
            in_range = [e for e in entries if e.date >= start_day]
            if period_type == "None":
                periods = [("total", sum((e.amount for e in in_range), ZERO))]
            else:
                months: dict[str, Decimal] = {}
                if in_range:
                    last = max(e.date for e in in_range)
                    year, month = start_day.year, start_day.month
                    while (year, month) <= (last.year, last.month):
                        months[f"{year:04d}-{month:02d}"] = ZERO
                        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                    for e in in_range:
                        months[f"{e.date.year:04d}-{e.date.month:02d}"] += e.amount
                periods = list(months.items())
            total = incoming + sum((value for _, value in periods), ZERO)
            result.append(("AggregatedData", [
                ("IncomingBalance", _money(incoming)),
                ("TotalBalance", _money(total)),
                ("Periods", [("KeyValuePair", [("Key", key), ("Value", str(_money(value)))])
                             for key, value in periods]),
                ("AccountNo", account_no),
            ]))
        return result

    # -- control endpoints (for a simulator running in another process) ---------------------------

    def control(self, request: Request, path: str) -> Response:
        def reply(payload: Any, status: int = 200) -> Response:
            return Response(json.dumps(payload, default=str), status=status, content_type="application/json")

        body = request.get_json(silent=True) if request.method == "POST" else None
        body = body if isinstance(body, dict) else {}
        if path == "/_sim/faults" and request.method == "POST":
            try:
                fault = Fault(**body)
            except (TypeError, ValueError) as exc:
                return reply({"error": str(exc)}, 400)
            self.state.add_fault(fault)
            return reply(asdict(fault), 201)
        if path == "/_sim/faults" and request.method == "GET":
            with self.state.lock:
                return reply([asdict(f) for f in self.state.faults])
        if path == "/_sim/faults" and request.method == "DELETE":
            with self.state.lock:
                cleared = len(self.state.faults)
                self.state.faults.clear()
            return reply({"cleared": cleared})
        if path == "/_sim/stats" and request.method == "GET":
            with self.state.lock:
                return reply({
                    "request_counts": dict(self.state.request_counts),
                    "login_counts": dict(self.state.login_totals),
                    "sessions": len(self.state.sessions),
                    "transaction_page_sizes": list(self.state.transaction_page_sizes),
                    "pending_faults": len(self.state.faults),
                    "clock_offset_s": self.state.clock_offset_s,
                })
        if path == "/_sim/clock" and request.method == "POST":
            seconds = body.get("advance_seconds", 0)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                return reply({"error": "advance_seconds must be a number"}, 400)
            self.state.advance_clock(seconds)
            return reply({"now": self.state.now().isoformat(), "clock_offset_s": self.state.clock_offset_s})
        if path == "/_sim/sessions/expire" and request.method == "POST":
            return reply({"expired": self.state.expire_sessions(body.get("username"))})
        if path == "/_sim/reset" and request.method == "POST":
            self.state.reset()
            return reply({"reset": True})
        return reply({"error": f"no control endpoint {request.method} {request.path}"}, 404)


def create_app(config: SimulatorConfig | None = None, state: SimulatorState | None = None,
               stop_event: threading.Event | None = None) -> TwentyFourSevenApp:
    config = config or SimulatorConfig()
    state = state or SimulatorState(config)
    # Sleeps wait on this event so that stopping the server cuts injected delays short.
    return TwentyFourSevenApp(config, state, stop_event or threading.Event())
