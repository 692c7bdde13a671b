"""The browser side of 'connect' (public routes):

GET /oauth/start?ticket=…  one-time ticket from POST /connections/{id}/connect: a page saying
                           which tenant and connection the user is about to connect (nothing used up)
POST /oauth/start          the user confirms: the ticket is used up, the flow's browser cookie set,
                           and the browser redirected to the vendor's sign-in page.
GET /oauth/callback        where the vendor sends the user back; the single-use ``state`` ties
                           the answer to a tenant's connection, the cookie to this browser.
"""
from __future__ import annotations

import html
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response, content_types

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from ..services import oauth
from ..settings import get_settings
from .common import answers, new_resolver

app = new_resolver()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
.ok{{color:#116b2f}}.err{{color:#a3261a}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>{connection}
<p>You can close this window and return to your back office, or go on in the
<a href="../console/connections">ledgerbridge console</a>.</p></body></html>"""


_EXPIRED = "This connect link has expired or was already used. Start again from the hub."


_EXPIRED_ANSWER = "The link expired or was used already (a page saying so)."


@app.get("/oauth/start", responses=answers({200: "A page naming the connection about to be connected, with a "
                                                 "Continue button.", 400: _EXPIRED_ANSWER}, html=True))
def oauth_start_page() -> Response[str]:
    # A forwarded link must not connect someone else's accounting company unnoticed: say plainly
    # whose connection this is, and continue only on the user's explicit POST.
    ticket = (app.current_event.query_string_parameters or {}).get("ticket") or ""
    view = oauth.peek_ticket(ticket)
    if view is None:
        return _page(400, False, "Link expired", _EXPIRED, None)
    body = _CONFIRM.format(vendor=html.escape(view.vendor_name), connection=html.escape(view.connection_name),
                           tenant=html.escape(view.tenant_id), ticket=html.escape(ticket, quote=True))
    return Response(status_code=200, content_type=content_types.TEXT_HTML, body=body,
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                             "X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"})


@app.post("/oauth/start", responses=answers(
    {303: "To the vendor's sign-in page, with the flow's cookie set.", 400: _EXPIRED_ANSWER}, html=True, empty=(303,),
    headers={303: {"Location": {"schema": {"type": "string"}, "description": "the vendor's authorize URL"},
                   "Set-Cookie": {"schema": {"type": "string"}, "description": "the flow's nonce (HttpOnly)"}}}))
def oauth_start() -> Response[str]:
    form = parse_qs(app.current_event.decoded_body or "")
    ticket = (form.get("ticket") or [""])[0]
    started = oauth.open_ticket(ticket)
    if started is None:
        return _page(400, False, "Link expired", _EXPIRED, None)
    secure = get_settings().oauth_redirect_uri.startswith("https://")
    cookie = Cookie(name=started.cookie_name, value=started.browser_nonce, path="/", secure=secure,
                    http_only=True, same_site=SameSite.LAX_MODE, max_age=get_settings().oauth_state_ttl_seconds)
    return Response(status_code=303, content_type=content_types.TEXT_HTML, body="",
                    headers={"Location": started.authorize_url, "Cache-Control": "no-store",
                             "Referrer-Policy": "no-referrer"}, cookies=[cookie])


_CONFIRM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Connect {vendor}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}</style></head>
<body><h1>Connect {vendor}</h1>
<p>You are about to give the connection <strong>{connection}</strong> of account <strong>{tenant}</strong>
access to your {vendor} company. Continue only if you started this from your own back office.</p>
<form method="post" action="start"><input type="hidden" name="ticket" value="{ticket}">
<button type="submit">Continue to {vendor}</button></form></body></html>"""


@app.get("/oauth/callback", responses=answers(
    {200: "Connected (a page saying so).",
     400: "Not connected: link expired, another browser, consent declined, no code (a page saying why).",
     502: "Not connected: the vendor's token endpoint or API failed or refused the new account (a page saying "
          "why; start again)."}, html=True))
def oauth_callback() -> Response[str]:
    params = {k: v for k, v in (app.current_event.query_string_parameters or {}).items() if isinstance(v, str)}
    outcome = oauth.callback(params, _cookies())
    return _page(outcome.status_code, outcome.ok, outcome.title, outcome.message, outcome.connection_name)


def _cookies() -> dict[str, str]:
    """The browser's cookies, name -> value (the first of a name, as the browser orders them).

    Split by hand, not with http.cookies.SimpleCookie: that stops at the first cookie it cannot
    parse (another app's ``c[1]=v`` or JSON value on the same domain) and drops every later one,
    the flow cookie included, so the user's own browser would be refused.
    """
    event = app.current_event.raw_event
    headers: list[str] = []
    for name, values in (event.get("multiValueHeaders") or {}).items():
        if name.lower() == "cookie":
            headers += [v for v in values or [] if isinstance(v, str)]
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "cookie" and isinstance(value, str) and value not in headers:
            headers.append(value)
    jar: dict[str, str] = {}
    for header in headers:
        for pair in header.split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name and name not in jar:
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':  # RFC 6265 allows a quoted value
                    value = value[1:-1]
                jar[name] = value
    return jar


def _page(status: int, ok: bool, title: str, message: str, connection_name: str | None) -> Response[str]:
    connection = f"<p>Connection: {html.escape(connection_name)}</p>" if connection_name else ""
    body = _PAGE.format(title=html.escape(title), message=html.escape(message),
                        css="ok" if ok else "err", connection=connection)
    return Response(status_code=status, content_type=content_types.TEXT_HTML, body=body,
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
