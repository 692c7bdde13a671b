"""Master-data sync's rules, free of I/O: how values compare, what a side's change means for the other.

Each side's carried fields are kept as last seen (``source`` as the source last pushed them, ``vendor``
as the accounting system last showed them); their content hashes decide "unchanged" without a call.
Values are compared in one canonical form per field type, so "2026-03-01" and "2026-03-01T00:00:00",
10 and 10.0, "" and null are equal: a round trip through either side is never mistaken for a change.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ..models.sync import FieldType, Master, RecordSchema, SyncSetup


class BadValue(ValueError):
    """A source value the field's type cannot take (said with the field's name)."""


def canonical(value: Any, kind: FieldType | None) -> Any:
    """The value as compared and sent: text stripped ("" = null), numbers exact, dates YYYY-MM-DD."""
    if value is None:
        return None
    if kind in (None, FieldType.TEXT):
        text = value if isinstance(value, str) else _plain(value)
        return text.strip() or None
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", ""):
            return None if not value.strip() else value.strip().lower() == "true"
        raise BadValue(f"{value!r} is not true or false")
    if kind == FieldType.DATE:
        text = str(value).strip()
        if not text:
            return None
        try:
            return date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            raise BadValue(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, bool):
        raise BadValue(f"{value!r} is not a number")
    if isinstance(value, str) and not value.strip():
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadValue(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise BadValue(f"{value!r} is not a number")
    if kind == FieldType.INTEGER:
        if number != number.to_integral_value():
            raise BadValue(f"{value!r} is not a whole number")
        return int(number)
    return number.normalize() if number != 0 else Decimal(0)


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def carried(values: dict[str, Any], setup: SyncSetup, *, strict: bool) -> dict[str, Any]:
    """The setup's fields out of ``values`` in canonical form; a missing field is null.

    ``strict``: a value its type cannot take raises BadValue naming the field (the source's
    values); otherwise it is kept as text (the vendor's own values are never refused here)."""
    out: dict[str, Any] = {}
    lowered = {k.lower(): v for k, v in values.items()}
    for name in setup.fields:
        raw = values.get(name, lowered.get(name.lower()))
        try:
            out[name] = canonical(raw, setup.field_types.get(name))
        except BadValue as exc:
            if strict:
                raise BadValue(f"{name}: {exc}") from None
            out[name] = canonical(raw, FieldType.TEXT)
    return out


def content_hash(tagged: bool, fields: dict[str, Any]) -> str:
    body = json.dumps({"tagged": tagged, "fields": fields}, sort_keys=True, default=_plain, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Merge:
    """What a source push means for the vendor: the values to write (None: nothing to write)."""

    write: dict[str, Any] | None
    reverted: list[str]  # fields the vendor is master of, where the source's value was not taken


def from_source(setup: SyncSetup, new: dict[str, Any], previous: dict[str, Any] | None,
                vendor: dict[str, Any] | None, *, full: bool) -> Merge:
    """The vendor's carried values after the source pushed ``new`` (its previous push: ``previous``).

    ``vendor``: the record as last seen there (None: it does not exist yet, so every value is
    written). ``full``: the record is synced anew (first time, or tagged again): fields the source
    or both sides master take the source's value even if the source did not change them."""
    if vendor is None:
        return Merge(write=dict(new), reverted=[])
    desired = dict(vendor)
    skipped = []
    for name, value in new.items():
        master = setup.master_of(name)
        changed_at_source = previous is None or previous.get(name) != value
        if master == Master.VENDOR:
            if value != vendor.get(name):
                skipped.append(name)
            continue
        if master == Master.SOURCE or full or changed_at_source:
            desired[name] = value
    return Merge(write=None if desired == vendor else desired, reverted=skipped)


@dataclass(frozen=True)
class VendorMerge:
    """What a change seen in the vendor means: fields to tell the source, fields to put back."""

    forward: list[str]  # changed fields the source should take (vendor- or both-mastered)
    restore: dict[str, Any] | None  # source-mastered fields changed in the vendor: the values to write back


def from_vendor(setup: SyncSetup, now: dict[str, Any], seen: dict[str, Any] | None,
                source: dict[str, Any] | None) -> VendorMerge:
    """``now``: the vendor's carried values; ``seen``: as the hub last saw or wrote them; ``source``:
    as the source last pushed them.

    A field is forwarded only if it differs from what the hub last saw **and** from what the source
    already has: the hub's own write coming back (an echo) differs from neither."""
    forward, restore = [], {}
    for name, value in now.items():
        if seen is not None and seen.get(name) == value:
            continue
        if source is not None and source.get(name) == value:
            continue
        master = setup.master_of(name)
        if master == Master.SOURCE and source is not None:
            restore[name] = source.get(name)
        else:
            forward.append(name)
    return VendorMerge(forward=forward, restore={**now, **restore} if restore else None)


def unknown_fields(setup: SyncSetup, schema: RecordSchema) -> list[str]:
    """The setup's field names the vendor's records do not have (names must match exactly, as the
    seed says; a match differing only in case is named in the message by the caller)."""
    names = set(setup.fields) | set(setup.create_defaults)
    return sorted(n for n in names if n not in schema.fields)
