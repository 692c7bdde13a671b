"""Turn a daily settlement into a balanced voucher with Decimal arithmetic.

A settlement may carry thousands of lines (one per product); the voucher carries one line per
account, VAT code and kind of movement (revenue at a rate, output VAT at a rate, payments, gift
cards sold, gift cards redeemed, rounding, inventory change): what goes to the same account with
the same VAT code is summed first, and the line's text names what it holds ("Salg Kaffe servert,
Varer 25%"). Sums are signed: refunds net against sales of the same account, and a group whose
sum is negative lands on the opposite side. One pass over the input, so time and memory grow
linearly with the number of lines.

Stock registrations (goods received, write-offs, count adjustments) become vouchers of their own
with ``build_stock_voucher``: their net change of the stock's value as one inventory change pair.

Pure: depends on models/, money.py and text.py only (no vendor, no I/O).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..models.connection import AccountSetup, MappingRow
from ..models.ledger import Voucher, VoucherLine
from ..models.settlement import Settlement
from ..models.stock import StockRegistration
from ..money import ZERO, round_cents
from ..text import cut_text, text_length

# Caps of the vendor-neutral voucher, counted in UTF-16 code units (as .NET vendors count; never
# fewer than code points, so a code-point-counting vendor is served too). Each connector cuts again
# to its own vendor's limit (Visma eAccounting's are these very numbers).
TRANSACTION_TEXT_MAX = 60
VOUCHER_TEXT_MAX = 1000
# How many missing mappings a failure names before "and N more": the reason lands in the export
# log (a DynamoDB item) and must stay readable for a day of 20,000 unmapped product lines.
MISSING_NAMED_MAX = 20


class SetupIncomplete(Exception):
    """The settlement needs an account the setup does not map (a category, method, rate, the gift
    card account). A fact about the setup, not a vendor answer: retrying cannot help until someone
    adds the row; the booking service fails the document with ``message`` as the reason."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _rate(rate: Decimal) -> str:
    return format(rate.normalize(), "f")


def _signed_line(account: str, vat_code_id: str | None, amount: Decimal, *, normal_side: str,
                 text: str) -> VoucherLine | None:
    """A line on its normal side for positive amounts; negative amounts (refunds) flip sides."""
    if amount == ZERO:
        return None
    debit_side = (normal_side == "debit") == (amount > 0)
    magnitude = abs(amount)
    return VoucherLine(
        account=account,
        debit=magnitude if debit_side else ZERO,
        credit=ZERO if debit_side else magnitude,
        vat_code_id=vat_code_id,
        text=cut_text(text, TRANSACTION_TEXT_MAX),
    )


def inventory_change_lines(amount: Decimal, *, inventory_account: str, inventory_change_account: str,
                           text: str = "Beholdningsendring") -> list[VoucherLine]:
    """The pair of lines moving ``amount`` of cost of goods out of stock: debit the P&L inventory
    change account, credit the inventory (stock) account. A negative amount (goods back into stock:
    returns, goods received, a count finding more) flips both sides. Zero: no lines. No VAT.

    Always balanced on its own, so any voucher (a settlement, a stock registration) can take it.
    """
    if amount == ZERO:
        return []
    change = _signed_line(inventory_change_account, None, amount, normal_side="debit", text=text)
    stock = _signed_line(inventory_account, None, amount, normal_side="credit", text=text)
    return [change, stock]


