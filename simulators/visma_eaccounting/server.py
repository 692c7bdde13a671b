"""VismaSimulator: runs the simulator app on a threaded werkzeug server in a daemon thread."""

from __future__ import annotations

import copy
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .config import SimulatorConfig
from .state import Fault, SimulatorState


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep test output readable
        pass


class VismaSimulator:
    """In-process Visma eAccounting simulator.

    >>> with VismaSimulator() as sim:          # starts on 127.0.0.1 with a free port
    ...     httpx.get(sim.base_url + "/connect/authorize", params=...)
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config.users)
        self._stop_event = threading.Event()
        self.app = create_app(self.config, self.state, self._stop_event)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, log_requests: bool = False) -> str:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._stop_event.clear()
        self._server = make_server(host, port, self.app, threaded=True,
                                   request_handler=None if log_requests else _QuietRequestHandler)
        self.base_url = f"http://{host}:{self._server.server_port}"
        # A short poll interval keeps stop() (and so every test fixture teardown) fast.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="visma-simulator", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop_event.set()  # cut injected sleeps short
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "VismaSimulator":
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

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
