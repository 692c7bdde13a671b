"""Reading the console's HTML forms into the models the services take, and their refusals into words
placed beside the field or row they concern."""
from __future__ import annotations

import base64
import json
from decimal import Decimal
from urllib.parse import parse_qs

from pydantic import ValidationError

from ..models.connection import AccountSetup, MappingRow

MAX_FORM_BYTES = 256 * 1024
# An account setup of 1,000 rows (the model's limit) posts 5 fields a row, plus its blank rows and the rest.
MAX_FIELDS = 6000


def parse(body: str | None, is_base64: bool = False) -> dict[str, list[str]]:
    """application/x-www-form-urlencoded -> field -> values in page order (rows repeat their fields)."""
    """A body that is no form (bad base64, too big, too many fields) reads as an empty form: the page then
    refuses it (no session token, no sign-in token) instead of the function failing."""
    text = body or ""
    try:
        if is_base64:
            text = base64.b64decode(text, validate=True).decode("utf-8", errors="replace")
        if len(text) > MAX_FORM_BYTES:
            return {}
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:  # binascii.Error is a ValueError too
        return {}


def single(form: dict[str, list[str]]) -> dict[str, str]:
    return {name: values[-1] for name, values in form.items()}


def error_messages(exc: ValidationError) -> list[tuple[tuple, str]]:
    """(location, message) of each problem, pydantic's "Value error, " prefix dropped."""
    found = []
    for error in exc.errors(include_input=False, include_url=False):
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        found.append((tuple(error.get("loc", ())), message))
    return found


def setup_rows(form: dict[str, list[str]]) -> list[dict]:
    """The mapping table's rows as submitted; a row whose kind is blank is left out (removed or unused)."""
    columns = ("kind", "key", "vat_rate", "account", "vat_code")
    count = max((len(form.get(c, [])) for c in columns), default=0)
    rows = []
    for i in range(count):
        cell = {c: (form.get(c, [""] * count) + [""] * count)[i].strip() for c in columns}
        if not cell["kind"]:
            continue
        rows.append({"kind": cell["kind"], "key": cell["key"], "account": cell["account"],
                     "vat_rate": cell["vat_rate"] or None, "vat_code": cell["vat_code"] or None})
    return rows


def account_setup(form: dict[str, list[str]]) -> tuple[AccountSetup | None, list[dict], dict[int, list[str]], list[str]]:
    """The setup, the rows as typed (to show again), row index -> problems, problems of the whole setup."""
    rows = setup_rows(form)
    fields = single(form)
    data = {"rows": rows, "voucher_series": fields.get("voucher_series") or None,
            "inventory_change": fields.get("inventory_change") == "on"}
    try:
        return AccountSetup.model_validate(data), rows, {}, []
    except ValidationError as exc:
        by_row: dict[int, list[str]] = {}
        general = []
        for location, message in error_messages(exc):
            if len(location) >= 2 and location[0] == "rows" and isinstance(location[1], int):
                field = next((str(part) for part in location[2:] if isinstance(part, str)), "")
                by_row.setdefault(location[1], []).append(f"{field}: {message}" if field else message)
            else:
                general.append(message)
        return None, rows, by_row, general


def row_ids(rows: list[dict]) -> list[str | None]:
    """Each typed row's id as the service names it in a 422 (None where the row itself does not parse)."""
    ids = []
    for row in rows:
        try:
            ids.append(MappingRow.model_validate(row).row_id)
        except ValidationError:
            ids.append(None)
    return ids


def payroll_setup(form: dict[str, list[str]]) -> dict:
    """The payroll setup's form as the document PUT /payroll-setup takes: account rows (payroll account ->
    ledger account; a row with either side empty is left out), a dimension per role, the two switches."""
    pay, ledger = form.get("pay_account", []), form.get("ledger_account", [])
    accounts = {p.strip(): l.strip() for p, l in zip(pay, ledger, strict=False) if p.strip() and l.strip()}
    dimensions = {role: form[f"dimension_{role}"][-1].strip() for role in ("cost_centre", "cost_unit")
                  if form.get(f"dimension_{role}", [""])[-1].strip()}
    flags = single(form)
    return {"accounts": accounts, "dimensions": dimensions,
            "create_missing_items": flags.get("create_missing_items") == "on", "approve": flags.get("approve") == "on"}


def json_document(text: str) -> object:
    """A JSON text typed into a textarea; numbers stay exact (Decimal)."""
    return json.loads(text, parse_float=Decimal)


def setup_json(setup: object | None, starter: dict) -> str:
    """A saved setup as the JSON its PUT takes (without what the hub fills in), or a starter document."""
    if setup is None:
        return pretty(starter)
    return pretty(setup.model_dump(mode="json", exclude_none=True, exclude={"validated_at"}))


def pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
