"""Procountor connector: company, chart, fiscal years and dimensions; payroll receipts booked as JOURNAL
ledger receipts, exactly once, with the proof-of-booking search Procountor allows.

Procountor has no idempotency key and no search by name (vendor-specs NOTES.md). Each receipt's name
carries our reference (``[LB-…/2026-01]``) and the receipt is looked up after an unanswered POST among
the JOURNAL receipts of its receipt date (``GET /ledgerreceipts?types=JOURNAL&startDate=&endDate=``,
every page): found → recorded; not found → absent, sent again; search failed → a retry, never a post.
Before any receipt of a journal is sent, ``check_bookable`` checks every period still to book (open in
an open fiscal year), every account (in the chart, active) and every dimension item (known and active,
or created when the setup allows it), so a journal fails whole instead of half booked.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

import httpx

from ...credentials import TokenSource, api_key_token_form, token_request
from ...errors import AmbiguousVendorOutcome, CredentialRejected, PermanentVendorError, VendorError
from ...models.connection import Connection
from ...models.payroll import PayrollSetup
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
    AccountingPeriod,
    AttachmentFile,
    BookingReceipt,
    Catalog,
    Checkpoints,
    ConnectionCheck,
    Dimension,
    DimensionItem,
    FiscalYear,
    VatCode,
    Voucher,
)

VENDOR_STATUS = "vendor_status"
NAME_MAX = 80  # LedgerReceipt.name
DESCRIPTION_MAX = 255  # Transaction.description
SEARCH_PAGE_SIZE = 200  # GET /ledgerreceipts: size ≤ 200

# What a bookkeeper does about Procountor's error codes (the message of an error is a code).
_HINTS = {
    "CLOSED_FISCAL_PERIOD": "the receipt date lies in a period that is closed in Procountor; reopen the period, "
                            "then replay",
    "NO_FISCAL_YEAR": "no fiscal year in Procountor covers the receipt date; create it, then replay",
    "LEDGER_ACCOUNT_NOT_FOUND": "an account does not exist in Procountor's chart of accounts; fix the payroll "
                                "setup's account mapping, then replay",
    "LEDGER_ACCOUNT_INACTIVE": "an account is inactive in Procountor; activate it or map to another, then replay",
    "DIMENSION_ITEM_INACTIVE": "a dimension item is inactive in Procountor; activate it, then replay",
}


def describe_error(response: httpx.Response) -> ErrorDescription:
    """``{"errors": [{status, field, message}]}``: keyed on the codes, every error of the answer shown."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        text = response.reason_phrase or f"HTTP {response.status_code}"
        if isinstance(body, dict) and body.get("error"):  # the token endpoint's RFC 6749 body
            text = str(body.get("error_description") or body["error"])
        return ErrorDescription(message=f"Procountor: {text}")
    parts, codes = [], []
    for error in errors[:10]:
        if not isinstance(error, dict):
            continue
        code = str(error.get("message") or "")
        codes.append(code)
        field = error.get("field")
        parts.append(f"{field}: {code}" if field else code)
    hints = [_HINTS[c] for c in dict.fromkeys(codes) if c in _HINTS]
    message = "Procountor: " + "; ".join(parts) + (f" — {'; '.join(hints)}" if hints else "")
    return ErrorDescription(message=message, vendor_code=codes[0] if codes else None)


# The company's fiscal years, chart and dimensions, read for the preflight check, per connection
# credential: (api URL, connection secret, credential version) -> (monotonic time read, reference).
REFERENCE_TTL_SECONDS = 300
_references: dict[tuple[str, str, int], tuple[float, "_CompanyReference"]] = {}
_reference_lock = threading.Lock()


@dataclass(frozen=True)
class _CompanyReference:
    years: list[FiscalYear]
    accounts: dict[str, Account]
    dimensions: list[Dimension]


