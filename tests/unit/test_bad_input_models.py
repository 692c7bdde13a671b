"""What the door refuses, model by model, with a reason that names the field and says what to do
(issue 7, items 5, 7 and 8): JSON the API cannot use, credentials a vendor can never receive, dates
that overflow date arithmetic, document ids that cannot be routed back, VAT rates that are no rates."""
from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from devstack import samples
from ledgerbridge.api.common import MAX_JSON_DEPTH, exact_json_body
from ledgerbridge.models.common import utcnow
from ledgerbridge.models.companies import BalanceRefreshRequest
from ledgerbridge.models.connection import CredentialCreate, MappingRow, TransferSchedule
from ledgerbridge.models.settlement import Settlement

TOMORROW_UTC = utcnow().date() + timedelta(days=1)


def messages(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


# --- item 5: JSON bodies ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["[" * 1000 + "]" * 1000, '{"a":' * 1000 + "1" + "}" * 1000,
                                  "[" * 100_000 + "]" * 100_000])
def test_deeply_nested_json_is_malformed_input_not_a_recursion_error(text):
    with pytest.raises(json.JSONDecodeError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        exact_json_body(text)


def test_nesting_up_to_the_limit_is_read():
    assert exact_json_body("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    with pytest.raises(json.JSONDecodeError):
        exact_json_body("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


@pytest.mark.parametrize("text, reason", [
    ('{"name": "Bakeri \ufffd"}', "not UTF-8"),  # what API Gateway makes of bytes that are not UTF-8
    ('{"name": "\\ud800"}', "unpaired surrogate"),
    ('{"\\udfff": 1}', "unpaired surrogate"),
    ('{"lookback_days": NaN}', "NaN is not a JSON number"),
    ('{"net": -Infinity}', "-Infinity is not a JSON number"),
    ('{"n": ' + "9" * 5000 + "}", "too many digits"),
])
def test_json_that_is_no_usable_text_is_malformed(text, reason):
    with pytest.raises(json.JSONDecodeError, match=reason):
        exact_json_body(text)


def test_numbers_stay_exact_and_surrogate_pairs_are_text():
    assert exact_json_body('{"a": 0.1, "b": "\\ud83d\\ude00"}') == {"a": __import__("decimal").Decimal("0.1"),
                                                                     "b": "\U0001F600"}


# --- item 7: credentials a vendor can never receive ------------------------------------------------------

@pytest.mark.parametrize("password", ["secret\n", "sec\tret", "\x00secret", "secret\x1b", "secret\x7f",
                                      "secret\x85", "secret\ufffe", "secret\ud800"])
def test_a_password_with_a_control_character_is_refused_without_showing_it(password):
    with pytest.raises(ValidationError) as caught:
        CredentialCreate(username="integration@regnskap.example", password=password)
    text = messages(caught.value)
    assert text.startswith("password:"), text
    assert "password contains" in text and ("control character" in text or "cannot be sent" in text), text
    assert "secret" not in text and "secret" not in str(caught.value)


def test_the_message_says_a_line_break_or_tab_was_probably_pasted():
    with pytest.raises(ValidationError) as caught:
        CredentialCreate(username="integration@regnskap.example", password="hunter2\r\n")
    assert "control character (a line break or tab pasted with it?)" in messages(caught.value)


@pytest.mark.parametrize("username", ["integr\x01ation@regnskap.example", "integration@regn\x00skap.example",
                                      "integration@regnskap.example\x7f", "in\ufffftegration@regnskap.example"])
def test_a_username_xml_cannot_carry_is_refused(username):
    with pytest.raises(ValidationError) as caught:
        CredentialCreate(username=username, password="integration-password")
    assert messages(caught.value).startswith("username:"), messages(caught.value)


def test_ordinary_credentials_pass():
    credential = CredentialCreate(username=" integration@regnskap.example ", password="pä55 wörd!#€")
    assert credential.username == "integration@regnskap.example"
    assert credential.password.get_secret_value() == "pä55 wörd!#€"


def test_the_soap_client_refuses_an_unsendable_value_as_a_vendor_error_naming_no_value():
    from ledgerbridge.connectors.twentyfourseven.soap import SoapClient, UnsendableValue
    from ledgerbridge.errors import PermanentVendorError

    client = SoapClient.__new__(SoapClient)  # building an envelope needs no transport
    client.calls = 0
    with pytest.raises(UnsendableValue) as caught:
        client._request("auth", "Login", None, {"credential": {
            "ApplicationId": "6f0b7a52-3c1e-4c8a-9a55-24502450aa01", "Username": "a@b", "Password": "pw\x01secret"}})
    assert isinstance(caught.value, PermanentVendorError)
    assert "Login" in caught.value.message and "secret" not in caught.value.message
    assert client.calls == 0  # nothing was sent


# --- item 8: dates and ids -------------------------------------------------------------------------------

def settlement(**changes) -> dict:
    body = samples.settlement(date(2026, 3, 2), 1)
    body.update(changes)
    return body


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31",
                                 (TOMORROW_UTC + timedelta(days=1)).isoformat()])
def test_a_business_date_outside_2000_to_tomorrow_is_refused_with_the_bounds(day):
    with pytest.raises(ValidationError) as caught:
        Settlement.model_validate(settlement(business_date=day))
    text = messages(caught.value)
    assert text.startswith("business_date:"), text
    assert "2000-01-01" in text and TOMORROW_UTC.isoformat() in text, text


@pytest.mark.parametrize("day", [date(2000, 1, 1), TOMORROW_UTC, utcnow().date()])
def test_business_dates_from_2000_to_tomorrow_in_utc_are_accepted(day):
    assert Settlement.model_validate(settlement(business_date=day.isoformat())).business_date == day


@pytest.mark.parametrize("document_id, reason", [
    ("Z-1/2026", "'/'"), ("../Z-1", "'/'"), ("Z..1", "'..'"), ("Z-1\\x", "'/'"), ("Z 1", "letters"),
    ("-Z1", "letters"), ("", "at least 1"), ("Z" * 129, "at most 128"),
])
def test_a_document_id_that_cannot_be_routed_back_is_refused_with_a_reason(document_id, reason):
    with pytest.raises(ValidationError) as caught:
        Settlement.model_validate(settlement(document_id=document_id))
    text = messages(caught.value)
    assert text.startswith("document_id:") and reason in text, text


@pytest.mark.parametrize("document_id", ["Z-1", "Z-1-2026-03-02-1", "pos:42.7_b", "Z" * 128, "a.b.c"])
def test_usual_document_ids_pass(document_id):
    assert Settlement.model_validate(settlement(document_id=document_id)).document_id == document_id


def test_the_document_id_pattern_is_in_the_contract():
    schema = Settlement.model_json_schema()["properties"]["document_id"]
    assert schema["pattern"] == r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$" and "'..'" in schema["description"]


@pytest.mark.parametrize("from_date", ["0001-01-01", "9999-12-31", "1999-12-31",
                                       (utcnow().date() + timedelta(days=400)).isoformat()])
def test_a_from_date_that_would_overflow_the_windows_is_refused(from_date):
    with pytest.raises(ValidationError) as caught:
        TransferSchedule.model_validate({"from_date": from_date})
    text = messages(caught.value)
    assert text.startswith("from_date:") and "2000-01-01" in text, text


def test_plausible_from_dates_pass():
    for day in (date(2000, 1, 1), utcnow().date() + timedelta(days=300)):
        assert TransferSchedule(from_date=day).from_date == day


@pytest.mark.parametrize("field", ["as_of", "period_from"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_balance_refresh_dates_are_bounded(field, day):
    with pytest.raises(ValidationError) as caught:
        BalanceRefreshRequest.model_validate({field: day})
    text = messages(caught.value)
    assert text.startswith(f"{field}:") and "2000-01-01" in text, text


@pytest.mark.parametrize("row", [
    {"kind": "vat", "key": "1e-999999999", "account": "2700"},
    {"kind": "vat", "key": "1e-99999", "account": "2700"},
    {"kind": "vat", "key": "25.555", "account": "2700"},
    {"kind": "sales", "key": "Varer", "vat_rate": "1e-999999999", "vat_code": "3", "account": "3000"},
    {"kind": "sales", "key": "Varer", "vat_rate": "1e-99999", "vat_code": "3", "account": "3000"},
])
def test_a_vat_rate_with_more_than_two_decimals_is_refused_however_it_is_written(row):
    # 1e-999999999 lies between 0 and 100 and passes pydantic's decimal_places (it underflows to 0);
    # 1e-99999 would be a 100,000-character row id.
    started = time.monotonic()
    with pytest.raises(ValidationError) as caught:
        MappingRow.model_validate(row)
    assert "VAT rate" in messages(caught.value) or "2 decimal places" in messages(caught.value)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("rate", ["1e-999999999", "1e-99999", "25.001"])
def test_a_settlement_vat_rate_with_more_than_two_decimals_is_refused(rate):
    body = settlement()
    body["sales"][0]["vat_rate"] = rate
    with pytest.raises(ValidationError) as caught:
        Settlement.model_validate(body)
    assert "sales.0.vat_rate" in messages(caught.value), messages(caught.value)


def test_vat_rates_with_up_to_two_decimals_pass():
    assert MappingRow.model_validate({"kind": "vat", "key": "25.5", "account": "2700"}).row_id == "vat:25.5"
    row = MappingRow.model_validate({"kind": "sales", "key": "Varer", "vat_rate": "25.50", "vat_code": "3",
                                     "account": "3000"})
    assert row.row_id == "sales:Varer@25.5"
