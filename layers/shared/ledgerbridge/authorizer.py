"""API Gateway Lambda authorizer: a tenant API key (Authorization: Bearer lbk_...) -> tenant id."""
from __future__ import annotations

from .repositories import tenants


def authorize(event: dict) -> dict:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    value = headers.get("authorization", "")
    api_key = value[7:].strip() if value.lower().startswith("bearer ") else ""
    tenant_id = tenants.tenant_for_key(api_key) if api_key else None
    if tenant_id is None:
        # API Gateway answers 401 for this exact message.
        raise PermissionError("Unauthorized")
    arn = event.get("methodArn", "*")
    # Allow every route of this API stage for the caller; the tenant travels in the context.
    api_root = "/".join(arn.split("/")[:2]) + "/*" if "/" in arn else arn
    return {
        "principalId": tenant_id,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_root}]},
        "context": {"tenantId": tenant_id},
    }
