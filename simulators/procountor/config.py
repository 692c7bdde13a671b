"""Configuration of the Procountor simulator.

Figures Procountor does not publish (or that NOTES.md marks *unconfirmed*) are settings here, so that being wrong
about one is a configuration change: see README.md, "Where the sources disagree".
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_clients() -> dict[str, dict[str, str]]:
    # Procountor registers exactly one redirect URI per API client, a clean URL without a query string
    # (dev.procountor.com/api-authentication). None accepts any query-free http(s) URI on 127.0.0.1 / localhost,
    # still one per client: the first one used is bound to the client from then on (see state.bind_redirect_uri).
    return {"ledgerbridge-local": {"secret": "local-secret", "redirect_uri": None}}


def _default_users() -> dict[str, dict]:
    # The demo user reaches both seeded companies, so the company pick at sign-in decides the grant.
    return {
        "demo@palkka.example": {"password": "demo-password", "name": "Demo Käyttäjä",
                                "companies": ["Palkkatoimisto Demo Oy", "Rakennus Esimerkki Oy"]},
        "single@esimerkki.example": {"password": "single-password", "name": "Yksi Yritys",
                                     "companies": ["Rakennus Esimerkki Oy"]},
    }


@dataclass
class SimulatorConfig:
    clients: dict[str, dict] = field(default_factory=_default_clients)
    users: dict[str, dict] = field(default_factory=_default_users)
    # Access token lifetime: "about 1 hour" (NOTES.md, unconfirmed); client libraries assume 3600 s.
    access_token_ttl: int = 3600
    authorization_code_ttl: int = 300          # not published; short, single use
    # Refresh tokens: Procountor publishes neither rotation nor lifetime. The stricter reading is simulated by
    # default: every refresh answers a new refresh token and the presented one is dead from then on, and a refresh
    # token not used within refresh_token_ttl seconds is refused (invalid_grant). None = never expires.
    refresh_token_rotates: bool = True
    refresh_token_ttl: int | None = 30 * 24 * 3600
    # client_credentials: every public client that uses the M2M flow sends redirect_uri with the api_key
    # (dev.procountor.com's "official client-credentials form"); the stricter reading requires it.
    client_credentials_requires_redirect_uri: bool = True
    # Rate limit per API client (all endpoints together): 20 requests/second is cited from
    # dev.procountor.com/api-requests but not confirmed; ~90/minute was seen on the test server (NOTES.md).
    rate_limit_requests: int = 20
    rate_limit_window_s: float = 1.0
    # Whether a 429 carries Retry-After. Not documented; a client must also cope without it (set False).
    send_retry_after: bool = True
    latency_ms: int = 0                        # added to every /api call (token endpoint included)
    page_size_default: int = 50                # GET /ledgerreceipts: size default 50, maximum 200 (spec)
    page_size_max: int = 200
    # accountingValue / dimension values with more than two decimals: the spec says Procountor rounds them
    # "up to scale 2"; a hub must never rely on a vendor rounding money, so the simulator refuses them by default
    # ("reject"); "round" rounds half up as documented.
    sub_cent_values: str = "reject"
    timezone: str = "Europe/Helsinki"          # created / version / modified are local times without offset
