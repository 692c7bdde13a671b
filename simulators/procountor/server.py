"""ProcountorSimulator: runs the simulator app on a threaded werkzeug server in a daemon thread."""

from __future__ import annotations

import copy
from typing import Any

from ..serving import ServedSimulator
from .app import create_app
from .config import SimulatorConfig
from .state import Fault, SimulatorState


class ProcountorSimulator(ServedSimulator):
    """In-process Procountor simulator.

    >>> with ProcountorSimulator() as sim:          # starts on 127.0.0.1 with a free port
    ...     httpx.get(sim.base_url + "/login", params={"response_type": "code", "client_id": ..., ...})
    """

    thread_name = "procountor-simulator"

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config)
        super().__init__()
        self.app = create_app(self.config, self.state, self._stop_event)

    # -- test helpers ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def reset(self) -> None:
        """Back to seed data: drops posted receipts, created items, tokens, keys, faults, counters, clock offset."""
        self.state.reset()

    def company_id(self, name: str) -> int:
        return self.state.company(name).id

    def companies(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [{"id": c.id, "name": c.name, "business_id": c.business_id} for c in self.state.companies.values()]

    def receipts(self, company: int | str | None = None, type: str | None = None) -> list[dict[str, Any]]:  # noqa: A002
        """Stored ledger receipts (amounts as Decimal, with "created"), oldest first; copies."""
        with self.state.lock:
            companies = [self.state.company(company)] if company is not None else list(self.state.companies.values())
            return [copy.deepcopy(r) for c in companies for r in sorted(c.receipts.values(), key=lambda r: r["id"])
                    if type in (None, r["type"])]

    def set_period_status(self, company: int | str, month: str, status: str) -> dict[str, Any]:
        """Tracking period "YYYY-MM" to OPEN, PENDING or CLOSED, as a bookkeeper does in the Procountor UI."""
        return self.state.set_period_status(company, month, status)

    def set_fiscal_year_open(self, company: int | str, year: int, is_open: bool) -> dict[str, Any]:
        return self.state.set_fiscal_year_open(company, year, is_open)

    def request_counts(self) -> dict[str, int]:
        """Requests received per "METHOD /path-template", e.g. "POST /api/ledgerreceipts"."""
        with self.state.lock:
            return dict(self.state.request_counts)

    def reset_counts(self) -> None:
        with self.state.lock:
            self.state.request_counts.clear()

    def issue_token(self, company: int | str, username: str = "demo@palkka.example",
                    client_id: str | None = None) -> dict[str, Any]:
        """Token response as the authorization-code flow would give it, without the browser step."""
        client_id = client_id or next(iter(self.config.clients))
        company_id = self.state.company(company).id
        access = self.state.issue_access_token(client_id, company_id, username, "authorization_code")
        refresh = self.state.issue_refresh_token(client_id, company_id, username)
        return {"access_token": access.token, "token_type": "bearer", "expires_in": self.config.access_token_ttl,
                "refresh_token": refresh.token}

    def issue_api_key(self, company: int | str, username: str = "demo@palkka.example",
                      client_id: str | None = None) -> str:
        """An API key as the Procountor UI's "API client keys" page creates it."""
        client_id = client_id or next(iter(self.config.clients))
        return self.state.issue_api_key(client_id, self.state.company(company).id, username).key

    def revoke_api_key(self, key: str) -> bool:
        return self.state.revoke_api_key(key)
