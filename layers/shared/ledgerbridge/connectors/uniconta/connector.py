"""Uniconta connector: the stored login and "Test integration" (issue 11's first step).

Every REST call carries HTTP Basic with the user as ``00<CompanyId>/<login id>`` and the password
(unipedia, "OData REST API testing with Postman"): there is no session and no token, so a check is
one call. Uniconta does not say whether the user or the password is wrong (``UserOrPasswordIsWrong``),
and a company that does not exist answers like one the user may not open (``NoAccessToCompany``):
"Test integration" names exactly what can be told apart. The API key the seed's form asks for is the
integration's partner key for Uniconta's .NET API; REST never checks it, so it is stored and checked
for its form (a GUID) only — said in the answer, never pretended to be verified.

**Booking** (seed 004: "the day's sales go to Uniconta"): a day's voucher becomes lines of the named
daily journal (kassekladde) the user picked, for the bookkeeper to post: one ``InsertList`` per day
(all or nothing), never a call per line. Revenue lines carry their VAT code and the amount with VAT
(Uniconta splits it; the core's ``vat_included`` voucher); every line's text ends with our reference.
Exactly once: SUBMITTED before the insert; after an unanswered one the journal's lines of that date,
and the posted transactions of that date (the bookkeeper may have posted meanwhile), are searched
for the reference (OData, every page): found → recorded; absent → inserted; search failed → retry.

**Customer sync** (``records.DebtorRecords``, mixed in): debtors as master-data records; its calls
count against the smaller ``sync`` part of the call budget, so the day's sales always have calls left.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

import httpx

from datetime import date, datetime, timezone
from decimal import Decimal

from ...credentials import PasswordCredential, stored_password
from ...errors import AmbiguousVendorOutcome, CredentialRejected, PermanentVendorError, VendorError
from ...models.connection import Choice, Connection
from ...money import exact_json
from ...oauth.providers import Provider
from ...settings import get_settings
from ...text import cut_text, text_length
from ...vendor_budget import CallBudget
from ...vendor_http import ErrorDescription, Unauthenticated, VendorHttp
from .records import DebtorRecords
from ..base import (
    BOOKING,
    MASTER_DATA,
    SUBMITTED,
    VENDOR_DOCUMENT_ID,
    Account,
    AttachmentFile,
    BookingReceipt,
    Catalog,
    Checkpoints,
    ConnectionCheck,
    VatCode,
    Voucher,
)

TEXT_MAX = 100  # GLDailyJournalLineClient.Text
ODATA_PAGE_LIMIT = 50  # pages followed by one search (1,000 rows each): far past any day of one journal


def describe_error(response: httpx.Response) -> ErrorDescription:
    """``api/Entities`` answers ``{ErrorCode, Message, Errors[]}``, OData ``{"error": {code, message}}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code, message = body["error"].get("code"), body["error"].get("message")
    elif isinstance(body, dict):
        code, message = body.get("ErrorCode"), body.get("Message")
        details = [f"{e.get('Field')}: {e.get('ErrorCode')}" for e in body.get("Errors") or [] if isinstance(e, dict)]
        if details:
            message = f"{message} ({'; '.join(details[:10])})"
    else:
        code, message = None, None
    text = message or response.reason_phrase or f"HTTP {response.status_code}"
    return ErrorDescription(message=f"Uniconta: {text}", vendor_code=code)


_http_by_url: dict[str, VendorHttp] = {}


def vendor_http(provider: Provider) -> VendorHttp:
    http = _http_by_url.get(provider.api_url)
    if http is None:
        http = _http_by_url[provider.api_url] = VendorHttp(
            vendor="Uniconta", base_url=provider.api_url.rstrip("/") + "/",
            timeout=get_settings().vendor_timeout_seconds, describe_error=describe_error)
    return http


_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def basic_login(credential: PasswordCredential) -> str:
    """The Basic header of a stored login: ``00<CompanyId>/<login id>`` and the password."""
    user = f"00{credential.company_id}/{credential.username}" if credential.company_id else credential.username
    token = base64.b64encode(f"{user}:{credential.password.get_secret_value()}".encode()).decode()
    return f"Basic {token}"


