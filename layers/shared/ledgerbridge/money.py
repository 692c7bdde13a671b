"""Exact money arithmetic. Amounts are ``Decimal`` end to end; floats never appear."""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
# Far above any settlement, far below where Decimal's default context stops being exact.
MAX_AMOUNT = Decimal("1e13")
ZERO = Decimal("0.00")


def to_amount(value: object) -> Decimal:
    """Parse a money value from JSON/str/int/Decimal. Floats are refused: they are already inexact."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("amounts must be given as strings or integers, not floating point numbers")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a valid amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a valid amount: {value!r}")
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"amount {value} is out of range")
    if amount != amount.quantize(CENT):
        raise ValueError(f"amount {value} has more than two decimals")
    return amount.quantize(CENT)


def round_cents(amount: Decimal) -> Decimal:
    """Commercial rounding to the cent (half away from zero), as Nordic bookkeeping expects."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


_MARK = "\u0000dec:"
_MARKED = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"')


class _MarkDecimals(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return _MARK + format_amount(o)
        return super().default(o)


class _MarkNumbers(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, Decimal):
            return _MARK + format(o, "f")
        return super().default(o)


def exact_json(body: Any, *, money: bool = True) -> bytes:
    """JSON with Decimals written as exact numbers, never through float: as amounts (115.00), or
    with ``money=False`` as they are (a discount of 12.345 %, a count of 10)."""
    encoder = _MarkDecimals if money else _MarkNumbers
    return _MARKED.sub(r"\1", json.dumps(body, cls=encoder, ensure_ascii=False)).encode()
