"""In-memory state of the Procountor simulator: companies, their ledgers, OAuth grants, API keys, faults.

Every mutation happens under ``SimulatorState.lock`` (the werkzeug server is threaded). Route handlers hold the
lock for the whole read-validate-write step, so receipt ids and numbers never race.
"""

from __future__ import annotations

import base64
import calendar
import copy
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo
from ..faults import FaultQueue, FaultRules
from . import seed
from .config import SimulatorConfig

CENT = Decimal("0.01")


def local_timestamp(moment: datetime, zone: ZoneInfo) -> str:
    """Procountor's date-time format: local time, seconds, no offset ("2017-09-27T12:12:42")."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------------------------------------
# Companies
# ---------------------------------------------------------------------------------------------

@dataclass
class Company:
    """One Procountor environment (company): its chart, fiscal years, dimensions and ledger receipts."""

    id: int
    name: str
    business_id: str
    address: dict[str, str]
    accounts: dict[str, dict[str, Any]]               # ledgerAccountCode -> LedgerAccount dict
    fiscal_years: list[dict[str, Any]]                # FiscalYear dicts, newest first (as GET /fiscalyears)
    dimensions: dict[int, dict[str, Any]]             # id -> Dimension dict (items: list of DimensionItem dicts)
    receipts: dict[int, dict[str, Any]] = field(default_factory=dict)   # id -> LedgerReceipt, Decimal amounts
    last_receipt_number: int = 0

    def period_for(self, day: date) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(fiscal year, tracking period) containing the day; None where there is none."""
        iso = day.isoformat()
        for fiscal_year in self.fiscal_years:
            if fiscal_year["startDate"] <= iso <= fiscal_year["endDate"]:
                period = next((p for p in fiscal_year["trackingPeriods"]
                               if p["startDate"] <= iso <= p["endDate"]), None)
                return fiscal_year, period
        return None, None

    def item(self, dimension_id: int, item_id: int) -> dict[str, Any] | None:
        dimension = self.dimensions.get(dimension_id)
        if dimension is None:
            return None
        return next((i for i in dimension["items"] if i["id"] == item_id), None)


def _build_company(spec: dict[str, Any], modified: str) -> Company:
    accounts = {}
    for code, name, active in seed.PAYROLL_ACCOUNTS:
        account: dict[str, Any] = {"ledgerAccountCode": code, "name": name, "active": active}
        if code in seed.ACCOUNT_TRANSLATIONS:
            account["translations"] = [{"languageCode": "en", "translation": seed.ACCOUNT_TRANSLATIONS[code]}]
        accounts[code] = account
    fiscal_years = []
    for fy in sorted(spec["fiscal_years"], key=lambda f: f["year"], reverse=True):
        year = fy["year"]
        periods = []
        for month in range(1, 13):
            last_day = calendar.monthrange(year, month)[1]
            periods.append({
                "id": fy["id"] * 100 + month,
                "startDate": date(year, month, 1).isoformat(),
                "endDate": date(year, month, last_day).isoformat(),
                "status": "CLOSED" if month in fy["closed_months"] else "OPEN",
                "modified": modified,
            })
        fiscal_years.append({"id": fy["id"], "startDate": f"{year}-01-01", "endDate": f"{year}-12-31",
                             "modified": modified, "trackingPeriods": periods, "isOpen": fy["open"]})
    dimensions = {d["id"]: {"id": d["id"], "name": d["name"], "items": copy.deepcopy(d["items"])}
                  for d in spec["dimensions"]}
    return Company(id=spec["id"], name=spec["name"], business_id=spec["business_id"],
                   address=dict(spec["address"]), accounts=accounts, fiscal_years=fiscal_years,
                   dimensions=dimensions)


# ---------------------------------------------------------------------------------------------
# OAuth grants and API keys
# ---------------------------------------------------------------------------------------------

@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    username: str
    company_id: int
    kind: str              # "token" (from /login: exchanged for tokens) or "api_key" (from /keylogin)
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    company_id: int
    username: str
    expires_at: float
    grant: str             # "authorization_code", "refresh_token" or "client_credentials"


@dataclass
class RefreshToken:
    token: str
    client_id: str
    company_id: int
    username: str
    expires_at: float | None
    used: bool = False


@dataclass
class ApiKey:
    """Bound to a user, a company and a client application; valid until revoked (dev.procountor.com/m2m)."""

    key: str
    client_id: str
    company_id: int
    username: str
    revoked: bool = False


@dataclass
class LoginTicket:
    """Between the credential step and the company pick of the sign-in page."""

    ticket: str
    username: str
    expires_at: float


