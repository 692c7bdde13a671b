"""Settlement validation at the door: what a POS may send, and what is refused with a reason."""
from __future__ import annotations

import base64
import copy
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from devstack import samples
from ledgerbridge.models.settlement import (
    MAX_ATTACHMENT_BYTES,
    MAX_PAYMENT_LINES,
    MAX_SALES_LINES,
    Attachment,
    SalesLine,
    Settlement,
)

DAY = date(2026, 3, 2)


def sample(**kw) -> dict:
    return samples.settlement(DAY, 1, **kw)


def simple(sales, payments, cash_rounding="0.00", **extra) -> dict:
    """A hand-made settlement dict; totals are computed from the lines given as (cat, rate, net, vat)."""
    lines = [{"category": c, "vat_rate": r, "net": n, "vat": v, "gross": str(Decimal(n) + Decimal(v))}
             for c, r, n, v in sales]
    body = {
        "document_id": "Z-1", "business_date": "2026-03-02",
        "sales": lines,
        "payments": [{"method": m, "amount": a} for m, a in payments],
        "cash_rounding": cash_rounding,
        "totals": {k: str(sum(Decimal(line[k]) for line in lines)) for k in ("net", "vat", "gross")},
    }
    body.update(extra)
    return body


def error_text(body: dict) -> str:
    with pytest.raises(ValidationError) as info:
        Settlement.model_validate(body)
    return str(info.value)


# --- valid documents ---------------------------------------------------------------------------

def test_sample_settlement_is_valid_and_keeps_exact_amounts():
    s = Settlement.model_validate(sample())
    assert s.currency == "NOK"
    assert len(s.sales) == 3
    assert all(line.net + line.vat == line.gross for line in s.sales)
    assert sum(p.amount for p in s.payments) == s.totals.gross + s.cash_rounding
    assert all(p.amount == p.amount.quantize(Decimal("0.01")) for p in s.payments)


def test_amounts_serialize_as_two_decimal_strings():
    s = Settlement.model_validate(simple([("Varer", "25", "80", "20")], [("Kort", "100")]))
    dumped = s.model_dump(mode="json")
    assert dumped["sales"][0]["net"] == "80.00"
    assert dumped["payments"][0]["amount"] == "100.00"
    assert dumped["cash_rounding"] == "0.00"


@pytest.mark.parametrize("rounding, cash", [("0.40", "100.40"), ("-0.40", "99.60")])
def test_cash_rounding_either_way_is_accepted_when_payments_match(rounding, cash):
    s = Settlement.model_validate(simple([("Varer", "25", "80.00", "20.00")], [("Kontant", cash)],
                                         cash_rounding=rounding))
    assert s.cash_rounding == Decimal(rounding)


def test_refund_day_with_negative_amounts_is_valid():
    s = Settlement.model_validate(simple([("Varer", "25", "-80.00", "-20.00"), ("Kaffe", "15", "200.00", "30.00")],
                                         [("Kort", "-100.00"), ("Vipps", "230.00")]))
    assert s.totals.gross == Decimal("130.00")


def test_same_category_at_two_rates_is_allowed():
    s = Settlement.model_validate(simple([("Mat", "15", "100.00", "15.00"), ("Mat", "25", "100.00", "25.00")],
                                         [("Kort", "240.00")]))
    assert [line.mapping_key for line in s.sales] == ["Mat@15", "Mat@25"]


# --- sales lines -------------------------------------------------------------------------------

def test_line_where_net_plus_vat_is_not_gross_is_refused_naming_the_category():
    body = sample()
    body["sales"][1]["gross"] = str(Decimal(body["sales"][1]["gross"]) + Decimal("0.01"))
    text = error_text(body)
    assert "sales line 'Kaffe servert'" in text
    assert "!= gross" in text


def test_vat_on_a_zero_rate_line_is_refused():
    with pytest.raises(ValidationError, match="VAT 5.00 on a 0% line"):
        SalesLine.model_validate({"category": "Aviser", "vat_rate": "0", "net": "95", "vat": "5", "gross": "100"})


