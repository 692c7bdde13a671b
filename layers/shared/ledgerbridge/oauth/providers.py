"""Load provider definitions from providers.toml (tomllib: stdlib, no YAML parser on cold start)."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import ValidationFailed
from ..settings import get_settings
from ..models.common import LazyModel


class RateLimit(LazyModel):
    requests: int
    per_seconds: float
    per: str = "endpoint"


class Provider(LazyModel):
    vendor: str
    display_name: str
    auth_mode: str
    authorize_url: str | None = None
    token_url: str | None = None
    api_url: str
    # Further hosts of the same vendor by name (24SevenOffice's AttachmentService lives on
    # webservices.24sevenoffice.com), overridable like the others: "<vendor>.hosts.<name>".
    hosts: dict[str, str] = Field(default_factory=dict)
    scopes: list[str] = Field(default_factory=list)
    scope_separator: str = " "
    client_auth: str = "basic"
    pkce: bool = False
    refresh_token_rotates: bool = False
    access_token_ttl_seconds: int = 3600
    refresh_margin_seconds: int = 300
    session_trust_seconds: int = 300
    login_retry_after_seconds: int = 60
    authorize_params: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None
    # False: the vendor registers one redirect URI without a query string (the connection is in state only).
    redirect_uri_query_allowed: bool = True
    # A stored credential's fields, all required (PUT /connections/{id}/credential), and the login's form.
    credential_fields: list[str] = Field(default_factory=lambda: ["username", "password"])
    username_format: str = "any"  # "email": an e-mail address (24SevenOffice's integration users)
    daily_call_budget: int | None = None  # calls per user and day the vendor includes (Uniconta)
    budget_share: float = 0.8  # the part of it the hub may spend; the rest is left to the customer's own tools
    # The part master-data sync may spend: it stops first, so bookkeeping always has budget_share - this left.
    sync_budget_share: float = 0.6
    budget_timezone: str = "UTC"  # where the vendor's day turns
    # The vendor takes revenue lines with their VAT and splits it by the line's VAT code (Uniconta).
    vat_in_line_amounts: bool = False
    # How the vendor wants a journal without VAT described (Procountor: vat_type, vat_status).
    journal: dict[str, str | int] = Field(default_factory=dict)
    # The console's setup sections for this vendor's connections, in page order (console/templates/sections/).
    console_sections: list[str] = Field(default_factory=lambda: ["account_setup"])

    @property
    def journal_vat_type(self) -> str:
        return str(self.journal.get("vat_type", "PURCHASE"))

    @property
    def journal_vat_status(self) -> int:
        return int(self.journal.get("vat_status", 2))


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    return tomllib.loads((Path(__file__).with_name("providers.toml")).read_text())


def provider(vendor: str) -> Provider:
    raw = _raw().get(vendor)
    if raw is None:
        raise ValidationFailed(f"unknown vendor {vendor!r}; known: {', '.join(sorted(_raw()))}")
    data = dict(raw, vendor=vendor)
    overrides = get_settings().vendor_urls
    for field in ("authorize_url", "token_url", "api_url"):
        # e.g. "24sevenoffice.api_url"
        if f"{vendor}.{field}" in overrides:
            data[field] = overrides[f"{vendor}.{field}"]
    hosts = dict(data.get("hosts") or {})
    for name in list(hosts):
        hosts[name] = overrides.get(f"{vendor}.hosts.{name}", hosts[name])
    data["hosts"] = hosts
    return Provider.model_validate(data)


def known_vendors() -> list[str]:
    return sorted(_raw())
