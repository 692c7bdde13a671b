"""Jinja2 pages: autoescaped, loaded from this package's templates/ (shipped in the layer)."""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response, content_types

# No store: pages show a tenant's books; a shared shop computer's back button must not show them.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # No script at all; styles inline; forms post to the console only (its 303s lead on to the hub's
    # OAuth start on the same origin, which hands over to the vendor from a page of its own).
    "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'; "
                               "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(Path(__file__).with_name("templates")),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = money
    env.filters["when"] = when
    return env


def money(value: object) -> str:
    """1234.5 -> "1 234.50": exact (Decimal from its text), two decimals, thin grouping."""
    if value is None or value == "":
        return ""
    amount = Decimal(str(value))
    return f"{amount:,.2f}".replace(",", "\u202f")


def when(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text.replace("T", " ")[:16] + (" UTC" if "T" in text else "")


def page(template: str, status: int = 200, cookies: list | None = None, **context: object) -> Response:
    body = environment().get_template(template).render(**context)
    return Response(status_code=status, content_type=content_types.TEXT_HTML + "; charset=utf-8", body=body,
                    headers=dict(PAGE_HEADERS), cookies=cookies or [])


def redirect(location: str, cookies: list | None = None) -> Response:
    return Response(status_code=303, content_type=content_types.TEXT_HTML, body="",
                    headers={"Location": location, "Cache-Control": "no-store"}, cookies=cookies or [])