@dataclass
class _Group:
    """What goes to one account with one VAT code as one kind of movement."""

    row: MappingRow
    label: str  # "Salg", "Betaling", ...
    suffix: str  # " 25%" or ""
    normal_side: str
    amount: Decimal = ZERO
    vat: Decimal = ZERO  # sales: the POS's VAT of what the group holds
    names: dict[str, None] = field(default_factory=dict)  # categories/methods, first seen first

    def text(self) -> str:
        names = list(self.names)
        if len(names) <= 1:
            return f"{self.label}{' ' + names[0] if names else ''}{self.suffix}"
        # As many names as fit the line text, then "+N" for the rest: bounded work per group.
        shown: list[str] = []
        for name in names:
            candidate = [*shown, name]
            rest = len(names) - len(candidate)
            text = f"{self.label} {', '.join(candidate)}{f' +{rest}' if rest else ''}{self.suffix}"
            if text_length(text) > TRANSACTION_TEXT_MAX:
                break
            shown = candidate
        if not shown:
            return f"{self.label} {len(names)} stk.{self.suffix}"
        rest = len(names) - len(shown)
        return f"{self.label} {', '.join(shown)}{f' +{rest}' if rest else ''}{self.suffix}"

    def line(self) -> VoucherLine | None:
        return _signed_line(self.row.account, self.row.vat_code_id, self.amount, normal_side=self.normal_side,
                            text=self.text())


def _vat_split_differences(sales: dict[tuple, _Group], rows: dict[str, MappingRow],
                           missing: "_Missing") -> list[VoucherLine | None]:
    """Lines that bring the vendor's own VAT split of each gross revenue line to the POS's VAT."""
    lines: list[VoucherLine | None] = []
    for (account, _code_id, _code, rate), group in sales.items():
        rate_value = Decimal(rate)
        theirs = round_cents(group.amount * rate_value / (100 + rate_value)) if rate_value else ZERO
        difference = group.vat - theirs  # > 0: the VAT account must get more than the vendor puts there
        if difference == ZERO:
            continue
        row = rows.get(f"vat:{rate}")
        if row is None:
            missing.add(f"output VAT at {rate}% (the accounting system's VAT of the sales differs from the "
                        f"Z-report's by {difference}; a vat row for {rate}% takes the difference)")
            continue
        lines.append(_signed_line(row.account, None, difference, normal_side="credit", text=f"Mva-avrunding {rate}%"))
        lines.append(_signed_line(account, None, -difference, normal_side="credit", text=f"Mva-avrunding {rate}%"))
    return lines


class _Missing:
    """Mappings the settlement needs and the setup lacks, each named once, in order of appearance."""

    def __init__(self) -> None:
        self.items: dict[str, None] = {}

    def add(self, description: str) -> None:
        self.items[description] = None

    def raise_if_any(self) -> None:
        if not self.items:
            return
        named = list(self.items)[:MISSING_NAMED_MAX]
        more = len(self.items) - len(named)
        raise SetupIncomplete(
            "the account setup has no account for " + ", ".join(named)
            + (f", and {more} more" if more else "") + "; add it to the account setup and replay"
        )