def _problems(vouchers: list[Voucher], reference: _CompanyReference,
              create_missing: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """What Procountor would refuse in these vouchers (in a bookkeeper's words), and the dimension
    items to create first (only when the setup allows it)."""
    problems: list[str] = []
    for voucher in vouchers:
        year = next((fy for fy in reference.years if fy.covers(voucher.voucher_date)), None)
        what = f"the receipt for {voucher.part}" if voucher.part else "the receipt"
        period = year.period_for(voucher.voucher_date) if year else None
        if year is None or (year.periods and period is None):
            problems.append(f"no fiscal year in Procountor covers {voucher.voucher_date.isoformat()} ({what}): "
                            f"create it in Procountor, then replay")
        elif year.locked or (period is not None and not period.open):
            label = period.label if period else year.label
            problems.append(f"period {label} is closed in Procountor: reopen it (or have the bookkeeper move "
                            f"this correction to an open period in the payroll system), then replay; no "
                            f"receipt of this journal is sent until then")
    for number in sorted({line.account for v in vouchers for line in v.lines}):
        account = reference.accounts.get(number)
        if account is None:
            problems.append(f"account {number} does not exist in Procountor's chart of accounts: map it to an "
                            f"existing account in the payroll setup, then replay")
        elif not account.active:
            problems.append(f"account {number} is inactive in Procountor: activate it or map it to another "
                            f"account in the payroll setup, then replay")
    dimensions = {d.name: d for d in reference.dimensions}
    missing: list[tuple[str, str]] = []
    for name, code in sorted({(n, c) for v in vouchers for line in v.lines for n, c in line.dimensions.items()}):
        dimension = dimensions.get(name)
        if dimension is None:
            problems.append(f"dimension {name!r} no longer exists in Procountor: choose it again in the payroll "
                            f"setup, then replay")
            continue
        item = dimension.item(code)
        if item is None:
            if create_missing:
                missing.append((name, code))
            else:
                problems.append(f"item {code!r} does not exist in dimension {name}: create it in Procountor (or "
                                f"let the payroll setup create missing items), then replay")
        elif not item.active:
            problems.append(f"item {code!r} of dimension {name} is inactive in Procountor: activate it, then replay")
    return problems, missing


_http_by_url: dict[str, VendorHttp] = {}


def vendor_http(provider: Provider) -> VendorHttp:
    """One pooled client per process and API URL. Procountor counts requests per API client (the hub's
    app, whatever the tenant) over all endpoints together: one bucket, this process's share of it."""
    http = _http_by_url.get(provider.api_url)
    if http is None:
        settings = get_settings()
        rate, burst = None, 10.0
        if provider.rate_limit:
            rate, burst = window_pacing(provider.rate_limit.requests, provider.rate_limit.per_seconds,
                                        settings.worker_concurrency)
        http = _http_by_url[provider.api_url] = VendorHttp(
            vendor="Procountor", base_url=provider.api_url.rstrip("/") + "/", timeout=settings.vendor_timeout_seconds,
            describe_error=describe_error, rate_per_second=rate, burst=burst, endpoint_of=lambda method, path: "api")
    return http


class ProcountorConnector:
    vendor = "procountor"
    capabilities = frozenset({BOOKING})

    def __init__(self, http: VendorHttp, tokens: TokenSource, setup: PayrollSetup | None, provider: Provider):
        self.http = http
        self.tokens = tokens
        self.setup = setup or PayrollSetup()
        self.provider = provider
        # (dimension name, item code) -> item id, as resolved by check_bookable for this booking.
        self._items: dict[tuple[str, str], int] | None = None
        self._dimension_ids: dict[str, int] = {}

    # --- plumbing -------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, creates: bool = False, **kw: Any) -> Any:
        token = self.tokens.access_token()
        headers = {"Authorization": f"Bearer {token}"}
        if "content" in kw:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(method, path, headers=headers, creates=creates, **kw)
        except Unauthenticated:
            # Expired early or logged out: a new token once; refused again means the grant is gone.
            token = self.tokens.access_token(rejected=token)
            headers["Authorization"] = f"Bearer {token}"
            try:
                response = self.http.request(method, path, headers=headers, creates=creates, **kw)
            except Unauthenticated as exc:
                raise CredentialRejected(f"Procountor refused a freshly issued access token ({exc.message}); "
                                         f"connect the company again") from exc
        return response.json() if response.content else None

    def _company(self) -> dict[str, Any]:
        return self._call("GET", "company") or {}

    def _fiscal_years(self) -> list[FiscalYear]:
        body = self._call("GET", "fiscalyears") or {}
        years = []
        for fy in body.get("fiscalYears") or []:
            periods = [AccountingPeriod(start=_date(p["startDate"]), end=_date(p["endDate"]),
                                        status="open" if p.get("status") == "OPEN" and fy.get("isOpen", True)
                                        else "closed", vendor_status=p.get("status"))
                       for p in fy.get("trackingPeriods") or []]
            years.append(FiscalYear(id=str(fy["id"]), start=_date(fy["startDate"]), end=_date(fy["endDate"]),
                                    locked=not fy.get("isOpen", True), periods=periods))
        return sorted(years, key=lambda y: y.start)

    def _dimensions(self) -> list[Dimension]:
        dimensions = []
        for d in self._call("GET", "dimensions") or []:
            items = [DimensionItem(id=str(i["id"]), code=str(i.get("codeName") or ""),
                                   name=str(i.get("description") or ""), active=i.get("status", "A") != "P")
                     for i in d.get("items") or []]
            dimensions.append(Dimension(id=str(d["id"]), name=str(d.get("name") or ""), items=items))
        return dimensions

    def _accounts(self) -> list[Account]:
        body = self._call("GET", "coa") or {}
        return [Account(number=str(a.get("ledgerAccountCode")), name=str(a.get("name") or ""),
                        active=bool(a.get("active", True))) for a in body.get("ledgerAccounts") or []]

    # --- protocol -------------------------------------------------------------------------------
    def check(self) -> ConnectionCheck:
        company = self._company()
        name = company.get("name")
        business_id = (company.get("businessIdentifier") or {}).get("code")
        years = self._fiscal_years()
        dimensions = self._dimensions()
        closed = [p.label for fy in years if not fy.locked for p in fy.periods if not p.open]
        message = f"connected to {name}" + (f" ({business_id})" if business_id else "")
        warnings = [f"closed periods in open fiscal years: {', '.join(closed)} (receipts dated in them are refused)"
                    ] if closed else []
        return ConnectionCheck(ok=True, company_name=name, message=message, currency=company.get("companyCurrency"),
                               company_id=str(company["id"]) if company.get("id") is not None else None,
                               business_id=business_id, fiscal_years=years, dimensions=dimensions, warnings=warnings)

    def read_catalog(self, on_date: date) -> Catalog:
        vats = self._call("GET", "vats/default") or {}
        rates = sorted({Decimal(str(p["vatPercent"])) for info in vats.get("vatInformation") or []
                        for p in info.get("percentages") or []})
        return Catalog(company_name=self._company().get("name"), fiscal_years=self._fiscal_years(),
                       accounts={"coa": self._accounts()}, dimensions=self._dimensions(),
                       vat_codes=[VatCode(id=format(r, "f"), code=format(r, "f"), rate=r) for r in rates])

    def check_bookable(self, vouchers: list[Voucher]) -> None:
        """Everything Procountor would refuse in these receipts, found before the first is sent.

        Read from this process's copy of the company's fiscal years, chart and dimensions (a few
        minutes old at most: a payroll bureau's morning of journals costs three reads, not three per
        journal); a problem found in the copy is checked again against a fresh read before it fails
        the journal, so a period just reopened, or an item just created, is seen."""
        reference = self._reference(fresh=False)
        problems, missing = _problems(vouchers, reference, self.setup.create_missing_items)
        if problems or missing:
            reference = self._reference(fresh=True)
            problems, missing = _problems(vouchers, reference, self.setup.create_missing_items)
        if problems:
            raise PermanentVendorError("; ".join(problems))
        self._remember_items(reference.dimensions)
        for dimension_name, code in missing:
            self._create_item(dimension_name, code)

    def _reference(self, *, fresh: bool) -> "_CompanyReference":
        key = (self.provider.api_url, self.tokens.secret_name, self.tokens.credential_version)
        with _reference_lock:
            cached = _references.get(key)
        if not fresh and cached and time.monotonic() - cached[0] < REFERENCE_TTL_SECONDS:
            return cached[1]
        reference = _CompanyReference(years=self._fiscal_years(), accounts={a.number: a for a in self._accounts()},
                                      dimensions=self._dimensions())
        with _reference_lock:
            _references[key] = (time.monotonic(), reference)
        return reference

    def _forget_reference(self) -> None:
        with _reference_lock:
            _references.pop((self.provider.api_url, self.tokens.secret_name, self.tokens.credential_version), None)

    def _remember_items(self, dimensions: list[Dimension]) -> None:
        if self._items is None:
            self._items = {}
        for dimension in dimensions:
            self._dimension_ids[dimension.name] = int(dimension.id)
            for item in dimension.items:
                if item.active:
                    self._items.setdefault((dimension.name, item.code), int(item.id))

    def _item(self, name: str, code: str) -> int | None:
        items = self._items or {}
        if (name, code) in items:
            return items[(name, code)]
        wanted = code.strip().casefold()
        return next((item_id for (n, c), item_id in items.items() if n == name and c.strip().casefold() == wanted),
                    None)

    def _create_item(self, dimension_name: str, code: str) -> None:
        dimension_id = self._dimension_ids[dimension_name]
        try:
            created = self._call("POST", f"dimensions/{dimension_id}/items",
                                 content=exact_json({"codeName": code, "description": code}))
        except PermanentVendorError:
            # Created by an earlier attempt whose answer was lost (codes are unique): read it back.
            created = None
        if not created or "id" not in created:
            for dimension in self._dimensions():
                if dimension.name == dimension_name and dimension.item(code):
                    created = {"id": dimension.item(code).id}  # type: ignore[union-attr]
                    break
            else:
                raise PermanentVendorError(f"item {code!r} could not be created in dimension {dimension_name}; "
                                           f"create it in Procountor, then replay")
        if self._items is None:
            self._items = {}
        self._items[(dimension_name, code)] = int(created["id"])
        self._forget_reference()  # the dimensions changed: the next preflight reads them afresh

    def book(self, voucher: Voucher, attachment: AttachmentFile | None, checkpoints: Checkpoints) -> BookingReceipt:
        receipt_id = checkpoints.get(VENDOR_DOCUMENT_ID)
        if receipt_id is None:
            body = self._receipt_body(voucher)
            self.tokens.access_token()  # a token that cannot be had must not leave the post in doubt
            checkpoints.save(SUBMITTED, datetime.now(timezone.utc).isoformat())
            try:
                created = self._call("POST", "ledgerreceipts", creates=True, content=exact_json(body))
            except AmbiguousVendorOutcome:
                raise  # sent, answer unknown: SUBMITTED stays; the next attempt looks before posting
            except VendorError:
                checkpoints.clear(SUBMITTED)  # refused (4xx) or never sent: nothing was created
                raise
            receipt_id = str(created["id"])
            answer = {VENDOR_DOCUMENT_ID: receipt_id, VENDOR_STATUS: str(created.get("status") or "UNFINISHED")}
            if created.get("receiptNumber") is not None:
                answer[VENDOR_DOCUMENT_NUMBER] = str(created["receiptNumber"])
            checkpoints.save_all(answer)  # one write: the id never stands without its number and status
        if self.setup.approve and checkpoints.get(VENDOR_STATUS) != "APPROVED":
            self._approve(receipt_id)
            checkpoints.save(VENDOR_STATUS, "APPROVED")
        return BookingReceipt(vendor_document_id=receipt_id, vendor_document_number=checkpoints.get(VENDOR_DOCUMENT_NUMBER),
                              vendor_status=checkpoints.get(VENDOR_STATUS))

    def _approve(self, receipt_id: str) -> None:
        try:
            self._call("PUT", f"ledgerreceipts/{receipt_id}/approve")
        except PermanentVendorError as exc:
            # Approved already (an answer lost, or by the bookkeeper): approving is done, not failed.
            if exc.status == 403 and str((self._call("GET", f"ledgerreceipts/{receipt_id}") or {}).get("status")) \
                    == "APPROVED":
                return
            raise

    def find_booking(self, voucher: Voucher, checkpoints: Checkpoints | None = None) -> BookingReceipt | None:
        """Our reference among the JOURNAL receipts of the receipt date, every page; None proves absence."""
        marker = f"[{voucher.reference}]"
        day = voucher.voucher_date.isoformat()
        for receipt in self._journals_of(day):
            if marker in str(receipt.get("name") or ""):
                number = receipt.get("receiptNumber")
                return BookingReceipt(vendor_document_id=str(receipt["id"]),
                                      vendor_document_number=str(number) if number is not None else None,
                                      vendor_status=receipt.get("status"))
        return None

    def _journals_of(self, day: str) -> Iterator[dict[str, Any]]:
        page = 0
        while True:
            body = self._call("GET", "ledgerreceipts", params={
                "types": "JOURNAL", "startDate": day, "endDate": day, "size": SEARCH_PAGE_SIZE, "page": page,
                "orderById": "ASC"}) or {}
            results = body.get("results") or []
            yield from results
            total = int((body.get("meta") or {}).get("totalCount") or 0)
            page += 1
            if not results or page * SEARCH_PAGE_SIZE >= total:
                return

    def _receipt_body(self, voucher: Voucher) -> dict[str, Any]:
        self._resolve_for(voucher)
        transactions = []
        for line in voucher.lines:
            value = line.debit - line.credit
            transaction: dict[str, Any] = {
                "transactionType": "ENTRY", "account": line.account, "accountingValue": value,
                "vatPercent": Decimal(0), "description": cut_text(line.text, DESCRIPTION_MAX)}
            if line.dimensions:
                transaction["dimensionItemValues"] = [
                    {"dimensionId": self._dimension_ids[name], "itemId": self._item(name, code), "value": value}
                    for name, code in sorted(line.dimensions.items())]
            transactions.append(transaction)
        return {"type": "JOURNAL", "status": "UNFINISHED", "name": receipt_name(voucher),
                "receiptDate": voucher.voucher_date.isoformat(), "vatType": self.provider.journal_vat_type,
                "vatStatus": self.provider.journal_vat_status, "transactions": transactions}

    def _resolve_for(self, voucher: Voucher) -> None:
        """Item ids of this voucher's dimension items (book() after a preflight in an earlier attempt)."""
        wanted = {(name, code) for line in voucher.lines for name, code in line.dimensions.items()}
        if all(self._item(name, code) is not None for name, code in wanted):
            return
        self.check_bookable([voucher])


def receipt_name(voucher: Voucher) -> str:
    """The receipt's name within Procountor's 80 characters, our reference kept whole: the proof of
    booking finds the receipt by it, so it is never the part that gets cut."""
    marker = f"[{voucher.reference}]"
    text = cut_text(voucher.text, NAME_MAX)
    if marker in voucher.text and marker not in text:
        head = voucher.text.replace(marker, "").rstrip()
        text = cut_text(head, NAME_MAX - text_length(marker) - 1) + " " + marker
    return text


def identify(provider: Provider, access_token: str) -> tuple[str, str]:
    """The company (id, name) an access token acts for: a reconnect must not switch companies."""
    response = vendor_http(provider).request("GET", "company", headers={"Authorization": f"Bearer {access_token}"})
    company = response.json()
    return str(company["id"]), str(company.get("name") or "")


def access_token_for_api_key(provider: Provider, api_key: str) -> dict[str, Any]:
    """The token answer for an API key (client_credentials), e.g. right after /keylogin issued it."""
    return token_request(provider, api_key_token_form(api_key), timeout=get_settings().vendor_timeout_seconds)


def _date(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def build_connector(provider: Provider, connection: Connection) -> ProcountorConnector:
    tokens = TokenSource(provider, connection.tenant_id, connection.connection_id, connection.credential_version)
    return ProcountorConnector(vendor_http(provider), tokens, connection.payroll_setup, provider)
