"""SOAP 1.1 plumbing of the 24SevenOffice simulator: envelopes, faults and typed reading of request elements.

Responses are written the way ASP.NET ASMX services write them (document/literal, default namespace on the
response element, ``<X />`` for empty strings, invariant-culture numbers, dateTime without offset).
A response payload is described as a list of ``(element name, value)`` pairs in schema (sequence) order;
values are None (element omitted), ``NIL`` (``xsi:nil="true"``), a nested list (complex type / array),
or a scalar (bool, int, Decimal, str, date, datetime).
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
CONTENT_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'

NIL = object()   # marker value: write the element with xsi:nil="true"

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:\d{2})?$")


class SoapFault(Exception):
    """Raised by handlers; rendered as an HTTP 500 SOAP 1.1 Fault."""

    def __init__(self, faultstring: str, faultcode: str = "soap:Client"):
        super().__init__(faultstring)
        self.faultcode, self.faultstring = faultcode, faultstring


class RequestReadError(SoapFault):
    """The request is not readable (bad XML or a value that does not fit its schema type)."""

    def __init__(self, reason: str):
        super().__init__(f"Server was unable to read request. ---> {reason}", "soap:Client")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------

def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, str)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} into SOAP")


def append_children(parent: etree._Element, ns: str, children: list[tuple[str, Any]]) -> None:
    for name, value in children:
        if value is None:
            continue
        element = etree.SubElement(parent, f"{{{ns}}}{name}")
        if value is NIL:
            element.set(f"{{{XSI}}}nil", "true")
        elif isinstance(value, list):
            append_children(element, ns, value)
        else:
            text = format_value(value)
            if text:
                element.text = text


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "xsi": XSI, "xsd": XSD})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def response_envelope(ns: str, operation: str, result: Any) -> bytes:
    """``<OperationResponse xmlns=ns><OperationResult>result</OperationResult></OperationResponse>``."""
    envelope, body = _envelope()
    response = etree.SubElement(body, f"{{{ns}}}{operation}Response", nsmap={None: ns})
    append_children(response, ns, [(f"{operation}Result", result)])
    return _serialize(envelope)


def fault_envelope(faultcode: str, faultstring: str) -> bytes:
    envelope, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = faultcode
    etree.SubElement(fault, "faultstring").text = faultstring
    etree.SubElement(fault, "detail")
    return _serialize(envelope)


def _serialize(envelope: etree._Element) -> bytes:
    return XML_DECLARATION + etree.tostring(envelope, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_body_element(data: bytes) -> etree._Element:
    """The first element inside soap:Body (the operation's wrapper element)."""
    if not data:
        raise RequestReadError("Root element is missing.")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RequestReadError(f"There is an error in XML document: {exc}") from None
    if root.tag == f"{{{SOAP12_ENV}}}Envelope":
        raise SoapFault("SOAP 1.2 envelopes are not served by this endpoint binding; use SOAP 1.1.",
                        "soap:VersionMismatch")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise RequestReadError("The root element is not a SOAP 1.1 Envelope.")
    body = root.find(f"{{{SOAP_ENV}}}Body")
    operation = next((child for child in body if isinstance(child.tag, str)), None) if body is not None else None
    if operation is None:
        raise RequestReadError("The SOAP Body holds no operation element.")
    return operation


def local_name(element: etree._Element) -> str:
    return etree.QName(element).localname


def namespace(element: etree._Element) -> str:
    return etree.QName(element).namespace or ""


class Reader:
    """Typed access to the (namespace-qualified) children of a request element, as XmlSerializer reads
    them: absent or xsi:nil elements read as None, unqualified/unknown elements are ignored."""

    def __init__(self, element: etree._Element | None, ns: str):
        self.element, self.ns = element, ns

    def child(self, name: str) -> Reader:
        return Reader(self._find(name), self.ns)

    def children(self, name: str) -> list[Reader]:
        if self.element is None:
            return []
        return [Reader(e, self.ns) for e in self.element.findall(f"{{{self.ns}}}{name}") if not _is_nil(e)]

    @property
    def present(self) -> bool:
        return self.element is not None

    def _find(self, name: str) -> etree._Element | None:
        if self.element is None:
            return None
        found = self.element.find(f"{{{self.ns}}}{name}")
        return None if found is None or _is_nil(found) else found

    def text(self, name: str | None = None) -> str | None:
        element = self.element if name is None else self._find(name)
        if element is None:
            return None
        return element.text or ""

    def int(self, name: str | None = None) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return int(raw.strip())
        except ValueError:
            raise RequestReadError(f"Input string was not in a correct format ({name}: {raw!r}).") from None

    def bool(self, name: str | None = None) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        value = raw.strip()
        if value not in ("true", "false", "1", "0"):
            raise RequestReadError(f"The string {raw!r} is not a valid Boolean value ({name}).")
        return value in ("true", "1")

    def guid(self, name: str | None = None) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return str(uuid.UUID(raw.strip()))
        except ValueError:
            raise RequestReadError(f"Guid should contain 32 digits with 4 dashes ({name}: {raw!r}).") from None

    def datetime(self, name: str | None = None) -> datetime | None:
        """xs:dateTime (or xs:date) as a naive datetime; an offset is ignored (wall-clock value kept)."""
        raw = self.text(name)
        if raw is None:
            return None
        match = _DATETIME.match(raw.strip())
        try:
            if match is None:
                raise ValueError
            year, month, day, hour, minute, second, fraction, _ = match.groups()
            return datetime.combine(
                date(int(year), int(month), int(day)),
                time(int(hour or 0), int(minute or 0), int(second or 0), int((fraction or "0").ljust(6, "0")[:6])))
        except ValueError:
            raise RequestReadError(f"The string {raw!r} is not a valid AllXsd value ({name}).") from None

    def decimal(self, name: str | None = None) -> Decimal | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            raise RequestReadError(f"Input string was not in a correct format ({name}: {raw!r}).") from None


def _is_nil(element: etree._Element) -> bool:
    return element.get(f"{{{XSI}}}nil") in ("true", "1")
