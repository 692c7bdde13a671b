"""Tenant API keys. Only a SHA-256 of each key is stored; the key itself is shown once."""
from __future__ import annotations

import hashlib
import secrets

from ..settings import get_settings
from .dynamo import ddb, from_item, to_item, values

KEY_PREFIX = "lbk_"


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def issue_key(tenant_id: str, label: str = "default") -> str:
    # Imported here: the authorizer (tenant_for_key only) would otherwise load pydantic at cold start.
    from ..models.common import utcnow

    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    ddb().put_item(
        TableName=get_settings().tenants_table,
        Item=to_item({"key_hash": _hash(api_key), "tenant_id": tenant_id, "label": label,
                      "created_at": utcnow().isoformat()}),
    )
    return api_key


def tenant_for_key(api_key: str) -> str | None:
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    item = ddb().get_item(TableName=get_settings().tenants_table,
                          Key=values({"key_hash": _hash(api_key)})).get("Item")
    return from_item(item)["tenant_id"] if item else None
