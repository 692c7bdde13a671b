"""UnicontaSimulator: runs the simulator app on a threaded werkzeug server in a daemon thread."""

from __future__ import annotations

import copy
from typing import Any

from ..serving import ServedSimulator
from .app import create_app
from .config import SimulatorConfig
from .entities import entity
from .state import Fault, SimulatorState


class UnicontaSimulator(ServedSimulator):
    """In-process Uniconta simulator.

    >>> with UnicontaSimulator() as sim:          # starts on 127.0.0.1 with a free port
    ...     httpx.get(sim.base_url + "/api/Entities/CompanyClient", auth=("004415/salon-api", "Sakse-2026!"))
    """

    thread_name = "uniconta-simulator"

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        super().__init__()
        self.state = SimulatorState(self.config, self._stop_event)
        self.app = create_app(self.config, self.state, self._stop_event)

    def stop(self) -> None:
        super().stop()                 # sets the stop event: the delivery worker ends too
        self.state.notifier.stop()

    # -- test helpers ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def reset(self) -> None:
        """Back to seed data: drops debtors, journal lines, modification URLs, usage, faults, deliveries, clock."""
        self.state.reset()

    def companies(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [{"CompanyId": c.id, "Name": c.name} for c in self.state.companies.values()]

    def debtors(self, company: int | str) -> list[dict[str, Any]]:
        """Debtors with their user-defined fields, as DebtorClientUser shows them (copies)."""
        with self.state.lock:
            return copy.deepcopy(self.state.rows(self.state.company(company), entity("DebtorClientUser")))

    def add_modification_url(self, company: int | str, url: str, argument: str | None = None,
                             table: str | None = "Debtor", post: bool = False) -> dict[str, Any]:
        return self.state.add_modification_url(self.state.company(company), url, table, argument, post)

    def wait_for_deliveries(self, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Waits until every queued modification-URL call has been attempted; returns all attempts."""
        if not self.state.notifier.wait_idle(timeout_s):
            raise TimeoutError("modification-URL deliveries still pending")
        with self.state.lock:
            return copy.deepcopy(self.state.deliveries)

    def usage(self, user: str) -> dict[str, Any]:
        return self.state.usage_view(user)

    def request_counts(self) -> dict[str, int]:
        with self.state.lock:
            return dict(self.state.request_counts)
