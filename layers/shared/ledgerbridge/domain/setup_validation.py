"""Check an account setup against what the customer's accounting system actually has."""
from __future__ import annotations

from datetime import date

# ValidationFailed is the one thing imported from outside models/: errors.py is a leaf module (it
# imports nothing) holding the error types the API maps to HTTP, and the caller answers 422 with it.
from ..errors import ValidationFailed
from ..models.connection import AccountSetup, MappingKind
from ..models.ledger import Catalog


def validate_account_setup(setup: AccountSetup, catalog: Catalog, dates: list[date]) -> AccountSetup:
    """Return the setup with vendor VAT code ids resolved, or raise naming every offending row.

    ``dates`` are the booking dates the setup must work for (from-date and today): every mapped
    account must exist and be active in each fiscal year covering one of them.
    """
    problems: list[dict] = []
    # (chart id, how a problem names it): a chart per fiscal year covering the dates, or the one chart
    # of a vendor whose API publishes no fiscal years (Uniconta's REST).
    charts_to_check: list[tuple[str, str]] = []
    if catalog.fiscal_years_published:
        for day in sorted(set(dates)):
            fiscal_year = catalog.fiscal_year_for(day)
            if fiscal_year is None:
                problems.append({"row": "fiscal_year", "message": f"no fiscal year covers {day.isoformat()}"})
            elif (fiscal_year.id, f"fiscal year {fiscal_year.label}") not in charts_to_check:
                charts_to_check.append((fiscal_year.id, f"fiscal year {fiscal_year.label}"))
    else:
        charts_to_check = [(chart_id, "the chart of accounts") for chart_id in catalog.accounts]

    vat_by_code = {vat.code: vat for vat in catalog.vat_codes}
    resolved_rows = []
    # Indexed once per year, not once per row: a setup of 1,000 rows against a chart of thousands.
    charts = {chart_id: {account.number: account for account in catalog.accounts.get(chart_id, [])}
              for chart_id, _ in charts_to_check}
    for row in setup.rows:
        for chart_id, year in charts_to_check:
            account = charts[chart_id].get(row.account)
            if account is None:
                problems.append({"row": row.row_id,
                                 "message": f"account {row.account} does not exist in {year}"})
            elif not account.active:
                problems.append({"row": row.row_id, "message": f"account {row.account} is inactive in {year}"})
        if row.kind == MappingKind.SALES and catalog.sales_types_required:
            # A VAT-bearing sale goes to this account: the vendor needs its sales type (once per row,
            # whichever year: the chart's setup is the same in each).
            account = next((charts[chart_id].get(row.account) for chart_id, _ in charts_to_check
                            if charts[chart_id].get(row.account) is not None), None)
            if account is not None and not account.sales_type:
                where = f" (set it up under {catalog.sales_type_setup})" if catalog.sales_type_setup else ""
                problems.append({"row": row.row_id, "message": f"account {row.account} has no sales type (type "
                                 f"group){where}; sales cannot be booked to it"})
        vat_code_id = None
        if row.vat_code:
            vat = vat_by_code.get(row.vat_code)
            if vat is None:
                problems.append({"row": row.row_id, "message": f"VAT code {row.vat_code} does not exist"})
            else:
                vat_code_id = vat.id
                if row.kind == MappingKind.SALES and row.vat_rate is not None and vat.rate != row.vat_rate:
                    problems.append({"row": row.row_id, "message": (
                        f"VAT code {row.vat_code} is {format(vat.rate.normalize(), 'f')}% "
                        f"but the sales row is at {format(row.vat_rate.normalize(), 'f')}%")})
        resolved_rows.append(row.model_copy(update={"vat_code_id": vat_code_id}))

    if problems:
        raise ValidationFailed(
            f"the account setup does not match the accounting system ({len(problems)} problem(s)): "
            + "; ".join(f"{p['row']}: {p['message']}" for p in problems),
            details=problems,
        )
    return setup.model_copy(update={"rows": resolved_rows})