@pytest.mark.parametrize("key, expected", [("25", "Varer@25"), ("25.00", "Varer@25"), ("12.50", "Varer@12.5"),
                                           ("10", "Varer@10"), ("0", "Varer@0")])
def test_mapping_key_normalizes_the_rate(key, expected):
    line = SalesLine.model_validate({"category": "Varer", "vat_rate": key, "net": "0", "vat": "0", "gross": "0"})
    assert line.mapping_key == expected  # "10", never "1E+1"


@pytest.mark.parametrize("rate", ["-1", "100.01", "12.345"])
def test_vat_rate_out_of_range_or_too_precise_is_refused(rate):
    with pytest.raises(ValidationError):
        SalesLine.model_validate({"category": "Varer", "vat_rate": rate, "net": "0", "vat": "0", "gross": "0"})


def test_a_category_and_rate_may_repeat_one_line_per_product():
    # Issue 8: a busy shop sends one line per product; lines of one category@rate are summed when
    # the voucher is built. Before, the second "Varer@25" was refused.
    body = simple([("Varer", "25", "80.00", "20.00"), ("Varer", "25.00", "8.00", "2.00"),
                   ("  Varer ", "25", "4.00", "1.00")], [("Kort", "115.00")])
    s = Settlement.model_validate(body)
    assert [line.mapping_key for line in s.sales] == ["Varer@25"] * 3  # stripped, one mapping key


def test_payment_methods_may_repeat():
    s = Settlement.model_validate(simple([("Varer", "25", "80.00", "20.00")], [("Kort", "60.00"), ("Kort", "40.00")]))
    assert [p.method for p in s.payments] == ["Kort", "Kort"]


# --- totals and payments -----------------------------------------------------------------------

def test_totals_not_adding_up_names_the_field_and_both_numbers():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["totals"]["vat"] = "21.00"
    body["totals"]["gross"] = "101.00"
    body["payments"][0]["amount"] = "101.00"
    text = error_text(body)
    assert "sum of sales vat is 20.00 but totals.vat is 21.00" in text
    assert "sum of sales gross is 100.00 but totals.gross is 101.00" in text
    assert "totals.net" not in text  # net is right and not blamed


def test_payments_must_equal_gross_plus_cash_rounding():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "60.00"), ("Kontant", "40.00")],
                  cash_rounding="0.40")
    text = error_text(body)
    assert ("payments add up to 100.00 but totals.gross + gift_cards.sold - gift_cards.redeemed + cash_rounding "
            "is 100.40 (100.00 + 0.00 - 0.00 + 0.40)") in text


def test_payments_one_cent_short_is_refused():
    body = sample()
    body["payments"][0]["amount"] = str(Decimal(body["payments"][0]["amount"]) - Decimal("0.01"))
    assert "payments add up to" in error_text(body)


def test_no_payments_only_valid_when_nothing_was_taken():
    assert Settlement.model_validate(simple([("Varer", "25", "0.00", "0.00")], []))
    assert "payments add up to 0.00" in error_text(simple([("Varer", "25", "80.00", "20.00")], []))


def test_all_problems_are_reported_together():
    body = simple([("Varer", "25", "80.00", "20.00"), ("Varer", "25", "8.00", "2.00")], [("Kort", "1.00")])
    body["totals"]["net"] = "1.00"
    body["totals"]["vat"] = "2.00"
    text = error_text(body)
    assert "totals.net" in text and "totals.vat" in text and "payments add up to" in text


# --- amounts at the door -----------------------------------------------------------------------

def test_json_float_with_more_than_two_decimals_is_refused():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["payments"][0]["amount"] = 100.001
    assert "more than two decimals" in error_text(body)


def test_json_float_that_is_a_sum_artefact_is_refused():
    body = simple([("Varer", "25", "0.24", "0.06")], [("Kort", "0.30")])
    body["payments"][0]["amount"] = 0.1 + 0.2  # 0.30000000000000004
    assert "more than two decimals" in error_text(body)


def test_json_float_with_two_decimals_is_taken_as_written():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["sales"][0]["net"] = 80.0
    body["payments"][0]["amount"] = 100.0
    s = Settlement.model_validate(body)
    assert s.payments[0].amount == Decimal("100.00")


