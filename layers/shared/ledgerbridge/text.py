"""Cutting texts to a vendor's limit, counted the way that vendor counts, never breaking a character.

Vendors state text limits in their own unit: .NET vendors (Visma eAccounting, 24SevenOffice)
count UTF-16 code units, so an emoji or a rare CJK ideograph outside the Basic Multilingual
Plane counts two; a byte-counting vendor counts UTF-8 bytes. Python's ``len`` and slicing count
code points, so ``text[:60]`` can exceed a .NET limit (and be refused), and a cut made in code
units could split a surrogate pair (a broken character the vendor refuses or shows as "?").

``cut_text`` keeps the longest prefix that fits and never ends inside a user-perceived character
(a grapheme): a base letter keeps its combining marks or goes with them, an emoji keeps its skin
tone, variation selector and zero-width-joined parts, a flag keeps both of its regional indicators.
A pure leaf module: no imports from the rest of ledgerbridge (the domain uses it).
"""
from __future__ import annotations

import unicodedata
from typing import Literal

Unit = Literal["utf16", "utf8", "codepoints"]

_ZWJ = "\u200d"


def text_length(text: str, unit: Unit = "utf16") -> int:
    """``text``'s length as a vendor counting in ``unit`` sees it."""
    if unit == "codepoints":
        return len(text)
    if unit == "utf16":
        # Every code point above the BMP is a surrogate pair: two code units.
        return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)
    if unit == "utf8":
        return len(text.encode("utf-8", "surrogatepass"))
    raise ValueError(f"unknown unit {unit!r}; use utf16, utf8 or codepoints")


def _width(char: str, unit: Unit) -> int:
    code = ord(char)
    if unit == "utf16":
        return 2 if code > 0xFFFF else 1
    if unit == "utf8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def _extends(char: str) -> bool:
    """Does ``char`` attach to the character before it (part of the same grapheme)?"""
    code = ord(char)
    if char == _ZWJ:
        return True
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= code <= 0x1F3FF:  # emoji skin tone modifiers
        return True
    if 0xE0020 <= code <= 0xE007F:  # tag characters (subdivision flags)
        return True
    # Nonspacing, enclosing and spacing combining marks (accents, Indic vowel signs, ...).
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _grapheme_start(text: str, index: int) -> int:
    """The largest cut point <= ``index`` that does not fall inside a grapheme."""
    while 0 < index < len(text):
        char = text[index]
        if _extends(char) or text[index - 1] == _ZWJ:
            index -= 1  # the cut would separate a mark (or a joined emoji) from what it belongs to
            continue
        if _is_regional_indicator(char) and _is_regional_indicator(text[index - 1]):
            # Flags are pairs of regional indicators: count the run before the cut; an odd
            # number means the cut falls between the two halves of one flag.
            run = 0
            while index - 1 - run >= 0 and _is_regional_indicator(text[index - 1 - run]):
                run += 1
            if run % 2 == 1:
                index -= 1
                continue
        return index
    return max(index, 0)


def cut_text(text: str, limit: int, unit: Unit = "utf16") -> str:
    """The longest prefix of ``text`` that is at most ``limit`` ``unit``s long, ending on a whole
    character (never a lone surrogate, never a base letter without its combining marks).

    Linear in the length of the kept prefix; a text that fits is returned unchanged.
    """
    if limit <= 0:
        return ""
    # Fast path: even at the widest a code point can be (2 UTF-16 units, 4 UTF-8 bytes) it fits.
    widest = {"utf16": 2, "utf8": 4, "codepoints": 1}.get(unit)
    if widest is None:
        raise ValueError(f"unknown unit {unit!r}; use utf16, utf8 or codepoints")
    if len(text) * widest <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += _width(char, unit)
        if used > limit:
            return text[:_grapheme_start(text, index)]
    return text
