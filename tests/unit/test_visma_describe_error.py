"""eAccounting specifics: error bodies a bookkeeper can read, VAT rates, and exact voucher JSON."""
from __future__ import annotations

import json
import random
import re
from datetime import date
from decimal import Decimal

import httpx
import pytest

from devstack import samples
from ledgerbridge.connectors.base import Voucher, VoucherLine
from ledgerbridge.connectors.visma_eaccounting.connector import VismaEAccountingConnector, _percent, describe_error
from ledgerbridge.domain.vouchers import build_settlement_voucher
from ledgerbridge.errors import PermanentVendorError
from ledgerbridge.models.connection import AccountSetup
from ledgerbridge.models.settlement import Settlement
from ledgerbridge.money import ZERO, exact_json

REF = "LB-0123456789abcdef"


def response(status: int, body=None, *, text: str | None = None, headers=None) -> httpx.Response:
    request = httpx.Request("POST", "https://eaccountingapi.example/v2/vouchers")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


# --- describe_error ----------------------------------------------------------------------------

def test_unknown_account_gets_the_bookkeeper_hint():
    described = describe_error(response(400, {"ErrorCode": 3002, "DeveloperErrorMessage": "Account 3999 not found"}))
    assert described.message == ("eAccounting: Account 3999 not found — an account in the voucher does not exist; "
                                 "fix the account setup")
    assert described.vendor_code == 3002
    assert described.retry_after is None


def test_missing_fiscal_year_gets_its_hint():
    described = describe_error(response(400, {"ErrorCode": 3001, "DeveloperErrorMessage": "No fiscal year"}))
    assert described.message.endswith("create it in eAccounting")


def test_hint_only_on_400():
    described = describe_error(response(500, {"ErrorCode": 3002, "DeveloperErrorMessage": "boom"}))
    assert described.message == "eAccounting: boom"
    assert "account setup" not in described.message


def test_unknown_error_code_has_no_hint():
    described = describe_error(response(400, {"ErrorCode": 4000, "DeveloperErrorMessage": "Invalid model"}))
    assert described.message == "eAccounting: Invalid model"
    assert described.vendor_code == 4000


def test_rate_limit_body_gives_retry_after():
    described = describe_error(response(429, {"ErrorCode": 6000,
                                              "DeveloperErrorMessage": "Try again in 55 seconds."}))
    assert described.retry_after == 55.0
    assert described.message == "eAccounting: Try again in 55 seconds."


def test_simulator_style_rate_limit_message():
    described = describe_error(response(429, {"ErrorCode": 6000, "DeveloperErrorMessage":
                                              "Too many requests. Try again in 1 second."}))
    assert described.retry_after == 1.0


def test_rate_limit_without_seconds_leaves_retry_after_to_the_caller():
    assert describe_error(response(429, {"DeveloperErrorMessage": "Slow down"})).retry_after is None
    assert describe_error(response(429, text="")).retry_after is None


def test_seconds_in_a_non_429_message_are_not_a_retry_hint():
    assert describe_error(response(400, {"DeveloperErrorMessage": "Try again in 55 seconds."})).retry_after is None


def test_camel_case_body_is_read_like_pascal_case():
    described = describe_error(response(400, {
        "errorCode": 3002, "developerErrorMessage": "Account 3999 not found",
        "errors": [{"developerErrorMessage": "Rows[0].AccountNumber is invalid"}],
    }))
    assert described.vendor_code == 3002
    assert described.message == ("eAccounting: Account 3999 not found (Rows[0].AccountNumber is invalid) — an account "
                                 "in the voucher does not exist; fix the account setup")


def test_camel_case_rate_limit():
    assert describe_error(response(429, {"developerErrorMessage": "Try again in 12 seconds"})).retry_after == 12.0


def test_field_errors_are_appended_without_repeating_the_message():
    described = describe_error(response(400, {
        "ErrorCode": 4000, "DeveloperErrorMessage": "Validation failed",
        "Errors": [{"DeveloperErrorMessage": "Validation failed"}, {"DeveloperErrorMessage": "VoucherDate is locked"},
                   {"DeveloperErrorMessage": None}, "junk", {"DeveloperErrorMessage": "Rows must balance"}],
    }))
    assert described.message == "eAccounting: Validation failed (VoucherDate is locked; Rows must balance)"


@pytest.mark.parametrize("status, text, phrase", [
    (502, "<html>Bad gateway</html>", "Bad Gateway"),
    (503, "", "Service Unavailable"),
])
def test_non_json_body_falls_back_to_the_status(status, text, phrase):
    described = describe_error(response(status, text=text))
    assert described.message == f"eAccounting: {phrase}"
    assert described.vendor_code is None


def test_json_that_is_not_an_object_is_ignored():
    described = describe_error(response(400, ["Account 3999 not found"]))
    assert described.message == "eAccounting: Bad Request"


