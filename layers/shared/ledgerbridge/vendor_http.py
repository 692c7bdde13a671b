"""HTTP to vendors: pooled httpx clients, client-side rate limiting, bounded in-process retries,
and the single place where an HTTP outcome becomes transient, ambiguous or permanent.

Retries here are short (a second or two). Longer waits go back to SQS as a transient error
so a Lambda never sleeps through a vendor's "try again in 55 seconds".
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import AmbiguousVendorOutcome, NoAnswer, PermanentVendorError, TransientVendorError, VendorError

IN_PROCESS_RETRIES = 2
MAX_IN_PROCESS_WAIT = 2.0


class TokenBucket:
    """Rate limiter shared by the threads of one process.

    A bucket of ``burst`` tokens refilled at ``rate_per_second`` lets through at most
    ``burst + rate * T`` requests in any T seconds (``window_pacing`` sizes it so that this stays
    under a vendor's sliding-window limit). ``clock``/``sleep`` are injectable so that tests can
    run it on a simulated clock.
    """

    def __init__(self, rate_per_second: float, burst: float, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.rate = rate_per_second
        self.capacity = max(burst, 1.0)
        self.tokens = self.capacity
        self.clock, self.sleep = clock, sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                # (with a tolerance: a wait computed to the last bit can leave 0.999...9 tokens)
                if self.tokens >= 1 - 1e-9:
                    self.tokens = max(self.tokens - 1, 0.0)
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


# Requests a worker may send at once before pacing sets in (per endpoint), and the slack added to
# a vendor's window for the time a request spends between our clock and the vendor's counter: a
# second for a window of a minute (eAccounting), a tenth of a window shorter than ten seconds
# (Procountor's 20 per second: a whole second of slack would halve its pace).
WINDOW_BURST = 1.0
WINDOW_SLACK_SECONDS = 1.0
WINDOW_SLACK_SHARE = 0.1


def window_pacing(requests: int, per_seconds: float, share_divisor: int) -> tuple[float, float]:
    """(rate per second, burst) for one process's share of a vendor limit of ``requests`` in any
    ``per_seconds`` (a sliding window, as eAccounting counts), shared by ``share_divisor`` processes.

    A plain ``share / per_seconds`` rate with a burst on top overshoots the window by the burst:
    four workers with 10 tokens each send 40 + 600 requests in the first minute of a busy hour,
    and the vendor refuses the last 40. Here burst + rate * (window + slack) = share, so no window
    of the vendor's length ever sees more than the share, whatever the run length; the workers
    together stay within the limit as long as no more than ``share_divisor`` of them run at once
    (the SQS event source's MaximumConcurrency).
    """
    share = requests / max(share_divisor, 1)
    # (A share under two requests per window cannot hold a burst of one plus any rate: such a
    # deployment, hundreds of workers on one vendor limit, gets a tenth of it and the odd 429.)
    slack = min(WINDOW_SLACK_SECONDS, per_seconds * WINDOW_SLACK_SHARE)
    return max(share - WINDOW_BURST, share / 10) / (per_seconds + slack), WINDOW_BURST


@dataclass
class ErrorDescription:
    message: str
    vendor_code: str | int | None = None
    retry_after: float | None = None


@dataclass
class VendorHttp:
    """One vendor's HTTP access for this process.

    ``describe_error`` turns a vendor error body into a message a bookkeeper can read;
    ``endpoint_of`` names the endpoint a request counts against for rate limiting.
    """

    vendor: str
    base_url: str
    timeout: float
    describe_error: Callable[[httpx.Response], ErrorDescription]
    rate_per_second: float | None = None
    burst: float = 10
    endpoint_of: Callable[[str, str], str] = lambda method, path: path.strip("/").split("/")[0]
    # An error response the caller reads itself (a SOAP fault arrives as HTTP 500 with an
    # envelope saying what went wrong: that is an answer, not a broken server).
    passthrough: Callable[[httpx.Response], bool] | None = None
    # Short in-process retries of transient failures; 0 where a repeated call could still be
    # running at the vendor while we move on (24SevenOffice's session state).
    retries: int = IN_PROCESS_RETRIES
    _client: httpx.Client | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(
                        base_url=self.base_url,
                        timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
                        headers={"Accept": "application/json", "User-Agent": "ledgerbridge/0.1"},
                    )
        return self._client

    def _throttle(self, method: str, path: str) -> None:
        if not self.rate_per_second:
            return
        endpoint = self.endpoint_of(method, path)
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            with self._lock:
                bucket = self._buckets.setdefault(endpoint, TokenBucket(self.rate_per_second, self.burst))
        bucket.acquire()

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        content: bytes | None = None,
        creates: bool = False,
    ) -> httpx.Response:
        """Send one request; ``creates=True`` marks a call whose repetition could duplicate data.

        Such a call is re-sent only when it provably never left this machine; any doubt after
        sending raises AmbiguousVendorOutcome so the caller proves absence before retrying.
        """
        attempt = 0
        while True:
            attempt += 1
            self._throttle(method, path)
            sent = False
            try:
                request = self.client.build_request(method, path, headers=headers, json=json, params=params,
                                                    data=data, content=content)
                sent = True
                response = self.client.send(request)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                # Never reached the vendor: safe to repeat even for creating calls.
                error: VendorError = TransientVendorError(f"{self.vendor} unreachable: {type(exc).__name__}")
            except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if creates and sent:
                    raise AmbiguousVendorOutcome(
                        f"{self.vendor} did not answer in time ({type(exc).__name__}); it may have saved the request"
                    ) from exc
                error = NoAnswer(f"{self.vendor} did not answer in time ({type(exc).__name__})")
            else:
                if response.status_code < 400 or (self.passthrough and self.passthrough(response)):
                    return response
                error = self._classify(response, creates=creates)
                if isinstance(error, PermanentVendorError) or response.status_code == 401:
                    raise error
            if isinstance(error, AmbiguousVendorOutcome):
                raise error
            wait = _backoff(attempt, getattr(error, "retry_after", None))
            if attempt > self.retries or wait > MAX_IN_PROCESS_WAIT:
                raise error
            time.sleep(wait)

    def open_stream(self, method: str, path: str, *, headers: dict[str, str] | None = None,
                    content: bytes | None = None) -> httpx.Response:
        """Send a read whose answer may be large; the caller iterates the body and closes it.

        Only the status line and headers are read here: an error answer (small) is read whole
        and classified like any other. No in-process retry: the caller repeats the whole read.
        """
        self._throttle(method, path)
        try:
            request = self.client.build_request(method, path, headers=headers, content=content)
            response = self.client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientVendorError(f"{self.vendor} unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise NoAnswer(f"{self.vendor} did not answer in time ({type(exc).__name__})") from exc
        if response.status_code < 400:
            return response
        try:
            response.read()
        except httpx.HTTPError as exc:
            response.close()
            raise TransientVendorError(f"{self.vendor} error {response.status_code}") from exc
        if self.passthrough and self.passthrough(response):
            return response
        response.close()
        raise self._classify(response, creates=False)

    def _classify(self, response: httpx.Response, *, creates: bool) -> VendorError:
        described = self.describe_error(response)
        status = response.status_code
        kw = dict(vendor_code=described.vendor_code, status=status)
        if status == 429:
            retry_after = described.retry_after or _retry_after_header(response) or 30.0
            return TransientVendorError(f"{self.vendor} rate limit: {described.message}", retry_after=retry_after, **kw)
        if status >= 500:
            if creates:
                # A 5xx on a creating call can come from a proxy after the vendor committed.
                return AmbiguousVendorOutcome(f"{self.vendor} error {status}: {described.message}", **kw)
            return TransientVendorError(f"{self.vendor} error {status}: {described.message}",
                                        retry_after=_retry_after_header(response), **kw)
        if status == 401:
            return Unauthenticated(described.message, **kw)
        return PermanentVendorError(described.message, **kw)


class Unauthenticated(TransientVendorError):
    """The access token was refused: refresh it once, then try again."""


def _retry_after_header(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _backoff(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    return min(0.2 * (4 ** (attempt - 1)), 5.0) * (0.5 + random.random() / 2)