def test_string_with_three_decimals_is_refused():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["sales"][0]["net"] = "80.000"  # equal in value: allowed
    Settlement.model_validate(body)
    body["sales"][0]["net"] = "79.995"
    assert "more than two decimals" in error_text(body)


def test_boolean_amount_is_refused():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["cash_rounding"] = True
    assert "not floating point" in error_text(body) or "strings or integers" in error_text(body)


def test_absurd_amount_is_a_validation_error_not_a_crash():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["cash_rounding"] = "1e26"
    with pytest.raises(ValidationError):
        Settlement.model_validate(body)


def test_unknown_fields_and_bad_currency_are_refused():
    body = sample(with_pdf=False)
    body["discount"] = "10.00"
    assert "discount" in error_text(body)
    body = sample(with_pdf=False)
    body["currency"] = "nok"
    assert "currency" in error_text(body)


# --- attachment --------------------------------------------------------------------------------

def test_attachment_content_round_trips():
    s = Settlement.model_validate(sample())
    assert s.attachment is not None
    assert s.attachment.content().startswith(b"%PDF-1.4")


@pytest.mark.parametrize("data, message", [
    ("not base64!!", "not valid base64"),
    ("QUJ", "not valid base64"),  # truncated, no padding
    ("", "attachment is empty"),
])
def test_attachment_data_must_be_nonempty_base64(data, message):
    with pytest.raises(ValidationError, match=message):
        Attachment(file_name="z.pdf", content_type="application/pdf", data=data)


def test_attachment_over_four_megabytes_is_refused():
    data = base64.b64encode(b"\0" * (MAX_ATTACHMENT_BYTES + 1)).decode()
    with pytest.raises(ValidationError, match="larger than 4 MB"):
        Attachment(file_name="z.pdf", content_type="application/pdf", data=data)


@pytest.mark.parametrize("file_name, content_type", [
    ("../z.pdf", "application/pdf"), ("a\\z.pdf", "application/pdf"), ("z.exe", "application/x-msdownload"),
])
def test_attachment_path_names_and_other_types_are_refused(file_name, content_type):
    with pytest.raises(ValidationError):
        Attachment(file_name=file_name, content_type=content_type, data=base64.b64encode(b"x").decode())


# --- content hash ------------------------------------------------------------------------------

def _reverse_keys(value):
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def test_content_hash_is_stable_under_key_order():
    body = sample()
    reordered = _reverse_keys(body)
    assert list(reordered) != list(body)
    assert Settlement.model_validate(body).content_hash() == Settlement.model_validate(reordered).content_hash()


def test_content_hash_ignores_how_amounts_are_written():
    body = simple([("Varer", "25", "80", "20")], [("Kort", "100")])
    other = copy.deepcopy(body)
    other["sales"][0]["net"] = "80.00"
    other["payments"][0]["amount"] = 100
    assert Settlement.model_validate(body).content_hash() == Settlement.model_validate(other).content_hash()


def test_content_hash_changes_with_one_cent_or_the_attachment():
    body = sample()
    base = Settlement.model_validate(body).content_hash()
    moved = copy.deepcopy(body)
    # move one cent from card to Vipps: totals still add up, content differs
    moved["payments"][0]["amount"] = str(Decimal(moved["payments"][0]["amount"]) - Decimal("0.01"))
    moved["payments"][1]["amount"] = str(Decimal(moved["payments"][1]["amount"]) + Decimal("0.01"))
    assert Settlement.model_validate(moved).content_hash() != base
    other_pdf = copy.deepcopy(body)
    other_pdf["attachment"]["data"] = samples.z_report_pdf("other")
    assert Settlement.model_validate(other_pdf).content_hash() != base
    assert len(base) == 64 and int(base, 16) >= 0


def test_content_hash_ignores_how_the_vat_rate_is_written():
    body = sample()
    other = copy.deepcopy(body)
    other["sales"][0]["vat_rate"] = "15.00"
    a, b = Settlement.model_validate(body), Settlement.model_validate(other)
    assert a.sales[0].mapping_key == b.sales[0].mapping_key  # same booked content
    assert a.content_hash() == b.content_hash()


