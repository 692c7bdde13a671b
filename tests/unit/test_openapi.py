"""docs/openapi.json is what the handlers validate against, and it covers every API route of template.yaml."""
from __future__ import annotations

import json

from devstack import gateway, openapi


def test_committed_openapi_document_is_current():
    assert openapi.TARGET.read_text() == openapi.render(), "run `make openapi` and commit docs/openapi.json"


# The console's web pages (HTML for a browser with a session cookie) are not part of the API's contract.
PAGES = "ConsoleFunction"


def test_every_template_route_is_documented():
    document = json.loads(openapi.TARGET.read_text())
    routes = [r for r in gateway.routes() if r.function != PAGES]
    assert {r.resource for r in gateway.routes() if r.function == PAGES} == {"/console", "/console/{proxy+}"}
    for route in routes:
        assert route.method.lower() in document["paths"].get(route.resource, {}), (route.method, route.resource)
