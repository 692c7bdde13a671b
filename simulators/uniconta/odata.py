"""The OData read side: $filter (a subset of OData v4), $orderby, $select, $top, $skip, and the service and
$metadata documents.

Supported in $filter: ``eq ne gt ge lt le``, ``and or not``, parentheses, ``contains startswith endswith``
(optionally around ``tolower``), string literals in single quotes ('' escapes a quote), numbers, true/false/null,
and dates (2026-11-26). Anything else is refused with 400 rather than ignored: a filter that is silently dropped
would answer every row.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from xml.sax.saxutils import escape

from .entities import ENTITIES, EntityError, Field, parse_date

_TOKEN = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<date>\d{4}-\d{2}-\d{2}(?:T[0-9:.]+Z?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE)

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"contains", "startswith", "endswith"}


def odata_error(status: int, code: str, message: str) -> EntityError:
    error = EntityError(status, code, message)
    error.odata = True  # type: ignore[attr-defined]
    return error


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise odata_error(400, "InvalidFilter", f"Cannot read $filter at: {text[position:position + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, fields: dict[str, Field]):
        self.tokens = _tokens(text)
        self.position = 0
        self.fields = fields

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise odata_error(400, "InvalidFilter", f"$filter: expected {value or 'more'} at token {self.position}")
        self.position += 1
        return token

    def parse(self) -> Callable[[dict[str, Any]], bool]:
        predicate = self.expression()
        if self.peek() is not None:
            raise odata_error(400, "InvalidFilter", f"$filter: unexpected {self.peek()[1]!r}")
        return predicate

    def expression(self) -> Callable[[dict[str, Any]], bool]:
        left = self.conjunction()
        while self.peek() and self.peek()[1].lower() == "or":
            self.take()
            right, previous = self.conjunction(), left
            left = (lambda a, b: lambda row: a(row) or b(row))(previous, right)
        return left

    def conjunction(self) -> Callable[[dict[str, Any]], bool]:
        left = self.unary()
        while self.peek() and self.peek()[1].lower() == "and":
            self.take()
            right, previous = self.unary(), left
            left = (lambda a, b: lambda row: a(row) and b(row))(previous, right)
        return left

    def unary(self) -> Callable[[dict[str, Any]], bool]:
        token = self.peek()
        if token and token[1].lower() == "not":
            self.take()
            inner = self.unary()
            return lambda row: not inner(row)
        if token and token[1] == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        if token and token[0] == "word" and token[1].lower() in _FUNCTIONS:
            return self.function()
        return self.comparison()

    def field(self) -> tuple[str, bool]:
        """(field name, lowered) for ``Field`` or ``tolower(Field)``."""
        kind, word = self.take()
        if kind == "word" and word.lower() in ("tolower", "toupper"):
            self.take("(")
            name, _ = self.field()
            self.take(")")
            return name, True
        if kind != "word" or word not in self.fields:
            raise odata_error(400, "InvalidFilter", f"$filter: no field {word!r}")
        return word, False

    def literal(self, spec: Field) -> Any:
        kind, raw = self.take()
        if kind == "word" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if kind == "word" and raw.lower() == "null":
            return None
        if kind == "string":
            text = raw[1:-1].replace("''", "'")
            if spec.type == "date":
                parsed = parse_date(text)
                if parsed is None:
                    raise odata_error(400, "InvalidFilter", f"$filter: {text!r} is not a date")
                return parsed
            return text
        if kind == "date":
            parsed = parse_date(raw if "T" not in raw else raw.split("T")[0])
            if parsed is None:
                raise odata_error(400, "InvalidFilter", f"$filter: {raw!r} is not a date")
            return parsed
        if kind == "number":
            try:
                return Decimal(raw)
            except InvalidOperation as exc:
                raise odata_error(400, "InvalidFilter", f"$filter: {raw!r} is not a number") from exc
        raise odata_error(400, "InvalidFilter", f"$filter: {raw!r} is not a value")

    def comparison(self) -> Callable[[dict[str, Any]], bool]:
        name, lowered = self.field()
        operator = self.take()[1].lower()
        if operator not in _COMPARISONS:
            raise odata_error(400, "InvalidFilter", f"$filter: unknown operator {operator!r}")
        value = self.literal(self.fields[name])
        if lowered and isinstance(value, str):
            value = value.lower()

        def predicate(row: dict[str, Any]) -> bool:
            current = row.get(name)
            if lowered and isinstance(current, str):
                current = current.lower()
            if operator == "eq":
                return _same(current, value)
            if operator == "ne":
                return not _same(current, value)
            if current is None or value is None:
                return False
            try:
                left, right = _comparable(current, value)
                return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[operator]
            except TypeError:
                return False
        return predicate

    def function(self) -> Callable[[dict[str, Any]], bool]:
        function = self.take()[1].lower()
        self.take("(")
        name, lowered = self.field()
        self.take(",")
        kind, raw = self.take()
        if kind != "string":
            raise odata_error(400, "InvalidFilter", f"$filter: {function} needs a string")
        needle = raw[1:-1].replace("''", "'")
        self.take(")")
        if lowered:
            needle = needle.lower()

        def predicate(row: dict[str, Any]) -> bool:
            current = row.get(name)
            if not isinstance(current, str):
                return False
            if lowered:
                current = current.lower()
            return {"contains": needle in current, "startswith": current.startswith(needle),
                    "endswith": current.endswith(needle)}[function]
        return predicate


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, (int, Decimal)) and not isinstance(left, bool) and isinstance(right, Decimal):
        return Decimal(left), right
    if isinstance(left, date) and isinstance(right, date):
        return left, right
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    raise TypeError("not comparable")


def _same(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    try:
        a, b = _comparable(left, right)
        return a == b
    except TypeError:
        return left == right


def compile_filter(text: str, fields: dict[str, Field]) -> Callable[[dict[str, Any]], bool]:
    return _Parser(text, fields).parse()


def order_key(orderby: str, fields: dict[str, Field]) -> list[tuple[str, bool]]:
    keys = []
    for part in orderby.split(","):
        words = part.split()
        if not words or words[0] not in fields or len(words) > 2 or (
                len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise odata_error(400, "InvalidOrderBy", f"$orderby: cannot order by {part.strip()!r}")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


_EDM = {"str": "Edm.String", "bool": "Edm.Boolean", "int": "Edm.Int32", "decimal": "Edm.Decimal",
        "date": "Edm.DateTimeOffset"}


def metadata_document() -> str:
    """EDMX of the served entity sets with their standard fields (user-defined fields are per company: read them
    from TableFieldsClient)."""
    types, sets = [], []
    for definition in ENTITIES.values():
        if definition.with_user_fields:
            continue
        key = definition.key or "RowId"
        not_null = ' Nullable="false"'
        properties = "".join(
            f'<Property Name="{escape(spec.name)}" Type="{_EDM[spec.type]}"'
            f'{not_null if spec.name == key else ""}/>' for spec in definition.fields.values())
        types.append(f'<EntityType Name="{definition.name}"><Key><PropertyRef Name="{key}"/></Key>'
                     f'{properties}</EntityType>')
        sets.append(f'<EntitySet Name="{definition.name}" EntityType="Uniconta.{definition.name}"/>')
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>'
            '<Schema Namespace="Uniconta" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
            + "".join(types) + '<EntityContainer Name="Container">' + "".join(sets) + "</EntityContainer>"
            "</Schema></edmx:DataServices></edmx:Edmx>")