# --- _percent ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    (0.25, "25"), ("0.25", "25"), (25, "25"), ("25.00", "25"), (25.0, "25"),
    (0.15, "15"), (0.12, "12"), (15, "15"), (12, "12"), (0.125, "12.5"), (12.5, "12.5"),
    (0, "0"), (None, "0"), ("0.0", "0"),
    (1, "100"),  # documented: a value at or below 1 is a fraction
])
def test_percent_accepts_fraction_and_percentage(raw, expected):
    rate = _percent(raw)
    assert rate == Decimal(expected)
    assert format(rate, "f") == expected


# --- voucher body ------------------------------------------------------------------------------

def connector() -> VismaEAccountingConnector:
    return VismaEAccountingConnector.__new__(VismaEAccountingConnector)


def sample_voucher(**setup_changes) -> Voucher:
    body = samples.account_setup()
    body.update(setup_changes)
    for row in body["rows"]:
        if row["kind"] == "sales":
            row["vat_code_id"] = f"vc-{row['vat_code']}"
    return build_settlement_voucher(Settlement.model_validate(samples.settlement(date(2026, 3, 2), 1)),
                                    AccountSetup.model_validate(body), reference=REF)


def test_voucher_json_has_exact_amounts_and_balances():
    voucher = Voucher(voucher_date=date(2026, 3, 2), text=f"Dagsoppgjør [{REF}]", reference=REF, lines=[
        VoucherLine(account="1580", debit=Decimal("1234.50"), text="Betaling Kort"),
        VoucherLine(account="3000", credit=Decimal("987.60"), vat_code_id="vc-3", text="Salg Varer 25%"),
        VoucherLine(account="2700", credit=Decimal("246.90"), text="Utgående mva 25%"),
    ])
    text = exact_json(connector()._voucher_body(voucher)).decode()
    assert '"DebitAmount": 1234.50' in text
    assert '"CreditAmount": 987.60' in text
    assert '"CreditAmount": 0.00' in text
    written = re.findall(r'"(?:Debit|Credit)Amount": ([^,}]+)', text)
    assert written == ["1234.50", "0.00", "0.00", "987.60", "0.00", "246.90"]
    body = json.loads(text, parse_float=Decimal)
    assert body["VoucherDate"] == "2026-03-02"
    assert body["VoucherText"].endswith(f"[{REF}]")
    assert [r["AccountNumber"] for r in body["Rows"]] == [1580, 3000, 2700]
    assert sum(r["DebitAmount"] for r in body["Rows"]) == sum(r["CreditAmount"] for r in body["Rows"])
    assert "VatCodeId" not in body["Rows"][0] and body["Rows"][1]["VatCodeId"] == "vc-3"
    assert "NumberSeries" not in body


def test_sample_voucher_body_round_trips_every_cent():
    voucher = sample_voucher(voucher_series="Z")
    body = json.loads(exact_json(connector()._voucher_body(voucher)), parse_float=Decimal)
    assert body["NumberSeries"] == "Z"
    assert [(str(r["AccountNumber"]), r["DebitAmount"], r["CreditAmount"]) for r in body["Rows"]] == \
        [(line.account, line.debit, line.credit) for line in voucher.lines]
    assert sum(r["DebitAmount"] for r in body["Rows"]) == voucher.total_debit() == voucher.total_credit()
    assert {r.get("VatCodeId") for r in body["Rows"]} == {None, "vc-3", "vc-31"}


def test_texts_are_cut_to_eaccounting_limits():
    voucher = Voucher(voucher_date=date(2026, 3, 2), text="V" * 1500, reference=REF,
                      lines=[VoucherLine(account="1580", debit=Decimal("1.00"), text="T" * 80),
                             VoucherLine(account="3000", credit=Decimal("1.00"))])
    body = connector()._voucher_body(voucher)
    assert len(body["VoucherText"]) == 1000
    assert body["Rows"][0]["TransactionText"] == "T" * 60


def test_non_numeric_account_is_a_permanent_error_naming_the_account():
    voucher = Voucher(voucher_date=date(2026, 3, 2), text="x", reference=REF,
                      lines=[VoucherLine(account="1580A", debit=Decimal("1.00"))])
    with pytest.raises(PermanentVendorError, match="account 1580A is not a number"):
        connector()._voucher_body(voucher)


def test_property_random_voucher_bodies_carry_exact_two_decimal_numbers():
    rng = random.Random(2026)
    for _ in range(200):
        amounts = [Decimal(rng.randint(1, 10**8)) / 100 for _ in range(rng.randint(1, 6))]
        lines = [VoucherLine(account=str(1000 + i), debit=a) for i, a in enumerate(amounts)]
        lines.append(VoucherLine(account="3000", credit=sum(amounts, ZERO)))
        voucher = Voucher(voucher_date=date(2026, 1, 1), text="t", reference="r", lines=lines)
        text = exact_json(connector()._voucher_body(voucher)).decode()
        written = re.findall(r'"(?:Debit|Credit)Amount": (-?[0-9.eE+-]+)', text)
        assert all(re.fullmatch(r"-?[0-9]+\.[0-9]{2}", w) for w in written), written
        back = json.loads(text, parse_float=Decimal)["Rows"]
        assert [r["DebitAmount"] for r in back[:-1]] == amounts
        assert back[-1]["CreditAmount"] == sum(amounts, ZERO)
