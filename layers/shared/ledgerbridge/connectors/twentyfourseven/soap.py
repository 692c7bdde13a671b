"""SOAP to 24SevenOffice: zeep builds and reads the envelopes from the shipped WSDLs, our pooled
httpx client (``VendorHttp``) carries them, and faults become ledgerbridge errors in one place.

zeep's own transport (requests) is not used: the hub's vendor HTTP already does timeouts,
client-side rate limits and bounded retries, and the session travels as the
``ASP.NET_SessionId`` cookie on each call rather than in a shared cookie jar.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault
from zeep.helpers import serialize_object

from ...errors import CredentialRejected, NoAnswer, PermanentVendorError, TransientVendorError
from ...oauth.providers import Provider
from ...settings import get_settings
from ...vendor_http import ErrorDescription, VendorHttp

WSDL_DIR = Path(__file__).with_name("wsdl")
_WEB = "http://24sevenOffice.com/webservices"
_ACCOUNTING = "http://24sevenoffice.com/webservices/economy/accounting/"


@dataclass(frozen=True)
class Service:
    wsdl: str
    binding: str
    path: str  # the soap:address path; the host comes from providers.toml (or an override)
    host: str = "api"  # "api" (provider.api_url) or a name in provider.hosts


SERVICES = {
    "auth": Service("authService.wsdl", f"{{{_WEB}}}AuthenticateSoap", "/authenticate/v001/authenticate.asmx"),
    "client": Service("clientService.wsdl", f"{{{_WEB}}}ClientServiceSoap", "/Client/V001/ClientService.asmx"),
    "account": Service("accountService.wsdl", f"{{{_WEB}}}AccountServiceSoap",
                       "/Economy/Account/V004/Accountservice.asmx"),
    "transaction": Service("transactionService.wsdl", f"{{{_ACCOUNTING}}}TransactionServiceSoap",
                           "/Economy/Accounting/V001/TransactionService.asmx"),
    "product": Service("productService.wsdl", f"{{{_WEB}}}ProductServiceSoap", "/Logistics/Product/V001/ProductService.asmx"),
    "attachment": Service("attachmentService.wsdl", f"{{{_ACCOUNTING}}}AttachmentServiceSoap",
                          "/Economy/Accounting/Accounting_V001/AttachmentService.asmx", host="webservices"),
}


class SessionExpired(TransientVendorError):
    """The vendor no longer knows our session: log in again (once) and repeat the call."""


class UnsendableValue(PermanentVendorError):
    """A value cannot be written into an XML envelope (a control character, an unpaired
    surrogate): nothing was sent, and sending it again cannot help."""


class NoIdentitySelected(PermanentVendorError):
    """The session has no (usable) current identity: inside a company's unit of work, where the
    identity was just selected under the session lease, that means access to the client was
    removed meanwhile (the connector turns it into CompanyAccessLost)."""


_zeep_lock = threading.Lock()


@lru_cache(maxsize=None)
def _zeep_client(wsdl: str) -> zeep.Client:
    # Parsed once per process (about 100 ms for the four, most of it the first).
    # strict=False: a field the vendor added after
    # these WSDLs were published must not break parsing.
    with _zeep_lock:
        return zeep.Client(str(WSDL_DIR / wsdl), settings=zeep.Settings(strict=False, xml_huge_tree=True))


def _is_fault(response: httpx.Response) -> bool:
    return (response.status_code == 500 and "xml" in response.headers.get("content-type", "")
            and b"Fault" in response.content[:2048])


def _describe_http_error(response: httpx.Response) -> ErrorDescription:
    return ErrorDescription(message=f"24SevenOffice: HTTP {response.status_code} {response.reason_phrase}")


def classify_fault(fault: Fault, login_retry_after: float) -> Exception:
    """The one place a SOAP fault becomes transient, permanent, or 'log in again'.

    24SevenOffice reports errors as SOAP faults (HTTP 500) whose text says what happened; the
    texts matched here are those the services use for sessions and logins.
    """
    text = (fault.message or "").strip()
    lowered = text.lower()
    code = str(fault.code or "")
    if "not authenticated" in lowered or "session" in lowered and "expired" in lowered:
        return SessionExpired(f"24SevenOffice: {text}", vendor_code=code)
    if "too many login" in lowered:
        return TransientVendorError(f"24SevenOffice throttled the login: {text}", retry_after=login_retry_after,
                                    vendor_code=code)
    if "applicationid" in lowered:
        return PermanentVendorError(f"24SevenOffice refused the hub's ApplicationId ({text}); "
                                    "check LB_APPLICATION_IDS", vendor_code=code)
    if "no identity selected" in lowered:
        return NoIdentitySelected(f"24SevenOffice: {text}", vendor_code=code)
    if "password" in lowered or "username" in lowered:
        return CredentialRejected(f"24SevenOffice refused the integration user: {text}", vendor_code=code)
    if code.endswith("Client"):
        return PermanentVendorError(f"24SevenOffice refused the request: {text}", vendor_code=code)
    # soap:Server: an exception inside the service; worth retrying through SQS.
    return TransientVendorError(f"24SevenOffice error: {text}", vendor_code=code)


# --- rows of long answers, read straight from lxml ---------------------------------------------------

def _string(text: str) -> str:
    return text


def _boolean(text: str) -> bool:
    return text.strip() in ("true", "1")  # as zeep: whitespace collapsed and stripped, anything else false


def _datetime(text: str) -> datetime:
    # What .NET writes for these fields ("2025-03-01T00:00:00"): a naive timestamp, as isodate reads
    # it. Anything else (an offset, fractions of a second) is left to zeep's own reading.
    if len(text) != 19 or text[10] != "T":
        raise ValueError(text)
    return datetime.fromisoformat(text)


def _date(text: str) -> date:
    if len(text) != 10:
        raise ValueError(text)
    return date.fromisoformat(text)


def _converter(xsd_type: Any) -> Callable[[str], Any] | None:
    """The direct reading of a simple XSD type, or None (complex types: zeep reads those)."""
    from zeep.xsd.types import builtins as xsd

    if isinstance(xsd_type, xsd.Boolean):
        return _boolean
    if isinstance(xsd_type, xsd.Integer):  # int, short, unsignedByte, long (before Decimal: zeep's
        return int                          # Integer derives from it)
    if isinstance(xsd_type, xsd.Decimal):
        return Decimal  # exact, as zeep reads it (never float)
    if isinstance(xsd_type, xsd.DateTime):
        return _datetime
    if isinstance(xsd_type, xsd.Date):
        return _date
    if isinstance(xsd_type, xsd.String):  # also restrictions of string: guids, enumerations
        return _string
    return None


class RowParser:
    """Reads one row element of a WSDL complex type (e.g. ``Transaction``) into the dict zeep's
    ``serialize_object(type.parse_xmlelement(...))`` gives, without zeep's generic machinery.

    zeep spends ~270 µs on a GetTransactions row, almost all of it matching the element against
    the type's sequence; here each child is one dict lookup by its qualified tag and one
    conversion. What zeep does, this does: every field of the type is present (None when absent,
    empty or nil), numbers are int/Decimal, dates datetime/date, booleans "true"/"1". Values the
    fast conversions do not cover (offsets, fractions of seconds, malformed text) and complex
    children (``Dimensions``) are handed to zeep's own element parsing, so the two never differ.
    (One difference is deliberate: zeep reads a sequence in order and, in its lax mode, drops every
    field after one it does not expect; here each field is read by its name, wherever it is.)
    ``tests/unit/test_twentyfourseven_connector.py`` compares them on a rich answer.
    """

    def __init__(self, xsd_type: Any, schema: Any):
        self.schema = schema
        self.template: dict[str, Any] = {}
        self.fields: dict[str, tuple[str, Callable[[str], Any] | None, Any]] = {}
        for name, element in xsd_type.elements:
            if element.max_occurs != 1:  # not needed by any row type we stream
                raise TypeError(f"{xsd_type.name}.{name}: repeated elements are not read directly")
            self.template[name] = None
            self.fields[element.qname.text] = (name, _converter(element.type), element)
        # zeep (strict=False, as our clients are) matches children by local name whatever their namespace.
        self.local_names = {qualified.rpartition("}")[2]: field for qualified, field in self.fields.items()}

    def __call__(self, row: Any) -> dict[str, Any]:
        values = self.template.copy()
        fields = self.fields
        for child in row:
            field = fields.get(child.tag)
            if field is None:
                tag = child.tag
                field = self.local_names.get(tag.rpartition("}")[2]) if isinstance(tag, str) else None
                if field is None:
                    continue  # a field added after the WSDL (zeep ignores those too), a comment
            name, convert, element = field
            if convert is not None:
                text = child.text
                if not text:
                    continue  # empty or nil: None, as zeep reads it
                try:
                    values[name] = convert(text)
                    continue
                except (ValueError, ArithmeticError):
                    pass
            values[name] = serialize_object(element.parse(child, self.schema, allow_none=True), dict)
        return values


def zeep_row_parser(xsd_type: Any, schema: Any) -> Callable[[Any], dict[str, Any]]:
    """zeep's own reading of a row (what ``RowParser`` replaces; kept as its reference)."""
    def parse(row: Any) -> dict[str, Any]:
        values = serialize_object(xsd_type.parse_xmlelement(row, schema=schema), dict)
        values.pop("_raw_elements", None)
        return values
    return parse


