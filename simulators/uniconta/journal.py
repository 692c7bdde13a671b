"""Posting a daily journal (kassekladde), as the bookkeeper does in Uniconta's client.

Whether the REST API can post a journal is unconfirmed (NOTES.md), so the simulator posts only through /_sim: the hub
writes the lines, the bookkeeper checks and posts them. The checks are those of a journal check: every voucher (lines
with the same date and voucher number; lines without a number form one voucher per date) balances, its date lies
in an open accounting year, its accounts can be posted to. A line with a VAT code holds the amount including VAT:
posting splits the VAT off to the code's account.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .entities import EntityError, out_value
from .state import Company, SimulatorState

CENT = Decimal("0.01")


def _vouchers(lines: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        grouped[(line["Date"], line.get("Voucher"))].append(line)
    return dict(sorted(grouped.items(), key=lambda item: (item[0][0], item[0][1] or 0)))


def check(state: SimulatorState, company: Company, journal: str) -> list[dict[str, Any]]:
    """The problems that stop the journal from being posted (empty: it can be posted)."""
    with state.lock:
        if company.tables["GLDailyJournal"].find(journal) is None:
            raise EntityError(404, "CouldNotFind", f"No journal {journal}")
        lines = [line for line in company.tables["GLDailyJournalLine"].rows.values() if line["Journal"] == journal]
        problems: list[dict[str, Any]] = []
        if not lines:
            problems.append({"ErrorCode": "NoLines", "Message": f"Journal {journal} has no lines"})
        for (day, voucher), voucher_lines in _vouchers(lines).items():
            where = {"Date": out_value(day), "Voucher": voucher}
            total = sum((line["Debit"] - line["Credit"] for line in voucher_lines), Decimal("0.00"))
            offset = sum((line["Debit"] - line["Credit"] for line in voucher_lines if line.get("OffsetAccount")),
                         Decimal("0.00"))
            difference = total - offset
            if difference != 0:
                problems.append({**where, "ErrorCode": "NotBalanced", "Difference": difference,
                                 "Message": f"Voucher {voucher or '(none)'} of {day} is off by {difference}"})
            if day.year not in company.open_years:
                problems.append({**where, "ErrorCode": "NoOpenAccountingYear",
                                 "Message": f"{day} is not in an open accounting year"})
            for line in voucher_lines:
                for type_field, account_field in (("AccountType", "Account"), ("OffsetAccountType", "OffsetAccount")):
                    if line.get(account_field):
                        problem = state._account_problem(company, line.get(type_field) or "Finans",
                                                         line[account_field])
                        if problem:
                            problems.append({**where, "RowId": line["RowId"], "ErrorCode": problem[0],
                                             "Message": problem[1]})
        return problems


def post(state: SimulatorState, company: Company, journal: str) -> dict[str, Any]:
    """Posts every line of the journal into the ledger (GLTrans) and empties it; refused as a whole on a problem."""
    with state.lock:
        problems = check(state, company, journal)
        if problems:
            raise EntityError(400, "JournalNotPosted", f"Journal {journal} cannot be posted", problems)
        table = company.tables["GLDailyJournalLine"]
        lines = [line for line in table.rows.values() if line["Journal"] == journal]
        company.last_posted_id += 1
        posted_id = company.last_posted_id
        transactions = []
        for (_day, voucher), voucher_lines in _vouchers(lines).items():
            if voucher is None:
                company.last_voucher += 1
                voucher = company.last_voucher
            else:
                company.last_voucher = max(company.last_voucher, voucher)
            for line in voucher_lines:
                amount = line["Debit"] - line["Credit"]
                transactions.extend(_postings(state, company, line, voucher, posted_id, amount))
                if line.get("OffsetAccount"):
                    transactions.extend(_postings(state, company, {**line, "Vat": None,
                                                                   "AccountType": line.get("OffsetAccountType"),
                                                                   "Account": line["OffsetAccount"]},
                                                  voucher, posted_id, -amount))
        for line in lines:
            table.remove(line["RowId"])
        for transaction in transactions:
            company.tables["GLTrans"].add(transaction)
        return {"JournalPostedId": posted_id, "Lines": len(lines), "Transactions": len(transactions)}


def _postings(state: SimulatorState, company: Company, line: dict[str, Any], voucher: int, posted_id: int,
              amount: Decimal) -> list[dict[str, Any]]:
    vat_amount = Decimal("0.00")
    vat = company.tables["GLVat"].find(line["Vat"]) if line.get("Vat") else None
    if vat is not None:
        vat_amount = (amount * vat["Rate"] / (100 + vat["Rate"])).quantize(CENT, rounding=ROUND_HALF_UP)
    entries = [(line.get("AccountType") or "Finans", line["Account"], amount - vat_amount, line.get("Vat"))]
    if vat is not None and vat_amount != 0:
        entries.append(("Finans", vat["Account"], vat_amount, None))
    result = []
    for account_type, account, value, vat_code in entries:
        result.append({
            "RowId": state.next_row_id(), "Date": line["Date"], "Voucher": voucher, "Text": line.get("Text"),
            "AccountType": account_type, "Account": account, "Amount": value,
            "Debit": value if value > 0 else Decimal("0.00"), "Credit": -value if value < 0 else Decimal("0.00"),
            "Vat": vat_code, "JournalPostedId": posted_id,
            **{f"Dimension{n}": line.get(f"Dimension{n}") for n in range(1, 6)},
        })
    return result
