"""Every console template compiles (a syntax error would otherwise surface as a 502 on the one page that
includes it), and money is shown exact to the cent."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ledgerbridge.console import render

TEMPLATES = Path(render.__file__).with_name("templates")


@pytest.mark.parametrize("name", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_the_template_compiles(name):
    render.environment().get_template(name)


def test_money_is_shown_to_the_cent_without_float():
    assert render.money("1234.5") == "1\u202f234.50"
    assert render.money(Decimal("-0.10")) == "-0.10"
    assert render.money(None) == ""