@lru_cache(maxsize=None)
def row_parser(service: str, row_type: str, direct: bool = True) -> Callable[[Any], dict[str, Any]]:
    spec = SERVICES[service]
    client = _zeep_client(spec.wsdl)
    namespace = spec.binding[1:].split("}")[0]
    xsd_type = client.get_type(f"{{{namespace}}}{row_type}")
    return (RowParser if direct else zeep_row_parser)(xsd_type, client.wsdl.types)


class SoapClient:
    """Calls operations of the 24SevenOffice services for this process."""

    def __init__(self, provider: Provider):
        self.provider = provider
        settings = get_settings()
        limit = provider.rate_limit
        # Each worker process takes its share of the vendor-wide limit, as for every vendor.
        rate = limit.requests / limit.per_seconds / max(settings.worker_concurrency, 1) if limit else None
        urls = {"api": provider.api_url, **provider.hosts}
        self.hosts = {name: VendorHttp(
            vendor=provider.display_name, base_url=url.rstrip("/"),
            timeout=settings.vendor_timeout_seconds, describe_error=_describe_http_error,
            rate_per_second=rate, burst=max(rate or 10, 1),
            endpoint_of=lambda method, path: path,  # limits counted per service
            passthrough=_is_fault,
            # No in-process retry: a call that timed out may still run at the vendor, on the
            # session's identity, after we gave up on it. Retries go through SQS, after the
            # session lease (kept on such failures) has run out.
            retries=0,
        ) for name, url in urls.items()}
        self.http = self.hosts["api"]
        self.calls = 0

    def _request(self, service: str, operation: str, session_id: str | None, arguments: dict[str, Any]):
        spec = SERVICES[service]
        client = _zeep_client(spec.wsdl)
        binding = client.wsdl.bindings[spec.binding]
        try:
            envelope = client.create_message(client.create_service(spec.binding, spec.path), operation, **arguments)
        except (TypeError, ZeepError) as exc:  # our own mistake: fail loudly, never retry
            raise PermanentVendorError(f"24SevenOffice {operation}: could not build the request ({exc})") from exc
        except ValueError as exc:
            # lxml refuses text XML 1.0 cannot carry ("All strings must be XML compatible"). The
            # value may be a password: the message names the operation, never the value.
            raise UnsendableValue(f"24SevenOffice {operation}: a value holds characters that cannot be sent "
                                  f"in XML (e.g. a control character); nothing was sent") from exc
        from lxml import etree

        headers = {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml",
                   "SOAPAction": f'"{binding.get(operation).soapaction}"'}
        if session_id:
            headers["Cookie"] = f"ASP.NET_SessionId={session_id}"
        self.calls += 1
        return spec, client, binding, headers, etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def _reply(self, client: zeep.Client, binding: Any, operation: str, response: httpx.Response) -> Any:
        try:
            return binding.process_reply(client, binding.get(operation), response)
        except Fault as fault:
            raise classify_fault(fault, self.provider.login_retry_after_seconds) from fault
        except ZeepError as exc:
            # An answer we cannot read (HTML error page from a proxy, truncated XML): transient.
            raise TransientVendorError(f"24SevenOffice {operation}: unreadable answer ({exc})") from exc

    def call(self, service: str, operation: str, *, session_id: str | None = None, creates: bool = False,
             **arguments: Any) -> Any:
        """Call ``operation``; returns its result as plain Python (dicts, lists, Decimal, datetime).

        ``creates``: the call creates something at the vendor (a voucher, a file), so an answer
        that never came is AmbiguousVendorOutcome (it may have been saved), not NoAnswer."""
        spec, client, binding, headers, body = self._request(service, operation, session_id, arguments)
        response = self.hosts[spec.host].request("POST", spec.path, headers=headers, content=body, creates=creates)
        return serialize_object(self._reply(client, binding, operation, response), dict)

    def stream(self, service: str, operation: str, row_type: str, *, session_id: str | None = None,
               direct: bool = True, **arguments: Any) -> Iterator[dict[str, Any]]:
        """Call an operation whose answer is a long list of ``row_type`` elements (GetTransactions
        has no paging) and yield the rows one by one while the answer is still arriving: each row
        is read with the WSDL's type (``RowParser``; ``direct=False``: zeep's generic parsing) and
        dropped from the tree, so memory does not grow with the answer. Faults are raised before
        the first row, as by ``call``."""
        spec, client, binding, headers, body = self._request(service, operation, session_id, arguments)
        response = self.hosts[spec.host].open_stream("POST", spec.path, headers=headers, content=body)
        if response.status_code != 200:
            try:
                self._reply(client, binding, operation, response)  # a fault: raises the classified error
            finally:
                response.close()
            raise TransientVendorError(f"24SevenOffice {operation}: HTTP {response.status_code}")
        namespace = spec.binding[1:].split("}")[0]
        return self.rows(response, operation, f"{{{namespace}}}{row_type}", row_parser(service, row_type, direct))

    @staticmethod
    def rows(response: httpx.Response, operation: str, tag: str,
             parse: Callable[[Any], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from lxml import etree

        parser = etree.XMLPullParser(events=("end",), tag=tag, huge_tree=True, resolve_entities=False,
                                     no_network=True)
        try:
            for chunk in response.iter_bytes():
                parser.feed(chunk)
                for _, element in parser.read_events():
                    yield parse(element)
                    # Drop what was read: the tree never holds more than the row being parsed.
                    element.clear()
                    parent = element.getparent()
                    while parent is not None and element.getprevious() is not None:
                        del parent[0]
            parser.close()
        except httpx.HTTPError as exc:
            raise NoAnswer(f"24SevenOffice {operation}: the answer broke off ({type(exc).__name__})") from exc
        except (etree.XMLSyntaxError, ZeepError, ArithmeticError) as exc:
            # ArithmeticError: a decimal zeep cannot read (decimal.InvalidOperation), which it lets through.
            raise TransientVendorError(f"24SevenOffice {operation}: unreadable answer ({exc!r})") from exc
        finally:
            response.close()


_clients: dict[str, SoapClient] = {}


def soap_client(provider: Provider) -> SoapClient:
    """One client per vendor URL and process: its connection pool and rate limiter are shared."""
    client = _clients.get(provider.api_url)
    if client is None:
        client = _clients.setdefault(provider.api_url, SoapClient(provider))
    return client


def as_list(value: Any, key: str) -> list[dict[str, Any]]:
    """zeep renders an ArrayOfX as {"X": [...]} (or None when empty)."""
    if not value:
        return []
    if isinstance(value, dict):
        value = value.get(key) or []
    return [v for v in value if v is not None]
