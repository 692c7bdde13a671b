"""The modification URL: Uniconta calling a configured URL after every change of master data.

One worker thread delivers in order, after the change is committed and the API call answered (Uniconta notifies
asynchronously; nothing in the documentation says the writer waits). Each change is attempted once. After
``has_error_after_failures`` consecutive failed deliveries to a URL it is marked HasError, and from then on nothing
is sent to it (and nothing is kept for later) until the user presses Refresh (seed 004): changes made meanwhile are
lost for that URL, which is why a receiver also needs a periodic comparison.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx

from .jsonio import to_json

if TYPE_CHECKING:
    from .state import SimulatorState


@dataclass
class Delivery:
    company_id: int
    event_row_id: int
    url: str
    method: str                     # GET, or POST with the record as JSON when the setting's "Post" is ticked
    body: bytes | None
    table: str
    row_id: int
    key: str
    operation: str


def build_url(base: str, params: list[tuple[str, str]], style: str) -> str:
    """The called URL: the configured one with the parameters appended.

    "standard" appends a proper query string (``&`` when the URL has one already); "documented" reproduces the
    unipedia example, every parameter introduced by ``?``.
    """
    if style == "documented":
        return base + "".join(f"?{name}={quote(value, safe='')}" for name, value in params)
    separator = "&" if "?" in base else "?"
    return base + separator + urlencode(params, quote_via=quote)


class Notifier:
    def __init__(self, state: SimulatorState, stop_event: threading.Event):
        self.state = state
        self._stop_event = stop_event
        self._queue: deque[Delivery] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None

    # -- producer side (called under the state lock, after a commit) ----------------------------------------------

    def changed(self, company_id: int, table: str, operation: str, record: dict[str, Any]) -> int:
        """Queues one delivery per matching modification URL that has no error. Returns how many were queued."""
        state = self.state
        config = state.config
        company = state.companies[company_id]
        queued = 0
        for event in company.tables["TableChangeEvent"].rows.values():
            if event.get("Table") not in (table, None, "") or event.get("HasError"):
                continue
            params = [("CompanyId", str(company_id)), ("Table", table), ("RowId", str(record["RowId"])),
                      ("Key", str(record.get("Account") or "")),
                      (config.operation_parameter, config.operation_names[operation])]
            if event.get("Argument"):
                params.append(("Argument", event["Argument"]))
            body = None
            if event.get("Post"):
                body = to_json(state.view_for_post(company, table, record)).encode()
            delivery = Delivery(company_id, event["RowId"], build_url(event["Url"], params, config.query_style),
                                "POST" if event.get("Post") else "GET", body, table, record["RowId"],
                                str(record.get("Account") or ""), config.operation_names[operation])
            with self._cond:
                self._queue.append(delivery)
                self._cond.notify_all()
            queued += 1
        if queued:
            self._ensure_worker()
        return queued

    # -- worker ----------------------------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="uniconta-modification-url", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        self._client = httpx.Client(timeout=self.state.config.delivery_timeout_s, follow_redirects=False)
        try:
            while not self._stop_event.is_set():
                with self._cond:
                    while not self._queue and not self._stop_event.is_set():
                        self._cond.wait(0.1)
                    if self._stop_event.is_set():
                        return
                    delivery = self._queue.popleft()
                    self._busy = True
                try:
                    self._deliver(delivery)
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
        finally:
            self._client.close()

    def _deliver(self, delivery: Delivery) -> None:
        state = self.state
        with state.lock:
            company = state.companies.get(delivery.company_id)
            event = company.tables["TableChangeEvent"].rows.get(delivery.event_row_id) if company else None
            if event is None or event.get("HasError"):
                # Deleted meanwhile, or an earlier delivery set HasError: nothing is sent.
                state.record_delivery(delivery, ok=False, status=None, error="skipped: has error" if event else
                                      "skipped: setting deleted", sent=False)
                return
        status: int | None = None
        error: str | None = None
        try:
            headers = {"Content-Type": "application/json"} if delivery.body is not None else {}
            response = self._client.request(delivery.method, delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.TimeoutException:
            error = "timeout"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        state.delivery_result(delivery, status, error)

    # -- control ---------------------------------------------------------------------------------------------------

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """True once every queued delivery has been attempted (for tests and /_sim/deliveries?wait=1)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout=timeout_s)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (1 if self._busy else 0)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.state.config.delivery_timeout_s + 1)
        self._thread = None
