"""SOAP to 24SevenOffice: zeep builds and reads the envelopes from the shipped WSDLs, our pooled
httpx client (``VendorHttp``) carries them, and faults become ledgerbridge errors in one place.

zeep's own transport (requests) is not used: the hub's vendor HTTP already does timeouts,
client-side rate limits and bounded retries, and the session travels as the
``ASP.NET_SessionId`` cookie on each call rather than in a shared cookie jar.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

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
               **arguments: Any) -> Iterator[dict[str, Any]]:
        """Call an operation whose answer is a long list of ``row_type`` elements (GetTransactions
        has no paging) and yield the rows one by one while the answer is still arriving: each row
        is parsed with the WSDL's type and dropped from the tree, so memory does not grow with the
        answer. Faults are raised before the first row, as by ``call``."""
        spec, client, binding, headers, body = self._request(service, operation, session_id, arguments)
        response = self.hosts[spec.host].open_stream("POST", spec.path, headers=headers, content=body)
        if response.status_code != 200:
            try:
                self._reply(client, binding, operation, response)  # a fault: raises the classified error
            finally:
                response.close()
            raise TransientVendorError(f"24SevenOffice {operation}: HTTP {response.status_code}")
        namespace = spec.binding[1:].split("}")[0]
        return self._rows(response, operation, client, client.get_type(f"{{{namespace}}}{row_type}"),
                          f"{{{namespace}}}{row_type}")

    @staticmethod
    def _rows(response: httpx.Response, operation: str, client: zeep.Client, xsd_type: Any,
              tag: str) -> Iterator[dict[str, Any]]:
        from lxml import etree

        parser = etree.XMLPullParser(events=("end",), tag=tag, huge_tree=True, resolve_entities=False,
                                     no_network=True)
        try:
            for chunk in response.iter_bytes():
                parser.feed(chunk)
                for _, element in parser.read_events():
                    row = serialize_object(xsd_type.parse_xmlelement(element, schema=client.wsdl.types), dict)
                    row.pop("_raw_elements", None)
                    yield row
                    # Drop what was read: the tree never holds more than the row being parsed.
                    element.clear()
                    parent = element.getparent()
                    while parent is not None and element.getprevious() is not None:
                        del parent[0]
            parser.close()
        except httpx.HTTPError as exc:
            raise NoAnswer(f"24SevenOffice {operation}: the answer broke off ({type(exc).__name__})") from exc
        except (etree.XMLSyntaxError, ZeepError) as exc:
            raise TransientVendorError(f"24SevenOffice {operation}: unreadable answer ({exc})") from exc
        finally:
            response.close()


_clients: dict[str, SoapClient] = {}


def soap_client(provider: Provider) -> SoapClient:
    """One client per vendor URL and process: its connection pool and rate limiter are shared."""
    client = _clients.get(provider.api_url)
    if client is None:
        client = _clients.setdefault(provider.api_url, SoapClient(provider))
    return client
