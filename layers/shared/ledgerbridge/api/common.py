"""What every HTTP API shares: tenant from the authorizer, and the one domain-error -> HTTP mapping."""
from __future__ import annotations

import json
from decimal import Decimal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from ..errors import CredentialRejected, LedgerbridgeError, PermanentVendorError, Unauthorized, VendorError
from ..repositories.leases import LeaseBusy

logger = Logger(child=True)


def exact_json_body(text: str) -> dict:
    # Numbers in request bodies become Decimal, never float: money stays exact from the door.
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # e.g. an integer past Python's digit limit: still malformed input
        raise json.JSONDecodeError(str(exc), text, 0) from exc


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=exact_json_body)

    @app.exception_handler(LedgerbridgeError)
    def _domain_error(exc: LedgerbridgeError) -> Response:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        return validation_response(exc)

    @app.exception_handler(VendorError)
    def _vendor_error(exc: VendorError) -> Response:
        return vendor_error_response(exc)

    @app.exception_handler(LeaseBusy)
    def _busy(exc: LeaseBusy) -> Response:
        return error_response(503, "busy", "the connection is busy with the vendor (renewing its authorization or "
                                           "reading a company); try again shortly")

    return app


def error_response(status: int, code: str, message: str, details: list | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body),
                    headers=headers)


def vendor_error_response(exc: VendorError) -> Response:
    """What the accounting system said, as our own status: the caller's fault is not a 5xx of ours."""
    if isinstance(exc, CredentialRejected):
        return error_response(409, "not_connected", exc.message)
    if isinstance(exc, PermanentVendorError):
        return error_response(422, "vendor_refused", exc.message)
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(int(retry_after) + 1)} if retry_after else None
    return error_response(503, "vendor_unavailable", f"{exc.message}; try again shortly", headers=headers)


def describe_validation(exc: RequestValidationError) -> list[dict]:
    """Field path and message of each problem; input values are left out (they may hold secrets)."""
    details = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        message = error.get("msg", "invalid")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if error.get("type") == "json_invalid":
            details.append({"field": "(body)", "message": "malformed JSON", "type": "json_invalid"})
            continue
        details.append({"field": ".".join(loc) or "(document)", "message": message})
    return details


def status_for(details: list[dict]) -> int:
    """400 for a body that is not JSON at all, 422 for JSON that breaks the contract."""
    return 400 if any(d.get("type") == "json_invalid" for d in details) else 422


def validation_response(exc: RequestValidationError) -> Response:
    details = describe_validation(exc)
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return error_response(status_for(details), "validation_failed", f"invalid request: {summary}", details)


def tenant_of(app: APIGatewayRestResolver) -> str:
    """The tenant the API Gateway authorizer established; never taken from the request itself."""
    authorizer = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer") or {}
    tenant_id = authorizer.get("tenantId")
    if not tenant_id:
        raise Unauthorized("missing tenant: the request did not pass the authorizer")
    return tenant_id
