"""The daily settlement (Z-report) a POS back office pushes to the ingest API."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from ..money import ZERO
from .common import Amount, Identifier, check_date, has_two_decimals_at_most

# Base64 adds a third: 4 MiB of PDF is ~5.4 MiB of request, under Lambda's 6 MB payload limit.
MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024

CategoryName = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]


class SalesLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: CategoryName
    vat_rate: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)]
    net: Amount
    vat: Amount
    gross: Amount

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


class Payment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: CategoryName
    amount: Amount


class Totals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    net: Amount
    vat: Amount
    gross: Amount


class Attachment(BaseModel):
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


class Settlement(BaseModel):
    """A Z-report: what was sold (per category and VAT rate) and how it was paid.

    ``payments`` add up to ``totals.gross + cash_rounding``; cash rounding (øreavrunding) is
    the difference a cash register rounds away, booked to the mapped rounding account.
    """

    model_config = ConfigDict(extra="forbid")

    document_id: Identifier
    business_date: date = Field(description="the day the register was closed: from 2000-01-01 to tomorrow "
                                            "(UTC)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "NOK"
    register_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    sales: list[SalesLine] = Field(min_length=1, max_length=500)
    payments: list[Payment] = Field(default_factory=list, max_length=100)
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
        problems = []
        for field_name in ("net", "vat", "gross"):
            line_sum = sum((getattr(line, field_name) for line in self.sales), ZERO)
            stated = getattr(self.totals, field_name)
            if line_sum != stated:
                problems.append(f"sum of sales {field_name} is {line_sum} but totals.{field_name} is {stated}")
        paid = sum((p.amount for p in self.payments), ZERO)
        expected = self.totals.gross + self.cash_rounding
        if paid != expected:
            problems.append(
                f"payments add up to {paid} but totals.gross + cash_rounding is {expected}"
            )
        keys = [line.mapping_key for line in self.sales]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            problems.append(f"sales lines repeat category@vat_rate: {', '.join(duplicates)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def content_hash(self) -> str:
        """Hash of the booked content, attachment included, independent of key order."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _rate_text(rate: Decimal) -> str:
    normalized = rate.normalize()
    return format(normalized, "f")
