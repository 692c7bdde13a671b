"""Uniconta debtors as master-data records (``RecordSync``), and its modification-URL notifications.

- **Fields**: the standard ones from ``/odata/$metadata`` (``DebtorClient``), the company's own from
  ``TableFieldsClient`` (``TableId`` 50 = Debtor). Reads and writes go through ``DebtorClientUser``, which
  carries the user-defined fields flat beside the standard ones.
- **Key**: the debtor's ``Account`` is the source's customer id (at most 20 characters): a create that is
  repeated after a lost answer finds its key taken (``KeyExists``) instead of making a second debtor.
- **Creates** go in one ``InsertList`` (all or nothing); if Uniconta refuses the list, each row is
  inserted alone so one bad customer does not hold back the others, and a taken key is told apart.
- **Updates** replace the whole debtor (``Update``: what is left out is cleared), so the core reads the
  debtors it will change first (50 a call, OData ``or``) and sends each row with its changes; ``UpdateList``
  is not offered over REST: a call per debtor.
- **Health**: ``TableChangeEventClient`` holds each modification URL with ``HasError``/``ErrorMessage``.
- **Notifications** (``parse_notification``): ``Table, RowId, Key`` and the operation in the query string,
  the record as JSON when "Post" is ticked. The operation parameter is ``Operation`` (NOTES.md) or
  ``Action`` (a public receiver's reading), with ``Insert/Update/Delete`` or ``add/update/delete``: both
  are accepted.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from ...errors import PermanentVendorError
from ...models.sync import FieldType, RecordKind, RecordSchema, VendorChange, VendorField
from ...money import exact_json
from ..base import NotificationHealth, RecordExists

DEBTOR_TABLE_ID = 50
ENTITY = "DebtorClientUser"
KEY_FIELD = "Account"
KEY_MAX = 20
# Debtors read in one OData call ("Account eq 'a' or Account eq 'b' …"): the URL stays near 2 KB.
KEYS_PER_READ = 50
# Uniconta keeps these itself: never written, never compared.
_SYSTEM_FIELDS = {"RowId", "CompanyId"}

_EDM_TYPES = {"Edm.String": FieldType.TEXT, "Edm.Boolean": FieldType.BOOLEAN, "Edm.Int16": FieldType.INTEGER,
              "Edm.Int32": FieldType.INTEGER, "Edm.Int64": FieldType.INTEGER, "Edm.Byte": FieldType.INTEGER,
              "Edm.Decimal": FieldType.NUMBER, "Edm.Double": FieldType.NUMBER, "Edm.Single": FieldType.NUMBER,
              "Edm.Date": FieldType.DATE, "Edm.DateTimeOffset": FieldType.DATE, "Edm.DateTime": FieldType.DATE}
_USER_FIELD_TYPES = {"String": FieldType.TEXT, "Boolean": FieldType.BOOLEAN, "Integer": FieldType.INTEGER,
                     "Double": FieldType.NUMBER, "Date": FieldType.DATE}
_OPERATIONS = {"insert": "insert", "add": "insert", "update": "update", "modify": "update", "delete": "delete",
               "remove": "delete"}


def _require_customers(kind: RecordKind) -> None:
    if kind is not RecordKind.CUSTOMER:
        raise PermanentVendorError(f"Uniconta connections do not sync {kind.value} records yet")


class DebtorRecords:
    """Mixed into ``UnicontaConnector``: its ``_request``/``_credential``/``_odata`` do the calls."""

    def record_schema(self, kind: RecordKind) -> RecordSchema:
        _require_customers(kind)
        credential = self._credential()
        metadata = self._request("GET", "odata/$metadata", credential, purpose="sync", raw=True)
        fields = standard_fields(metadata, "DebtorClient")
        for row in self._request("GET", "api/Entities/TableFieldsClient", credential, purpose="sync") or []:
            if row.get("TableId") == DEBTOR_TABLE_ID and row.get("Name"):
                fields[row["Name"]] = VendorField(name=row["Name"], type=_USER_FIELD_TYPES.get(row.get("FieldType"),
                                                                                               FieldType.TEXT),
                                                  max_length=row.get("Length"), user_defined=True)
        for name in _SYSTEM_FIELDS:
            fields.pop(name, None)
        return RecordSchema(kind=kind, key_field=KEY_FIELD, fields=fields)

    def vendor_key(self, kind: RecordKind, source_id: str) -> str:
        _require_customers(kind)
        if len(source_id) > KEY_MAX:
            raise ValueError(f"the id {source_id[:40]!r} is longer than a Uniconta debtor number "
                             f"({KEY_MAX} characters)")
        return source_id

    def key_of(self, kind: RecordKind, row: dict) -> str:
        return str(row.get(KEY_FIELD) or "")

    def create_records(self, kind: RecordKind, records: list[tuple[str, dict]]) -> list[dict | Exception]:
        _require_customers(kind)
        credential = self._credential()
        rows = [{**fields, KEY_FIELD: key} for key, fields in records]
        if len(rows) > 1:
            try:
                created = self._request("POST", f"api/Entities/InsertList/{ENTITY}", credential, purpose="sync",
                                        content=exact_json(rows, money=False), creates=True)
                return list(created)
            except PermanentVendorError:
                pass  # one row spoilt the list (all or nothing): insert them one by one to tell which
        outcomes: list[dict | Exception] = []
        for row in rows:
            try:
                outcomes.append(self._request("POST", f"api/Entities/Insert/{ENTITY}", credential, purpose="sync",
                                              content=exact_json(row, money=False), creates=True))
            except PermanentVendorError as exc:
                outcomes.append(RecordExists([row[KEY_FIELD]]) if exc.vendor_code == "KeyExists" else exc)
        return outcomes

    def update_record(self, kind: RecordKind, row: dict) -> dict:
        _require_customers(kind)
        body = {k: v for k, v in row.items() if k != "CompanyId"}
        return self._request("PUT", f"api/Entities/Update/{ENTITY}", self._credential(), purpose="sync",
                             content=exact_json(body, money=False))

    def read_record(self, kind: RecordKind, vendor_key: str) -> dict | None:
        _require_customers(kind)
        rows = self._request("GET", f"api/Entities/Read/{ENTITY}", self._credential(), purpose="sync",
                             params={"Name": KEY_FIELD, "Value": vendor_key}) or []
        return next((r for r in rows if str(r.get(KEY_FIELD)) == vendor_key), None)

    def read_records_by_key(self, kind: RecordKind, keys: list[str]) -> dict[str, dict]:
        _require_customers(kind)
        credential = self._credential()
        found: dict[str, dict] = {}
        for start in range(0, len(keys), KEYS_PER_READ):
            chunk = keys[start:start + KEYS_PER_READ]
            query = " or ".join(f"Account eq '{key.replace(chr(39), chr(39) * 2)}'" for key in chunk)
            for row in self._odata(ENTITY, query, credential, purpose="sync"):
                found[str(row.get(KEY_FIELD))] = row
        return found

    def read_records(self, kind: RecordKind, fields: list[str]) -> Iterable[dict]:
        _require_customers(kind)
        # Every field: the hub keeps whole rows (an update replaces the debtor). OData pages of 1,000.
        yield from self._odata(ENTITY, None, self._credential(), purpose="sync", page_limit=500)

    def notification_health(self, kind: RecordKind, receiver_url: str) -> NotificationHealth:
        _require_customers(kind)
        rows = self._request("GET", "api/Entities/TableChangeEventClient", self._credential(), purpose="sync") or []
        ours = [r for r in rows if str(r.get("Url") or "").startswith(receiver_url)
                and r.get("Table") in ("Debtor", None, "")]
        if not ours:
            return NotificationHealth(configured=False)
        broken = [r for r in ours if r.get("HasError")]
        chosen = broken[0] if broken else ours[0]
        return NotificationHealth(configured=True, has_error=bool(broken), message=chosen.get("ErrorMessage"),
                                  last_event=chosen.get("LastEvent"), posts_records=bool(chosen.get("Post")))


def standard_fields(metadata: bytes, entity_type: str) -> dict[str, VendorField]:
    """The properties of ``entity_type`` in an OData EDMX document."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(metadata, parser)
    fields: dict[str, VendorField] = {}
    for node in root.iter("{*}EntityType"):
        if node.get("Name") != entity_type:
            continue
        for prop in node.iter("{*}Property"):
            name = prop.get("Name")
            if name:
                length = prop.get("MaxLength")
                fields[name] = VendorField(name=name, type=_EDM_TYPES.get(prop.get("Type", ""), FieldType.TEXT),
                                           max_length=int(length) if length and length.isdigit() else None)
    if not fields:
        raise PermanentVendorError(f"Uniconta's $metadata does not describe {entity_type}")
    return fields


def parse_notification(query: Mapping[str, str], body: bytes | None) -> VendorChange:
    """A modification-URL call as Uniconta makes it; ValueError saying what is missing."""
    table = query.get("Table") or ""
    if table and table != "Debtor":
        raise ValueError(f"table {table[:40]!r} is not synced (only Debtor)")
    raw_operation = (query.get("Operation") or query.get("Action") or "").strip().lower()
    operation = _OPERATIONS.get(raw_operation)
    if operation is None:
        raise ValueError("no Operation (Insert, Update or Delete) in the query string")
    row: dict[str, Any] | None = None
    if body:
        try:
            parsed = json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise ValueError("the posted record is not JSON") from exc
        row = parsed if isinstance(parsed, dict) else None
    key = (query.get("Key") or (row or {}).get(KEY_FIELD) or "").strip()
    if not key:
        raise ValueError("no Key (the debtor's Account) in the query string")
    return VendorChange(kind=RecordKind.CUSTOMER, vendor_key=str(key)[:KEY_MAX * 4], operation=operation, row=row)

