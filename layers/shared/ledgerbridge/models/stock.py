"""Stock registrations ("Beholdningsendring") a POS back office pushes beside its Z-reports."""
from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..money import ZERO
from .common import Amount, CategoryName, Identifier, check_date
from .settlement import Attachment
from .common import LazyModel

__all__ = ["MAX_NOTE_LENGTH", "MAX_STOCK_LINES", "STOCK_NOTHING_TO_BOOK_REASON", "StockKind", "StockLine",
           "StockRegistration"]

MAX_STOCK_LINES = 5_000
MAX_NOTE_LENGTH = 1_000

StockKind = Literal["goods_received", "write_off", "count_adjustment"]

# The export log's reason for a registration whose lines add up to zero (the document is never queued).
STOCK_NOTHING_TO_BOOK_REASON = "the lines add up to zero: the stock value does not change, nothing to book"

# What each kind allows of a line's sign (a signed amount: positive = stock up, negative = stock down).
_SIGN_RULES: dict[str, tuple[str, str]] = {
    # kind: (the sign that is refused, what to do instead)
    "goods_received": ("negative", "goods received put stock in, so their amounts are 0 or positive; send goods "
                                   "returned to the supplier, or stock found missing, as a write_off or a "
                                   "count_adjustment"),
    "write_off": ("positive", "a write-off (svinn) takes stock out, so its amounts are 0 or negative (e.g. "
                              "-120.00 for goods worth 120.00 at cost thrown away); send stock found in excess "
                              "as a count_adjustment"),
}


class StockLine(LazyModel):
    model_config = ConfigDict(extra="forbid")

    category: CategoryName
    amount: Amount = Field(description="the change of the stock's value at cost, signed: positive = stock goes up, "
                                       "negative = stock goes down. goods_received: 0 or positive; write_off: 0 or "
                                       "negative; count_adjustment: either")


class StockRegistration(LazyModel):
    """A stock registration: goods received, a write-off (svinn) or a count adjustment (varetelling).

    Each is booked as a document of its own when the account setup has ``inventory_change`` on: the
    net change of the stock's value (the sum of the lines) moves between the ``inventory`` account
    (the stock, e.g. 1460 Varelager) and the ``inventory_change`` account (cost of goods, e.g. 4090
    Beholdningsendring), so that inventory and cost of goods in the accounting system follow the
    shop's. Stock movements carry no VAT.

    **Amounts are signed, at cost**: positive = the stock goes up (debit the inventory account, credit
    inventory change), negative = it goes down (the reverse). The kind must agree with the sign:
    ``goods_received`` lines are 0 or positive, ``write_off`` lines 0 or negative (a write-off sent
    with positive amounts, or goods received with negative ones, is refused with 422 rather than
    guessed), ``count_adjustment`` lines either (what the count found, more or less than the books).
    Lines whose amounts add up to zero leave the stock's value unchanged: accepted and logged as
    nothing to book. 1 to 5,000 lines; a category may repeat (lines are summed).
    """

    model_config = ConfigDict(extra="forbid")

    document_id: Identifier
    business_date: date = Field(description="the day of the registration: from 2000-01-01 to tomorrow (UTC)")
    kind: StockKind = Field(description="goods_received (varemottak), write_off (svinn) or count_adjustment "
                                        "(varetelling)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "NOK"
    lines: list[StockLine] = Field(min_length=1, max_length=MAX_STOCK_LINES,
                                   description="stock value changes per category at cost, signed (positive = "
                                               "stock up); a category may repeat")
    note: Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH, strip_whitespace=True)] | None = Field(
        default=None, description="free text shown in the voucher text (e.g. the supplier or the reason)")
    attachment: Attachment | None = Field(default=None, description="the delivery note or count sheet")

    @field_validator("business_date")
    @classmethod
    def _plausible_day(cls, day: date) -> date:
        return check_date(day, what="tomorrow in UTC; send the day of the registration")

    @field_validator("note")
    @classmethod
    def _sendable_note(cls, note: str | None) -> str | None:
        # The note travels in the voucher text, into XML (24SevenOffice) too: no control characters.
        for char in note or "":
            code = ord(char)
            if (code < 0x20 and char not in "\t\n\r") or 0x7F <= code <= 0x9F:
                raise ValueError("note contains a control character; send plain text")
            if 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
                raise ValueError("note contains a character that cannot be sent to the accounting system")
        return note or None

    @model_validator(mode="after")
    def _signs_agree_with_kind(self) -> "StockRegistration":
        rule = _SIGN_RULES.get(self.kind)
        if rule is None:
            return self
        refused, advice = rule
        wrong = [(i, line) for i, line in enumerate(self.lines)
                 if (line.amount < ZERO if refused == "negative" else line.amount > ZERO)]
        if wrong:
            named = ", ".join(f"lines.{i} '{line.category}' {line.amount}" for i, line in wrong[:5])
            more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
            raise ValueError(f"a {self.kind} has no {refused} amounts ({named}{more}): {advice}")
        return self

    @property
    def net_change(self) -> Decimal:
        """The change of the stock's value: positive = up, negative = down."""
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def nothing_to_book(self) -> bool:
        return self.net_change == ZERO

    def content_hash(self) -> str:
        """Hash of the booked content, attachment included, independent of key order."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()