# --- issue 8: closed days ------------------------------------------------------------------------

def closed(**extra) -> dict:
    body = {"document_id": "Z-1", "business_date": "2026-03-02", "sales": [], "payments": [],
            "totals": {"net": "0.00", "vat": "0.00", "gross": "0.00"}}
    body.update(extra)
    return body


def test_a_closed_day_without_sales_is_accepted_as_nothing_to_book():
    # Before: "sales: List should have at least 1 item" (422).
    assert Settlement.model_validate(closed()).nothing_to_book
    assert Settlement.model_validate(closed(payments=[{"method": "Kort", "amount": "0.00"}])).nothing_to_book
    assert Settlement.model_validate(samples.closed_day(DAY)).nothing_to_book


def test_a_closed_day_still_says_sales_even_when_empty():
    body = closed()
    del body["sales"]
    assert "sales" in error_text(body)  # an omitted list is a sender's bug, not a closed day


def test_a_day_with_zero_totals_but_money_moving_is_not_nothing_to_book():
    # Sales that net to zero (a sale and its return) still book their revenue lines.
    netted = Settlement.model_validate(simple([("Varer", "25", "80.00", "20.00"), ("Kaffe", "25", "-80.00", "-20.00")],
                                              []))
    assert netted.totals.gross == 0 and not netted.nothing_to_book
    # No sales, but gift cards were sold and paid for.
    gift = Settlement.model_validate(closed(payments=[{"method": "Kort", "amount": "500.00"}],
                                            gift_cards={"sold": "500.00"}))
    assert not gift.nothing_to_book
    # A line with amounts zero but a cost (a giveaway out of stock).
    giveaway = Settlement.model_validate(simple([("Varer", "25", "0.00", "0.00")], []))
    assert giveaway.nothing_to_book
    giveaway.sales[0].cost = Decimal("12.00")
    assert not giveaway.nothing_to_book


def test_a_closed_day_with_payments_is_refused():
    text = error_text(closed(payments=[{"method": "Kort", "amount": "10.00"}]))
    assert "payments add up to 10.00" in text


# --- issue 8: thousands of lines ---------------------------------------------------------------

def many(lines: int, payments: int = 1) -> dict:
    sales = [("Varer" if i % 2 else "Kaffe", "25", "8.00", "2.00") for i in range(lines)]
    body = simple(sales, [])
    total = Decimal("10.00") * lines
    body["payments"] = [{"method": "Kort", "amount": str(total / payments)} for _ in range(payments)]
    return body


def test_twenty_thousand_sales_lines_and_a_thousand_payment_lines_are_accepted():
    s = Settlement.model_validate(many(20_000, payments=1_000))
    assert len(s.sales) == MAX_SALES_LINES == 20_000 and len(s.payments) == MAX_PAYMENT_LINES == 1_000
    assert s.totals.gross == Decimal("200000.00")


def test_more_lines_than_the_limits_are_refused_naming_the_limit():
    text = error_text(many(20_001))
    assert "sales" in text and "20000" in text
    text = error_text(many(10, payments=1_001))
    assert "payments" in text and "1000" in text


# --- issue 8: long categories --------------------------------------------------------------------

@pytest.mark.parametrize("category", [
    "K" * 200,
    "Bakervarer og brød fra eget bakeri – " * 5 + "Ølbrød og surdeig!"[:15],
    "季節の和菓子と焼き菓子" * 18,  # CJK: 198 characters
    "🥐" * 200,  # 200 characters, 400 UTF-16 code units
    "e\u0301" * 100,  # e + combining acute: 200 code points
], ids=["latin", "norwegian", "cjk", "emoji", "combining"])
def test_categories_up_to_200_characters_of_any_script_are_accepted(category):
    category = category[:200]
    s = Settlement.model_validate(simple([(f"  {category}  ", "25", "80.00", "20.00")], [("Kort", "100.00")]))
    assert s.sales[0].category == category.strip()
    assert s.sales[0].mapping_key == f"{category.strip()}@25"


