"""Visma eAccounting connector: catalog reads, voucher booking with the PDF, proof-of-booking search.

Booking takes three calls: upload the attachment, post the voucher, link the two. Each step is
checkpointed so a retry resumes where the last attempt stopped; the voucher post is the only
step whose repetition would double-book, and it is preceded by the SUBMITTED checkpoint.
Before the first of them, what can be checked is checked: an open fiscal year must cover the
voucher date, else nothing is sent (no attachment left behind for a voucher that cannot exist).
"""
from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

import httpx

from ...credentials import TokenSource
from ...errors import AmbiguousVendorOutcome, CredentialRejected, PermanentVendorError, VendorError
from ...models.connection import Connection
from ...money import exact_json
from ...oauth.providers import Provider
from ...settings import get_settings
from ...text import cut_text, text_length
from ...vendor_http import ErrorDescription, Unauthenticated, VendorHttp, window_pacing
from ..base import (
    BOOKING,
    SUBMITTED,
    VENDOR_DOCUMENT_ID,
    VENDOR_DOCUMENT_NUMBER,
    Account,
    AttachmentFile,
    BookingReceipt,
    Catalog,
    Checkpoints,
    ConnectionCheck,
    FiscalYear,
    VatCode,
    Voucher,
    receipt_checkpoints,
)

VOUCHER_ID = VENDOR_DOCUMENT_ID
VOUCHER_NUMBER = VENDOR_DOCUMENT_NUMBER
ATTACHMENT_ID = "attachment_id"
DOCUMENT_TYPE_VOUCHER = 3
PAGE_SIZE = 500
# eAccounting's own text limits (visma_external_api.yaml, VoucherApi / VoucherRowApi), counted as
# .NET counts string length: UTF-16 code units (an emoji is two).
VOUCHER_TEXT_MAX = 1000
TRANSACTION_TEXT_MAX = 60
# Fiscal years change rarely (a new year, a lock); read them once per connection every few minutes.
FISCAL_YEARS_TTL_SECONDS = 300

# (API URL, connection secret, credential version) -> (monotonic time read, fiscal years).
_fiscal_years_cache: dict[tuple[str, str, int], tuple[float, list[FiscalYear]]] = {}
_fiscal_years_lock = threading.Lock()

# eAccounting error codes a bookkeeper can act on, in their words.
_ERROR_HINTS = {
    3001: "no fiscal year exists for the voucher date; create it in eAccounting",
    3002: "an account in the voucher does not exist; fix the account setup",
}


def field(obj: dict[str, Any], name: str, default: Any = None) -> Any:
    """Read a property in PascalCase (2026 spec) or camelCase (earlier spec)."""
    if name in obj:
        return obj[name]
    return obj.get(name[0].lower() + name[1:], default)


def describe_error(response: httpx.Response) -> ErrorDescription:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = field(body, "ErrorCode")
    message = field(body, "DeveloperErrorMessage") or response.reason_phrase or f"HTTP {response.status_code}"
    details = [field(e, "DeveloperErrorMessage") for e in (field(body, "Errors") or []) if isinstance(e, dict)]
    details = [d for d in details if d and d != message]
    if details:
        message = f"{message} ({'; '.join(details)})"
    retry_after = None
    if response.status_code == 429:
        import re

        match = re.search(r"(\d+)\s*second", message)
        retry_after = float(match.group(1)) if match else None
    if code in _ERROR_HINTS and response.status_code == 400:
        message = f"{message} — {_ERROR_HINTS[code]}"
    return ErrorDescription(message=f"eAccounting: {message}", vendor_code=code, retry_after=retry_after)


def _endpoint(method: str, path: str) -> str:
    # Visma counts 600/min per client and endpoint: the first path segment names the endpoint.
    return f"{method} {path.strip('/').split('/')[0].split('?')[0]}"


_http_by_url: dict[str, VendorHttp] = {}


def vendor_http(provider: Provider) -> VendorHttp:
    """One pooled client per process and API URL, its rate share = vendor limit / worker concurrency.

    eAccounting counts 600 requests per client and endpoint in any minute (a sliding window, the
    hub's app being the client: every tenant's bookings share it). Each worker process paces its
    share so that no minute ever holds more (``window_pacing``): a 429 costs a whole message
    round trip, so not sending one beats honouring it.
    """
    http = _http_by_url.get(provider.api_url)
    if http is None:
        settings = get_settings()
        rate, burst = None, 10.0
        if provider.rate_limit:
            rate, burst = window_pacing(provider.rate_limit.requests, provider.rate_limit.per_seconds,
                                        settings.worker_concurrency)
        http = _http_by_url[provider.api_url] = VendorHttp(
            vendor="eAccounting", base_url=provider.api_url.rstrip("/") + "/",
            timeout=settings.vendor_timeout_seconds, describe_error=describe_error,
            rate_per_second=rate, burst=burst, endpoint_of=_endpoint,
        )
    return http


