"""Domain errors. Each carries the HTTP status the API maps it to, in one place (api/common.py).

Vendor errors are split once, here, into the three kinds the worker acts on:
transient (retry with backoff), permanent (stop, show the reason), and
ambiguous (the vendor may have committed: never re-post without proving it did not).
"""
from __future__ import annotations


class LedgerbridgeError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class ValidationFailed(LedgerbridgeError):
    status_code = 422
    code = "validation_failed"


class NotFound(LedgerbridgeError):
    status_code = 404
    code = "not_found"


class Conflict(LedgerbridgeError):
    status_code = 409
    code = "conflict"


class Unauthorized(LedgerbridgeError):
    status_code = 401
    code = "unauthorized"


class NotConnected(LedgerbridgeError):
    """The connection has no usable credential (never connected, or the user revoked access)."""

    status_code = 409
    code = "not_connected"


# --- vendor outcomes -------------------------------------------------------------------------


class VendorError(Exception):
    """Base of every error a connector raises."""

    def __init__(self, message: str, *, vendor_code: str | int | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.vendor_code = vendor_code
        self.status = status


class TransientVendorError(VendorError):
    """Worth retrying later: 429, 5xx, connection failures before the request was sent."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class NoAnswer(TransientVendorError):
    """A read was sent but its answer never (fully) came: it may still be running at the vendor."""


class AmbiguousVendorOutcome(TransientVendorError):
    """The request may have been committed (timeout or broken connection after sending).

    Retrying is allowed only after the connector proved the first attempt left nothing behind.
    """


class PermanentVendorError(VendorError):
    """Retrying cannot help until someone changes the setup or the document."""


class CredentialRejected(PermanentVendorError):
    """The vendor refused our credential (revoked consent, changed password, expired refresh token)."""


class BudgetExhausted(TransientVendorError):
    """The hub's share of the vendor's daily call budget is spent (Uniconta: 5,000 calls per user and
    day, every call slowed past it): not a fault, a wait until the vendor's day turns."""
