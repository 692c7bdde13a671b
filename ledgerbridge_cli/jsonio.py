"""JSON that keeps money exact: numbers are read as ``Decimal`` and written back digit for digit.

``json.dumps`` cannot write a ``Decimal`` as a number (only as a string, or through a float, which
loses cents), so :func:`dumps` is a small serializer of its own: ``Decimal("1234.50")`` becomes the
JSON number ``1234.50``, exactly as the file had it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse JSON with every fractional number as a ``Decimal`` (integers stay ``int``). NaN and Infinity
    (which Python's json reads) are refused as the invalid JSON they are."""
    return json.loads(text, parse_float=Decimal, parse_constant=_not_a_number)


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_file(path: Path) -> Any:
    return loads(path.read_bytes())


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text of ``value``; ``Decimal`` as an exact JSON number (NaN and infinities are refused)."""
    parts: list[str] = []
    _write(value, parts, indent, 0)
    return "".join(parts)


def _write(value: Any, out: list[str], indent: int | None, level: int) -> None:
    if value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number JSON can carry")
        out.append(str(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, Enum):
        _write(value.value, out, indent, level)
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, (datetime, date)):
        out.append(json.dumps(value.isoformat()))
    elif isinstance(value, Path):
        out.append(json.dumps(str(value), ensure_ascii=False))
    elif isinstance(value, Mapping):
        items = list(value.items())
        if not items:
            out.append("{}")
            return
        out.append("{")
        for i, (key, item) in enumerate(items):
            out.append("," if i else "")
            out.append(_newline(indent, level + 1))
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(": " if indent is not None else ":")
            _write(item, out, indent, level + 1)
        out.append(_newline(indent, level) + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            out.append(_newline(indent, level + 1))
            _write(item, out, indent, level + 1)
        out.append(_newline(indent, level) + "]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _newline(indent: int | None, level: int) -> str:
    return "" if indent is None else "\n" + " " * (indent * level)
