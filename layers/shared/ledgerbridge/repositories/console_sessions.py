"""Console sign-in without a password system: one-time sign-in links and short-lived sessions.

Both live in the tenants table beside the API keys, as hashes only (``link#<sha256>``,
``session#<sha256>``), with ``expires_at`` (epoch seconds) as the table's TTL attribute. Their
tokens carry prefixes other than ``lbk_``, so the API's authorizer never takes one for a key.
Expiry is checked on every read: DynamoDB's TTL deletes late, sometimes days late.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, to_item, values

LINK_PREFIX = "lbs_"
SESSION_PREFIX = "lbc_"
# A link is opened from an e-mail or a chat minutes after it is made, once.
LINK_TTL_SECONDS = 15 * 60
# A console session lasts an afternoon's bookkeeping, not a week on a shared shop computer.
SESSION_TTL_SECONDS = 2 * 60 * 60
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class Issued:
    token: str
    tenant_id: str
    expires_at: int  # epoch seconds


@dataclass(frozen=True)
class Session:
    tenant_id: str
    expires_at: int
    csrf_token: str  # proves a form was rendered by this session (derived, never stored)


def _row_key(kind: str, token: str) -> str:
    return f"{kind}#{hashlib.sha256(token.encode()).hexdigest()}"


def _issue(kind: str, prefix: str, tenant_id: str, ttl_seconds: int, now: float | None) -> Issued:
    token = prefix + secrets.token_urlsafe(32)
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    ddb().put_item(TableName=get_settings().tenants_table,
                   Item=to_item({"key_hash": _row_key(kind, token), "kind": kind, "tenant_id": tenant_id,
                                 "expires_at": expires_at}))
    return Issued(token, tenant_id, expires_at)


def create_sign_in_link(tenant_id: str, *, now: float | None = None) -> Issued:
    """A one-time token for ``/console/sign-in?token=…``: good once, for LINK_TTL_SECONDS."""
    return _issue("link", LINK_PREFIX, tenant_id, LINK_TTL_SECONDS, now)


def redeem_sign_in_link(token: str, *, now: float | None = None) -> Issued | None:
    """Use a sign-in link up: a new session for its tenant, or None (unknown, used or expired).

    The link's row is deleted on the condition that it exists, so two tabs pressing "Sign in" at
    once get one session between them."""
    if not token.startswith(LINK_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        old = ddb().delete_item(TableName=get_settings().tenants_table,
                                Key=values({"key_hash": _row_key("link", token)}),
                                ConditionExpression="attribute_exists(key_hash)", ReturnValues="ALL_OLD")
    except Exception as exc:
        if is_conditional_failure(exc):
            return None
        raise
    link = from_item(old.get("Attributes") or {})
    if not link or int(link["expires_at"]) <= (time.time() if now is None else now):
        return None
    return _issue("session", SESSION_PREFIX, link["tenant_id"], SESSION_TTL_SECONDS, now)


def session_for(token: str, *, now: float | None = None) -> Session | None:
    if not token.startswith(SESSION_PREFIX) or len(token) > MAX_TOKEN_LENGTH:
        return None
    item = ddb().get_item(TableName=get_settings().tenants_table,
                          Key=values({"key_hash": _row_key("session", token)}), ConsistentRead=True).get("Item")
    if not item:
        return None
    row = from_item(item)
    if int(row["expires_at"]) <= (time.time() if now is None else now):
        return None
    csrf = hashlib.sha256(f"csrf:{token}".encode()).hexdigest()
    return Session(row["tenant_id"], int(row["expires_at"]), csrf)


def close_session(token: str) -> None:
    if token.startswith(SESSION_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
        ddb().delete_item(TableName=get_settings().tenants_table,
                          Key=values({"key_hash": _row_key("session", token)}))


def end_all(tenant_id: str) -> int:
    """Delete every sign-in link and session of a tenant (a key was revoked: whoever held it may have
    made links with it). A scan: rare, and the table holds a few rows per tenant."""
    table, start, ended = get_settings().tenants_table, None, 0
    while True:
        page = ddb().scan(TableName=table, ProjectionExpression="key_hash",
                          FilterExpression="tenant_id = :t AND #k IN (:link, :session)",
                          ExpressionAttributeNames={"#k": "kind"},
                          ExpressionAttributeValues=values({":t": tenant_id, ":link": "link", ":session": "session"}),
                          **({"ExclusiveStartKey": start} if start else {}))
        for item in page.get("Items", []):
            ddb().delete_item(TableName=table, Key={"key_hash": item["key_hash"]})
            ended += 1
        start = page.get("LastEvaluatedKey")
        if not start:
            return ended