class VismaEAccountingConnector:
    vendor = "visma_eaccounting"
    capabilities = frozenset({BOOKING})

    def __init__(self, http: VendorHttp, tokens: TokenSource):
        self.http = http
        self.tokens = tokens

    # --- plumbing -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, creates: bool = False, headers_extra: dict[str, str] | None = None,
              **kw: Any) -> Any:
        path = path.lstrip("/")
        extra = headers_extra or {}
        token = self.tokens.access_token()
        try:
            response = self.http.request(method, path, headers={**_bearer(token), **extra}, creates=creates, **kw)
        except Unauthenticated:
            # Revoked or expired early: refresh once. A fresh token refused too means the
            # authorization itself is gone, which only the user can fix by connecting again.
            token = self.tokens.access_token(rejected=token)
            try:
                response = self.http.request(method, path, headers={**_bearer(token), **extra}, creates=creates, **kw)
            except Unauthenticated as exc:
                raise CredentialRejected(
                    f"eAccounting refused a freshly issued access token ({exc.message}); connect the account again"
                ) from exc
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            body = self._call("GET", path, params={**(params or {}), "$page": page, "$pagesize": PAGE_SIZE})
            yield from field(body, "Data") or []
            meta = field(body, "Meta") or {}
            if page >= int(field(meta, "TotalNumberOfPages", 1) or 1):
                return
            page += 1

    # --- protocol -------------------------------------------------------------------------------
    def check(self) -> ConnectionCheck:
        settings = self._call("GET", "companysettings") or {}
        return ConnectionCheck(ok=True, company_name=field(settings, "Name"), message="connected",
                               currency=field(settings, "CurrencyCode"))

    def _read_fiscal_years(self) -> list[FiscalYear]:
        return [
            FiscalYear(id=field(fy, "Id"), start=_date(field(fy, "StartDate")), end=_date(field(fy, "EndDate")),
                       locked=bool(field(fy, "IsLockedForAccounting", False)))
            for fy in self._pages("fiscalyears")
        ]

    def _cache_key(self) -> tuple[str, str, int]:
        return (str(getattr(self.http, "base_url", "")), self.tokens.secret_name, self.tokens.credential_version)

    def _cached_fiscal_years(self) -> list[FiscalYear] | None:
        with _fiscal_years_lock:
            cached = _fiscal_years_cache.get(self._cache_key())
        if cached and time.monotonic() - cached[0] < FISCAL_YEARS_TTL_SECONDS:
            return cached[1]
        return None

    def require_open_fiscal_year(self, day: date) -> None:
        """Refuse, before anything is sent, a voucher date no open fiscal year covers.

        eAccounting would refuse the voucher itself, but only after the attachment was uploaded:
        an orphan file in the customer's attachment inbox. A cached read that finds no open year is
        read again before failing (the user may just have created or unlocked it, then replayed).
        """
        years = self._cached_fiscal_years()
        if years is None or not _open_year_covers(years, day):
            years = self._read_fiscal_years()
            # Only the booking path fills the cache (the catalog is read for a setup being saved,
            # and should see the years as they are now).
            with _fiscal_years_lock:
                _fiscal_years_cache[self._cache_key()] = (time.monotonic(), years)
        if _open_year_covers(years, day):
            return
        covering = next((fy for fy in years if fy.covers(day)), None)
        detail = f" (fiscal year {covering.label} is locked for accounting)" if covering else ""
        raise PermanentVendorError(f"no open fiscal year in eAccounting covers {day.isoformat()}{detail}; "
                                   f"create it (or unlock it) in eAccounting, then replay")

    def read_catalog(self, on_date: date) -> Catalog:
        fiscal_years = self._read_fiscal_years()
        vat_codes = [
            VatCode(id=field(v, "Id"), code=str(field(v, "Code") or ""), description=field(v, "Description") or "",
                    rate=_percent(field(v, "VatRate")))
            for v in self._pages("vatcodes")
        ]
        accounts: dict[str, list[Account]] = {}
        for fy in fiscal_years:
            # The years the setup can book into: the one around on_date and its neighbours.
            if abs(fy.start.year - on_date.year) > 1:
                continue
            accounts[fy.id] = [
                Account(number=str(field(a, "Number")), name=field(a, "Name") or "",
                        active=bool(field(a, "IsActive", True)), vat_code_id=field(a, "VatCodeId"))
                for a in self._pages(f"accounts/{fy.id}")
            ]
        company = field(self._call("GET", "companysettings") or {}, "Name")
        return Catalog(company_name=company, fiscal_years=fiscal_years, accounts=accounts, vat_codes=vat_codes)

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        if checkpoints.get(VOUCHER_ID) is None:
            # Still to be posted: make sure it can be, before the first call that leaves anything behind.
            self.require_open_fiscal_year(voucher.voucher_date)
        attachment_id = checkpoints.get(ATTACHMENT_ID)
        if attachment is not None and attachment_id is None:
            if checkpoints.get(SUBMITTED) or checkpoints.get(VOUCHER_ID):
                # An earlier attempt went past the upload (it comes before the post): it is there, under our id.
                attachment_id = _attachment_id(attachment, voucher)
            else:
                attachment_id = self._upload(attachment, voucher, checkpoints)

        voucher_id = checkpoints.get(VOUCHER_ID)
        if voucher_id is None:
            self.tokens.access_token()  # a token refresh that fails must not leave the post in doubt
            checkpoints.save(SUBMITTED, datetime.now(timezone.utc).isoformat())
            params = {"useAutomaticVatCalculation": "false", "useDefaultVatCodes": "false",
                      "useDefaultVoucherSeries": "true" if not voucher.series else "false"}
            try:
                created = self._call("POST", "vouchers", creates=True, params=params,
                                     content=exact_json(self._voucher_body(voucher)),
                                     headers_extra={"Content-Type": "application/json"})
            except AmbiguousVendorOutcome:
                raise  # sent, answer unknown: SUBMITTED stays, the next attempt looks before posting
            except VendorError:
                # Refused before anything was saved (a 4xx, 429 included, or never sent): no doubt
                # is left, so the next attempt posts again at once and the document may be replaced.
                checkpoints.clear(SUBMITTED)
                raise
            voucher_id = field(created, "Id")
            checkpoints.save_all(receipt_checkpoints(BookingReceipt(
                vendor_document_id=voucher_id, vendor_document_number=field(created, "NumberAndNumberSeries"))))

        if attachment_id:
            # The last step: no checkpoint of its own (the core's "booked" follows at once). An attempt
            # after a crash in between links again, which ends the same way (see _link).
            self._link(attachment_id, voucher_id)
        return BookingReceipt(vendor_document_id=voucher_id, vendor_document_number=checkpoints.get(VOUCHER_NUMBER))

    def _link(self, attachment_id: str, voucher_id: str) -> None:
        """Link the PDF to the voucher. Linking it again to the same voucher is done already: eAccounting
        may accept that or refuse it; a refusal counts as done when the attachment shows that voucher."""
        try:
            self._call("POST", "attachmentlinks", json={
                "DocumentType": DOCUMENT_TYPE_VOUCHER, "DocumentId": voucher_id, "AttachmentIds": [attachment_id],
            })
        except PermanentVendorError:
            linked_to = field(self._call("GET", f"attachments/{attachment_id}") or {}, "DocumentId")
            if str(linked_to or "").lower() != str(voucher_id).lower():
                raise

    def _upload(self, attachment: AttachmentFile, voucher: Voucher, checkpoints: Checkpoints) -> str:
        """Upload the PDF under an id of our own, so that it can never exist twice.

        eAccounting takes the attachment's ``Id`` from the request. The id is derived from the
        document and the file's content: an upload whose answer was lost is found by that id
        (and a repeat of it would be refused as existing), never stored a second time unlinked in
        the customer's attachment inbox; a corrected version with the same PDF reuses it.
        """
        attachment_id = _attachment_id(attachment, voucher)
        # No checkpoint before the upload: the id is ours, so an upload whose answer was lost is
        # refused as existing when sent again, and found by that id below.
        try:
            created = self._call("POST", "attachments", creates=True, json={
                "Id": attachment_id,
                "ContentType": attachment.content_type,
                "FileName": attachment.file_name,
                "Data": base64.b64encode(attachment.content).decode(),
            })
        except PermanentVendorError:
            # "already exists": an earlier upload of ours did arrive after all.
            if not self._attachment_exists(attachment_id):
                raise
            created = {"Id": attachment_id}
        stored_id = str(field(created, "Id") or attachment_id)
        if stored_id != attachment_id:
            # Only an id the vendor chose needs remembering. Ours follows from the document and the
            # file: an attempt after this one sends it again and is told it exists. One DynamoDB
            # write less per booking (writes are most of its CPU).
            checkpoints.save(ATTACHMENT_ID, stored_id)
        return stored_id

    def _attachment_exists(self, attachment_id: str) -> bool:
        try:
            self._call("GET", f"attachments/{attachment_id}")
            return True
        except PermanentVendorError as exc:
            if exc.status in (400, 404):  # eAccounting answers an unknown id with 404 (or 400)
                return False
            raise

    def find_booking(self, voucher: Voucher, checkpoints: Checkpoints | None = None) -> BookingReceipt | None:
        """Search the vouchers of that date for our reference; None only when provably absent."""
        day = voucher.voucher_date.isoformat()
        try:
            candidates = list(self._pages("vouchers", {"$filter": f"VoucherDate eq '{day}'"}))
        except PermanentVendorError:
            # The OData filter syntax is not pinned down in Visma's spec. If it is refused, read the
            # fiscal year's vouchers and filter here: slower, but still a proof of absence.
            candidates = [v for v in self._vouchers_of_fiscal_year(voucher.voucher_date)
                          if str(field(v, "VoucherDate") or "")[:10] == day]
        marker = f"[{voucher.reference}]"
        for found in candidates:
            if marker in (field(found, "VoucherText") or ""):
                return BookingReceipt(vendor_document_id=field(found, "Id"),
                                      vendor_document_number=field(found, "NumberAndNumberSeries"))
        return None

    def _vouchers_of_fiscal_year(self, day: date) -> Iterator[dict[str, Any]]:
        for fiscal_year in self._pages("fiscalyears"):
            if _date(field(fiscal_year, "StartDate")) <= day <= _date(field(fiscal_year, "EndDate")):
                yield from self._pages(f"vouchers/{field(fiscal_year, 'Id')}")
                return

    def _voucher_body(self, voucher: Voucher) -> dict[str, Any]:
        rows = []
        for line in voucher.lines:
            if not line.account.isdigit():
                raise PermanentVendorError(f"account {line.account} is not a number; eAccounting needs numeric accounts")
            row: dict[str, Any] = {
                "AccountNumber": int(line.account),
                "DebitAmount": line.debit,
                "CreditAmount": line.credit,
                "TransactionText": cut_text(line.text, TRANSACTION_TEXT_MAX),
            }
            if line.vat_code_id:
                row["VatCodeId"] = line.vat_code_id
            rows.append(row)
        body: dict[str, Any] = {
            "VoucherDate": voucher.voucher_date.isoformat(),
            "VoucherText": _voucher_text(voucher),
            "Rows": rows,
        }
        if voucher.series:
            body["NumberSeries"] = voucher.series
        return body


