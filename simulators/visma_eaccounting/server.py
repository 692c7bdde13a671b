"""VismaSimulator: runs the simulator app on a threaded werkzeug server in a daemon thread."""

from __future__ import annotations

import copy
from typing import Any

from ..serving import ServedSimulator
from .app import create_app
from .config import SimulatorConfig
from .state import Fault, SimulatorState


class VismaSimulator(ServedSimulator):
    """In-process Visma eAccounting simulator.

    >>> with VismaSimulator() as sim:          # starts on 127.0.0.1 with a free port
    ...     httpx.get(sim.base_url + "/connect/authorize", params=...)
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config.users)
        super().__init__()
        self.app = create_app(self.config, self.state, self._stop_event)

    thread_name = "visma-simulator"

    # -- test helpers ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def vouchers(self, company: str | None = None) -> list[dict[str, Any]]:
        """Stored vouchers (VoucherApi dicts, amounts as Decimal), oldest first; copies."""
        with self.state.lock:
            return [copy.deepcopy(v) for name, c in self.state.companies.items()
                    if company in (None, name) for v in c.vouchers]

    def attachments(self, company: str | None = None) -> list[dict[str, Any]]:
        """Stored attachments (linked or still in the inbox: ``DocumentId`` None); copies."""
        with self.state.lock:
            return [copy.deepcopy(a) for name, c in self.state.companies.items()
                    if company in (None, name) for a in c.attachments.values()]

    def request_counts(self) -> dict[str, int]:
        """Requests received per "METHOD /path-template", e.g. "POST /v2/vouchers"."""
        with self.state.lock:
            return dict(self.state.request_counts)

    def reset_counts(self) -> None:
        with self.state.lock:
            self.state.request_counts.clear()

    def reset(self) -> None:
        """Back to seed data: drops vouchers, attachments, tokens, faults, counters and clock offset."""
        self.state.reset()

    def fiscal_year_id(self, company: str, year: int) -> str:
        return self.state.fiscal_year_id(company, year)

    def vat_code_id(self, company: str, code: str) -> str:
        return self.state.vat_code_id(company, code)

    def issue_token(self, username: str = "demo@bakery.example", client_id: str | None = None,
                    scopes: tuple[str, ...] = ("ea:api", "offline_access", "ea:accounting")) -> dict[str, Any]:
        """Token response as /connect/token would give it, without the browser step."""
        client_id = client_id or next(iter(self.config.clients))
        access, refresh = self.state.issue_tokens(client_id, self.config.users[username]["company"],
                                                  list(scopes), self.config.access_token_ttl)
        return {"access_token": access.token, "refresh_token": refresh.token,
                "expires_in": self.config.access_token_ttl, "token_type": "Bearer", "scope": " ".join(scopes)}
