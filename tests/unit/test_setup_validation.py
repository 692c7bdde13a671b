"""Account setup vs the customer's real chart of accounts: every problem named by its row."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from devstack import samples
from ledgerbridge.connectors.base import Account, Catalog, FiscalYear, VatCode
from ledgerbridge.domain.setup_validation import validate_account_setup
from ledgerbridge.errors import ValidationFailed
from ledgerbridge.models.connection import AccountSetup

ACCOUNTS = ["3000", "3011", "2700", "2701", "1580", "1581", "1900", "7770"]
D2025, D2026 = date(2025, 12, 1), date(2026, 3, 2)


def catalog(*, accounts_2025=None, accounts_2026=None, vat_codes=None, fiscal_years=None) -> Catalog:
    def chart(numbers):
        return [a if isinstance(a, Account) else Account(number=a, name=f"Konto {a}") for a in numbers]

    return Catalog(
        company_name="Demo Bakery AS",
        fiscal_years=fiscal_years or [
            FiscalYear(id="fy2025", start=date(2025, 1, 1), end=date(2025, 12, 31)),
            FiscalYear(id="fy2026", start=date(2026, 1, 1), end=date(2026, 12, 31)),
        ],
        accounts={"fy2025": chart(ACCOUNTS if accounts_2025 is None else accounts_2025),
                  "fy2026": chart(ACCOUNTS if accounts_2026 is None else accounts_2026)},
        vat_codes=vat_codes if vat_codes is not None else [
            VatCode(id="v-3", code="3", description="Utgående mva høy sats", rate=Decimal("25")),
            VatCode(id="v-31", code="31", description="Utgående mva middels sats", rate=Decimal("15.00")),
            VatCode(id="v-33", code="33", description="Utgående mva lav sats", rate=Decimal("12")),
        ],
    )


def the_setup(**changes) -> AccountSetup:
    body = samples.account_setup()
    for row in body["rows"]:
        key = row["kind"] + ":" + row.get("key", "")
        if key in changes:
            row.update(changes[key])
    return AccountSetup.model_validate(body)


def problems(setup, cat, dates) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as info:
        validate_account_setup(setup, cat, dates)
    return info.value


def test_valid_setup_resolves_vendor_vat_code_ids_and_leaves_the_input_alone():
    setup = the_setup()
    resolved = validate_account_setup(setup, catalog(), [D2025, D2026])
    ids = {row.row_id: row.vat_code_id for row in resolved.rows}
    assert ids["sales:Brød og bakst@15"] == "v-31"
    assert ids["sales:Kaffe servert@25"] == "v-3"
    assert ids["payment:Kort"] is None and ids["rounding"] is None
    assert all(row.vat_code_id is None for row in setup.rows)  # a copy, not a mutation
    assert [row.account for row in resolved.rows] == [row.account for row in setup.rows]


def test_account_missing_in_one_fiscal_year_names_the_row_account_and_year():
    cat = catalog(accounts_2026=[a for a in ACCOUNTS if a != "3011"])
    error = problems(the_setup(), cat, [D2025, D2026])
    assert error.details == [{"row": "sales:Brød og bakst@15",
                              "message": "account 3011 does not exist in fiscal year 2026"}]
    assert "sales:Brød og bakst@15: account 3011 does not exist in fiscal year 2026" in error.message
    assert "(1 problem(s))" in error.message
    assert error.status_code == 422
    # booking only in 2025 is fine
    validate_account_setup(the_setup(), cat, [D2025])


def test_inactive_account_is_refused_naming_the_row():
    chart = [Account(number=a, name=a, active=(a != "1581")) for a in ACCOUNTS]
    error = problems(the_setup(), catalog(accounts_2026=chart), [D2026])
    assert error.details == [{"row": "payment:Vipps", "message": "account 1581 is inactive in fiscal year 2026"}]


def test_unknown_vat_code_is_refused_naming_the_row():
    error = problems(the_setup(**{"sales:Varer": {"vat_code": "99"}}), catalog(), [D2026])
    assert error.details == [{"row": "sales:Varer@25", "message": "VAT code 99 does not exist"}]


def test_vat_code_with_the_wrong_rate_for_a_sales_row_is_refused():
    error = problems(the_setup(**{"sales:Kaffe servert": {"vat_code": "31"}}), catalog(), [D2026])
    assert error.details == [{"row": "sales:Kaffe servert@25",
                              "message": "VAT code 31 is 15% but the sales row is at 25%"}]


def test_rate_compare_is_numeric_not_textual():
    # the catalog says 15.00, the row says 15: the same rate
    setup = the_setup(**{"sales:Brød og bakst": {"vat_rate": "15.0"}})
    assert validate_account_setup(setup, catalog(), [D2026]).rows[0].vat_code_id == "v-31"


def test_vat_code_on_a_non_sales_row_is_resolved_but_not_rate_checked():
    setup = the_setup(**{"vat:25": {"vat_code": "33"}})
    resolved = validate_account_setup(setup, catalog(), [D2026])
    assert resolved.index()["vat:25"].vat_code_id == "v-33"


def test_date_outside_every_fiscal_year_is_named():
    error = problems(the_setup(), catalog(), [date(2027, 1, 4), D2026])
    assert error.details == [{"row": "fiscal_year", "message": "no fiscal year covers 2027-01-04"}]


def test_no_fiscal_years_at_all_reports_each_date_once():
    error = problems(the_setup(), catalog(fiscal_years=[FiscalYear(id="x", start=date(2020, 1, 1),
                                                                    end=date(2020, 12, 31))]),
                     [D2026, D2026, D2025])
    assert [p["message"] for p in error.details] == ["no fiscal year covers 2025-12-01",
                                                      "no fiscal year covers 2026-03-02"]


def test_dates_in_the_same_fiscal_year_check_accounts_once():
    cat = catalog(accounts_2026=[a for a in ACCOUNTS if a != "7770"])
    error = problems(the_setup(), cat, [date(2026, 1, 1), D2026, date(2026, 12, 31)])
    assert error.details == [{"row": "rounding", "message": "account 7770 does not exist in fiscal year 2026"}]


def test_broken_fiscal_year_is_named_by_its_dates():
    years = [FiscalYear(id="fy2025", start=date(2025, 7, 1), end=date(2026, 6, 30))]
    cat = Catalog(fiscal_years=years, accounts={"fy2025": [Account(number=a, name=a) for a in ACCOUNTS
                                                           if a != "1900"]},
                  vat_codes=catalog().vat_codes)
    error = problems(the_setup(), cat, [D2026])
    assert error.details == [{"row": "payment:Kontant",
                              "message": "account 1900 does not exist in fiscal year 2025-07-01–2026-06-30"}]


def test_every_problem_is_reported_at_once():
    setup = the_setup(**{"sales:Varer": {"vat_code": "99"}, "sales:Kaffe servert": {"vat_code": "33"}})
    cat = catalog(accounts_2025=[a for a in ACCOUNTS if a != "2701"], accounts_2026=[a for a in ACCOUNTS
                                                                                     if a != "2701"])
    error = problems(setup, cat, [D2025, D2026, date(2030, 1, 1)])
    rows = [p["row"] for p in error.details]
    assert rows.count("vat:15") == 2  # missing in both years
    assert "sales:Varer@25" in rows and "sales:Kaffe servert@25" in rows and "fiscal_year" in rows
    assert f"({len(error.details)} problem(s))" in error.message
    assert len(error.details) == 5


def test_year_without_a_read_chart_reports_accounts_missing():
    cat = catalog()
    cat.accounts.pop("fy2026")
    error = problems(the_setup(), cat, [D2026])
    assert len(error.details) == len(ACCOUNTS) + 1  # 3000 is mapped twice (Kaffe and Varer)
    assert all("fiscal year 2026" in p["message"] for p in error.details)


# --- the setup model itself (models/connection.py) ---------------------------------------------

from pydantic import ValidationError  # noqa: E402

from ledgerbridge.models.connection import MappingRow  # noqa: E402


@pytest.mark.parametrize("row, row_id", [
    ({"kind": "sales", "key": "Varer", "vat_rate": "25.00", "account": "3000", "vat_code": "3"}, "sales:Varer@25"),
    ({"kind": "sales", "key": " Varer ", "vat_rate": "10", "account": "3000", "vat_code": "3"}, "sales:Varer@10"),
    ({"kind": "vat", "key": "25.0", "account": "2700"}, "vat:25"),
    ({"kind": "vat", "key": "12.50", "account": "2700"}, "vat:12.5"),
    ({"kind": "payment", "key": "Kort", "account": "1580"}, "payment:Kort"),
    ({"kind": "rounding", "account": "7770"}, "rounding"),
])
def test_row_ids_match_what_the_voucher_builder_looks_up(row, row_id):
    assert MappingRow.model_validate(row).row_id == row_id


@pytest.mark.parametrize("row, message", [
    ({"kind": "sales", "key": "Varer", "account": "3000", "vat_code": "3"}, "needs key \\(category\\) and vat_rate"),
    ({"kind": "sales", "key": "Varer", "vat_rate": "25", "account": "3000"}, "sales row 'Varer' needs a vat_code"),
    ({"kind": "payment", "account": "1580"}, "a payment row needs key"),
    ({"kind": "vat", "account": "2700"}, "a vat row needs key"),
    ({"kind": "payment", "key": "Kort", "account": "15-80"}, "account"),
])
def test_incomplete_rows_are_refused_with_a_reason(row, message):
    with pytest.raises(ValidationError, match=message):
        MappingRow.model_validate(row)


def test_setup_refuses_repeated_rows_naming_them():
    body = samples.account_setup()
    body["rows"].append({"kind": "sales", "key": "Varer", "vat_rate": "25.00", "account": "3001", "vat_code": "3"})
    body["rows"].append({"kind": "payment", "key": "Kort", "account": "1589"})
    with pytest.raises(ValidationError, match="rows repeat: payment:Kort, sales:Varer@25"):
        AccountSetup.model_validate(body)


def test_setup_needs_a_rounding_row():
    body = samples.account_setup()
    body["rows"] = [r for r in body["rows"] if r["kind"] != "rounding"]
    with pytest.raises(ValidationError, match="needs a rounding row"):
        AccountSetup.model_validate(body)


@pytest.mark.parametrize("key", ["25%", "høy"])
def test_vat_row_with_a_non_numeric_rate_is_a_validation_error(key):
    body = samples.account_setup()
    body["rows"].append({"kind": "vat", "key": key, "account": "2709"})
    with pytest.raises(ValidationError):
        AccountSetup.model_validate(body)


# --- issue 8: long keys, gift cards, inventory change ------------------------------------------------

@pytest.mark.parametrize("key", ["K" * 200, "季節の和菓子" * 33 + "子", "🥐" * 200, "Brød og bakst – " * 12 + "Ølbrød"],
                         ids=["latin", "cjk", "emoji", "norwegian"])
def test_keys_up_to_200_characters_of_any_script_are_accepted(key):
    key = key[:200]
    row = MappingRow.model_validate({"kind": "sales", "key": f" {key} ", "vat_rate": "25", "account": "3000",
                                     "vat_code": "3"})
    assert row.row_id == f"sales:{key}@25"


def test_a_key_of_201_characters_is_refused():
    with pytest.raises(ValidationError, match="at most 200 characters"):
        MappingRow.model_validate({"kind": "payment", "key": "K" * 201, "account": "1580"})


def test_gift_card_row_is_one_row_without_vat():
    row = MappingRow.model_validate({"kind": "gift_card", "account": "2900"})
    assert row.row_id == "gift_card" and row.vat_code is None


def test_a_vat_code_on_the_gift_card_row_is_refused_naming_the_row():
    body = samples.account_setup(gift_cards=True)
    body["rows"][-1]["vat_code"] = "3"
    with pytest.raises(ValidationError) as info:
        AccountSetup.model_validate(body)
    [error] = info.value.errors()
    assert error["loc"] == ("rows", len(body["rows"]) - 1)
    assert "gift_card row: remove vat_code '3'" in error["msg"] and "without VAT" in error["msg"]


@pytest.mark.parametrize("kind", ["inventory", "inventory_change"])
def test_a_vat_code_on_an_inventory_row_is_refused(kind):
    with pytest.raises(ValidationError, match=f"{kind} row: remove vat_code"):
        MappingRow.model_validate({"kind": kind, "account": "1460", "vat_code": "3"})


def test_two_gift_card_rows_are_refused():
    body = samples.account_setup(gift_cards=True)
    body["rows"].append({"kind": "gift_card", "account": "2901"})
    with pytest.raises(ValidationError, match="rows repeat: gift_card"):
        AccountSetup.model_validate(body)


def test_inventory_change_on_needs_both_rows_naming_what_is_missing():
    body = samples.account_setup()
    body["inventory_change"] = True
    with pytest.raises(ValidationError) as info:
        AccountSetup.model_validate(body)
    message = str(info.value)
    assert "inventory_change is on but the setup has no inventory and no inventory_change row" in message
    body["rows"].append({"kind": "inventory", "account": "1460"})
    with pytest.raises(ValidationError, match="has no inventory_change row; add"):
        AccountSetup.model_validate(body)
    body["rows"].append({"kind": "inventory_change", "account": "4090"})
    assert AccountSetup.model_validate(body).inventory_change


def test_inventory_change_off_needs_no_inventory_rows():
    setup = AccountSetup.model_validate(samples.account_setup())
    assert setup.inventory_change is False


def test_gift_card_and_inventory_accounts_are_checked_against_the_chart():
    body = samples.account_setup(gift_cards=True)
    body["inventory_change"] = True
    body["rows"] += [{"kind": "inventory", "account": "1460"}, {"kind": "inventory_change", "account": "4090"}]
    setup = AccountSetup.model_validate(body)
    error = problems(setup, catalog(accounts_2026=ACCOUNTS + ["1460"]), [D2026])
    assert error.details == [{"row": "gift_card", "message": "account 2900 does not exist in fiscal year 2026"},
                             {"row": "inventory_change", "message": "account 4090 does not exist in fiscal year 2026"}]
    resolved = validate_account_setup(setup, catalog(accounts_2026=ACCOUNTS + ["1460", "2900", "4090"]), [D2026])
    assert resolved.inventory_change and resolved.index()["gift_card"].vat_code_id is None




# --- issue 8: sales types (24SevenOffice's type groups) ------------------------------------------

def test_a_sales_account_without_a_sales_type_is_refused_where_the_vendor_needs_one():
    """24SevenOffice books no sale to an account without a type group: the setup names the account
    and where to set it up; other row kinds (payments, VAT) need none, and Visma needs none at all."""
    typed = [Account(number=a, name=a, sales_type="Salg høy sats" if a == "3000" else None) for a in ACCOUNTS]
    cat = catalog(accounts_2025=typed, accounts_2026=typed)
    cat.sales_types_required = True
    cat.sales_type_setup = "Accounting > Settings > Sales types in 24SevenOffice"
    setup = the_setup()
    with pytest.raises(ValidationFailed) as info:
        validate_account_setup(setup, cat, [D2026])
    rows = {p["row"]: p["message"] for p in info.value.details}
    offending = [r.row_id for r in setup.rows if r.kind.value == "sales" and r.account != "3000"]
    assert offending and set(rows) == set(offending), rows
    message = rows[offending[0]]
    assert "has no sales type" in message and "Accounting > Settings > Sales types" in message
    cat.sales_types_required = False  # Visma: the same chart passes
    validate_account_setup(setup, cat, [D2026])
