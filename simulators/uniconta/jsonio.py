"""JSON in and out with exact decimals: amounts are parsed as Decimal and written with their digits (1250.00)."""

from __future__ import annotations

import json
import re
import secrets
from decimal import Decimal
from typing import Any

_DECIMAL_MARK = f"~dec{secrets.token_hex(4)}~"
_DECIMAL_MARKED = re.compile(rf'"{re.escape(_DECIMAL_MARK)}([-+0-9.Ee]+){re.escape(_DECIMAL_MARK)}"')


def _encode_extra(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_DECIMAL_MARK}{value}{_DECIMAL_MARK}"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(payload: Any) -> str:
    return _DECIMAL_MARKED.sub(r"\1", json.dumps(payload, ensure_ascii=False, default=_encode_extra))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def from_json(text: str) -> Any:
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
