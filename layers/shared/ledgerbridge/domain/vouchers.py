"""Turn a daily settlement into a balanced voucher with Decimal arithmetic."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ..connectors.base import Voucher, VoucherLine
from ..errors import PermanentVendorError
from ..models.connection import AccountSetup, MappingRow
from ..models.settlement import Settlement
from ..money import ZERO

TRANSACTION_TEXT_MAX = 60
VOUCHER_TEXT_MAX = 1000


class SetupIncomplete(PermanentVendorError):
    """The settlement carries a category/method/rate the account setup does not map."""


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def _signed_line(row: MappingRow, amount: Decimal, *, normal_side: str, text: str) -> VoucherLine | None:
    """A line on its normal side for positive amounts; negative amounts (refunds) flip sides."""
    if amount == ZERO:
        return None
    debit_side = (normal_side == "debit") == (amount > 0)
    magnitude = abs(amount)
    return VoucherLine(
        account=row.account,
        debit=magnitude if debit_side else ZERO,
        credit=ZERO if debit_side else magnitude,
        vat_code_id=row.vat_code_id,
        text=text[:TRANSACTION_TEXT_MAX],
    )


def build_settlement_voucher(
    settlement: Settlement, setup: AccountSetup, *, reference: str, text_prefix: str = "Dagsoppgjør"
) -> Voucher:
    rows = setup.index()
    missing: list[str] = []
    lines: list[VoucherLine | None] = []

    def row_for(row_id: str, description: str) -> MappingRow | None:
        row = rows.get(row_id)
        if row is None:
            missing.append(description)
        return row

    # Revenue per category and rate, on the credit side.
    for sale in settlement.sales:
        row = row_for(f"sales:{sale.category}@{_rate(sale.vat_rate)}",
                      f"sales category '{sale.category}' at {_rate(sale.vat_rate)}% VAT")
        if row:
            lines.append(_signed_line(row, sale.net, normal_side="credit",
                                      text=f"Salg {sale.category} {_rate(sale.vat_rate)}%"))

    # Output VAT, one line per rate.
    vat_by_rate: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for sale in settlement.sales:
        if sale.vat != ZERO:
            vat_by_rate[_rate(sale.vat_rate)] += sale.vat
    for rate, amount in sorted(vat_by_rate.items(), key=lambda kv: Decimal(kv[0])):
        row = row_for(f"vat:{rate}", f"output VAT at {rate}%")
        if row:
            lines.append(_signed_line(row, amount, normal_side="credit", text=f"Utgående mva {rate}%"))

    # What came in, per payment method, on the debit side.
    for payment in settlement.payments:
        row = row_for(f"payment:{payment.method}", f"payment method '{payment.method}'")
        if row:
            lines.append(_signed_line(row, payment.amount, normal_side="debit", text=f"Betaling {payment.method}"))

    # Cash rounding: customers paid more (positive) or less than the sales; the difference is income/cost.
    if settlement.cash_rounding != ZERO:
        row = row_for("rounding", "rounding")
        if row:
            lines.append(_signed_line(row, settlement.cash_rounding, normal_side="credit", text="Øreavrunding"))

    if missing:
        raise SetupIncomplete(
            "the account setup has no account for " + ", ".join(dict.fromkeys(missing))
            + "; add it to the account setup and replay"
        )

    voucher_lines = [line for line in lines if line is not None]
    debit = sum((line.debit for line in voucher_lines), ZERO)
    credit = sum((line.credit for line in voucher_lines), ZERO)
    if debit != credit:
        # A validated settlement always balances; any difference here is cents the POS lost,
        # booked explicitly to the rounding account rather than hidden in another line.
        rounding_row = rows.get("rounding")
        if rounding_row is None:
            raise SetupIncomplete("the voucher does not balance and the account setup has no rounding account")
        lines_fix = _signed_line(rounding_row, debit - credit, normal_side="credit", text="Avrunding")
        voucher_lines.append(lines_fix)

    register = f" kasse {settlement.register_id}" if settlement.register_id else ""
    text = f"{text_prefix} {settlement.business_date.isoformat()}{register} (Z {settlement.document_id}) [{reference}]"
    return Voucher(
        voucher_date=settlement.business_date,
        text=text[:VOUCHER_TEXT_MAX],
        reference=reference,
        lines=voucher_lines,
        currency=settlement.currency,
        series=setup.voucher_series,
    )
