"""boto3 clients, built lazily once per process and per endpoint, all from one boto3 session.

Handlers never build clients at import time: the first call pays, warm calls reuse. One session
serves every client: a session loads botocore's endpoint, partition and credential data once, so
each further client costs only its own service model (a session per client would load all of it
again, about 120 ms and 6 MiB per client on a cold start).
"""
from __future__ import annotations

import threading
from typing import Any

from .settings import get_settings

_lock = threading.Lock()
_clients: dict[tuple[str, str, str | None], Any] = {}
_session: Any = None


def session() -> Any:
    """The process's boto3 session, created on first use (never at import)."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                import boto3  # deferred: boto3 costs ~100 ms to import

                _session = boto3.session.Session()
    return _session


def client(service: str) -> Any:
    settings = get_settings()
    key = (service, settings.aws_region, settings.aws_endpoint_url)
    found = _clients.get(key)
    if found is not None:
        return found
    shared = session()
    # Building clients from one session is not thread-safe: one at a time (boto3's own advice).
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = shared.client(service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
            _clients[key] = found
    return found


def reset_clients() -> None:
    """Forget the clients and the session (tests and the local runtime change credentials and endpoints)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
