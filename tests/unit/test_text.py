"""cut_text: texts cut to a vendor's limit as the vendor counts (UTF-16 code units for .NET
vendors), never ending in a broken character."""
from __future__ import annotations

import random

import pytest

from ledgerbridge.text import cut_text, text_length

CROISSANT = "\U0001F950"  # outside the BMP: two UTF-16 code units
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # man ZWJ woman ZWJ girl: one grapheme
THUMBS_DARK = "\U0001F44D\U0001F3FF"  # thumbs up + skin tone modifier
NORWAY = "\U0001F1F3\U0001F1F4"  # regional indicators N + O: one flag


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_whole(text: str) -> bool:
    """Encodable as UTF-16 without lone surrogates: what a .NET vendor can store and show."""
    try:
        text.encode("utf-16-le")
    except UnicodeEncodeError:
        return False
    return True


def test_text_that_fits_is_returned_unchanged():
    assert cut_text("Salg Varer 25%", 60) == "Salg Varer 25%"
    assert cut_text("", 60) == ""


@pytest.mark.parametrize("text", ["A" * 60, "Ø" * 60, "季" * 60, CROISSANT * 30])
def test_exactly_at_the_limit_is_kept_whole(text):
    assert utf16_units(text) == 60
    assert cut_text(text, 60) == text


def test_one_unit_over_the_limit_drops_the_last_character():
    assert cut_text("A" * 61, 60) == "A" * 60


def test_an_emoji_counts_two_and_is_never_split():
    # 59 letters + an emoji is 61 UTF-16 units: the emoji does not fit and is dropped whole.
    # Python's text[:60] would keep it (60 code points) and exceed a .NET limit of 60.
    text = "A" * 59 + CROISSANT
    assert len(text) == 60 and utf16_units(text) == 61
    cut = cut_text(text, 60)
    assert cut == "A" * 59 and is_whole(cut)


@pytest.mark.parametrize("limit", range(0, 12))
def test_emoji_only_text_is_cut_to_whole_emoji(limit):
    cut = cut_text(CROISSANT * 10, limit)
    assert cut == CROISSANT * min(10, limit // 2)
    assert utf16_units(cut) <= limit and is_whole(cut)


def test_cjk_in_the_bmp_counts_one_unit_per_character():
    text = "季節の和菓子と焼き菓子" * 10
    assert cut_text(text, 60) == text[:60]
    # A CJK extension B ideograph (outside the BMP) counts two.
    rare = "\U00020BB7" * 40
    assert cut_text(rare, 60) == "\U00020BB7" * 30


def test_a_base_letter_never_loses_its_combining_marks():
    # "é" written as e + U+0301: cutting between them would leave a bare "e" (a different letter).
    text = "Kaf" + "e\u0301" + " servert"
    assert cut_text(text, 4) == "Kaf"
    assert cut_text(text, 5) == "Kafe\u0301"
    stacked = "a" + "o\u0308\u0304" + "b"  # o with diaeresis and macron
    assert cut_text(stacked, 2) == "a"
    assert cut_text(stacked, 3) == "a"
    assert cut_text(stacked, 4) == "ao\u0308\u0304"


def test_emoji_sequences_stay_whole():
    assert cut_text("Is " + FAMILY, 3 + 2) == "Is "  # not a lone man
    assert cut_text("Is " + FAMILY, 3 + 7) == "Is "
    assert cut_text("Is " + FAMILY, 3 + 8) == "Is " + FAMILY
    assert cut_text("OK " + THUMBS_DARK, 5) == "OK "  # not a thumb without its skin tone
    assert cut_text("OK " + THUMBS_DARK + "!", 7) == "OK " + THUMBS_DARK


def test_flags_are_never_cut_in_half():
    assert cut_text("Norge " + NORWAY, 8) == "Norge "
    assert cut_text("Norge " + NORWAY, 10) == "Norge " + NORWAY
    two = NORWAY + NORWAY
    assert cut_text(two, 6) == NORWAY
    assert cut_text(two, 7) == NORWAY


def test_other_units():
    assert cut_text("Ø" * 10, 5, unit="utf8") == "Ø" * 2  # two bytes each
    assert cut_text(CROISSANT * 10, 5, unit="codepoints") == CROISSANT * 5
    assert text_length(CROISSANT + "Ø", "utf16") == 3
    assert text_length(CROISSANT + "Ø", "utf8") == 6
    with pytest.raises(ValueError):
        cut_text("x" * 10, 5, unit="bytes")  # type: ignore[arg-type]


def test_property_random_unicode_is_cut_within_the_limit_and_whole():
    rng = random.Random(8)
    alphabet = ["a", "Ø", "季", "\u0301", "\u0308", CROISSANT, "\U00020BB7", "\u200d", "\U0001F3FB", "\ufe0f",
                "\U0001F1F3", "\U0001F1F4", " "]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        limit = rng.randint(0, 50)
        cut = cut_text(text, limit)
        assert text.startswith(cut)
        assert utf16_units(cut) <= limit
        assert is_whole(cut)
        assert text_length(cut) == utf16_units(cut)
        if utf16_units(text) <= limit:
            assert cut == text


# --- where Visma eAccounting texts are cut -----------------------------------------------------------

def _visma_body(text: str, line_text: str, reference: str = "LB-0123456789abcdef") -> dict:
    from datetime import date
    from decimal import Decimal

    from ledgerbridge.connectors.visma_eaccounting.connector import VismaEAccountingConnector
    from ledgerbridge.models.ledger import Voucher, VoucherLine

    voucher = Voucher(voucher_date=date(2026, 3, 2), text=text, reference=reference,
                      lines=[VoucherLine(account="1580", debit=Decimal("1.00"), text=line_text),
                             VoucherLine(account="3000", credit=Decimal("1.00"))])
    connector = VismaEAccountingConnector.__new__(VismaEAccountingConnector)  # building a body needs no I/O
    return connector._voucher_body(voucher)


def test_eaccounting_transaction_text_is_cut_to_60_utf16_units():
    # VoucherRowApi.TransactionText maxLength 60; eAccounting (.NET) counts UTF-16 code units.
    body = _visma_body("Dagsoppgjør", "Salg " + CROISSANT * 40)
    text = body["Rows"][0]["TransactionText"]
    assert text == "Salg " + CROISSANT * 27 and utf16_units(text) == 59 and is_whole(text)
    # Python's slicing ([:60], 60 code points) kept all 45 characters: 85 code units, over the limit.
    assert utf16_units(("Salg " + CROISSANT * 40)[:60]) == 85


def test_eaccounting_voucher_text_is_cut_to_1000_units_keeping_the_reference():
    reference = "LB-0123456789abcdef"
    body = _visma_body("🥐" * 600 + f" [{reference}]", "x", reference=reference)
    assert utf16_units(body["VoucherText"]) <= 1000 and is_whole(body["VoucherText"])
    assert body["VoucherText"].endswith(f" [{reference}]")  # how a retry finds the voucher
