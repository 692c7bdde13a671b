"""The browser side of 'connect' (public routes):

GET /oauth/start?ticket=…  one-time ticket from POST /connections/{id}/connect: sets the flow's
                           browser cookie and redirects to the vendor's sign-in page.
GET /oauth/callback        where the vendor sends the user back; the single-use ``state`` ties
                           the answer to a tenant's connection, the cookie to this browser.
"""
from __future__ import annotations

import html
from http.cookies import CookieError, SimpleCookie

from aws_lambda_powertools.event_handler import Response, content_types

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from ..services import oauth
from ..settings import get_settings
from .common import new_resolver

app = new_resolver()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
.ok{{color:#116b2f}}.err{{color:#a3261a}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>{connection}
<p>You can close this window and return to your back office.</p></body></html>"""


@app.get("/oauth/start")
def oauth_start() -> Response[str]:
    ticket = (app.current_event.query_string_parameters or {}).get("ticket") or ""
    started = oauth.open_ticket(ticket)
    if started is None:
        return _page(400, False, "Link expired",
                     "This connect link has expired or was already used. Start again from the hub.", None)
    secure = get_settings().oauth_redirect_uri.startswith("https://")
    cookie = Cookie(name=started.cookie_name, value=started.browser_nonce, path="/", secure=secure,
                    http_only=True, same_site=SameSite.LAX_MODE, max_age=get_settings().oauth_state_ttl_seconds)
    return Response(status_code=302, content_type=content_types.TEXT_HTML, body="",
                    headers={"Location": started.authorize_url, "Cache-Control": "no-store",
                             "Referrer-Policy": "no-referrer"}, cookies=[cookie])


@app.get("/oauth/callback")
def oauth_callback() -> Response[str]:
    params = {k: v for k, v in (app.current_event.query_string_parameters or {}).items() if isinstance(v, str)}
    outcome = oauth.callback(params, _cookies())
    return _page(outcome.status_code, outcome.ok, outcome.title, outcome.message, outcome.connection_name)


def _cookies() -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in (app.current_event.headers or {}).items():
        if name.lower() == "cookie":
            try:
                jar.load(value)
            except CookieError:
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _page(status: int, ok: bool, title: str, message: str, connection_name: str | None) -> Response[str]:
    connection = f"<p>Connection: {html.escape(connection_name)}</p>" if connection_name else ""
    body = _PAGE.format(title=html.escape(title), message=html.escape(message),
                        css="ok" if ok else "err", connection=connection)
    return Response(status_code=status, content_type=content_types.TEXT_HTML, body=body,
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