def test_a_category_of_201_characters_is_refused():
    body = simple([("K" * 201, "25", "80.00", "20.00")], [("Kort", "100.00")])
    assert messages_of(body) == "sales.0.category"
    assert "at most 200 characters" in error_text(body)


# --- issue 8: gift cards and cost of goods -----------------------------------------------------------

def test_gift_cards_default_to_zero():
    s = Settlement.model_validate(sample())
    assert s.gift_cards.sold == s.gift_cards.redeemed == Decimal("0.00") and s.gift_cards.is_zero


def test_payments_cover_sales_plus_gift_cards_sold_minus_redeemed():
    # Sold 500 in gift cards (paid by card), 30 of the sales were paid with a gift card.
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "570.00")], gift_cards={"sold": "500",
                                                                                       "redeemed": "30.00"})
    s = Settlement.model_validate(body)
    assert (s.gift_cards.sold, s.gift_cards.redeemed) == (Decimal("500.00"), Decimal("30.00"))
    assert s.model_dump(mode="json")["gift_cards"] == {"sold": "500.00", "redeemed": "30.00"}


def test_a_redeemed_gift_card_listed_as_a_payment_too_is_refused_with_the_rule():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "70.00"), ("Gavekort", "30.00")],
                  gift_cards={"redeemed": "30.00"})
    text = error_text(body)
    assert ("payments add up to 100.00 but totals.gross + gift_cards.sold - gift_cards.redeemed + cash_rounding "
            "is 70.00 (100.00 + 0.00 - 30.00 + 0.00)") in text
    assert "belongs in gift_cards.redeemed, not in payments" in text


def test_gift_cards_refuse_unknown_fields_and_inexact_amounts():
    assert "gift_cards.issued" in messages_of(simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")],
                                                     gift_cards={"issued": "1.00"}))
    assert "more than two decimals" in error_text(simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")],
                                                         gift_cards={"sold": "0.001"}))


def messages_of(body: dict) -> str:
    with pytest.raises(ValidationError) as info:
        Settlement.model_validate(body)
    return "; ".join(".".join(map(str, e["loc"])) for e in info.value.errors())


def test_a_sales_line_may_carry_its_cost_of_goods():
    body = simple([("Varer", "25", "80.00", "20.00")], [("Kort", "100.00")])
    body["sales"][0]["cost"] = "45.50"
    assert Settlement.model_validate(body).sales[0].cost == Decimal("45.50")
    body["sales"][0]["cost"] = "45.505"
    assert "more than two decimals" in error_text(body)


# Hashes of the sample day as the settlement model computed them before gift cards and cost existed.
OLD_SAMPLE_HASH = "e256879ebdf8effb202ef364b7ac34174e74384663dc2b27f47284d214cb10db"
OLD_SAMPLE_HASH_WITHOUT_PDF = "8b7b170f206b3bbac92dd3c2e103688b8bcaf9a841c0cdd1fa5cfe3ebe72a0a1"


def test_content_hash_of_a_settlement_without_the_new_fields_is_unchanged():
    # A resend of a day stored before this change must still be an identical resend (200), not a 409.
    assert Settlement.model_validate(sample()).content_hash() == OLD_SAMPLE_HASH
    assert Settlement.model_validate(sample(with_pdf=False)).content_hash() == OLD_SAMPLE_HASH_WITHOUT_PDF
    explicit_zero = sample()
    explicit_zero["gift_cards"] = {"sold": "0", "redeemed": "0.00"}
    explicit_zero["sales"][0]["cost"] = None
    assert Settlement.model_validate(explicit_zero).content_hash() == OLD_SAMPLE_HASH


def test_content_hash_changes_with_gift_cards_or_a_cost():
    with_cost = sample()
    with_cost["sales"][0]["cost"] = "1.00"
    assert Settlement.model_validate(with_cost).content_hash() != OLD_SAMPLE_HASH
    gifted = samples.settlement(DAY, 1, gift_cards=("100.00", "0.00"))
    assert Settlement.model_validate(gifted).content_hash() != OLD_SAMPLE_HASH