def build_settlement_voucher(
    settlement: Settlement, setup: AccountSetup, *, reference: str, text_prefix: str = "Dagsoppgjør",
    vat_included: bool = False,
) -> Voucher:
    """``vat_included``: the vendor takes a revenue line's amount with its VAT and splits it itself by
    the line's VAT code (Uniconta's journal lines). Revenue lines then carry the gross and there are
    no output VAT lines; where the vendor's split (VAT = gross × rate / (100 + rate), to the cent, half
    up) differs from the POS's own VAT, the difference is moved between the revenue account and the
    rate's VAT account by a pair of lines without a VAT code, so both accounts end as the Z-report says."""
    rows = setup.index()
    missing = _Missing()
    rate_texts: dict[Decimal, str] = {}

    def rate_text(rate: Decimal) -> str:
        text = rate_texts.get(rate)
        if text is None:
            text = rate_texts[rate] = _rate(rate)
        return text

    # Revenue per account, VAT code and rate (credit side); output VAT per rate (credit side).
    sales: dict[tuple, _Group] = {}
    vat_by_rate: dict[str, Decimal] = {}
    costs = ZERO
    for sale in settlement.sales:
        rate = rate_text(sale.vat_rate)
        row = rows.get(f"sales:{sale.category}@{rate}")
        if row is None:
            missing.add(f"sales category '{sale.category}' at {rate}% VAT")
        else:
            key = (row.account, row.vat_code_id, row.vat_code, rate)
            group = sales.get(key)
            if group is None:
                group = sales[key] = _Group(row, "Salg", f" {rate}%", "credit")
            group.amount += sale.gross if vat_included else sale.net
            group.vat += sale.vat
            group.names[sale.category] = None
        if sale.vat != ZERO and not vat_included:
            vat_by_rate[rate] = vat_by_rate.get(rate, ZERO) + sale.vat
        if sale.cost is not None:
            costs += sale.cost

    vat: dict[tuple, _Group] = {}
    for rate, amount in sorted(vat_by_rate.items(), key=lambda kv: Decimal(kv[0])):
        row = rows.get(f"vat:{rate}")
        if row is None:
            missing.add(f"output VAT at {rate}%")
            continue
        key = (row.account, row.vat_code_id, rate)
        group = vat.get(key)
        if group is None:
            group = vat[key] = _Group(row, "Utgående mva", f" {rate}%", "credit")
        group.amount += amount

    # What came in, per account (several methods may share one), on the debit side.
    payments: dict[tuple, _Group] = {}
    for payment in settlement.payments:
        row = rows.get(f"payment:{payment.method}")
        if row is None:
            missing.add(f"payment method '{payment.method}'")
            continue
        key = (row.account, row.vat_code_id)
        group = payments.get(key)
        if group is None:
            group = payments[key] = _Group(row, "Betaling", "", "debit")
        group.amount += payment.amount
        group.names[payment.method] = None

    lines: list[VoucherLine | None] = [g.line() for g in sales.values()]
    lines += [g.line() for g in vat.values()]
    if vat_included:
        lines += _vat_split_differences(sales, rows, missing)
    lines += [g.line() for g in payments.values()]

    # Gift cards: a liability, never revenue and never VAT. Sold ones are owed to the holder
    # (credit), redeemed ones settle that debt (debit): two lines, so both movements stay visible.
    gift_cards = settlement.gift_cards
    if not gift_cards.is_zero:
        row = rows.get("gift_card")
        if row is None:
            missing.add(f"gift cards (sold {gift_cards.sold}, redeemed {gift_cards.redeemed}): a gift_card row "
                        f"with the gift card liability account (e.g. 2900), without a VAT code")
        else:
            lines.append(_signed_line(row.account, None, gift_cards.sold, normal_side="credit",
                                      text="Gavekort solgt"))
            lines.append(_signed_line(row.account, None, gift_cards.redeemed, normal_side="debit",
                                      text="Gavekort innløst"))

    # Cash rounding: customers paid more (positive) or less than the sales; the difference is income/cost.
    if settlement.cash_rounding != ZERO:
        row = rows.get("rounding")
        if row is None:
            missing.add("rounding")
        else:
            lines.append(_signed_line(row.account, row.vat_code_id, settlement.cash_rounding, normal_side="credit",
                                      text="Øreavrunding"))

    # Cost of goods sold out of stock, when the setup books inventory change (else costs are ignored).
    if setup.inventory_change and costs != ZERO:
        inventory, change = rows.get("inventory"), rows.get("inventory_change")
        if inventory is None or change is None:  # AccountSetup refuses inventory_change without both rows
            missing.add("inventory change (an inventory and an inventory_change row)")
        else:
            lines += inventory_change_lines(costs, inventory_account=inventory.account,
                                            inventory_change_account=change.account)

    missing.raise_if_any()

    voucher_lines = [line for line in lines if line is not None]
    debit = sum((line.debit for line in voucher_lines), ZERO)
    credit = sum((line.credit for line in voucher_lines), ZERO)
    if debit != credit:
        # A validated settlement always balances; any difference here is cents the POS lost,
        # booked explicitly to the rounding account rather than hidden in another line.
        rounding_row = rows.get("rounding")
        if rounding_row is None:
            raise SetupIncomplete("the voucher does not balance and the account setup has no rounding account")
        voucher_lines.append(_signed_line(rounding_row.account, rounding_row.vat_code_id, debit - credit,
                                          normal_side="credit", text="Avrunding"))

    register = f" kasse {settlement.register_id}" if settlement.register_id else ""
    # The reference must survive any cut: a retry finds the booked voucher by it. So the head is
    # cut and the reference appended whole.
    tail = f" [{reference}]"
    head = f"{text_prefix} {settlement.business_date.isoformat()}{register} (Z {settlement.document_id})"
    return Voucher(
        voucher_date=settlement.business_date,
        text=cut_text(head, VOUCHER_TEXT_MAX - text_length(tail)) + tail,
        reference=reference,
        lines=voucher_lines,
        currency=settlement.currency,
        series=setup.voucher_series,
    )


