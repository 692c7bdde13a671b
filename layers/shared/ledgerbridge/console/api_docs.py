"""The API's OpenAPI document and a Swagger UI page for it, built on first request (not at cold start)
from the same resolvers that validate requests, with Powertools' bundled Swagger UI: no CDN."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def document_json() -> str:
    from ..api.openapi_document import build

    return json.dumps(build(), ensure_ascii=False)


def swagger_page(base_url: str) -> str:
    """``base_url``: where "Try it out" sends requests (the API as this page was reached)."""
    import aws_lambda_powertools.event_handler.openapi.swagger_ui as bundled
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(bundled.__file__).parent
    document = json.loads(document_json())
    document["servers"] = [{"url": base_url}]
    spec = json.dumps(document, ensure_ascii=False).replace("</", "<\\/")  # never closes the page's <script> early
    return generate_swagger_html(spec, (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
                                 (assets / "swagger-ui.min.css").read_text(encoding="utf-8"), "", None)
