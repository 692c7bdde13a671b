"""The hub's HTTP API with a tenant key: requests, exact JSON both ways, errors as HubError.

Bodies are written with :func:`jsonio.dumps` (Decimal as exact JSON numbers) and answers read with
:func:`jsonio.loads` (fractions as Decimal). A refusal becomes a :class:`HubError` carrying the hub's
``{error, message, details}``; no answer at all a :class:`HubUnreachable`. 429 and 503 (throttled, or
the accounting system briefly unavailable) are tried again a few times, after ``Retry-After`` where
the hub gives one: every call the command line makes is safe to repeat (an identical resend is
answered "unchanged", a document already queued is not queued again).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote
from dataclasses import dataclass
from typing import Any

import httpx

from . import __version__, jsonio
from .errors import HubError, HubUnreachable

RETRY_STATUSES = (429, 503)
RETRIES = 3
MAX_RETRY_WAIT_SECONDS = 30.0


@dataclass
class Answer:
    status: int
    body: Any  # parsed JSON (Decimal fractions), text when not JSON, None when empty

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> HubError:
        return error_of(self.status, self.body)


def connection_path(connection_id: str) -> str:
    """``/connections/{id}``, the id quoted as one path segment (a stray ``/`` cannot reach another route)."""
    segment = quote(connection_id, safe="")
    return f"/connections/{segment.replace('.', '%2E') if segment in ('.', '..') else segment}"


def error_of(status: int, body: Any) -> HubError:
    """The hub's error body as a HubError; API Gateway's own answers ({"message": …}) too."""
    if isinstance(body, dict):
        code = str(body.get("error") or _code_for(status))
        message = str(body.get("message") or f"HTTP {status}")
        details = body.get("details") if isinstance(body.get("details"), list) else None
    else:
        code, message, details = _code_for(status), (str(body).strip()[:500] or f"HTTP {status}"), None
    if status == 401 or (status == 403 and message.startswith("User is not authorized")):
        message += " (is the tenant key right, and not revoked?)"
    elif status == 403 and message == "Missing Authentication Token":
        message = "the hub has no such route (Missing Authentication Token): is the hub URL right?"
    return HubError(status, code, message, [d if isinstance(d, dict) else {"message": str(d)}
                                           for d in details or []])


def _code_for(status: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
            415: "unsupported_media_type", 422: "validation_failed", 429: "throttled",
            503: "unavailable"}.get(status, "http_error")


class HubClient:
    def __init__(self, url: str, key: str, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.url = url.rstrip("/")
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.url, transport=transport, timeout=timeout, follow_redirects=False,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json",
                     "User-Agent": f"ledgerbridge-cli/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Answer:
        """One request (tried again on 429/503); the answer whatever its status."""
        content = jsonio.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        for attempt in range(RETRIES + 1):
            try:
                response = self._http.request(method, path, content=content, headers=headers, params=query)
            except httpx.TimeoutException as exc:
                raise HubUnreachable(f"the hub at {self.url} did not answer in time ({type(exc).__name__}); "
                                     "try again") from None
            except httpx.TransportError as exc:
                raise HubUnreachable(f"cannot reach the hub at {self.url}: {str(exc) or type(exc).__name__}") from None
            if response.status_code in RETRY_STATUSES and attempt < RETRIES:
                self._sleep(_retry_after(response, attempt))
                continue
            return Answer(response.status_code, _parse(response))
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None) -> Any:
        """The answer's body; a HubError unless the status is 2xx."""
        answer = self.send(method, path, body, params=params)
        if not answer.ok:
            raise answer.error()
        return answer.body

    def pages(self, path: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
              item_key: str = "documents", page_size: int = 200) -> list[dict]:
        """Every item of a paged listing (``next_cursor``), up to ``limit`` (None: all)."""
        found: list[dict] = []
        cursor = None
        while True:
            want = page_size if limit is None else min(page_size, limit - len(found))
            page = self.call("GET", path, params={**(params or {}), "limit": want, "cursor": cursor})
            found += page.get(item_key) or []
            cursor = page.get("next_cursor")
            if not cursor or (limit is not None and len(found) >= limit):
                return found


def _retry_after(response: httpx.Response, attempt: int) -> float:
    try:
        wait = float(response.headers.get("Retry-After", ""))
    except ValueError:
        wait = 2.0 ** attempt
    return max(0.0, min(wait, MAX_RETRY_WAIT_SECONDS))


def _parse(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return jsonio.loads(response.content)
    except ValueError:
        return response.text
