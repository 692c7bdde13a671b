"""The hub's HTTP API as one OpenAPI document, merged from the handlers' resolvers (Powertools' OpenAPI).

docs/openapi.json is this document (`make openapi`); the console serves it with Swagger UI."""
from __future__ import annotations

import json


def build() -> dict:
    from . import hooks, ingest, management, oauth_callback

    document: dict = {}
    for module in (management, ingest, oauth_callback, hooks):
        schema = json.loads(module.app.get_openapi_json_schema(
            title="ledgerbridge API", version="1",
            description="Management, ingest and OAuth endpoints of the ledgerbridge integration hub. "
                        "All but /oauth/* and /hooks/* need `Authorization: Bearer <tenant API key>`.",
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
        if path.startswith(("/oauth/", "/hooks/")):
            for operation in operations.values():
                operation["security"] = []
    document["paths"] = dict(sorted(document["paths"].items()))
    _drop_powertools_validation_answers(document)
    return document


# Powertools declares a 422 with FastAPI's `{"detail": [...]}` on every operation. The API never
# sends that body (api/common.py answers every refusal with ErrorBody, declared per operation by
# `answers`): where an operation did not declare its own 422 it cannot answer one.
_POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")


def _drop_powertools_validation_answers(document: dict) -> None:
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in list(operation["responses"].items()):
                schemas = {media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                           for media in (response.get("content") or {}).values()}
                if schemas & set(_POWERTOOLS_SCHEMAS):
                    del operation["responses"][status]
    schemas = document.get("components", {}).get("schemas", {})
    for name in _POWERTOOLS_SCHEMAS:  # in this order: the first two refer to the third
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)
