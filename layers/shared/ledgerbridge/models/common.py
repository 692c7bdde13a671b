from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StringConstraints

from ..money import to_amount


class LazyModel(BaseModel):
    """Every model of the hub: its validator and serializer are built on first use, not at import.

    A cold start then pays only for the models its first request touches (a management API request
    uses a handful of ~60), instead of building them all while importing (125-175 ms CPU per
    function, measured in make bench's cold section, which times the first request too).
    """

    model_config = ConfigDict(defer_build=True)


def _amount(value: object) -> Decimal:
    # JSON numbers reach us as floats only through parsers we do not control; their shortest
    # repr is what the sender wrote, and to_amount then refuses anything past the cent.
    if isinstance(value, float):
        value = repr(value)
    return to_amount(value)


# Serialized as a string so that no JSON round trip ever turns money into a float.
Amount = Annotated[Decimal, BeforeValidator(_amount), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)]

# A sales category or payment method as the POS names it, and the account-setup key that maps it:
# any Unicode text (a long product group in any script), surrounding whitespace stripped. Texts
# sent to a vendor are cut to that vendor's own limit when the voucher is built (ledgerbridge.text).
MAX_CATEGORY_LENGTH = 200
CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CATEGORY_LENGTH, strip_whitespace=True)]


def has_two_decimals_at_most(rate: Decimal) -> bool:
    """For a percentage already known to lie in 0..100. Exact, unlike pydantic's decimal_places,
    which takes 1e-999999999 (it underflows to 0 when normalized) for a whole number."""
    return rate == rate.quantize(Decimal("0.01"))


# An id the sender chooses (a settlement's document_id). It becomes a path segment of our own
# URLs (GET /connections/{id}/documents/{document_id}) and of the S3 key of its payload, so it
# holds no "/" (API Gateway would never route it back) and no ".." (a path step).
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def _identifier(value: str) -> str:
    if "/" in value or "\\" in value:
        raise ValueError("must not contain '/' or '\\': it is part of the document's URL "
                         "(GET /connections/{id}/documents/{document_id}); use '-' instead")
    if ".." in value:
        raise ValueError("must not contain '..'; use single dots")
    if not _IDENTIFIER.match(value):
        raise ValueError("use only letters A-Z and a-z, digits and . _ : - (starting with a letter or digit)")
    return value


Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128),
    AfterValidator(_identifier),
    Field(json_schema_extra={"pattern": IDENTIFIER_PATTERN}, description="letters, digits and . _ : - "
          "(no '/', no '..'), starting with a letter or digit; at most 128 characters"),
]

# Dates at the door. Business dates (and periods of them) run from this day to tomorrow in UTC:
# a POS in a time zone ahead of UTC may close "tomorrow". Date arithmetic (windows, look-backs,
# month ends) stays far from year 1 and year 9999.
EARLIEST_DATE = date(2000, 1, 1)
# For date filters (query parameters), which need no relation to today.
LATEST_FILTER_DATE = date(2099, 12, 31)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def latest_business_date() -> date:
    return utcnow().date() + timedelta(days=1)


def check_date(value: date | None, latest: date | None = None, what: str = "tomorrow in UTC") -> date | None:
    """``value`` if it lies from EARLIEST_DATE to ``latest`` (default: tomorrow in UTC), else a
    ValueError saying both bounds (pydantic names the field)."""
    if value is None:
        return None
    latest = latest or latest_business_date()
    if not EARLIEST_DATE <= value <= latest:
        raise ValueError(f"{value.isoformat()} is out of range: use a date from {EARLIEST_DATE.isoformat()} "
                         f"to {latest.isoformat()} ({what})")
    return value