class UnicontaConnector(DebtorRecords):
    vendor = "uniconta"
    capabilities = frozenset({BOOKING, MASTER_DATA})

    def __init__(self, http: VendorHttp, connection: Connection, provider: Provider):
        self.http = http
        self.connection = connection
        self.provider = provider

    def _credential(self) -> PasswordCredential:
        return stored_password(self.connection.tenant_id, self.connection.connection_id)

    def budget(self, credential: PasswordCredential | None = None, purpose: str = "booking") -> CallBudget:
        credential = credential or self._credential()
        return CallBudget(self.provider, credential.username, purpose)

    def _get(self, entity: str, credential: PasswordCredential) -> Any:
        return self._request("GET", f"api/Entities/{entity}", credential)

    def _request(self, method: str, path: str, credential: PasswordCredential, *, purpose: str = "booking",
                 raw: bool = False, **kw: Any) -> Any:
        """One call: counted first (a call past the budget's part for ``purpose`` is not made); the JSON
        answer with exact numbers (``raw``: the bytes)."""
        self.budget(credential, purpose).spend()
        try:
            response = self.http.request(method, path, headers={"Authorization": basic_login(credential),
                                                                **({"Content-Type": "application/json"}
                                                                   if "content" in kw else {})}, **kw)
        except Unauthenticated as exc:
            raise CredentialRejected(
                "Uniconta refused the user name or the password (it does not say which); check both, as you "
                "log in to Uniconta with them") from exc
        except PermanentVendorError as exc:
            if exc.status == 403 and exc.vendor_code == "NoAccessToCompany":
                raise CredentialRejected(
                    f"company id {credential.company_id} does not exist in Uniconta, or user {credential.username} "
                    f"has no access to it; check the Firma ID (Company > Companies in Uniconta)") from exc
            raise
        if raw:
            return response.content
        return json.loads(response.content, parse_float=Decimal) if response.content else None

    def check(self) -> ConnectionCheck:
        credential = self._credential()
        key = credential.api_key.get_secret_value() if credential.api_key else ""
        if not _GUID.match(key.strip()):
            # Refused before any call: a mistyped key would otherwise pass unnoticed (REST never checks it).
            raise CredentialRejected("the API key is not a Uniconta API key (a GUID such as "
                                     "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13); paste it again")
        companies = self._get("CompanyClient", credential) or []
        company = companies[0] if isinstance(companies, list) and companies else {}
        journals = self._get("GLDailyJournalClient", credential) or []
        choices = {"journal": [Choice(id=str(j.get("Journal")), name=str(j.get("Name") or j.get("Journal")))
                               for j in journals if isinstance(j, dict) and j.get("Journal")]}
        name = company.get("Name")
        return ConnectionCheck(
            ok=True, company_name=name, currency=company.get("Currency") or None,
            company_id=str(company.get("CompanyId") or credential.company_id or "") or None, choices=choices,
            message=(f"connected to {name} ({credential.company_id}) as {credential.username}; the API key has the "
                     f"form of a Uniconta key (Uniconta's REST API does not check it)"),
            warnings=[] if choices["journal"] else ["the company has no daily journal (kassekladde) yet: create one "
                                                    "in Uniconta for the day's sales, then refresh the lists"])

    def journal(self) -> str:
        journal = self.connection.vendor_settings.get("journal")
        if not journal:
            raise PermanentVendorError(
                "no journal is picked for the day's sales: pick one of the company's daily journals "
                f"(PUT /connections/{self.connection.connection_id}/vendor-settings {{\"journal\": \"SALG\"}}), "
                "then replay")
        return journal

    def read_catalog(self, on_date: date) -> Catalog:
        credential = self._credential()
        accounts = [Account(number=str(a.get("Account")), name=str(a.get("Name") or ""),
                            active=not a.get("Blocked") and a.get("AccountType") not in ("Header", "Sum"),
                            vat_code_id=a.get("Vat"))
                    for a in self._get("GLAccountClient", credential) or [] if a.get("Account")]
        vat_codes = [VatCode(id=str(v.get("Vat")), code=str(v.get("Vat")), description=str(v.get("Name") or ""),
                             rate=Decimal(str(v.get("Rate") or 0)))
                     for v in self._get("GLVatClient", credential) or [] if v.get("Vat")]
        company = (self._get("CompanyClient", credential) or [{}])[0]
        return Catalog(company_name=company.get("Name"), accounts={"chart": accounts}, vat_codes=vat_codes,
                       fiscal_years_published=False)

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        found = checkpoints.get(VENDOR_DOCUMENT_ID)
        if found is None:
            journal = self.journal()
            credential = self._credential()
            rows = [self._line(journal, voucher, line) for line in voucher.lines]
            checkpoints.save(SUBMITTED, datetime.now(timezone.utc).isoformat())
            try:
                inserted = self._request("POST", "api/Entities/InsertList/GLDailyJournalLineClient", credential,
                                         content=exact_json(rows), creates=True)
            except AmbiguousVendorOutcome:
                raise  # sent, answer unknown: SUBMITTED stays; the next attempt searches before inserting
            except VendorError:
                checkpoints.clear(SUBMITTED)  # refused as a whole (InsertList is all or nothing)
                raise
            first = inserted[0] if isinstance(inserted, list) and inserted else {}
            found = f"{journal}:{first.get('RowId', '')}"
            checkpoints.save(VENDOR_DOCUMENT_ID, found)
        return BookingReceipt(vendor_document_id=found, vendor_document_number=None,
                              vendor_status="in journal " + found.split(":")[0])

    def _line(self, journal: str, voucher: Voucher, line: Any) -> dict[str, Any]:
        row: dict[str, Any] = {"Journal": journal, "Date": voucher.voucher_date.isoformat(), "AccountType": "Finans",
                               "Account": line.account, "Text": line_text(line.text or voucher.text, voucher.reference)}
        if line.debit:
            row["Debit"] = line.debit
        if line.credit:
            row["Credit"] = line.credit
        if line.vat_code_id:
            row["Vat"] = line.vat_code_id
        return row

    def find_booking(self, voucher: Voucher, checkpoints: Checkpoints | None = None) -> BookingReceipt | None:
        """Our reference among the journal's lines of the date, else among the posted transactions of
        the date (posted by the bookkeeper meanwhile); None proves absence."""
        credential = self._credential()
        journal = self.journal()
        day = voucher.voucher_date.isoformat()
        marker = f"[{voucher.reference}]"
        quoted = marker.replace("'", "''")
        for entity, extra, label in (("GLDailyJournalLineClient", f"Journal eq '{journal}' and ", f"{journal}:"),
                                     ("GLTransClient", "", "posted:")):
            for row in self._odata(entity, f"{extra}Date eq {day} and contains(Text,'{quoted}')", credential):
                if marker in str(row.get("Text") or "") and _day(row.get("Date")) == voucher.voucher_date:
                    return BookingReceipt(vendor_document_id=f"{label}{row.get('RowId', '')}")
        return None

    def _odata(self, entity: str, query: str | None, credential: PasswordCredential, *, purpose: str = "booking",
               page_limit: int = ODATA_PAGE_LIMIT) -> Any:
        company = credential.company_id or ""
        path: str | None = f"odata/{company}/{entity}"
        params: dict[str, Any] | None = {"$filter": query} if query else None
        for _ in range(page_limit):
            body = self._request("GET", path, credential, params=params, purpose=purpose) or {}
            yield from body.get("value") or []
            link = body.get("@odata.nextLink")
            if not link:
                return
            path, params = str(link).split("/odata/", 1)[-1], None
            path = "odata/" + path
        raise PermanentVendorError(f"Uniconta's {entity} search did not end after {page_limit} pages")


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def line_text(text: str, reference: str) -> str:
    """A line's text within Uniconta's 100 characters, ending with our reference kept whole."""
    marker = f" [{reference}]"
    return cut_text(text, TEXT_MAX - text_length(marker)) + marker


def build_connector(provider: Provider, connection: Connection) -> UnicontaConnector:
    return UnicontaConnector(vendor_http(provider), connection, provider)
