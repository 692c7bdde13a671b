"""The daily settlement (Z-report) a POS back office pushes to the ingest API."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..money import ZERO
from .common import Amount, CategoryName, Identifier, check_date, has_two_decimals_at_most
from .common import LazyModel

# Base64 adds a third: 4 MiB of PDF is ~5.4 MiB of request, under Lambda's 6 MB payload limit.
MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024
# A busy shop sends one sales line per product; lines of one category and rate are summed when
# the voucher is built (per account and VAT code), so the voucher stays short whatever comes in.
MAX_SALES_LINES = 20_000
MAX_PAYMENT_LINES = 1_000

__all__ = ["Attachment", "CategoryName", "GiftCards", "MAX_ATTACHMENT_BYTES", "MAX_PAYMENT_LINES", "MAX_SALES_LINES",
           "NOTHING_TO_BOOK_REASON", "Payment", "SalesLine", "Settlement", "Totals"]

# The export log's reason for a day that has nothing to book (the document is never queued).
NOTHING_TO_BOOK_REASON = "no sales: nothing to book (closed day)"


class SalesLine(LazyModel):
    model_config = ConfigDict(extra="forbid")

    category: CategoryName
    vat_rate: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
    net: Amount
    vat: Amount
    gross: Amount
    cost: Amount | None = Field(default=None, description="cost of goods sold for this line (optional); booked "
                                "as inventory change when the account setup has inventory_change on")

    @field_validator("vat_rate")
    @classmethod
    def _canonical_rate(cls, rate: Decimal) -> Decimal:
        if not has_two_decimals_at_most(rate):
            raise ValueError("vat_rate has at most two decimals (e.g. 25 or 25.5)")
        # "15", "15.00" and 15.0 are one rate: one mapping key, one content hash.
        return Decimal(format(rate.normalize(), "f"))

    @model_validator(mode="after")
    def _net_plus_vat_is_gross(self) -> "SalesLine":
        if self.net + self.vat != self.gross:
            raise ValueError(
                f"sales line '{self.category}': net {self.net} + vat {self.vat} != gross {self.gross}"
            )
        if self.vat_rate == 0 and self.vat != ZERO:
            raise ValueError(f"sales line '{self.category}': VAT {self.vat} on a 0% line")
        return self

    @property
    def mapping_key(self) -> str:
        return f"{self.category}@{_rate_text(self.vat_rate)}"


class Payment(LazyModel):
    model_config = ConfigDict(extra="forbid")

    method: CategoryName
    amount: Amount


class GiftCards(LazyModel):
    """Gift cards sold and redeemed during the day.

    A sold gift card is money received in advance: a liability without VAT, never revenue (VAT
    falls due when it is redeemed for goods, which appear as ordinary sales lines then). A redeemed
    gift card is a means of payment: it settles that liability instead of money coming in. Neither
    belongs in ``sales`` or ``payments``; the account setup's ``gift_card`` row names the liability
    account. Negative amounts are cancellations.
    """

    model_config = ConfigDict(extra="forbid")

    sold: Amount = Field(default=ZERO, description="value of the gift cards sold (paid for by the payments)")
    redeemed: Amount = Field(default=ZERO, description="value of the gift cards taken as payment")

    @property
    def is_zero(self) -> bool:
        return self.sold == ZERO and self.redeemed == ZERO


class Totals(LazyModel):
    model_config = ConfigDict(extra="forbid")

    net: Amount
    vat: Amount
    gross: Amount


class Attachment(LazyModel):
    model_config = ConfigDict(extra="forbid")

    file_name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\\]+$")]
    content_type: Literal["application/pdf", "image/jpeg", "image/png", "image/tiff"]
    data: str = Field(description="base64 of the file")

    @field_validator("data")
    @classmethod
    def _is_base64(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("attachment data is not valid base64") from exc
        if not raw:
            raise ValueError("attachment is empty")
        if len(raw) > MAX_ATTACHMENT_BYTES:
            raise ValueError(f"attachment is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.data)


class Settlement(LazyModel):
    """A Z-report: what was sold (per category and VAT rate) and how it was paid.

    ``payments`` add up to ``totals.gross + gift_cards.sold - gift_cards.redeemed + cash_rounding``:
    the money taken in pays for the sales and the gift cards sold, less what gift cards paid for;
    cash rounding (øreavrunding) is the difference a cash register rounds away, booked to the mapped
    rounding account.

    Size: up to 20,000 sales lines (one per product is fine; a category and rate may repeat) and
    1,000 payment lines. The whole request must fit API Gateway's and Lambda's 6 MB payload limit
    (the body travels JSON-escaped inside the Lambda event). A typical product line (a category
    of 15-20 characters, all amounts and ``cost``) is ~140 bytes there, so 20,000 lines take
    ~2.8 MB and leave room for a Z-report PDF of ~2.6 MB (base64 adds a third); 20,000 lines with
    200-character categories (~6.5 MB in Latin letters, ~10 MB in Æ/Ø, more in CJK) do not fit
    and are refused before the hub sees them: send such a day per register, or shorter categories.
    ``python -m bench.settlement_core`` prints the measured sizes. A day with no sales at all
    (a closed day: every amount zero) is accepted and logged as nothing to book.
    """

    model_config = ConfigDict(extra="forbid")

    document_id: Identifier
    business_date: date = Field(description="the day the register was closed: from 2000-01-01 to tomorrow "
                                            "(UTC)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "NOK"
    register_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    sales: list[SalesLine] = Field(max_length=MAX_SALES_LINES, description="sales per category and VAT rate; "
                                   "a category and rate may repeat (lines are summed); empty for a closed day")
    payments: list[Payment] = Field(default_factory=list, max_length=MAX_PAYMENT_LINES)
    gift_cards: GiftCards = Field(default_factory=GiftCards)
    cash_rounding: Amount = ZERO
    totals: Totals
    attachment: Attachment | None = None

    @field_validator("business_date")
    @classmethod
    def _plausible_day(cls, day: date) -> date:
        # From 2000-01-01 to tomorrow in UTC: a POS in a time zone ahead of UTC may close "tomorrow".
        return check_date(day, what="tomorrow in UTC; send the day the register was closed")

    @model_validator(mode="after")
    def _totals_add_up(self) -> "Settlement":
        # One pass over the lines whatever their number (the old duplicate check was quadratic).
        net = vat = gross = ZERO
        for line in self.sales:
            net += line.net
            vat += line.vat
            gross += line.gross
        problems = []
        for field_name, line_sum in (("net", net), ("vat", vat), ("gross", gross)):
            stated = getattr(self.totals, field_name)
            if line_sum != stated:
                problems.append(f"sum of sales {field_name} is {line_sum} but totals.{field_name} is {stated}")
        paid = sum((p.amount for p in self.payments), ZERO)
        gift_cards = self.gift_cards
        expected = self.totals.gross + gift_cards.sold - gift_cards.redeemed + self.cash_rounding
        if paid != expected:
            problems.append(
                f"payments add up to {paid} but totals.gross + gift_cards.sold - gift_cards.redeemed + cash_rounding "
                f"is {expected} ({self.totals.gross} + {gift_cards.sold} - {gift_cards.redeemed} + "
                f"{self.cash_rounding}); a gift card taken as payment belongs in gift_cards.redeemed, not in payments"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def nothing_to_book(self) -> bool:
        """A closed day: every amount is zero, so no voucher line would come of it.

        Sales lines that net to zero while payments or gift cards move are not nothing: they book.
        """
        if self.cash_rounding != ZERO or not self.gift_cards.is_zero:
            return False
        if any(payment.amount != ZERO for payment in self.payments):
            return False
        return not any(line.net != ZERO or line.vat != ZERO or line.gross != ZERO or (line.cost or ZERO) != ZERO
                       for line in self.sales)

    def content_hash(self) -> str:
        """Hash of the booked content, attachment included, independent of key order.

        Fields added later (gift cards, a line's cost) count only when given: a settlement without
        them hashes as it did before they existed, so a resend of a day stored earlier is still
        recognised as identical.
        """
        canonical = self.model_dump(mode="json")
        if self.gift_cards.is_zero:
            del canonical["gift_cards"]
        for line in canonical["sales"]:
            if line["cost"] is None:
                del line["cost"]
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _rate_text(rate: Decimal) -> str:
    normalized = rate.normalize()
    return format(normalized, "f")
