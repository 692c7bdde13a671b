"""The secret a vendor echoes in its change notifications (Uniconta's ``Argument``).

A module of its own, light on imports: the notification receiver checks every call with it and must
answer in milliseconds, so it must not load the sync service (and the booking machinery behind it).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

from ..models.connection import Connection


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the connection stores: the SHA-256 of the secret, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(connection: Connection, argument: str | None) -> bool:
    """The vendor's echo of our secret (constant-time: a forger learns nothing from the timing)."""
    stored = connection.notification_secret_sha256
    if not stored or not argument:
        return False
    return hmac.compare_digest(digest(argument), stored)
