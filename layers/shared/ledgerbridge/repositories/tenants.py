"""Tenant API keys. Only a SHA-256 of each key is stored; the key itself is shown once."""
from __future__ import annotations

import hashlib
import secrets

from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, to_item, values

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


# A key's id in listings: the start of its hash (the key itself is never stored). Long enough to be
# unique among any number of tenants' keys, short enough to type.
KEY_ID_LENGTH = 12


def list_keys() -> list[dict]:
    """Every tenant API key (operator's view): key_id, tenant_id, label, created_at. A scan: the
    table holds a few rows per tenant (keys, sign-in links, sessions)."""
    found, start = [], None
    while True:
        page = ddb().scan(TableName=get_settings().tenants_table, FilterExpression="attribute_not_exists(kind)",
                          **({"ExclusiveStartKey": start} if start else {}))
        for item in page.get("Items", []):
            row = from_item(item)
            found.append({"key_id": row["key_hash"][:KEY_ID_LENGTH], "tenant_id": row["tenant_id"],
                          "label": row.get("label", ""), "created_at": row.get("created_at", "")})
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(found, key=lambda r: (r["tenant_id"], r["created_at"]))


def revoke_key(key_or_id: str) -> dict | None:
    """Delete a key given the key itself or (the start of) its key_id, and the tenant's console links and
    sessions; the revoked key's row, or None if none matched. An id matching more than one key revokes none (ValueError): give more of it."""
    if key_or_id.startswith(KEY_PREFIX):
        candidates = [_hash(key_or_id)]
    else:
        prefix = key_or_id.strip().lower()
        if len(prefix) < 8:
            raise ValueError("give the key or at least 8 characters of its key_id")
        candidates = _full_hashes(prefix)
        if len(candidates) > 1:
            raise ValueError(f"{len(candidates)} keys start with {prefix}: give more of the key_id")
    for key_hash in candidates:
        try:
            old = ddb().delete_item(TableName=get_settings().tenants_table, Key=values({"key_hash": key_hash}),
                                    ConditionExpression="attribute_exists(key_hash) AND attribute_not_exists(kind)",
                                    ReturnValues="ALL_OLD")
        except Exception as exc:
            if is_conditional_failure(exc):
                continue
            raise
        row = from_item(old["Attributes"])
        # Console links and sessions made with the key end with it (they cannot say which key made them).
        from .console_sessions import end_all

        end_all(row["tenant_id"])
        return {"key_id": row["key_hash"][:KEY_ID_LENGTH], "tenant_id": row["tenant_id"], "label": row.get("label", "")}
    return None


def _full_hashes(prefix: str) -> list[str]:
    page_start, found = None, []
    while True:
        page = ddb().scan(TableName=get_settings().tenants_table, ProjectionExpression="key_hash",
                          FilterExpression="begins_with(key_hash, :p) AND attribute_not_exists(kind)",
                          ExpressionAttributeValues={":p": {"S": prefix}},
                          **({"ExclusiveStartKey": page_start} if page_start else {}))
        found += [i["key_hash"]["S"] for i in page.get("Items", [])]
        page_start = page.get("LastEvaluatedKey")
        if not page_start:
            return found