@dataclass
class Fault(FaultRules):
    """An injected misbehaviour. Matching faults fire in FIFO order, ``times`` times (-1 = forever).

    kinds: "status" (answer ``status`` + Procountor error body, do nothing), "rate_limit" (429, Retry-After
    ``retry_after``), "timeout_after_commit" (do the work, then sleep ``delay_s`` before answering: the receipt
    exists but the client never hears of it), "status_after_commit" (do the work, then answer ``status`` as a proxy
    in front of the API would), "latency" (sleep ``delay_s``, then proceed normally).
    ``probability``: a matching request is hit with this chance (chaos runs: ``times=-1``), drawn from the
    simulator's seeded generator, so a run can be repeated.
    """

    kind: str
    method: str = "*"
    path_prefix: str = "/api"
    times: int = 1
    status: int = 503
    retry_after: int = 2
    delay_s: float = 5.0
    probability: float = 1.0

    KINDS = ("status", "rate_limit", "timeout_after_commit", "status_after_commit", "latency")


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------

class SimulatorState(FaultQueue):
    """All mutable simulator data. Tests may read and modify it directly (take ``lock`` if the server runs)."""

    def __init__(self, config: SimulatorConfig):
        self.lock = threading.RLock()
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.clock_offset_s = 0.0
        # Signs the API keys (JWT-shaped like Procountor's); fixed per simulator instance.
        self._key_secret = secrets.token_bytes(32)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clock_offset_s = 0.0
            self.rng = random.Random(20261126)
            self._next_id = seed.FIRST_RUNTIME_ID
            self._next_receipt_id = seed.FIRST_RECEIPT_ID
            modified = self.local_now()
            self.companies: dict[int, Company] = {}
            for spec in seed.COMPANIES:
                company = _build_company(spec, modified)
                self.companies[company.id] = company
                for receipt in spec["receipts"]:
                    self._seed_receipt(company, receipt)
            # One redirect URI per client: configured, or bound by the first authorization (until reset).
            self.redirect_uris: dict[str, str] = {cid: c["redirect_uri"] for cid, c in self.config.clients.items()
                                                  if c.get("redirect_uri")}
            self.authorization_codes: dict[str, AuthorizationCode] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}
            self.api_keys: dict[str, ApiKey] = {}
            self.login_tickets: dict[str, LoginTicket] = {}
            self.refresh_token_uses: Counter = Counter()
            self.refresh_token_reuse_attempts = 0
            self.faults: deque[Fault] = deque()
            self.request_counts: Counter = Counter()
            self.rate_windows: dict[str, deque[float]] = {}
            self.rate_limited = 0

    def _seed_receipt(self, company: Company, spec: dict[str, Any]) -> None:
        created = self.local_now()
        transactions = [{"id": self.next_id(), "transactionType": "ENTRY", "account": account,
                         "accountingValue": Decimal(value), "vatPercent": Decimal(vat), "description": "",
                         "dimensionItemValues": []}
                        for account, value, vat in spec["transactions"]]
        receipt = {"type": spec["type"], "status": spec["status"], "name": spec["name"],
                   "receiptDate": spec["receiptDate"], "vatType": spec["vatType"], "vatStatus": spec["vatStatus"],
                   "transactions": transactions}
        self.store_receipt(company, receipt, created)

    # -- ids -------------------------------------------------------------------------------------

    def next_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def store_receipt(self, company: Company, receipt: dict[str, Any], created: str) -> dict[str, Any]:
        """Gives the receipt its id, number, invoice and timestamps and stores it (caller holds the lock)."""
        with self.lock:
            self._next_receipt_id += 1
            company.last_receipt_number += 1
            invoice_id = self.next_id()
            stored = {
                "id": self._next_receipt_id,
                "type": receipt["type"],
                "status": receipt["status"],
                "name": receipt["name"],
                "receiptDate": receipt["receiptDate"],
                "vatType": receipt["vatType"],
                "vatStatus": receipt["vatStatus"],
                # Journals get an invoice of their own "to store certain data fields" (spec: invoiceId).
                "invoiceId": invoice_id,
                "receiptNumber": company.last_receipt_number,
                "invoiceNumber": company.last_receipt_number,
                "version": created,
                "created": created,
                "transactions": receipt["transactions"],
                "attachments": [],
            }
            for optional in ("invoiceNotes", "accountantsNotes", "transactionDescription", "receiptValidity",
                             "periodStartDate", "periodEndDate", "partnerCode", "vatDate"):
                if receipt.get(optional) is not None:
                    stored[optional] = receipt[optional]
            company.receipts[stored["id"]] = stored
            return stored

    # -- clock -----------------------------------------------------------------------------------

    def clock(self) -> float:
        """Simulator time as epoch seconds (real time shifted by advance_clock)."""
        return time.time() + self.clock_offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def local_now(self) -> str:
        return local_timestamp(self.now(), self.zone)

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_s += seconds

    # -- lookups ---------------------------------------------------------------------------------

    def company(self, key: int | str) -> Company:
        """By id (int or digits) or by name."""
        with self.lock:
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                return self.companies[int(key)]
            return next(c for c in self.companies.values() if c.name == key)

    def set_period_status(self, company: int | str, month: str, status: str) -> dict[str, Any]:
        """Tracking period "YYYY-MM" to OPEN, PENDING or CLOSED (the bookkeeper's action in the Procountor UI)."""
        if status not in ("OPEN", "PENDING", "CLOSED"):
            raise ValueError("status must be OPEN, PENDING or CLOSED")
        with self.lock:
            target = self.company(company)
            year, month_number = (int(part) for part in month.split("-"))
            _, period = target.period_for(date(year, month_number, 1))
            if period is None:
                raise KeyError(f"no tracking period {month} in {target.name}")
            period["status"] = status
            period["modified"] = self.local_now()
            return dict(period)

    def set_fiscal_year_open(self, company: int | str, year: int, is_open: bool) -> dict[str, Any]:
        with self.lock:
            target = self.company(company)
            fiscal_year, _ = target.period_for(date(year, 1, 1))
            if fiscal_year is None:
                raise KeyError(f"no fiscal year {year} in {target.name}")
            fiscal_year["isOpen"] = is_open
            fiscal_year["modified"] = self.local_now()
            return {k: v for k, v in fiscal_year.items() if k != "trackingPeriods"}

    def companies_of(self, username: str) -> list[Company]:
        names = self.config.users[username]["companies"]
        return [self.company(name) for name in names]

    # -- OAuth -----------------------------------------------------------------------------------

    def bind_redirect_uri(self, client_id: str, redirect_uri: str) -> bool:
        """True if the URI is the client's one redirect URI (binding it if the client has none yet)."""
        with self.lock:
            registered = self.redirect_uris.get(client_id)
            if registered is None:
                self.redirect_uris[client_id] = redirect_uri
                return True
            return registered == redirect_uri

    def issue_login_ticket(self, username: str) -> LoginTicket:
        with self.lock:
            ticket = LoginTicket(secrets.token_urlsafe(24), username, self.clock() + 600)
            self.login_tickets[ticket.ticket] = ticket
            return ticket

    def take_login_ticket(self, value: str) -> LoginTicket | None:
        with self.lock:
            ticket = self.login_tickets.pop(value, None)
            if ticket is None or ticket.expires_at <= self.clock():
                return None
            return ticket

    def issue_code(self, client_id: str, redirect_uri: str, username: str, company_id: int,
                   kind: str) -> AuthorizationCode:
        with self.lock:
            code = AuthorizationCode(secrets.token_urlsafe(32), client_id, redirect_uri, username, company_id, kind,
                                     self.clock() + self.config.authorization_code_ttl)
            self.authorization_codes[code.code] = code
            return code

    def issue_access_token(self, client_id: str, company_id: int, username: str, grant: str) -> AccessToken:
        with self.lock:
            token = AccessToken(secrets.token_urlsafe(48), client_id, company_id, username,
                                self.clock() + self.config.access_token_ttl, grant)
            self.access_tokens[token.token] = token
            return token

    def issue_refresh_token(self, client_id: str, company_id: int, username: str) -> RefreshToken:
        with self.lock:
            ttl = self.config.refresh_token_ttl
            refresh = RefreshToken(secrets.token_urlsafe(48), client_id, company_id, username,
                                   None if ttl is None else self.clock() + ttl)
            self.refresh_tokens[refresh.token] = refresh
            return refresh

    def issue_api_key(self, client_id: str, company_id: int, username: str) -> ApiKey:
        """An API key as the "API client keys" page or /keylogin creates it: JWT-shaped (as Procountor's are)."""
        with self.lock:
            def b64(data: bytes) -> str:
                return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
            header = b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
            payload = b64(json.dumps({"sub": username, "aud": client_id, "cid": company_id,
                                      "iat": int(self.clock()), "jti": secrets.token_hex(16)}).encode())
            signature = b64(hmac.new(self._key_secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            api_key = ApiKey(f"{header}.{payload}.{signature}", client_id, company_id, username)
            self.api_keys[api_key.key] = api_key
            return api_key

    def revoke_api_key(self, key: str) -> bool:
        with self.lock:
            api_key = self.api_keys.get(key)
            if api_key is None:
                return False
            api_key.revoked = True
            for token in [t for t in self.access_tokens.values() if t.grant == "client_credentials"
                          and t.client_id == api_key.client_id and t.company_id == api_key.company_id
                          and t.username == api_key.username]:
                del self.access_tokens[token.token]
            return True

    # -- rate limiting ---------------------------------------------------------------------------

    def rate_limit_wait(self, client_id: str) -> float:
        """0 if the call may proceed (and is recorded), else seconds until a slot frees (> 0)."""
        with self.lock:
            now = self.clock()
            window_s = self.config.rate_limit_window_s
            window = self.rate_windows.setdefault(client_id, deque())
            while window and window[0] <= now - window_s:
                window.popleft()
            if len(window) >= self.config.rate_limit_requests:
                self.rate_limited += 1
                return max(window[0] + window_s - now, 0.001)
            window.append(now)
            return 0.0


__all__ = ["AccessToken", "ApiKey", "AuthorizationCode", "CENT", "Company", "Fault", "LoginTicket",
           "RefreshToken", "SimulatorState", "local_timestamp"]
