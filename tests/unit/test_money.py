"""Money parsing, commercial rounding and exact JSON numbers: the cents a bookkeeper sees."""
from __future__ import annotations

import json
import random
import re
from decimal import Decimal

import pytest

from ledgerbridge.money import CENT, exact_json, format_amount, round_cents, to_amount


# --- to_amount ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("1234.5", "1234.50"),
    ("1234.50", "1234.50"),
    ("12.340", "12.34"),          # a trailing zero is not a third decimal
    (100, "100.00"),
    ("-12.3", "-12.30"),
    (Decimal("0.01"), "0.01"),
    ("1e2", "100.00"),
    ("0", "0.00"),
])
def test_to_amount_parses_to_exact_cents(raw, expected):
    amount = to_amount(raw)
    assert isinstance(amount, Decimal)
    assert str(amount) == expected  # always exactly two decimals, never a float repr


@pytest.mark.parametrize("raw", [1.5, 0.1, True, False])
def test_to_amount_refuses_floats_and_booleans(raw):
    with pytest.raises(ValueError, match="floating point|not a valid amount|strings or integers"):
        to_amount(raw)


@pytest.mark.parametrize("raw", ["12.345", "0.001", "-1.999", Decimal("1.005")])
def test_to_amount_refuses_more_than_two_decimals(raw):
    with pytest.raises(ValueError, match="more than two decimals"):
        to_amount(raw)


@pytest.mark.parametrize("raw", ["abc", "", "1,50", "NaN", "Infinity", "-Infinity", "sNaN", None, "12 kr"])
def test_to_amount_refuses_non_numbers(raw):
    with pytest.raises(ValueError, match="not a valid amount"):
        to_amount(raw)


@pytest.mark.parametrize("raw", ["1e26", "100000000000000000000000000", "1e30"])
def test_to_amount_refuses_absurdly_large_amounts_with_value_error(raw):
    with pytest.raises(ValueError):
        to_amount(raw)


def test_to_amount_accepts_amounts_up_to_ten_trillion_and_refuses_beyond():
    assert to_amount("9999999999999.99") == Decimal("9999999999999.99")
    assert to_amount("-9999999999999.99") == Decimal("-9999999999999.99")
    with pytest.raises(ValueError, match="out of range"):
        to_amount("10000000000000.00")


# --- round_cents -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("2.675", "2.68"),
    ("2.665", "2.67"),   # banker's rounding would give 2.66
    ("2.664", "2.66"),
    ("-2.675", "-2.68"),  # half away from zero, also for refunds
    ("-2.665", "-2.67"),
    ("0.005", "0.01"),
    ("0.0049999", "0.00"),
    ("10", "10.00"),
])
def test_round_cents_is_commercial_half_away_from_zero(raw, expected):
    assert str(round_cents(Decimal(raw))) == expected


def test_round_cents_property_symmetric_and_within_half_a_cent():
    rng = random.Random(20260329)
    for _ in range(500):
        x = Decimal(rng.randint(-10_000_000, 10_000_000)) / Decimal(1000)
        r = round_cents(x)
        assert r == r.quantize(CENT)
        assert abs(r - x) <= Decimal("0.005")
        assert round_cents(-x) == -r
        if abs(r - x) == Decimal("0.005"):
            assert abs(r) > abs(x)  # ties go away from zero


def test_format_amount_always_two_decimals():
    assert format_amount(Decimal("5")) == "5.00"
    assert format_amount(Decimal("1E+3")) == "1000.00"
    assert format_amount(Decimal("-0.5")) == "-0.50"


# --- exact_json --------------------------------------------------------------------------------

def test_exact_json_writes_decimals_as_exact_numbers():
    text = exact_json({"DebitAmount": Decimal("1234.5"), "CreditAmount": Decimal("0.00")}).decode()
    assert text == '{"DebitAmount": 1234.50, "CreditAmount": 0.00}'


def test_exact_json_no_float_artefacts_on_sums_that_floats_get_wrong():
    total = Decimal("0.10") + Decimal("0.20")
    text = exact_json({"amount": total}).decode()
    assert text == '{"amount": 0.30}'
    assert "0.30000000000000004" not in text
    assert str(0.1 + 0.2) != "0.3"  # the artefact we avoid is real


def test_exact_json_negative_nested_and_strings_untouched():
    body = {"rows": [{"a": Decimal("-12.3")}, {"a": Decimal("99999999.99")}],
            "text": "1234.50", "note": "Øreavrunding", "n": 3}
    text = exact_json(body).decode("utf-8")
    assert '"a": -12.30' in text
    assert '"a": 99999999.99' in text
    assert '"text": "1234.50"' in text  # a string that looks like money stays a string
    assert "Øreavrunding" in text        # UTF-8, not \u escapes
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["rows"][0]["a"] == Decimal("-12.30")
    assert parsed["text"] == "1234.50"
    assert parsed["n"] == 3


def test_exact_json_returns_bytes_and_refuses_unknown_types():
    assert isinstance(exact_json({"a": Decimal("1")}), bytes)
    with pytest.raises(TypeError):
        exact_json({"a": object()})


def test_exact_json_property_round_trips_every_amount_exactly():
    rng = random.Random(42)
    for _ in range(200):
        amounts = [Decimal(rng.randint(-10**9, 10**9)) / 100 for _ in range(rng.randint(1, 8))]
        text = exact_json({"rows": [{"v": a} for a in amounts]}).decode()
        numbers = re.findall(r'"v": (-?[0-9]+\.[0-9]+)', text)
        assert numbers == [f"{a:.2f}" for a in amounts]
        back = json.loads(text, parse_float=Decimal)
        assert [r["v"] for r in back["rows"]] == amounts
