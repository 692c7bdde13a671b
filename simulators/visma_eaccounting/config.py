"""Configuration of the Visma eAccounting simulator."""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_clients() -> dict[str, dict]:
    # An empty redirect_uris list accepts any redirect URI on 127.0.0.1 / localhost.
    return {"ledgerbridge-local": {"secret": "local-secret", "redirect_uris": []}}


def _default_users() -> dict[str, dict[str, str]]:
    return {
        "demo@bakery.example": {"password": "demo-password", "company": "Demo Bakery AS"},
        "other@cafe.example": {"password": "other-password", "company": "Other Cafe AS"},
    }


@dataclass
class SimulatorConfig:
    clients: dict[str, dict] = field(default_factory=_default_clients)
    users: dict[str, dict[str, str]] = field(default_factory=_default_users)
    access_token_ttl: int = 3600
    authorization_code_ttl: int = 300
    rate_limit_per_minute: int = 600
    latency_ms: int = 0          # added to every /v2 and /connect/token call
    page_size_max: int = 1000
    page_size_default: int = 50
