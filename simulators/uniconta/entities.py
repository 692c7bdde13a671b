"""The entities the simulator serves, their fields, and how a JSON value becomes a stored value.

Entity and field names are those of Uniconta's .NET client classes (`DebtorClient`, `GLDailyJournalLineClient`, ...),
which the REST API serialises property by property (wedoio's "CRUD on entities": "a structure identical to that of
the original Uniconta C# entity classes"). Which fields each entity has here is a subset: NOTES.md's list plus the
few a salon integration touches. README.md lists what is assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any


class EntityError(Exception):
    """A refused request: HTTP status, Uniconta-style ErrorCode, message, and per-field problems."""

    def __init__(self, status: int, code: str, message: str, problems: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ErrorCode": self.code, "Message": self.message}
        if self.problems:
            body["Errors"] = self.problems
        return body


@dataclass(frozen=True)
class Field:
    name: str
    type: str                       # "str", "bool", "int", "decimal", "date"
    max_len: int | None = None
    money: bool = False             # at most two decimals
    read_only: bool = False


def _fields(*specs: Field) -> dict[str, Field]:
    return {spec.name: spec for spec in specs}


ROW_ID = Field("RowId", "int", read_only=True)


@dataclass(frozen=True)
class EntityDef:
    name: str                       # as in the URL: "DebtorClient"
    table: str                      # the Uniconta table behind it: "Debtor"
    fields: dict[str, Field]
    key: str | None = None          # the primary key field (None: RowId only)
    writable: bool = False
    required: tuple[str, ...] = ()
    with_user_fields: bool = False  # the *ClientUser variant: the company's user-defined fields as flat keys
    table_id: int | None = None
    master_data: bool = False       # changes go to the modification URL (Uniconta: master data, not transactions)
    extra: dict[str, Any] = field(default_factory=dict)


_DEBTOR_FIELDS = _fields(
    ROW_ID,
    Field("Account", "str", 20), Field("Name", "str", 100),
    Field("Address1", "str", 60), Field("Address2", "str", 60), Field("Address3", "str", 60),
    Field("ZipCode", "str", 20), Field("City", "str", 60), Field("Country", "str", 40),
    Field("Phone", "str", 30), Field("MobilPhone", "str", 30), Field("ContactPerson", "str", 60),
    Field("ContactEmail", "str", 255), Field("InvoiceEmail", "str", 255), Field("VatNumber", "str", 20),
    Field("Group", "str", 20), Field("Blocked", "bool"),
)

_JOURNAL_LINE_FIELDS = _fields(
    ROW_ID,
    Field("Journal", "str", 20), Field("Date", "date"), Field("Voucher", "int"), Field("Text", "str", 100),
    Field("AccountType", "str", 10), Field("Account", "str", 20),
    Field("OffsetAccountType", "str", 10), Field("OffsetAccount", "str", 20),
    Field("Debit", "decimal", money=True), Field("Credit", "decimal", money=True), Field("Vat", "str", 10),
    Field("Dimension1", "str", 20), Field("Dimension2", "str", 20), Field("Dimension3", "str", 20),
    Field("Dimension4", "str", 20), Field("Dimension5", "str", 20),
)

ENTITIES: dict[str, EntityDef] = {e.name.lower(): e for e in (
    EntityDef("CompanyClient", "Company", _fields(Field("CompanyId", "int"), Field("Name", "str"),
                                                  Field("Country", "str"), Field("Currency", "str")), key="CompanyId"),
    EntityDef("DebtorClient", "Debtor", _DEBTOR_FIELDS, key="Account", writable=True, required=("Account",),
              table_id=50, master_data=True),
    EntityDef("DebtorClientUser", "Debtor", _DEBTOR_FIELDS, key="Account", writable=True, required=("Account",),
              with_user_fields=True, table_id=50, master_data=True),
    EntityDef("DebtorGroupClient", "DebtorGroup", _fields(ROW_ID, Field("Group", "str"), Field("Name", "str")),
              key="Group"),
    EntityDef("TableFieldsClient", "TableFields", _fields(
        ROW_ID, Field("TableId", "int"), Field("Name", "str"), Field("Prompt", "str"), Field("FieldType", "str"),
        Field("Length", "int"))),
    EntityDef("GLAccountClient", "GLAccount", _fields(
        ROW_ID, Field("Account", "str"), Field("Name", "str"), Field("AccountType", "str"), Field("Vat", "str"),
        Field("Blocked", "bool")), key="Account"),
    EntityDef("GLVatClient", "GLVat", _fields(
        ROW_ID, Field("Vat", "str"), Field("Name", "str"), Field("Rate", "decimal"), Field("Account", "str"),
        Field("VatType", "str")), key="Vat"),
    EntityDef("GLDailyJournalClient", "GLDailyJournal", _fields(ROW_ID, Field("Journal", "str", 20),
                                                                Field("Name", "str", 60)),
              key="Journal", writable=True, required=("Journal",)),
    EntityDef("GLDailyJournalLineClient", "GLDailyJournalLine", _JOURNAL_LINE_FIELDS, writable=True,
              required=("Journal", "Date", "Account")),
    EntityDef("GLTransClient", "GLTrans", _fields(
        ROW_ID, Field("Date", "date"), Field("Voucher", "int"), Field("Text", "str"), Field("AccountType", "str"),
        Field("Account", "str"), Field("Debit", "decimal"), Field("Credit", "decimal"), Field("Amount", "decimal"),
        Field("Vat", "str"), Field("JournalPostedId", "int"), Field("Dimension1", "str"), Field("Dimension2", "str"),
        Field("Dimension3", "str"), Field("Dimension4", "str"), Field("Dimension5", "str"))),
    EntityDef("TableChangeEventClient", "TableChangeEvent", _fields(
        ROW_ID, Field("Table", "str"), Field("Url", "str"), Field("Argument", "str"), Field("Post", "bool"),
        Field("HasError", "bool"), Field("ErrorMessage", "str"), Field("LastEvent", "str"))),
)}

# User-defined field types (TableFieldsClient.FieldType) and the simulator type each is stored as.
USER_FIELD_TYPES = {"String": "str", "Boolean": "bool", "Integer": "int", "Double": "decimal", "Date": "date"}

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T00:00:00(?:\.0+)?(?:Z|[+-]00:00)?)?$")


def entity(name: str) -> EntityDef:
    found = ENTITIES.get(name.lower())
    if found is None:
        raise EntityError(404, "UnknownEntity", f"No entity named {name}")
    return found


def user_field(spec: dict[str, Any]) -> Field:
    return Field(spec["Name"], USER_FIELD_TYPES[spec["FieldType"]], spec.get("Length"))


def parse_date(raw: str) -> date | None:
    match = _DATE.match(raw)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def coerce(spec: Field, value: Any) -> Any:
    """The stored value of a JSON value for the field; raises EntityError(400) with the field's problem."""
    def problem(code: str, message: str) -> EntityError:
        return EntityError(400, "FieldValueNotValid", message, [{"Field": spec.name, "ErrorCode": code,
                                                                 "Message": message}])

    if value is None:
        return None
    if spec.type == "str":
        if not isinstance(value, str):
            raise problem("WrongType", f"{spec.name} must be a string")
        if spec.max_len is not None and len(value) > spec.max_len:
            raise problem("TooLong", f"{spec.name} is longer than {spec.max_len} characters")
        return value
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise problem("WrongType", f"{spec.name} must be true or false")
        return value
    if spec.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise problem("WrongType", f"{spec.name} must be a whole number")
        return value
    if spec.type == "decimal":
        # Money is a JSON number; a string is refused rather than guessed at.
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise problem("WrongType", f"{spec.name} must be a number")
        try:
            amount = Decimal(value)
        except InvalidOperation as exc:
            raise problem("WrongType", f"{spec.name} must be a number") from exc
        if not amount.is_finite():
            raise problem("WrongType", f"{spec.name} must be a finite number")
        if spec.money and amount != amount.quantize(Decimal("0.01")):
            raise problem("TooManyDecimals", f"{spec.name} has more than two decimals")
        return amount
    if spec.type == "date":
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise problem("InvalidDate", f"{spec.name} must be a date (YYYY-MM-DD or YYYY-MM-DDT00:00:00)")
        return parsed
    raise AssertionError(spec.type)


def out_value(value: Any) -> Any:
    """Stored value -> JSON value: dates as .NET writes a DateTime ("2026-11-26T00:00:00")."""
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    return value


def text_value(value: Any) -> str:
    """How a stored value compares with the REST read filter's Value (a query-string text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)
