"""AccountService.SaveBundleList of the 24SevenOffice simulator: reading the BundleList, 24SevenOffice's rules,
the SaveResponse, and where a saved voucher goes (the ledger, or voucher reception).

What the WSDL (AccountService V004) and developer.24sevenoffice.com say, and what the simulator makes of it:

* **Result.** ``SaveBundleListResult`` is one ``SaveResponse {Type, Description}`` for the whole call; ``Type`` is
  ``ResponsType``: Ok, DuplicateData, DataAlreadySaved, NotAuthenticated, SystemError, Exception, NotSaved. The
  WSDL has no per-bundle or per-voucher result, no error list and no warning list: every problem the simulator
  finds goes into ``Description``, one per line, each starting with where it is ("Bundle 1, voucher 1, entry
  2: ..."); a warning line starts "Warning <name>: ..." with the name ``IgnoreWarnings`` takes. The wording is
  the simulator's (24SevenOffice's texts are not published). A call is all or nothing (our assumption): any
  error, or any warning not ignored, answers ``NotSaved`` and saves nothing. ``Ok`` carries no Description
  (whether the real service names the voucher number there is not documented): the hub finds what it booked
  with GetTransactions. Not modelled: DuplicateData and DataAlreadySaved (no documented trigger; only the
  injected fault "save_result" answers them), NotAuthenticated (a call without a session is a SOAP fault, as
  for every other operation), the warnings ``invoicealreadyexists`` and ``customermismatchbankaccount``.
* **SaveOption** (unsignedByte, WSDL default **1**): 1 = "saves the bundle as a journal which can then be
  reviewed and edited on the 24SevenOffice web site" = voucher reception (the seed's "Type import AV"): one
  draft per voucher, not in the ledger, listed and approved through /_sim (``SimulatorState.approve_draft``).
  0 = "saves the bundle directly to the ledger": posted, visible to GetTransactions/GetAggregated at once.
  An absent SaveOption is 1 (a draft), as the WSDL's default says. Other values: NotSaved.
* **DirectLedger** is *not* "straight into the general ledger": the docs say "If set to false use customer
  ledger. If set to true use account that is set directly ... can be ignored in almost all cases". It is kept
  on drafts and has no other effect (no customer ledger is modelled). Only SaveOption decides the place.
* **AllowDifference**: "Allow difference in credit/debit balance. This is only applicable when saving journal
  data (see SaveOption)": with SaveOption=1 an unbalanced voucher may be saved (and cannot be approved until
  it balances); with SaveOption=0 every voucher must balance whatever AllowDifference says.
* **Amount signs.** The WSDL does not say. Debit is positive and credit negative: that is how GetTransactions
  reports ledger lines (the simulator's existing ledger), how the REST API documents a transaction line
  ("Positive for debit, negative for credit"), and so the balance rule is "the entries of a voucher sum to 0".
  Amounts have at most 2 decimals ("The Amount property operates with max 2 decimal places"); more: NotSaved.
* **YearId** is the fiscal year as a year number ("The YearId is set to the current year of the bundle. e.g.
  2017"), not the FiscalYear guid of GetFiscalYears. It must be a fiscal year of the company (GetFiscalYears),
  not locked (IsLocked), and every entry date must lie in it. 0/absent: NotSaved.
* **Sort** is the transaction (voucher) type: "Can be defined for either Bundle or Voucher ... The No property
  from GetTransactionTypes is used" (= TypeNo of GetTypeList); a voucher's non-zero Sort overrides the
  bundle's. It must exist. (An older page says Sort is "Ignored when saveoption = 0"; the simulator checks it
  in both modes, since the posted lines carry the type's Id as TransactionTypeId.)
* **TransactionNo**: "get the next available number by sending a request to GetEntryId" (Date in the fiscal
  year, SortNo = EntrySeriesId of GetTypeList). Our reading, not documented: GetEntryId does *not* reserve
  (like GetStampNo, whose page says so) - it answers the series' last number + 1 until a voucher takes it,
  or -1 when the date has no fiscal year or SortNo is no entry series. In SaveBundleList, 0 means "the next
  number" (taken when posted; a draft gets its number when approved); a number > 0 is used as sent, and if it
  is already in the ledger the new lines are booked under it too - 24SevenOffice documents no refusal of a
  used number, so the simulator offers none: **a TransactionNo is no idempotency key**. Negative: NotSaved.
* **Accounts, VAT codes, type groups, departments, texts** (per entry):
  - AccountNo must be in the company's chart (GetAccountList);
  - an account whose default VAT code (AccountData.TaxNo) is not 0 needs an entry TaxNo, and every TaxNo given
    must be a TaxNo of GetTaxCodeList;
  - a sales account (3000-3999, NS 4102 class 3) needs a type group of module Sale (GetTypeGroupList: an
    AccountingGroup whose AccountId is the account's AccountId) - the seed's prerequisite "every account DUELL
    transfers to must have type groups (Accounting > Settings > Sales types)"; whether the real
    SaveBundleList refuses without one is not documented;
  - DepartmentId, when not 0, must be a department of GetDepartmentList;
  - Comment at most ``SimulatorConfig.comment_max_length`` (75) UTF-16 code units (the REST API's documented
    limit for the same field), refused when longer, never cut;
  - CurrencyId empty or the company currency (the simulator books no foreign currency).
  ProjectId, CustomerId (or DefaultCustomerId), VatAmount, InvoiceReferenceNo are kept, not checked.
* **Warnings** (``IgnoreWarnings`` names, case-insensitive), checked per voucher for every VAT code with a rate
  and a VAT account: ``vatisnotinbalance`` when the entries carrying the code (not on its VAT account) have a
  base whose VAT (base x rate) differs by more than 1.00 from what the voucher posts on the VAT account;
  ``vatismissingfoundation`` when the voucher posts on a VAT account and no entry carries a code of it.
  The simulator never calculates VAT itself. (The docs say that in a journal draft with
  ``BundleDirectAccounting=false`` 24SevenOffice "automatically calculates VAT"; a hub that sends its own VAT
  lines should send BundleDirectAccounting=true. Drafts keep the flag so tests can check it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .soap import Reader
from .state import BookingLine, ClientCompany, Draft, TransactionType

if TYPE_CHECKING:  # pragma: no cover
    from .state import SimulatorState

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SALES_ACCOUNTS = range(3000, 4000)
VAT_TOLERANCE = Decimal("1.00")
SALES_TYPE_SETUP = "Accounting > Settings > Sales types"
KNOWN_WARNINGS = ("vatisnotinbalance", "vatismissingfoundation", "invoicealreadyexists",
                  "customermismatchbankaccount")


@dataclass
class VoucherIn:
    transaction_no: int
    sort: int
    lines: list[BookingLine]


@dataclass
class BundleIn:
    year_id: int
    sort: int
    name: str
    bundle_direct_accounting: bool
    vouchers: list[VoucherIn]


@dataclass
class BundleListIn:
    bundles: list[BundleIn]
    allow_difference: bool = False
    direct_ledger: bool = False
    save_option: int = 1
    default_customer_id: int = 0
    ignore_warnings: set[str] = field(default_factory=set)


def _value(value: Any, default: Any) -> Any:
    return default if value is None else value


def read_bundle_list(params: Reader) -> BundleListIn:
    """The BundleList argument as XmlSerializer reads it (absent elements take the WSDL defaults)."""
    source = params.child("BundleList")
    default_customer = _value(source.int("DefaultCustomerId"), 0)
    bundles = []
    for bundle in source.child("Bundles").children("Bundle"):
        vouchers = []
        for voucher in bundle.child("Vouchers").children("Voucher"):
            lines = []
            for entry in voucher.child("Entries").children("Entry"):
                when = entry.datetime("Date")
                customer = _value(entry.int("CustomerId"), 0)
                lines.append(BookingLine(
                    account_no=_value(entry.int("AccountNo"), 0),
                    date=when.date() if when else date.min,
                    amount=_value(entry.decimal("Amount"), Decimal(0)),
                    tax_no=(entry.text("TaxNo") or "").strip(),
                    vat_amount=_value(entry.decimal("VatAmount"), Decimal(0)),
                    department_id=_value(entry.int("DepartmentId"), 0),
                    project_id=_value(entry.int("ProjectId"), 0),
                    customer_id=customer or default_customer,
                    comment=entry.text("Comment") or "",
                    stamp_no=_value(entry.int("StampNo"), 0),
                    currency=(entry.text("CurrencyId") or "").strip(),
                    invoice_reference_no=entry.text("InvoiceReferenceNo") or "",
                ))
            vouchers.append(VoucherIn(_value(voucher.int("TransactionNo"), 0), _value(voucher.int("Sort"), 0), lines))
        bundles.append(BundleIn(
            year_id=_value(bundle.int("YearId"), 0), sort=_value(bundle.int("Sort"), 0),
            name=bundle.text("Name") or "",
            bundle_direct_accounting=bool(bundle.bool("BundleDirectAccounting")), vouchers=vouchers))
    return BundleListIn(
        bundles=bundles,
        allow_difference=bool(source.bool("AllowDifference")),
        direct_ledger=bool(source.bool("DirectLedger")),
        save_option=_value(source.int("SaveOption"), 1),
        default_customer_id=default_customer,
        ignore_warnings={(w.text() or "").strip().lower() for w in source.child("IgnoreWarnings").children("string")},
    )


def utf16_length(text: str) -> int:
    """Length as .NET counts it (UTF-16 code units: a character outside the BMP, e.g. an emoji, counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def check_year(client: ClientCompany, year: int, where: str) -> list[str]:
    if not year:
        return [f"{where}: YearId is not set; it must be the fiscal year of the vouchers (e.g. {date.today().year})"]
    fiscal_year = client.fiscal_years.get(year)
    if fiscal_year is None:
        return [f"{where}: fiscal year {year} (YearId) does not exist in {client.name}; "
                f"set it up in the accounting settings first"]
    if fiscal_year.locked:
        return [f"{where}: fiscal year {year} (YearId) is closed (locked); nothing can be booked in it"]
    return []


def check_voucher(client: ClientCompany, lines: list[BookingLine], *, year: int, sort: int, transaction_no: int,
                  must_balance: bool, comment_max: int | None,
                  where: str) -> tuple[list[str], list[tuple[str, str]], TransactionType | None]:
    """Errors and warnings (name, text) of one voucher, and its transaction type."""
    errors: list[str] = []
    ttype = client.transaction_type_by_no(sort) if sort else None
    if not sort:
        errors.append(f"{where}: no transaction type: set Sort (the No of GetTransactionTypes) on the bundle "
                      f"or the voucher")
    elif ttype is None:
        errors.append(f"{where}: transaction type {sort} (Sort) does not exist; the company's are "
                      f"{', '.join(str(t.no) for t in client.transaction_types)}")
    if transaction_no < 0:
        errors.append(f"{where}: TransactionNo {transaction_no} is not valid; send 0 or a number from GetEntryId")
    if not lines:
        errors.append(f"{where}: the voucher has no entries")
    fiscal_year = client.fiscal_years.get(year) if year else None
    for index, line in enumerate(lines, start=1):
        here = f"{where}, entry {index}"
        account = client.accounts.get(line.account_no)
        if account is None:
            errors.append(f"{here}: account {line.account_no} does not exist in the chart of accounts")
        if line.amount != line.amount.quantize(CENT):
            errors.append(f"{here}: Amount {line.amount} has more than 2 decimals")
        if line.date == date.min:
            errors.append(f"{here}: Date is missing")
        elif fiscal_year is not None and line.date.year != fiscal_year.year:
            errors.append(f"{here}: date {line.date.isoformat()} is outside fiscal year {fiscal_year.year} "
                          f"(YearId)")
        if line.tax_no:
            if client.tax_code(line.tax_no) is None:
                errors.append(f"{here}: VAT code (TaxNo) {line.tax_no} does not exist")
        elif account is not None and account.tax_no != 0:
            errors.append(f"{here}: account {account.account_no} {account.name} has VAT handling (default VAT "
                          f"code {account.tax_no}); the entry needs a TaxNo")
        if (account is not None and account.account_no in SALES_ACCOUNTS
                and client.type_group(account.account_no, "Sale") is None):
            errors.append(f"{here}: account {account.account_no} {account.name} has no type group (sales type); "
                          f"set one up in 24SevenOffice under {SALES_TYPE_SETUP}")
        if line.department_id and client.department(line.department_id) is None:
            errors.append(f"{here}: department {line.department_id} (DepartmentId) does not exist")
        if comment_max is not None and utf16_length(line.comment) > comment_max:
            errors.append(f"{here}: Comment is {utf16_length(line.comment)} characters long; at most "
                          f"{comment_max} are allowed")
        if line.currency and line.currency.upper() not in (client.default_currency, "LOCAL"):
            errors.append(f"{here}: currency {line.currency} is not supported (the simulator books only in "
                          f"{client.default_currency})")
    total = sum((line.amount for line in lines), ZERO)
    if must_balance and total != 0:
        errors.append(f"{where}: the voucher does not balance: debit and credit differ by {total} "
                      f"(amounts: debit positive, credit negative)")
    return errors, ([] if errors else vat_warnings(client, lines, where)), ttype


def vat_warnings(client: ClientCompany, lines: list[BookingLine], where: str) -> list[tuple[str, str]]:
    expected: dict[int, Decimal] = {}
    codes: dict[int, list[str]] = {}
    for tax in client.tax_codes:
        if tax.account_no is None or not tax.rate:
            continue
        base = sum((line.amount for line in lines
                    if line.tax_no and client.tax_code(line.tax_no) is tax and line.account_no != tax.account_no),
                   ZERO)
        carried = any(line.tax_no and client.tax_code(line.tax_no) is tax and line.account_no != tax.account_no
                      for line in lines)
        if carried:
            expected[tax.account_no] = expected.get(tax.account_no, ZERO) + (base * tax.rate / 100).quantize(CENT)
            codes.setdefault(tax.account_no, []).append(tax.tax_no)
    warnings = []
    vat_accounts = {tax.account_no for tax in client.tax_codes if tax.account_no is not None and tax.rate}
    for vat_account in sorted(vat_accounts):
        posted = sum((line.amount for line in lines if line.account_no == vat_account), ZERO)
        if vat_account not in expected:
            if posted != 0:
                warnings.append(("vatismissingfoundation",
                                 f"Warning vatismissingfoundation: {where}: {posted} VAT is posted on account "
                                 f"{vat_account} but no entry carries a VAT code of that account"))
            continue
        if abs(expected[vat_account] - posted) > VAT_TOLERANCE:
            warnings.append(("vatisnotinbalance",
                             f"Warning vatisnotinbalance: {where}: the entries with VAT code "
                             f"{', '.join(codes[vat_account])} make {expected[vat_account]} VAT on account "
                             f"{vat_account}, the voucher posts {posted} there"))
    return warnings


def check_draft(client: ClientCompany, draft: Draft, comment_max: int | None) -> list[str]:
    """What stops a voucher reception draft from being approved (posted): the posting rules, no warnings."""
    errors = check_year(client, draft.year, "Draft")
    voucher_errors, _, _ = check_voucher(client, draft.lines, year=draft.year, sort=draft.sort,
                                         transaction_no=draft.transaction_no, must_balance=True,
                                         comment_max=comment_max, where="Draft")
    return errors + voucher_errors


def save_response(response_type: str, description: str | None = None) -> list[tuple[str, Any]]:
    return [("Type", response_type), ("Description", description)]


def save_bundle_list(state: SimulatorState, client: ClientCompany, bundle_list: BundleListIn) -> list[tuple[str, Any]]:
    """Validates the whole call, then saves everything or nothing; the SaveResponse payload. Caller holds the
    state lock."""
    errors: list[str] = []
    warnings: list[tuple[str, str]] = []
    planned: list[tuple[BundleIn, VoucherIn, TransactionType]] = []
    if bundle_list.save_option not in (0, 1):
        errors.append(f"SaveOption {bundle_list.save_option} is not valid: 0 saves to the ledger, 1 to the "
                      f"journal (voucher reception)")
    if not bundle_list.bundles:
        errors.append("The BundleList has no bundles")
    must_balance = not (bundle_list.allow_difference and bundle_list.save_option == 1)
    for b_index, bundle in enumerate(bundle_list.bundles, start=1):
        where = f"Bundle {b_index}"
        errors += check_year(client, bundle.year_id, where)
        if not bundle.vouchers:
            errors.append(f"{where}: the bundle has no vouchers")
        for v_index, voucher in enumerate(bundle.vouchers, start=1):
            voucher_errors, voucher_warnings, ttype = check_voucher(
                client, voucher.lines, year=bundle.year_id, sort=voucher.sort or bundle.sort,
                transaction_no=voucher.transaction_no, must_balance=must_balance,
                comment_max=state.config.comment_max_length, where=f"{where}, voucher {v_index}")
            errors += voucher_errors
            warnings += voucher_warnings
            if ttype is not None:
                planned.append((bundle, voucher, ttype))
    unignored = [text for name, text in warnings if name not in bundle_list.ignore_warnings]
    if errors or unignored:
        return save_response("NotSaved", "\n".join(errors + unignored))
    for bundle, voucher, ttype in planned:
        if bundle_list.save_option == 0:
            state._post_lines(client, voucher.lines, ttype.id, voucher.transaction_no, "SaveBundleList")
        else:
            state._add_draft(client, bundle_name=bundle.name, year=bundle.year_id, sort=ttype.no,
                             transaction_type_id=ttype.id, transaction_no=voucher.transaction_no,
                             lines=list(voucher.lines), allow_difference=bundle_list.allow_difference,
                             direct_ledger=bundle_list.direct_ledger,
                             bundle_direct_accounting=bundle.bundle_direct_accounting)
    return save_response("Ok")


def next_entry_no(client: ClientCompany, when: datetime | None, series_id: int | None) -> int:
    """GetEntryId's EntryNo: the next number of the series (not reserved), or -1 when the date has no fiscal
    year or SortNo is not an EntrySeriesId of the company (our reading; see the module docstring)."""
    if when is None or when.year not in client.fiscal_years:
        return -1
    if series_id is None or not any(t.entry_series_id == series_id for t in client.transaction_types):
        return -1
    return client.last_transaction_no + 1
