"""WSGI app of the 24SevenOffice simulator: six ASMX SOAP 1.1 services and /_sim control endpoints.

Endpoints (paths as on api.24sevenoffice.com and webservices.24sevenoffice.com, all served from one host,
matched case-insensitively like IIS):

* ``/authenticate/v001/authenticate.asmx`` - Login, HasSession, GetIdentities, GetIdentity, SetIdentityById
* ``/Client/V001/ClientService.asmx`` - GetClientInformation, GetDepartmentList, GetTypeGroupList
* ``/Economy/Account/V004/Accountservice.asmx`` - GetAccountList, GetTaxCodeList, GetTypeList, GetEntryId,
  SaveBundleList (booking.py: its rules, result and voucher reception)
* ``/Economy/Accounting/V001/TransactionService.asmx`` - GetTransactionTypes, GetTransactions, GetAggregated,
  GetFiscalYears
* ``/Economy/Accounting/Accounting_V001/AttachmentService.asmx`` (production host webservices.24sevenoffice.com)
  - Create, AppendChunk, AppendChunkByLength, DownloadChunk, GetSize, GetChecksum, Save, GetFileInfo,
  GetStampNo, GetMaxRequestLength
* ``/Logistics/Product/V001/ProductService.asmx`` - GetProducts

Every operation but Login/HasSession needs a live session (``ASP.NET_SessionId``) and, except
GetMaxRequestLength and the Authenticate ones, a selected identity: the new services behave exactly as the
first four (same faults, same fault injection, same counters).

Request size: every service refuses a request body over ``SimulatorConfig.max_request_kb`` (4096 KB, ASP.NET's
default httpRuntime maxRequestLength) with HTTP 500 and a SOAP fault ``soap:Client`` "Server was unable to read
request. ---> Maximum request length exceeded." (ASP.NET's HttpException surfacing through the ASMX handler),
and one over ``iis_max_content_length`` (30,000,000 bytes, IIS request filtering's default) with IIS's HTML
404.13 page; nothing is done in either case. GetMaxRequestLength answers ``max_request_kb`` - in KB, as
httpRuntime's maxRequestLength is configured (our reading; the unit is not documented). Base64 makes a chunk a
third bigger, so a chunk of AppendChunk must stay well under 3 MB.

AttachmentService (developer.24sevenoffice.com/docs/attachmentservice.html and our readings):

* Create(type) makes an empty "ghost" file and answers ImageFile{Id, Type, StampNo 0}; ``Pdf`` is accepted
  unless ``SimulatorConfig.pdf_attachments`` is False (the docs say "PDF files are not supported", the WSDL's
  ImageType has Pdf and DUELL attaches PDFs).
* AppendChunk(file{Id}, buffer, offset) appends; ``offset`` must equal the file's current size, else a
  soap:Server fault (so a chunk repeated after a lost answer is refused: ask GetSize where the file stands).
  AppendChunkByLength takes the first bufferLength bytes of buffer. After Save no chunk is accepted.
* GetStampNo answers the company's next free stamp number (1 + the highest on ledger lines, drafts and saved
  files) and, as the docs say, does **not reserve** it: until a Save (or a voucher) uses it, every call
  answers the same number.
* Save(file, location): the stamp number is file.FrameInfo.ImageFrameInfo[0].StampNo (the docs: ImageFile's
  StampNo is "not in use when saving"), else file.StampNo, else (0) the next free one; MetaData of that frame
  is kept. Location Retrieval (the inbox) or Journal; Scanning "is not implemented and may not be used": a
  fault. An empty file cannot be saved. The same Save repeated is a no-op; a different stamp or location
  for a saved file is a fault. Faults here are soap:Server ("Server was unable to process request. ---> ...").
* The stamp number ties a file to vouchers: a ledger voucher whose entries carry a saved file's StampNo has
  that file. GetFileInfo returns saved files only, filtered by StampNo, FileId, AttachmentRegisteredAfter,
  AttachmentChangedAfter, HasStampNo, FileApproved (no file is ever approved) and AttachmentStatus, where a
  file's FlagType is (our reading of the names; not documented): PostedInJournal once a ledger voucher carries
  its stamp number, else PrepostedInJournal if saved to Journal, else None.

Can an integration see a voucher-reception draft afterwards? **No call offers it**, and the simulator offers
none: AccountService has no operation that lists or reads saved journal bundles (its only reads are
GetAccountList, GetTaxCodeList, GetTypeList, GetEntryId, CheckAccountNo); TransactionService.GetTransactions
reads ledger lines only (no draft/journal flag among TransactionSearchParameters); AttachmentService.GetFileInfo
reports files, not vouchers, and whether a draft sets a file's PrepostedInJournal is not documented - in the
simulator a draft changes no flag; the REST API (rest.yaml 0.56.0) reads only posted lines (GET
/transactionlines) and posts only to the ledger (POST /transactions). Drafts are visible only to people in
24SevenOffice and here through /_sim and the test helpers.

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
DateEnd (inclusive; 0001-01-01 = not given), AccountNoStart/End (-32768 = not given), TransactionNoStart/End,
TransactionTypeId and DepartmentId (-2147483648 = not given), SystemType, RegisteredAfter, HasInvoiceId,
InvoiceNo and VatCode (nil/absent = not given). LinkId, ProjectId, CustomerId and ShowOpenEntries are ignored.
Rows are sorted by Date, TransactionNo, SequenceNo; the row count of every call is appended to
``state.transaction_page_sizes``. A line booked with a DepartmentId carries it as
``Dimensions/Dimension{Type Department, Name, Value = the id}``; StampNo and Comment are as sent.

Control endpoints (JSON; amounts and dates as strings):

* ``POST /_sim/faults`` (a Fault as JSON), ``GET``/``DELETE /_sim/faults``, ``GET /_sim/stats``,
  ``POST /_sim/clock`` {advance_seconds}, ``POST /_sim/sessions/expire`` {username?}, ``POST /_sim/reset``
* ``GET /_sim/clients/{client_id}/voucher-reception`` - drafts (SimulatorState._draft_dict)
* ``POST /_sim/clients/{client_id}/voucher-reception/{draft_id}/approve`` - {draft_id, transaction_no}; 404 if
  no such draft, 409 {error, problems} if it cannot be posted
* ``POST /_sim/clients/{client_id}/voucher-reception/{draft_id}/delete`` (or ``DELETE .../{draft_id}``)
* ``GET /_sim/clients/{client_id}/vouchers[?text=...]`` - ledger vouchers (SimulatorState.vouchers)
* ``GET /_sim/clients/{client_id}/bookings?text=...`` - {ledger: [...], voucher_reception: [...]}
* ``GET /_sim/clients/{client_id}/attachments`` and ``.../attachments/orphans``
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from . import booking
from .config import SimulatorConfig
from .soap import (CONTENT_TYPE, NIL, Reader, RequestReadError, SoapFault, fault_envelope, local_name, namespace,
                   parse_body_element, response_envelope)
from .state import (AttachmentError, AttachmentFile, ClientCompany, DraftRefused, Entry, Fault, Identity, Product,
                    Session, SimulatorState, User)

WEBSERVICES_NS = "http://24sevenOffice.com/webservices"
ACCOUNTING_NS = "http://24sevenoffice.com/webservices/economy/accounting/"

AUTH_PATH = "/authenticate/v001/authenticate.asmx"
CLIENT_PATH = "/Client/V001/ClientService.asmx"
ACCOUNT_PATH = "/Economy/Account/V004/Accountservice.asmx"
TRANSACTION_PATH = "/Economy/Accounting/V001/TransactionService.asmx"
# AttachmentService lives on another host in production (webservices.24sevenoffice.com, its WSDL's soap:address);
# the simulator serves every service from one host, at the same paths.
ATTACHMENT_PATH = "/Economy/Accounting/Accounting_V001/AttachmentService.asmx"
PRODUCT_PATH = "/Logistics/Product/V001/ProductService.asmx"

SESSION_COOKIE = "ASP.NET_SessionId"
NOT_AUTHENTICATED = "Not authenticated: the session has expired or ASP.NET_SessionId is missing"
NO_IDENTITY = "No identity selected"
INVALID_APPLICATION = "Invalid ApplicationId"
TOO_MANY_LOGINS = "Too many login attempts. Try again later."
LIVE_ADDRESSES = ("https://api.24sevenoffice.com", "https://webservices.24sevenoffice.com")
MAX_REQUEST_EXCEEDED = "Server was unable to read request. ---> Maximum request length exceeded."
IMAGE_TYPES = ("Unknown", "Wmf", "Png", "Tiff", "Pdf", "Bmp", "Gif", "Jpeg")
ATTACHMENT_LOCATIONS = ("Retrieval", "Scanning", "Journal")
FLAG_TYPES = ("None", "Assigned", "Approved", "Declined", "Archived", "Distributed", "PrepostedInJournal",
              "PostedInJournal")

DATE_UNSET = 1          # year of the 0001-01-01 default of optional dateTime search fields
SHORT_UNSET = -32768
INT_UNSET = -2147483648
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

_IIS_STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                    413: "Request Entity Too Large", 415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
                    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


_CLIENT_CONTROL = re.compile(r"^/_sim/clients/(?P<client>\d+)(?P<rest>/.*)?$")
_DRAFT_CONTROL = re.compile(r"^/voucher-reception/(?P<draft>\d+)(?P<action>/approve|/delete)?$")


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
            ("GetClientInformation", "GetDepartmentList", "GetTypeGroupList"),
            ("GetUsers", "GetCurrencyList", "GetVatTypeList")),
    Service("AccountService", ACCOUNT_PATH, "accountService.wsdl", WEBSERVICES_NS,
            ("GetAccountList", "GetTaxCodeList", "GetTypeList", "GetEntryId", "SaveBundleList"),
            ("CheckAccountNo", "CreateLink", "AddLinkEntries", "ReplaceLinkEntries", "UpdateEntryDueDate")),
    Service("TransactionService", TRANSACTION_PATH, "transactionService.wsdl", ACCOUNTING_NS,
            ("GetTransactionTypes", "GetTransactions", "GetAggregated", "GetFiscalYears"),
            ("GetUserDefinedDimensions", "GetUserDefinedDimensionValues")),
    Service("AttachmentService", ATTACHMENT_PATH, "attachmentService.wsdl", ACCOUNTING_NS,
            ("Create", "AppendChunk", "AppendChunkByLength", "DownloadChunk", "GetFileInfo", "GetSize", "Save",
             "GetChecksum", "GetMaxRequestLength", "GetStampNo"),
            ("GetApproverList", "GetSeriesStampNo", "GetSeries")),
    Service("ProductService", PRODUCT_PATH, "productService.wsdl", WEBSERVICES_NS,
            ("GetProducts",),
            ("SetStockQuantity", "SaveProducts", "DeleteProducts", "GetPriceList", "GetAllPriceLists",
             "GetCategories", "SaveCategories", "GetDiscountMatrixPriceGroup", "GetDiscountMatrixCategory")),
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


def _drain(request: Request) -> None:
    """Reads and drops the request body (answering before the client has sent it all would reset the
    connection under a client still writing)."""
    stream = request.stream
    while stream.read(1 << 16):
        pass


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
            "GetDepartmentList": self.get_department_list, "GetTypeGroupList": self.get_type_group_list,
            "GetTypeList": self.get_type_list, "GetEntryId": self.get_entry_id,
            "SaveBundleList": self.save_bundle_list,
            "Create": self.attachment_create, "AppendChunk": self.attachment_append_chunk,
            "AppendChunkByLength": self.attachment_append_chunk_by_length,
            "DownloadChunk": self.attachment_download_chunk, "GetFileInfo": self.attachment_get_file_info,
            "GetSize": self.attachment_get_size, "Save": self.attachment_save,
            "GetChecksum": self.attachment_get_checksum, "GetMaxRequestLength": self.get_max_request_length,
            "GetStampNo": self.attachment_get_stamp_no,
            "GetProducts": self.get_products,
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

    def too_large(self, request: Request) -> Response | None:
        """Request size limits (see the module docstring, "Request size"); the body is read either way."""
        length = request.content_length
        if length is not None and length > self.config.iis_max_content_length:
            _drain(request)
            with self.state.lock:
                self.state.too_large_requests += 1
            return iis_error(404, "404.13 - Content Length Too Large. The request filtering module is configured "
                                  "to deny a request that exceeds the request content length.")
        limit = self.config.max_request_kb * 1024
        if length is not None and length > limit:
            _drain(request)
        elif len(request.get_data()) <= limit:
            return None
        with self.state.lock:
            self.state.too_large_requests += 1
        return soap_fault_response("soap:Client", MAX_REQUEST_EXCEEDED)

    def soap_call(self, service: Service, request: Request) -> Response:
        refused = self.too_large(request)
        if refused is not None:
            return refused
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
        fault_after: Fault | None = None
        fault = self.state.take_fault(operation)
        if fault is not None:
            if fault.kind == "http_status":
                return iis_error(fault.status)
            if fault.kind == "soap_fault":
                return soap_fault_response(fault.faultcode, fault.message)
            if fault.kind == "save_result" and operation == "SaveBundleList":
                return Response(response_envelope(service.ns, operation, booking.save_response(
                    fault.result_type, fault.message)), status=200, content_type=CONTENT_TYPE)
            if fault.kind == "latency":
                self.pause(fault.delay_s)
            elif fault.kind == "timeout_after":
                delay_after = fault.delay_s
            elif fault.kind == "fault_after":
                fault_after = fault
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
        if fault_after is not None:   # fault_after: the work is done; the answer is lost and a fault comes instead
            if fault_after.status != 500:
                return iis_error(fault_after.status)
            return soap_fault_response(fault_after.faultcode, fault_after.message)
        return response

    def wsdl(self, service: Service, request: Request) -> Response:
        if service.wsdl_file not in self._wsdl_cache:
            path = Path(self.config.wsdl_dir) / service.wsdl_file
            try:
                self._wsdl_cache[service.wsdl_file] = path.read_text(encoding="utf-8")
            except OSError:
                return iis_error(404, f"WSDL file {service.wsdl_file} not found")
        text = self._wsdl_cache[service.wsdl_file]
        for address in LIVE_ADDRESSES:
            text = text.replace(address, request.host_url.rstrip("/"))
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

    def get_department_list(self, call: Call) -> Any:
        _, client = self.require_client(call)
        return [("Department", [("Id", d.id), ("Name", d.name), ("Email", d.email or None)])
                for d in client.departments]

    def get_type_group_list(self, call: Call) -> Any:
        """AccountingGroup{AccountId, Id, Name}: AccountId is the AccountData.AccountId of the account the type
        group belongs to (type groups of accounts no longer in the chart are left out)."""
        _, client = self.require_client(call)
        module = call.params.text("module")
        if module not in ("All", "Sale", "Purchase"):
            raise RequestReadError(f"Instance validation error: '{module}' is not a valid value for TypeGroupModule.")
        rows = []
        for group in client.type_groups:
            account = client.accounts.get(group.account_no)
            if account is None or module not in ("All", group.module):
                continue
            rows.append(("AccountingGroup", [("AccountId", account.account_id), ("Id", group.id),
                                             ("Name", group.name)]))
        return rows

    # -- AccountService --------------------------------------------------------------------------

    def get_type_list(self, call: Call) -> Any:
        """TypeData{TypeId, Title, EntrySeriesId, TypeNo}: the transaction types of GetTransactionTypes."""
        _, client = self.require_client(call)
        return [("TypeData", [("TypeId", t.id), ("Title", t.title), ("EntrySeriesId", t.entry_series_id),
                              ("TypeNo", t.no)]) for t in client.transaction_types]

    def get_entry_id(self, call: Call) -> Any:
        """EntryId{Date, SortNo, EntryNo}: the next TransactionNo of the series SortNo (EntrySeriesId) in the
        fiscal year of Date; not reserved; -1 without such a fiscal year or series (booking.py)."""
        _, client = self.require_client(call)
        argument = call.params.child("argEntryId")
        when, series = argument.datetime("Date"), argument.int("SortNo")
        return [("Date", when or datetime(1, 1, 1)), ("SortNo", series or 0),
                ("EntryNo", booking.next_entry_no(client, when, series))]

    def save_bundle_list(self, call: Call) -> Any:
        """See booking.py."""
        _, client = self.require_client(call)
        return booking.save_bundle_list(self.state, client, booking.read_bundle_list(call.params))


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
        department_id = given(search.int("DepartmentId"), INT_UNSET)
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
                or (department_id is not None and entry.department_id != department_id)
                or (system_type is not None and system_type != "Miscellaneous")
                or (registered_after is not None and entry.registration_date <= registered_after)
                or has_invoice_id is True or invoice_no is not None
                or (vat_code is not None and entry.vat_code != vat_code)
            )

        rows = sorted((e for e in client.entries if wanted(e)),
                      key=lambda e: (e.date, e.transaction_no, e.sequence_no))
        self.state.transaction_page_sizes.append(len(rows))
        return [("Transaction", self.transaction_xml(entry, client)) for entry in rows]

    @staticmethod
    def transaction_xml(entry: Entry, client: ClientCompany | None = None) -> list[tuple[str, Any]]:
        dimensions = None
        if entry.department_id:
            department = client.department(entry.department_id) if client else None
            dimensions = [("Dimension", [("Type", "Department"), ("Name", department.name if department else None),
                                         ("Value", str(entry.department_id))])]
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
            ("Dimensions", dimensions),
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

    # -- AttachmentService -----------------------------------------------------------------------

    def _attachment_call(self, call: Call, action: Callable[[ClientCompany], Any]) -> Any:
        _, client = self.require_client(call)
        try:
            return action(client)
        except AttachmentError as error:
            raise SoapFault(f"Server was unable to process request. ---> {error}", "soap:Server") from None

    @staticmethod
    def _file_id(params: Reader) -> int | None:
        return params.child("file").int("Id")

    @staticmethod
    def _buffer(params: Reader) -> bytes:
        raw = params.text("buffer") or ""
        try:
            return base64.b64decode(re.sub(r"\s+", "", raw), validate=True)
        except (binascii.Error, ValueError):
            raise RequestReadError("Invalid length for a Base-64 char array or string.") from None

    def image_file_xml(self, client: ClientCompany, file: AttachmentFile) -> list[tuple[str, Any]]:
        metadata = [("KeyValuePair", [("Key", key), ("Value", value)]) for key, value in file.metadata] or None
        frames = None
        if file.saved is not None:
            frames = [("ImageFrameInfo", [("Id", 1), ("StampNo", file.stamp_no), ("MetaData", metadata),
                                          ("Status", 0)])]
        return [("Id", file.id), ("Type", file.type), ("StampNo", file.stamp_no), ("StampMeta", metadata),
                ("FrameInfo", frames)]

    def attachment_create(self, call: Call) -> Any:
        image_type = call.params.text("type")
        if image_type not in IMAGE_TYPES:
            raise RequestReadError(f"Instance validation error: '{image_type}' is not a valid value for ImageType.")

        def create(client: ClientCompany) -> Any:
            if image_type == "Pdf" and not self.config.pdf_attachments:
                raise AttachmentError("PDF files are not supported.")
            return self.image_file_xml(client, self.state._create_file(client, image_type))
        return self._attachment_call(call, create)

    def attachment_append_chunk(self, call: Call) -> Any:
        data, offset = self._buffer(call.params), call.params.int("offset") or 0
        return self._attachment_call(call, lambda client: self.state._append_chunk(
            client, self._file_id(call.params), data, offset))

    def attachment_append_chunk_by_length(self, call: Call) -> Any:
        data, offset = self._buffer(call.params), call.params.int("offset") or 0
        length = call.params.int("bufferLength") or 0
        if not 0 <= length <= len(data):
            raise SoapFault(f"Server was unable to process request. ---> bufferLength {length} does not fit the "
                            f"buffer of {len(data)} bytes.", "soap:Server")
        return self._attachment_call(call, lambda client: self.state._append_chunk(
            client, self._file_id(call.params), data[:length], offset))

    def attachment_download_chunk(self, call: Call) -> Any:
        offset, size = call.params.int("offset") or 0, call.params.int("bufferSize") or 0

        def download(client: ClientCompany) -> Any:
            data = self.state._file(client, self._file_id(call.params)).data
            return base64.b64encode(bytes(data[max(offset, 0):max(offset, 0) + max(size, 0)])).decode("ascii")
        return self._attachment_call(call, download)

    def attachment_get_size(self, call: Call) -> Any:
        return self._attachment_call(call, lambda client: len(self.state._file(client, self._file_id(call.params)).data))

    def attachment_get_checksum(self, call: Call) -> Any:
        """MD5 of the content so far, lower-case hex (the format 24SevenOffice uses is not documented)."""
        return self._attachment_call(call, lambda client: hashlib.md5(
            bytes(self.state._file(client, self._file_id(call.params)).data)).hexdigest())

    def attachment_save(self, call: Call) -> Any:
        params = call.params
        location = params.text("location")
        if location not in ATTACHMENT_LOCATIONS:
            raise RequestReadError(f"Instance validation error: '{location}' is not a valid value for "
                                   f"AttachmentLocation.")
        file = params.child("file")
        frames = file.child("FrameInfo").children("ImageFrameInfo")
        stamp_no = (frames[0].int("StampNo") if frames else None) or file.int("StampNo") or 0
        metadata = [(pair.text("Key") or "", pair.text("Value") or "")
                    for pair in (frames[0].child("MetaData").children("KeyValuePair") if frames else [])]
        self._attachment_call(call, lambda client: self.state._save_file(
            client, file.int("Id"), location, stamp_no, metadata))
        return None

    def attachment_get_stamp_no(self, call: Call) -> Any:
        """The next free stamp number of the company; not reserved (the docs: "GetStampNo does not reserve the
        StampNo returned ... Otherwise the method will return the same StampNo")."""
        return self._attachment_call(call, self.state._next_stamp_no)

    def get_max_request_length(self, call: Call) -> Any:
        """httpRuntime maxRequestLength in KB (see the module docstring, "Request size")."""
        self.require_session(call)
        return self.config.max_request_kb

    def attachment_get_file_info(self, call: Call) -> Any:
        """Saved files of the company matching every given filter of FileSearchParameters."""
        params = call.params.child("parameters")
        stamps = {r.int() for r in params.child("StampNo").children("int")}
        file_ids = {r.int() for r in params.child("FileId").children("int")}
        registered_after = params.datetime("AttachmentRegisteredAfter")
        changed_after = params.datetime("AttachmentChangedAfter")
        registered_after = registered_after if registered_after and registered_after.year != DATE_UNSET else None
        changed_after = changed_after if changed_after and changed_after.year != DATE_UNSET else None
        has_stamp, approved = params.bool("HasStampNo"), params.bool("FileApproved")
        statuses = set()
        for flag in params.child("AttachmentStatus").children("FlagType"):
            if flag.text() not in FLAG_TYPES:
                raise RequestReadError(f"Instance validation error: '{flag.text()}' is not a valid value for "
                                       f"FlagType.")
            statuses.add(flag.text())

        def find(client: ClientCompany) -> Any:
            rows = []
            for file in sorted(client.files.values(), key=lambda f: f.id):
                if file.saved is None:
                    continue
                flags = set(self.state.file_flags(client, file))
                if ((stamps and file.stamp_no not in stamps) or (file_ids and file.id not in file_ids)
                        or (registered_after and file.saved <= registered_after)
                        or (changed_after and (file.changed or file.saved) <= changed_after)
                        or (has_stamp is not None and has_stamp != (file.stamp_no > 0))
                        or approved is True or (statuses and not statuses & flags)):
                    continue
                rows.append(("ImageFile", self.image_file_xml(client, file)))
            return rows
        return self._attachment_call(call, find)

    # -- ProductService --------------------------------------------------------------------------

    PRODUCT_PROPERTIES = ("Id", "Name", "TaxRate", "Stock", "CategoryId", "InPrice", "EAN1", "Price", "No",
                          "DateChanged", "StockControlled")

    def get_products(self, call: Call) -> Any:
        """Products matching every given search parameter: Id, CategoryId, ProductIds, No and EAN1 (exact,
        case-insensitive like SQL Server's usual collation), Name (contains, case-insensitive), DateChanged
        (changed on or after); Price is ignored. returnProperties, when given, limits the properties written
        (names as in the WSDL's Product); otherwise every property the simulator keeps is written."""
        _, client = self.require_client(call)
        search = call.params.child("searchParams")

        def given(value: Any, unset: Any) -> Any:
            return None if value is None or value == unset else value

        product_id = given(search.int("Id"), INT_UNSET)
        category_id = given(search.int("CategoryId"), INT_UNSET)
        number, ean, name = search.text("No") or None, search.text("EAN1") or None, search.text("Name") or None
        changed = search.datetime("DateChanged")
        changed = changed if changed and changed.year != DATE_UNSET else None
        product_ids = {r.int() for r in search.child("ProductIds").children("int")}
        wanted = {(r.text() or "").strip().lower() for r in call.params.child("returnProperties").children("string")}
        wanted.discard("")
        rows = []
        for product in client.products:
            if ((product_id is not None and product.id != product_id)
                    or (category_id is not None and product.category_id != category_id)
                    or (product_ids and product.id not in product_ids)
                    or (number is not None and product.no.lower() != number.strip().lower())
                    or (ean is not None and product.ean1.lower() != ean.strip().lower())
                    or (name is not None and name.strip().lower() not in product.name.lower())
                    or (changed is not None and product.date_changed < changed)):
                continue
            rows.append(("Product", [(key, value) for key, value in self.product_xml(product)
                                     if not wanted or key.lower() in wanted]))
        return rows

    @staticmethod
    def product_xml(product: Product) -> list[tuple[str, Any]]:
        return [("Id", product.id), ("Name", product.name), ("TaxRate", product.tax_rate), ("Stock", product.stock),
                ("CategoryId", product.category_id), ("InPrice", product.in_price), ("EAN1", product.ean1 or None),
                ("Price", product.price), ("No", product.no), ("DateChanged", product.date_changed),
                ("StockControlled", product.stock_controlled)]

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
                    "too_large_requests": self.state.too_large_requests,
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
        match = _CLIENT_CONTROL.match(path.rstrip("/"))
        if match:
            return self.client_control(request, int(match["client"]), match["rest"] or "", reply)
        return reply({"error": f"no control endpoint {request.method} {request.path}"}, 404)

    def client_control(self, request: Request, client_id: int, rest: str, reply: Callable[..., Response]) -> Response:
        """/_sim/clients/{client_id}/...: voucher reception, ledger vouchers, attachments of one company."""
        if client_id not in self.state.clients:
            return reply({"error": f"no client {client_id}"}, 404)
        method = request.method
        if rest == "/voucher-reception" and method == "GET":
            return reply(self.state.voucher_reception(client_id))
        draft = _DRAFT_CONTROL.match(rest)
        action = (draft["action"] or "") if draft else None
        approve = action == "/approve" and method == "POST"
        delete = (action == "/delete" and method == "POST") or (action == "" and method == "DELETE")
        if draft and (approve or delete):
            draft_id = int(draft["draft"])
            try:
                if approve:
                    return reply({"draft_id": draft_id,
                                  "transaction_no": self.state.approve_draft(client_id, draft_id)})
                self.state.delete_draft(client_id, draft_id)
                return reply({"draft_id": draft_id, "deleted": True})
            except KeyError as error:
                return reply({"error": str(error.args[0])}, 404)
            except DraftRefused as refused:
                return reply({"error": "the draft cannot be approved", "problems": refused.problems}, 409)
        if rest == "/vouchers" and method == "GET":
            return reply(self.state.vouchers(client_id, request.args.get("text")))
        if rest == "/bookings" and method == "GET":
            text = request.args.get("text")
            if not text:
                return reply({"error": "give the text to look for: ?text=[LB-...]"}, 400)
            return reply(self.state.find_bookings(client_id, text))
        if rest == "/attachments" and method == "GET":
            return reply(self.state.attachments(client_id))
        if rest == "/attachments/orphans" and method == "GET":
            return reply(self.state.orphan_attachments(client_id))
        return reply({"error": f"no control endpoint {request.method} {request.path}"}, 404)


def create_app(config: SimulatorConfig | None = None, state: SimulatorState | None = None,
               stop_event: threading.Event | None = None) -> TwentyFourSevenApp:
    config = config or SimulatorConfig()
    state = state or SimulatorState(config)
    # Sleeps wait on this event so that stopping the server cuts injected delays short.
    return TwentyFourSevenApp(config, state, stop_event or threading.Event())