def _voucher_text(voucher: Voucher) -> str:
    """The voucher text within eAccounting's limit, our reference kept whole: a retry finds the
    voucher by it (find_booking), so it is never the part that gets cut."""
    text = cut_text(voucher.text, VOUCHER_TEXT_MAX)
    marker = f"[{voucher.reference}]"
    if marker in voucher.text and marker not in text:
        head = voucher.text.replace(marker, "").rstrip()
        text = cut_text(head, VOUCHER_TEXT_MAX - text_length(marker) - 1) + " " + marker
    return text


def _open_year_covers(years: list[FiscalYear], day: date) -> bool:
    return any(fy.covers(day) and not fy.locked for fy in years)


# Our own namespace for attachment ids (uuid5): the same document and file always give the same id.
_ATTACHMENT_NAMESPACE = uuid.UUID("0d9b6f2e-5f7a-4c63-9a51-7b3c2c1e8a40")


def attachment_uuid(owner: str, content: bytes) -> str:
    return str(uuid.uuid5(_ATTACHMENT_NAMESPACE, f"{owner}/{hashlib.sha256(content).hexdigest()}"))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _percent(value: Any) -> Decimal:
    """VatRate is documented "as a percentage" but has been seen as a fraction (0.25): accept both.
    No Nordic VAT rate lies between 0 and 1 %, so a value at or below 1 is a fraction."""
    rate = Decimal(str(value or 0))
    if 0 < rate <= 1:
        rate *= 100
    return rate.normalize()


def _date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def build_connector(provider: Provider, connection: Connection) -> VismaEAccountingConnector:
    tokens = TokenSource(provider, connection.tenant_id, connection.connection_id, connection.credential_version)
    return VismaEAccountingConnector(vendor_http(provider), tokens)


def _attachment_id(attachment: AttachmentFile, voucher: Voucher) -> str:
    """The id we upload a PDF under: from its document and its content (see ``_upload``)."""
    return attachment_uuid(attachment.owner or voucher.reference, attachment.content)
