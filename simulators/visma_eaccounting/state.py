"""In-memory state of the Visma eAccounting simulator: companies, ledgers, OAuth grants, faults.

Every mutation happens under ``SimulatorState.lock`` (the werkzeug server is threaded). Route handlers
hold the lock for the whole read-validate-write step so that e.g. voucher numbering never races.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from ..faults import FaultQueue, FaultRules

# Deterministic ids: uuid5 over company name + kind + key, so a seeded VAT code, fiscal year or
# account has the same Id in every simulator run (handy for fixtures and the local dev setup).
SEED_NAMESPACE = uuid.UUID("6f0c1c2e-7a51-4f4e-9d0a-5c1e2b3a4d5f")


def seed_id(company: str, kind: str, key: Any) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{company}/{kind}/{key}"))


# ---------------------------------------------------------------------------------------------
# Seed data (plain data, extend freely)
# ---------------------------------------------------------------------------------------------

SEED_COMPANIES: dict[str, dict[str, Any]] = {
    "Demo Bakery AS": {
        "CorporateIdentityNumber": "999888777",
        "Address1": "Bakergata 1",
        "PostalCode": "0150",
        "City": "Oslo",
        "Email": "post@bakery.example",
        "Phone": "+4722000000",
    },
    "Other Cafe AS": {
        "CorporateIdentityNumber": "999111222",
        "Address1": "Kafeveien 2",
        "PostalCode": "5003",
        "City": "Bergen",
        "Email": "post@cafe.example",
        "Phone": "+4755000000",
    },
}

# Calendar fiscal years; "locked" maps to FiscalYearApi.IsLockedForAccounting.
SEED_FISCAL_YEARS: list[dict[str, Any]] = [
    {"year": 2025, "locked": False},
    {"year": 2026, "locked": False},
    {"year": 2027, "locked": False},
]

# Norwegian VAT codes (SAF-T standard codes). VatRate is a fraction as the live API returns it
# (0.25 == 25 %). related_accounts feed VatCodeApi.RelatedAccounts.
SEED_VAT_CODES: list[dict[str, Any]] = [
    {"code": "0", "description": "Ingen mva-behandling", "rate": "0", "related_accounts": []},
    {"code": "3", "description": "Utgående mva, høy sats 25%", "rate": "0.25", "related_accounts": [2700]},
    {"code": "31", "description": "Utgående mva, middels sats 15% (næringsmidler)", "rate": "0.15",
     "related_accounts": [2701]},
    {"code": "33", "description": "Utgående mva, lav sats 12%", "rate": "0.12", "related_accounts": [2702]},
    {"code": "5", "description": "Innenlands omsetning fritatt for mva (innenfor mva-loven)", "rate": "0",
     "related_accounts": []},
    {"code": "6", "description": "Omsetning utenfor mva-loven", "rate": "0", "related_accounts": []},
]

# NS 4102 chart excerpt. "vat" is the default VAT code (by Code) of the account; "years" limits
# the account to some fiscal years (None = all). 3010 exists in 2025 only so that a mapping still
# pointing at it fails in 2026 with "Account 3010 does not exist in fiscal year 2026".
SEED_ACCOUNTS: list[dict[str, Any]] = [
    {"number": 1500, "name": "Kundefordringer"},
    {"number": 1580, "name": "Kortoppgjør (kortinnløser)"},
    {"number": 1581, "name": "Vipps"},
    {"number": 1900, "name": "Kontanter"},
    {"number": 1920, "name": "Bankinnskudd"},
    {"number": 2400, "name": "Leverandørgjeld"},
    {"number": 2700, "name": "Utgående mva høy sats"},
    {"number": 2701, "name": "Utgående mva middels sats"},
    {"number": 2702, "name": "Utgående mva lav sats"},
    {"number": 2900, "name": "Gavekort (forskudd fra kunder)"},
    {"number": 3000, "name": "Salgsinntekt avgiftspliktig høy sats", "vat": "3"},
    {"number": 3010, "name": "Salgsinntekt mat middels sats", "vat": "31", "years": [2025]},
    {"number": 3011, "name": "Salgsinntekt mat", "vat": "31"},
    {"number": 3030, "name": "Salgsinntekt lav sats", "vat": "33"},
    {"number": 3090, "name": "Gammel salgskonto", "vat": "3", "active": False},
    {"number": 3100, "name": "Salgsinntekt avgiftsfri", "vat": "5"},
    {"number": 7770, "name": "Øreavrunding"},
    {"number": 7790, "name": "Kassedifferanse"},
]


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Company:
    """One eAccounting company: its settings, chart of accounts and everything booked in it."""

    name: str
    settings: dict[str, Any]
    fiscal_years: list[dict[str, Any]]                 # FiscalYearApi dicts
    vat_codes: list[dict[str, Any]]                    # VatCodeApi dicts
    accounts: dict[str, dict[int, dict[str, Any]]]     # fiscal year Id -> number -> AccountApi dict
    vouchers: list[dict[str, Any]] = field(default_factory=list)       # VoucherApi dicts, Decimal amounts
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)  # Id -> Attachment dict
    attachment_content: dict[str, bytes] = field(default_factory=dict)
    last_voucher_number: Counter = field(default_factory=Counter)     # number series -> last number

    def fiscal_year_for(self, day: date) -> dict[str, Any] | None:
        iso = day.isoformat()
        for fiscal_year in self.fiscal_years:
            if fiscal_year["StartDate"][:10] <= iso <= fiscal_year["EndDate"][:10]:
                return fiscal_year
        return None

    def fiscal_year_by_id(self, fiscal_year_id: str) -> dict[str, Any] | None:
        return next((fy for fy in self.fiscal_years if fy["Id"].lower() == fiscal_year_id.lower()), None)

    def vat_code_by_id(self, vat_code_id: str) -> dict[str, Any] | None:
        return next((vc for vc in self.vat_codes if vc["Id"].lower() == str(vat_code_id).lower()), None)

    def voucher_by_id(self, voucher_id: str) -> dict[str, Any] | None:
        return next((v for v in self.vouchers if v["Id"].lower() == str(voucher_id).lower()), None)


def build_company(name: str, settings: dict[str, Any], created: datetime) -> Company:
    created_iso = utc_iso(created)
    vat_codes = []
    vat_by_code = {}
    for seed in SEED_VAT_CODES:
        related = list(seed["related_accounts"]) + [None, None, None]
        vat_code = {
            "Id": seed_id(name, "vatcode", seed["code"]),
            "Code": seed["code"],
            "Description": seed["description"],
            "VatRate": Decimal(seed["rate"]),
            "OssCodeType": 0,
            "RelatedAccounts": {f"AccountNumber{i + 1}": related[i] for i in range(3)},
        }
        vat_codes.append(vat_code)
        vat_by_code[seed["code"]] = vat_code

    fiscal_years = []
    accounts: dict[str, dict[int, dict[str, Any]]] = {}
    for seed in SEED_FISCAL_YEARS:
        year = seed["year"]
        fiscal_year = {
            "Id": seed_id(name, "fiscalyear", year),
            "StartDate": f"{year}-01-01T00:00:00",
            "EndDate": f"{year}-12-31T00:00:00",
            "IsLockedForAccounting": bool(seed["locked"]),
            "BookkeepingMethod": 0,
        }
        fiscal_years.append(fiscal_year)
        chart = {}
        for account_seed in SEED_ACCOUNTS:
            if account_seed.get("years") is not None and year not in account_seed["years"]:
                continue
            vat_code = vat_by_code.get(account_seed.get("vat")) if account_seed.get("vat") else None
            chart[account_seed["number"]] = {
                "Name": account_seed["name"],
                "Number": str(account_seed["number"]),
                "VatCodeId": vat_code["Id"] if vat_code else None,
                "VatCodeDescription": vat_code["Description"] if vat_code else None,
                "FiscalYearId": fiscal_year["Id"],
                "ReferenceCode": None,
                "Type": 0,
                "TypeDescription": None,
                "ModifiedUtc": created_iso,
                "CreatedUtc": created_iso,
                "IsActive": account_seed.get("active", True),
                "AllowTransactionText": True,
                "IsFirstCostCenterMandatory": False,
                "IsProjectAllowed": True,
                "IsCostCenterAllowed": True,
                "IsBlockedForManualBooking": False,
                "Description": None,
            }
        accounts[fiscal_year["Id"]] = chart

    company_settings = {
        "Name": name,
        "Email": settings.get("Email"),
        "Phone": settings.get("Phone"),
        "MobilePhone": None,
        "Address1": settings.get("Address1", ""),
        "Address2": None,
        "CountryCode": "NO",
        "PostalCode": settings.get("PostalCode", ""),
        "City": settings.get("City", ""),
        "Website": None,
        "OurReference": None,
        "CurrencyCode": "NOK",
        "CorporateIdentityNumber": settings.get("CorporateIdentityNumber"),
        "VatCode": f"NO{settings.get('CorporateIdentityNumber', '')}MVA",
        "BankAccount": None,
        "Iban": None,
        "AccountNumberDigits": 4,
        "AccountingLockedTo": None,
    }
    return Company(name=name, settings=company_settings, fiscal_years=fiscal_years,
                   vat_codes=vat_codes, accounts=accounts)


# ---------------------------------------------------------------------------------------------
# OAuth grants
# ---------------------------------------------------------------------------------------------

@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    company: str
    username: str
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    token: str
    client_id: str
    company: str
    scopes: list[str]
    expires_at: float


@dataclass
class RefreshToken:
    token: str
    client_id: str
    company: str
    scopes: list[str]
    used: bool = False


@dataclass
class Fault(FaultRules):
    """An injected misbehaviour. Matching faults fire in FIFO order, ``times`` times (-1 = forever).

    kinds: "status" (answer ``status`` + Visma error body, do nothing), "rate_limit" (429 with
    Retry-After ``retry_after``), "timeout_after_commit" (do the work, then sleep ``delay_s`` before
    answering), "status_after_commit" (do the work, then answer ``status`` as a proxy in front of
    the API would), "latency" (sleep ``delay_s``, then proceed normally).
    ``probability``: a matching request is hit with this chance (chaos runs: ``times=-1``); the
    draw comes from the simulator's seeded generator, so a run can be repeated.
    """

    kind: str
    method: str = "*"
    path_prefix: str = "/v2"
    times: int = 1
    status: int = 503
    retry_after: int = 2
    delay_s: float = 5.0
    probability: float = 1.0

    KINDS = ("status", "rate_limit", "timeout_after_commit", "status_after_commit", "latency")


class SimulatorState(FaultQueue):
    """All mutable simulator data. Tests may read and modify it directly (take ``lock`` if the server runs)."""

    def __init__(self, users: dict[str, dict[str, str]]):
        self.lock = threading.RLock()
        self._users = users
        self.clock_offset_s = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.clock_offset_s = 0.0
            self.rng = random.Random(20261126)
            created = self.now()
            names = dict.fromkeys(list(SEED_COMPANIES) + [u["company"] for u in self._users.values()])
            self.companies: dict[str, Company] = {
                name: build_company(name, SEED_COMPANIES.get(name, {}), created) for name in names
            }
            self.authorization_codes: dict[str, AuthorizationCode] = {}
            self.access_tokens: dict[str, AccessToken] = {}
            self.refresh_tokens: dict[str, RefreshToken] = {}
            # How often each refresh token was presented; >1 means someone replayed it.
            self.refresh_token_uses: Counter = Counter()
            self.refresh_token_reuse_attempts = 0
            self.faults: deque[Fault] = deque()
            self.request_counts: Counter = Counter()
            # (client_id, "METHOD /template") -> timestamps (simulator clock) of accepted calls.
            self.rate_windows: dict[tuple[str, str], deque[float]] = {}

    # -- clock -----------------------------------------------------------------------------------

    def clock(self) -> float:
        """Simulator time as epoch seconds (real time shifted by advance_clock)."""
        return time.time() + self.clock_offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_s += seconds

    # -- lookups used by tests -------------------------------------------------------------------

    def company(self, name: str) -> Company:
        return self.companies[name]

    def fiscal_year_id(self, company: str, year: int) -> str:
        return seed_id(company, "fiscalyear", year)

    def vat_code_id(self, company: str, code: str) -> str:
        return seed_id(company, "vatcode", code)

    def set_fiscal_year_locked(self, company: str, year: int, locked: bool = True) -> None:
        with self.lock:
            self.companies[company].fiscal_year_by_id(self.fiscal_year_id(company, year))[
                "IsLockedForAccounting"] = locked

    # -- OAuth -----------------------------------------------------------------------------------

    def issue_code(self, client_id: str, redirect_uri: str, scopes: list[str], username: str,
                   ttl_s: float = 300) -> AuthorizationCode:
        with self.lock:
            code = AuthorizationCode(
                code=secrets.token_urlsafe(32), client_id=client_id, redirect_uri=redirect_uri,
                scopes=scopes, company=self._users[username]["company"], username=username,
                expires_at=self.clock() + ttl_s)
            self.authorization_codes[code.code] = code
            return code

    def issue_tokens(self, client_id: str, company: str, scopes: list[str],
                     ttl_s: float) -> tuple[AccessToken, RefreshToken]:
        with self.lock:
            access = AccessToken(token=secrets.token_urlsafe(48), client_id=client_id, company=company,
                                 scopes=list(scopes), expires_at=self.clock() + ttl_s)
            refresh = RefreshToken(token=secrets.token_urlsafe(48), client_id=client_id, company=company,
                                   scopes=list(scopes))
            self.access_tokens[access.token] = access
            self.refresh_tokens[refresh.token] = refresh
            return access, refresh

    # -- rate limiting ---------------------------------------------------------------------------

    def rate_limit_wait(self, client_id: str, endpoint: str, limit_per_minute: int) -> int:
        """0 if the call may proceed (and is recorded), else seconds until a slot frees (>= 1)."""
        with self.lock:
            now = self.clock()
            window = self.rate_windows.setdefault((client_id, endpoint), deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit_per_minute:
                return max(1, int(-(-(window[0] + 60 - now) // 1)))
            window.append(now)
            return 0


__all__ = [
    "AccessToken", "AuthorizationCode", "Company", "Fault", "RefreshToken", "SimulatorState",
    "SEED_ACCOUNTS", "SEED_COMPANIES", "SEED_FISCAL_YEARS", "SEED_VAT_CODES", "seed_id", "utc_iso",
]
