"""The console's session cookie and the checks every page makes (signed in, form from this session)."""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from ..errors import LedgerbridgeError
from ..repositories import console_sessions

COOKIE = "lb_console"


class NotSignedIn(LedgerbridgeError):
    status_code = 401
    code = "not_signed_in"


class ForgedForm(LedgerbridgeError):
    """A POST without this session's form token: another site's form, or a page from an older session."""

    status_code = 403
    code = "forbidden"


@dataclass(frozen=True)
class Visitor:
    tenant_id: str
    csrf_token: str
    expires_at: int


def cookie_value(headers: dict[str, str]) -> str | None:
    """Our cookie from the Cookie header, split by hand: SimpleCookie drops every cookie after one it cannot
    parse (another application's on the same domain would sign the user out)."""
    raw = "; ".join(v for k, v in headers.items() if k.lower() == "cookie")
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value.strip('"')
    return None


def visitor(headers: dict[str, str]) -> Visitor:
    token = cookie_value(headers)
    session = console_sessions.session_for(token) if token else None
    if session is None:
        raise NotSignedIn("sign in with a link made by your tenant key: the session is missing or expired")
    return Visitor(session.tenant_id, session.csrf_token, session.expires_at)


def check_form(visitor: Visitor, form: dict[str, str]) -> None:
    if not hmac.compare_digest(form.get("csrf", ""), visitor.csrf_token):
        raise ForgedForm("this form did not come from your console session; reload the page and try again")


def session_cookie(token: str, max_age: int, *, secure: bool, path: str) -> Cookie:
    # Lax, not Strict: coming back from the vendor's consent page is a cross-site navigation, and the
    # console must still know the user then. Cross-site POSTs never carry it; forms carry a token too.
    return Cookie(name=COOKIE, value=token, path=path, secure=secure, http_only=True, max_age=max_age,
                  same_site=SameSite.LAX_MODE)


def cleared_cookie(*, secure: bool, path: str) -> Cookie:
    return Cookie(name=COOKIE, value="", path=path, secure=secure, http_only=True, max_age=0,
                  same_site=SameSite.LAX_MODE)
