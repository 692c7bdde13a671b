"""boto3 clients and resources, built lazily once per process and per endpoint.

Handlers never build clients at import time: the first call pays, warm calls reuse.
"""
from __future__ import annotations

import threading
from typing import Any

from .settings import get_settings

_lock = threading.Lock()
_clients: dict[tuple[str, str, str | None], Any] = {}


def client(service: str) -> Any:
    settings = get_settings()
    key = (service, settings.aws_region, settings.aws_endpoint_url)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3  # deferred: boto3 costs ~100 ms to import

            found = boto3.session.Session().client(
                service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url
            )
            _clients[key] = found
    return found


def reset_clients() -> None:
    with _lock:
        _clients.clear()