# --- stock registrations ("Beholdningsendring") ------------------------------------------------------

# The kind of a stock registration as the voucher names it (as "Dagsoppgjør" names a settlement).
STOCK_KIND_TEXTS = {"goods_received": "Varemottak", "write_off": "Svinn", "count_adjustment": "Varetelling"}


def _one_line(text: str) -> str:
    """A sender's text on one line: line breaks, tabs and other control characters become spaces."""
    return " ".join("".join(" " if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F else char
                            for char in text).split())


def build_stock_voucher(registration: StockRegistration, setup: AccountSetup, reference: str) -> Voucher:
    """The net change of the stock's value (the sum of the lines, signed: positive = stock up) moved
    between the inventory (stock) account and the inventory change (cost of goods) account.

    Stock up: debit inventory, credit inventory change; stock down: the reverse. No VAT. A
    registration whose lines add up to zero gives a voucher without lines (nothing to book), whatever
    the setup. Otherwise the setup must have inventory_change on with its two rows, else
    SetupIncomplete saying what to set up. One pass over the lines, however many.
    """
    label = STOCK_KIND_TEXTS[registration.kind]
    net = ZERO
    names: dict[str, None] = {}
    for line in registration.lines:
        net += line.amount
        if line.amount != ZERO:
            names[_one_line(line.category) or "?"] = None

    lines: list[VoucherLine] = []
    if net != ZERO:
        rows = setup.index()
        inventory, change = rows.get("inventory"), rows.get("inventory_change")
        if not setup.inventory_change:
            raise SetupIncomplete(
                "stock registrations are booked as inventory change, which is off in the account setup: turn "
                "inventory_change on, with an inventory row (the stock account, e.g. 1460 Varelager) and an "
                "inventory_change row (cost of goods, e.g. 4090 Beholdningsendring), then replay")
        if inventory is None or change is None:  # AccountSetup refuses inventory_change without both rows
            missing = " and ".join(kind for kind, row in (("inventory", inventory), ("inventory_change", change))
                                   if row is None)
            raise SetupIncomplete(
                f"the account setup has no {missing} row for stock registrations; add it (e.g. 1460 Varelager, "
                f"4090 Beholdningsendring) and replay")
        # The line text names the categories that fit, as a settlement's revenue line does.
        text = _Group(inventory, label, "", "debit", names=names).text()
        # inventory_change_lines moves stock out for a positive amount: a rise is its negative.
        lines = inventory_change_lines(-net, inventory_account=inventory.account,
                                       inventory_change_account=change.account, text=text)

    # The reference must survive any cut (a retry finds the booked voucher by it): the head is cut.
    tail = f" [{reference}]"
    head = f"{label} {registration.business_date.isoformat()} ({registration.document_id})"
    if registration.note:
        head += f": {_one_line(registration.note)}"
    return Voucher(
        voucher_date=registration.business_date,
        text=cut_text(head, VOUCHER_TEXT_MAX - text_length(tail)) + tail,
        reference=reference,
        lines=lines,
        currency=registration.currency,
        series=setup.voucher_series,
    )
