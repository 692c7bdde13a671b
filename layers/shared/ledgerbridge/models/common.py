from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, StringConstraints

from ..money import to_amount


def _amount(value: object) -> Decimal:
    # JSON numbers reach us as floats only through parsers we do not control; their shortest
    # repr is what the sender wrote, and to_amount then refuses anything past the cent.
    if isinstance(value, float):
        value = repr(value)
    return to_amount(value)


# Serialized as a string so that no JSON round trip ever turns money into a float.
Amount = Annotated[Decimal, BeforeValidator(_amount), PlainSerializer(lambda d: f"{d:.2f}", return_type=str)]

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-/]*$")]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
