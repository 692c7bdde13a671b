"""Links handed to a browser (console sign-in, its pages and cookie path) use the URL the caller reached."""
from __future__ import annotations

from types import SimpleNamespace

from ledgerbridge.api.common import public_base_url


def _app(domain_header: str | None, context: dict, path: str) -> SimpleNamespace:
    event = {"path": path, "headers": {"Host": domain_header} if domain_header else {}, "requestContext": context}
    return SimpleNamespace(current_event=SimpleNamespace(raw_event=event))


def test_execute_api_domain_carries_the_stage():
    app = _app("abc.execute-api.eu-north-1.amazonaws.com",
               {"domainName": "abc.execute-api.eu-north-1.amazonaws.com", "stage": "Prod",
                "path": "/Prod/console/sign-in-links"}, "/console/sign-in-links")
    assert public_base_url(app) == "https://abc.execute-api.eu-north-1.amazonaws.com/Prod"


def test_custom_domain_keeps_its_base_path_mapping():
    app = _app("api.example.com", {"domainName": "api.example.com", "stage": "Prod", "path": "/v1/console/x"},
               "/console/x")
    assert public_base_url(app) == "https://api.example.com/v1"
    bare = _app("api.example.com", {"domainName": "api.example.com", "stage": "Prod", "path": "/console/x"},
                "/console/x")
    assert public_base_url(bare) == "https://api.example.com"


def test_the_local_gateway_has_no_stage_in_its_urls():
    app = _app("127.0.0.1:8100", {"stage": "local", "path": "/local/console/x"}, "/console/x")
    assert public_base_url(app) == "http://127.0.0.1:8100"
