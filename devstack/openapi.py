"""Write docs/openapi.json: the hub's HTTP API as the handlers validate it (Powertools' OpenAPI).

`make openapi` regenerates it; tests/unit/test_openapi.py fails when it is stale.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.json"


def build() -> dict:
    sys.path[:0] = [str(ROOT / "layers" / "shared")]
    from ledgerbridge.api import ingest, management, oauth_callback

    document: dict = {}
    for module in (management, ingest, oauth_callback):
        schema = json.loads(module.app.get_openapi_json_schema(
            title="ledgerbridge API", version="1",
            description="Management, ingest and OAuth endpoints of the ledgerbridge integration hub. "
                        "All but /oauth/* need `Authorization: Bearer <tenant API key>`.",
        ))
        if not document:
            document = schema
        else:
            document["paths"].update(schema.get("paths", {}))
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                schema.get("components", {}).get("schemas", {}))
    document.setdefault("components", {})["securitySchemes"] = {
        "tenantKey": {"type": "http", "scheme": "bearer", "description": "tenant API key (lbk_…)"}}
    document["security"] = [{"tenantKey": []}]
    for path, operations in document["paths"].items():
        if path.startswith("/oauth/"):
            for operation in operations.values():
                operation["security"] = []
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
