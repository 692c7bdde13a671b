"""GET /oauth/callback: where the vendor's identity server sends the user back. Public; the
single-use ``state`` is what ties the answer to a tenant's connection."""
from __future__ import annotations

import html

from aws_lambda_powertools.event_handler import Response, content_types

from ..services import oauth
from .common import new_resolver

app = new_resolver()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}}
.ok{{color:#116b2f}}.err{{color:#a3261a}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>{connection}
<p>You can close this window and return to your back office.</p></body></html>"""


@app.get("/oauth/callback")
def oauth_callback() -> Response[str]:
    params = {k: v for k, v in (app.current_event.query_string_parameters or {}).items() if isinstance(v, str)}
    outcome = oauth.callback(params)
    connection = f"<p>Connection: {html.escape(outcome.connection_name)}</p>" if outcome.connection_name else ""
    body = _PAGE.format(title=html.escape(outcome.title), message=html.escape(outcome.message),
                        css="ok" if outcome.ok else "err", connection=connection)
    return Response(status_code=outcome.status_code, content_type=content_types.TEXT_HTML, body=body,
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
