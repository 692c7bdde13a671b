"""Validation and storage of JOURNAL ledger receipts (POST /ledgerreceipts), as the Procountor API enforces them.

Errors come back as a list of ``FieldError`` (status, field, message) rendered as ``{"errors": [...]}``. Every
problem of a request is reported at once, so a client sees e.g. an unknown account and a closed period together.
The message is a code (``CLOSED_FISCAL_PERIOD`` is Procountor's, from NOTES.md; the others are the simulator's own
names for rules the spec states): see README.md, "Error codes".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .config import SimulatorConfig
from .seed import VAT_PERCENTAGES, VAT_STATUSES
from .state import CENT, Company, SimulatorState

RECEIPT_TYPES = ("JOURNAL", "PURCHASE_INVOICE", "SALES_INVOICE", "PERIODIC_TAX_RETURN", "TRAVEL_INVOICE",
                 "BILL_OF_CHARGES", "VAT_FORM", "SALARY", "EMPLOYER_CONTRIBUTION", "PURCHASE_ORDER", "SALES_ORDER",
                 "BANK_STATEMENT_AS_RECEIPT", "RECEIPT_FOR_OPENING_ACCOUNTS", "REFERENCE_PAYMENT",
                 "TRACKING_PERIOD_OPENING_RECEIPT", "VAT_SUMMARY")
TRANSACTION_TYPES = ("ENTRY", "RECONCILIATION_ENTRY", "REVERSING_ENTRY")
VAT_TYPES = ("PURCHASE", "SALES")
RECEIPT_VALIDITY = ("EMPTY", "IMMEDIATELY", "OVER_3_YEARS", "SERVICE_PERIOD")
MAX_ABS_VALUE = Decimal("1000000000000")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Error codes (the "message" of an error).
REQUIRED = "REQUIRED"
INVALID_FORMAT = "INVALID_FORMAT"
TOO_LONG = "TOO_LONG"
TOO_MANY_DECIMALS = "TOO_MANY_DECIMALS"
VALUE_OUT_OF_RANGE = "VALUE_OUT_OF_RANGE"
TYPE_NOT_ALLOWED = "TYPE_NOT_ALLOWED"
LEDGER_ACCOUNT_NOT_FOUND = "LEDGER_ACCOUNT_NOT_FOUND"
LEDGER_ACCOUNT_INACTIVE = "LEDGER_ACCOUNT_INACTIVE"
VAT_PERCENT_NOT_ALLOWED = "VAT_PERCENT_NOT_ALLOWED"
VAT_STATUS_NOT_ALLOWED = "VAT_STATUS_NOT_ALLOWED"
VAT_NOT_ALLOWED_FOR_TRANSACTION_TYPE = "VAT_NOT_ALLOWED_FOR_TRANSACTION_TYPE"
TOO_MANY_REVERSING_ENTRIES = "TOO_MANY_REVERSING_ENTRIES"
TOO_MANY_RECONCILIATION_ENTRIES = "TOO_MANY_RECONCILIATION_ENTRIES"
DIMENSION_NOT_FOUND = "DIMENSION_NOT_FOUND"
DIMENSION_ITEM_NOT_FOUND = "DIMENSION_ITEM_NOT_FOUND"
DIMENSION_ITEM_INACTIVE = "DIMENSION_ITEM_INACTIVE"
DUPLICATE_DIMENSION_ITEM = "DUPLICATE_DIMENSION_ITEM"
DIMENSION_VALUES_DO_NOT_MATCH = "DIMENSION_VALUES_DO_NOT_MATCH_TRANSACTION"
RECEIPT_NOT_BALANCED = "RECEIPT_NOT_BALANCED"
NO_FISCAL_YEAR = "NO_FISCAL_YEAR"
CLOSED_FISCAL_PERIOD = "CLOSED_FISCAL_PERIOD"


@dataclass
class FieldError:
    status: int
    field: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        # The official ErrorMessage has status, field (optional: "Field path of violation") and message.
        body: dict[str, Any] = {"status": self.status}
        if self.field is not None:
            body["field"] = self.field
        body["message"] = self.message
        return body


class ProcountorError(Exception):
    """Raised by handlers; rendered as ``{"errors": [...]}`` with the HTTP status of the first error."""

    def __init__(self, errors: list[FieldError], headers: dict[str, str] | None = None):
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors
        self.status = errors[0].status
        self.headers = headers

    @classmethod
    def one(cls, status: int, message: str, field: str | None = None) -> "ProcountorError":
        return cls([FieldError(status, field, message)])


def vat_percentages() -> list[Decimal]:
    return [Decimal(p["vatPercent"]) for p in VAT_PERCENTAGES]


def parse_iso_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def period_refusal(company: Company, day: date) -> str | None:
    """None if receipts may be dated on the day, else the error code."""
    fiscal_year, period = company.period_for(day)
    if fiscal_year is None or period is None:
        return NO_FISCAL_YEAR
    # Only OPEN takes receipts: PENDING (the step before closing) is treated as closed, the stricter reading.
    if not fiscal_year["isOpen"] or period["status"] != "OPEN":
        return CLOSED_FISCAL_PERIOD
    return None


class _Checker:
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self.errors: list[FieldError] = []

    def fail(self, field: str | None, message: str, status: int = 400) -> None:
        self.errors.append(FieldError(status, field, message))

    def money(self, value: Any, field: str) -> Decimal | None:
        """A JSON number (never a string) with at most two decimals, or None after recording why not."""
        if value is None:
            self.fail(field, REQUIRED)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            self.fail(field, INVALID_FORMAT)
            return None
        amount = Decimal(value)
        if not amount.is_finite() or abs(amount) >= MAX_ABS_VALUE:
            self.fail(field, VALUE_OUT_OF_RANGE)
            return None
        if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
            if self.config.sub_cent_values != "round":
                self.fail(field, TOO_MANY_DECIMALS)
                return None
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)

    def text(self, body: dict[str, Any], key: str, field: str, max_length: int, required: bool = False) -> str | None:
        value = body.get(key)
        if value is None:
            if required:
                self.fail(field, REQUIRED)
            return None
        if not isinstance(value, str):
            self.fail(field, INVALID_FORMAT)
            return None
        if len(value) > max_length:
            self.fail(field, TOO_LONG)
            return None
        return value

    def enum(self, body: dict[str, Any], key: str, field: str, allowed: tuple[str, ...],
             required: bool = False) -> str | None:
        value = body.get(key)
        if value is None:
            if required:
                self.fail(field, REQUIRED)
            return None
        if value not in allowed:
            self.fail(field, INVALID_FORMAT)
            return None
        return value

    def integer(self, body: dict[str, Any], key: str, field: str, required: bool = False) -> int | None:
        value = body.get(key)
        if value is None:
            if required:
                self.fail(field, REQUIRED)
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, INVALID_FORMAT)
            return None
        return value

    def vat_status(self, value: int | None, vat_type: str | None, field: str) -> None:
        if value is None:
            return
        status = next((s for s in VAT_STATUSES if s["vatStatus"] == value), None)
        if status is None or (vat_type == "SALES" and not status["sales"]) or (
                vat_type == "PURCHASE" and not status["purchase"]):
            self.fail(field, VAT_STATUS_NOT_ALLOWED)


def build_journal(state: SimulatorState, company: Company, body: Any,
                  create_reconciliation: bool) -> dict[str, Any]:
    """The receipt to store for a POST /ledgerreceipts body, or ProcountorError with every violation."""
    config = state.config
    if not isinstance(body, dict):
        raise ProcountorError.one(400, INVALID_FORMAT)
    check = _Checker(config)

    receipt_type = check.enum(body, "type", "type", RECEIPT_TYPES, required=True)
    if receipt_type is not None and receipt_type != "JOURNAL":
        check.fail("type", TYPE_NOT_ALLOWED)   # "Types allowed for POST = JOURNAL"
    name = check.text(body, "name", "name", 80, required=True)
    receipt_date = None
    if body.get("receiptDate") is None:
        check.fail("receiptDate", REQUIRED)
    else:
        receipt_date = parse_iso_date(body["receiptDate"])
        if receipt_date is None:
            check.fail("receiptDate", INVALID_FORMAT)
    vat_type = check.enum(body, "vatType", "vatType", VAT_TYPES, required=True)
    vat_status = check.integer(body, "vatStatus", "vatStatus", required=True)
    check.vat_status(vat_status, vat_type, "vatStatus")
    optional_text = {"invoiceNotes": 10000, "accountantsNotes": 255, "transactionDescription": 255,
                     "partnerCode": 255}
    extras: dict[str, Any] = {}
    for key, max_length in optional_text.items():
        value = check.text(body, key, key, max_length)
        if value is not None:
            extras[key] = value
    validity = check.enum(body, "receiptValidity", "receiptValidity", RECEIPT_VALIDITY)
    if validity is not None:
        extras["receiptValidity"] = validity
    for key in ("periodStartDate", "periodEndDate", "vatDate"):
        if body.get(key) is not None:
            if parse_iso_date(body[key]) is None:
                check.fail(key, INVALID_FORMAT)
            else:
                extras[key] = body[key]
    if "periodStartDate" in extras and "periodEndDate" in extras and extras["periodStartDate"] > extras[
            "periodEndDate"]:
        check.fail("periodEndDate", INVALID_FORMAT)

    transactions = body.get("transactions")
    stored_transactions: list[dict[str, Any]] = []
    if transactions is None:
        check.fail("transactions", REQUIRED)
    elif not isinstance(transactions, list) or not transactions:
        # "At least one transaction must be provided."
        check.fail("transactions", REQUIRED if transactions == [] else INVALID_FORMAT)
    else:
        stored_transactions = _transactions(check, company, transactions)

    if receipt_date is not None:
        refusal = period_refusal(company, receipt_date)
        if refusal is not None:
            check.fail("receiptDate", refusal)

    if not check.errors and stored_transactions:
        _balance(check, stored_transactions, create_reconciliation)
    if check.errors:
        raise ProcountorError(check.errors)
    return {"type": receipt_type, "status": "UNFINISHED", "name": name, "receiptDate": body["receiptDate"],
            "vatType": vat_type, "vatStatus": vat_status, "transactions": stored_transactions, **extras}


def _transactions(check: _Checker, company: Company, transactions: list[Any]) -> list[dict[str, Any]]:
    allowed_percentages = vat_percentages()
    stored = []
    kinds: list[str] = []
    for index, row in enumerate(transactions):
        prefix = f"transactions[{index}]"
        if not isinstance(row, dict):
            check.fail(prefix, INVALID_FORMAT)
            continue
        before = len(check.errors)
        kind = check.enum(row, "transactionType", f"{prefix}.transactionType", TRANSACTION_TYPES, required=True)
        if kind is not None:
            kinds.append(kind)
        account_code = row.get("account")
        if account_code is None or account_code == "":
            check.fail(f"{prefix}.account", REQUIRED)
        elif not isinstance(account_code, str):
            check.fail(f"{prefix}.account", INVALID_FORMAT)
        elif account_code not in company.accounts:
            check.fail(f"{prefix}.account", LEDGER_ACCOUNT_NOT_FOUND)
        elif not company.accounts[account_code]["active"]:
            check.fail(f"{prefix}.account", LEDGER_ACCOUNT_INACTIVE)
        value = check.money(row.get("accountingValue"), f"{prefix}.accountingValue")
        # vatPercent is required in Procountor's own spec (26.04), optional in the third-party excerpt: required.
        vat_percent = None
        raw_vat = row.get("vatPercent")
        if raw_vat is None:
            check.fail(f"{prefix}.vatPercent", REQUIRED)
        elif isinstance(raw_vat, bool) or not isinstance(raw_vat, (int, Decimal)):
            check.fail(f"{prefix}.vatPercent", INVALID_FORMAT)
        elif Decimal(raw_vat) not in allowed_percentages:
            check.fail(f"{prefix}.vatPercent", VAT_PERCENT_NOT_ALLOWED)
        else:
            vat_percent = Decimal(raw_vat)
        vat_type = check.enum(row, "vatType", f"{prefix}.vatType", VAT_TYPES)
        vat_status = check.integer(row, "vatStatus", f"{prefix}.vatStatus")
        check.vat_status(vat_status, vat_type, f"{prefix}.vatStatus")
        if kind in ("REVERSING_ENTRY", "RECONCILIATION_ENTRY"):
            # "For both REVERSING_ENTRY and RECONCILIATION_ENTRY transactions, vatStatus cannot be defined and
            # vatPercent must be 0."
            if vat_status is not None or (vat_percent is not None and vat_percent != 0):
                check.fail(prefix, VAT_NOT_ALLOWED_FOR_TRANSACTION_TYPE)
        description = check.text(row, "description", f"{prefix}.description", 255)
        balance_code = check.text(row, "balanceCode", f"{prefix}.balanceCode", 255)
        dates = {}
        for key in ("startDate", "endDate"):
            if row.get(key) is not None:
                if parse_iso_date(row[key]) is None:
                    check.fail(f"{prefix}.{key}", INVALID_FORMAT)
                else:
                    dates[key] = row[key]
        dimension_values = _dimension_values(check, company, row.get("dimensionItemValues"), value, prefix)
        if len(check.errors) > before:
            continue
        transaction: dict[str, Any] = {
            "transactionType": kind, "account": account_code, "accountingValue": value, "vatPercent": vat_percent,
            "description": description if description is not None else "", "dimensionItemValues": dimension_values,
        }
        if vat_type is not None:
            transaction["vatType"] = vat_type
        if vat_status is not None:
            transaction["vatStatus"] = vat_status
        if balance_code is not None:
            transaction["balanceCode"] = balance_code
        transaction.update(dates)
        stored.append(transaction)
    # "a ledger can have maximum of one REVERSING_ENTRY and maximum of one RECONCILIATION_ENTRY transaction"
    if kinds.count("REVERSING_ENTRY") > 1:
        check.fail("transactions", TOO_MANY_REVERSING_ENTRIES)
    if kinds.count("RECONCILIATION_ENTRY") > 1:
        check.fail("transactions", TOO_MANY_RECONCILIATION_ENTRIES)
    return stored


def _dimension_values(check: _Checker, company: Company, values: Any, transaction_value: Decimal | None,
                      prefix: str) -> list[dict[str, Any]]:
    if values is None:
        return []
    field = f"{prefix}.dimensionItemValues"
    if not isinstance(values, list):
        check.fail(field, INVALID_FORMAT)
        return []
    stored = []
    seen: set[tuple[int, int]] = set()
    sums: dict[int, Decimal] = {}
    for index, entry in enumerate(values):
        entry_field = f"{field}[{index}]"
        if not isinstance(entry, dict):
            check.fail(entry_field, INVALID_FORMAT)
            continue
        dimension_id = check.integer(entry, "dimensionId", f"{entry_field}.dimensionId", required=True)
        item_id = check.integer(entry, "itemId", f"{entry_field}.itemId", required=True)
        value = check.money(entry.get("value"), f"{entry_field}.value")
        if dimension_id is None or item_id is None or value is None:
            continue
        if dimension_id not in company.dimensions:
            check.fail(f"{entry_field}.dimensionId", DIMENSION_NOT_FOUND)
            continue
        item = company.item(dimension_id, item_id)
        if item is None:
            check.fail(f"{entry_field}.itemId", DIMENSION_ITEM_NOT_FOUND)
            continue
        if item.get("status") == "P":
            check.fail(f"{entry_field}.itemId", DIMENSION_ITEM_INACTIVE)
            continue
        if (dimension_id, item_id) in seen:
            check.fail(entry_field, DUPLICATE_DIMENSION_ITEM)
            continue
        seen.add((dimension_id, item_id))
        sums[dimension_id] = sums.get(dimension_id, Decimal(0)) + value
        stored.append({"dimensionId": dimension_id, "itemId": item_id, "value": value})
    # "The sum of dimension item values on a dimension must equal the accounting value of the parent transaction."
    if transaction_value is not None:
        if any(total != transaction_value for total in sums.values()):
            check.fail(field, DIMENSION_VALUES_DO_NOT_MATCH)
    return stored


def gross(transaction: dict[str, Any]) -> Decimal:
    """The transaction with its VAT (accountingValue is net)."""
    net = transaction["accountingValue"]
    vat = (net * transaction["vatPercent"] / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return net + vat


def _balance(check: _Checker, transactions: list[dict[str, Any]], create_reconciliation: bool) -> None:
    difference = sum((gross(t) for t in transactions), Decimal(0))
    if difference == 0:
        return
    has_reconciliation = any(t["transactionType"] == "RECONCILIATION_ENTRY" for t in transactions)
    if create_reconciliation and not has_reconciliation:
        # createReconciliation=true: Procountor adds the row that makes the receipt sum to zero. Which account it
        # uses is not documented; the simulator takes the reversing entry's account, else the first row's.
        anchor = next((t for t in transactions if t["transactionType"] == "REVERSING_ENTRY"), transactions[0])
        transactions.append({"transactionType": "RECONCILIATION_ENTRY", "account": anchor["account"],
                             "accountingValue": -difference, "vatPercent": Decimal(0), "description": "",
                             "dimensionItemValues": []})
        return
    check.fail("transactions", RECEIPT_NOT_BALANCED)


def assign_transaction_ids(state: SimulatorState, transactions: list[dict[str, Any]]) -> None:
    for transaction in transactions:
        transaction["id"] = state.next_id()
        # Key order of the answer as Procountor's Transaction model lists it.
        ordered = {"id": transaction.pop("id")}
        ordered.update(transaction)
        transaction.clear()
        transaction.update(ordered)
