"""What every HTTP API shares: tenant from the authorizer, and the one domain-error -> HTTP mapping."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import OpenAPIRequestValidationMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import ConfigDict, Field

from ..errors import CredentialRejected, LedgerbridgeError, PermanentVendorError, Unauthorized, VendorError
from ..repositories.leases import LeaseBusy
from ..models.common import LazyModel

logger = Logger(child=True)


# Our bodies nest three or four levels (a settlement's sales lines); far deeper is not a request.
MAX_JSON_DEPTH = 32
# What API Gateway puts in place of bytes that are not UTF-8 (a REST API without binaryMediaTypes
# hands every body to the function as a UTF-8 string).
_REPLACEMENT = "\ufffd"
JSON_MEDIA_TYPES = ("application/json",)


# Ids in paths (connections, companies, documents and runs) are far shorter. A longer one is
# refused before it reaches DynamoDB, which refuses key values past 1,024 bytes with an error.
MAX_PATH_ID = 128
PathId = Annotated[str, Path(min_length=1, max_length=MAX_PATH_ID)]


def exact_json_body(text: str) -> dict:
    """Parse a request body. Numbers become Decimal, never float: money stays exact from the door.

    Anything that is not a JSON document we can work with raises JSONDecodeError (answered 400,
    "malformed JSON: <why>"): text that was not UTF-8, nesting past MAX_JSON_DEPTH, numbers past
    Python's digit limit."""
    bad_byte = text.find(_REPLACEMENT)
    if bad_byte >= 0:
        raise json.JSONDecodeError("the body is not UTF-8 text; send JSON encoded as UTF-8", text, bad_byte)
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_not_a_number)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", text, 0) from exc
    except _NotJson as exc:
        raise json.JSONDecodeError(str(exc), text, 0) from exc
    except ValueError as exc:  # an integer past Python's digit limit: still malformed input
        raise json.JSONDecodeError("a number has too many digits", text, 0) from exc
    problem = _unusable(document)
    if problem:
        raise json.JSONDecodeError(problem, text, 0)
    return document


class _NotJson(ValueError):
    pass


def _not_a_number(name: str) -> object:
    # Python's json reads NaN and Infinity; JSON has no such numbers.
    raise _NotJson(f"{name} is not a JSON number")


def _unusable(document: object) -> str | None:
    """Why a parsed document cannot be used, or None. Iterative: no recursion on hostile input.

    Containers nesting past MAX_JSON_DEPTH, and strings with an unpaired surrogate escape
    ("\\ud800" is valid JSON syntax but no text: it cannot be stored or sent anywhere as UTF-8)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _is_unicode_text(value):
                return "a string holds an unpaired surrogate escape (\\ud800-\\udfff); send valid Unicode text"
            continue
        if isinstance(value, dict):
            children = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, str)))
    return None


def _is_unicode_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    """application/json, application/<anything>+json, or no Content-Type at all (read as JSON)."""
    media = media_type(content_type)
    return not media or media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))


class JsonRequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, for APIs whose bodies are JSON and nothing else.

    Powertools parses a body by its Content-Type; a multipart body without a boundary (or one
    that is not Latin-1) raises a bare ValueError from there, an HTTP 500. Our operations take
    JSON only, so any other declared type is refused with 415 before anything parses it, and a
    base64 body (API Gateway with binaryMediaTypes) that is not UTF-8 is malformed input (400).
    """

    def _get_body(self, app):  # Powertools calls it for operations that take a body
        event = app.current_event
        content_type = event.headers.get("content-type", "")
        if not is_json_media_type(content_type):
            shown = media_type(content_type)[:80] or content_type[:80]
            raise RequestUnsupportedContentType("Unsupported content type", errors=[{
                "type": "unsupported_content_type", "loc": ("body",),
                "msg": f"the body must be JSON (Content-Type: application/json), not {shown}",
                "input": {}, "ctx": {}}])
        if event.is_base64_encoded:
            try:
                event.decoded_body  # noqa: B018 - cached by Powertools; decoding is the check
            except ValueError as exc:  # invalid base64 (binascii.Error) or not UTF-8 (UnicodeDecodeError)
                raise RequestValidationError([{
                    "type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error", "input": {},
                    "ctx": {"error": "the body is not UTF-8 text; send JSON encoded as UTF-8"}}]) from exc
        return self._parse_json_data(app)  # whatever the case or +json suffix of the declared type


def new_resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=exact_json_body)
    # Powertools builds its validation middleware here and uses whatever this attribute holds.
    app._request_validation_middleware = JsonRequestValidation()

    @app.exception_handler(LedgerbridgeError)
    def _domain_error(exc: LedgerbridgeError) -> Response:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(exc: RequestValidationError) -> Response:
        return validation_response(exc)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_type(exc: RequestUnsupportedContentType) -> Response:
        return unsupported_type_response(exc)

    @app.exception_handler(VendorError)
    def _vendor_error(exc: VendorError) -> Response:
        return vendor_error_response(exc)

    @app.not_found
    def _no_route(exc: Exception) -> Response:
        # A path the gateway routed here that no route of ours matches (an id with characters
        # the resolver's path pattern does not take): an unknown resource, in our error body.
        return error_response(404, "not_found", "no such resource (check the path and its ids)")

    @app.exception_handler(LeaseBusy)
    def _busy(exc: LeaseBusy) -> Response:
        return error_response(503, "busy", "the connection is busy with the vendor (renewing its authorization or "
                                           "reading a company); try again shortly")

    return app


class ErrorDetail(LazyModel):
    """One problem of a refused request: always a message, and where it is when that is known."""

    model_config = ConfigDict(extra="allow")

    message: str
    field: str | None = Field(None, description="the request field, e.g. `totals.gross`; `(body)` for malformed JSON")
    type: str | None = Field(None, description="`json_invalid` when the body is not usable JSON")
    row: str | None = Field(None, description="the account-setup row, e.g. `sales:Brød og bakst@15`")
    account: str | None = Field(None, description="the account number the problem is about")


class ErrorBody(LazyModel):
    """What every refusal of the API carries (error_response below)."""

    error: str = Field(description="machine-readable code: validation_failed, not_found, conflict, not_connected, "
                                   "unsupported_media_type, vendor_refused, vendor_unavailable, busy, unauthorized, …")
    message: str = Field(description="what is wrong and what to do, for a person")
    details: list[ErrorDetail] | None = Field(None, description="each problem, where there are several; "
                                                                "left out when there are none")


# What each error status means, for every operation that can answer it.
ERROR_ANSWERS: dict[int, str] = {
    400: "Malformed JSON: not JSON, not UTF-8, nested deeper than 32 levels, NaN/Infinity, a number with too "
         "many digits (`error: validation_failed`, a detail of `type: json_invalid`).",
    401: "No tenant: the request carried no valid tenant API key (`Authorization: Bearer lbk_…`).",
    404: "No such connection (or company, document, run) for this tenant.",
    409: "Conflicts with the current state: e.g. the connection is not connected or has no account setup "
         "(`not_connected`), changed content of a document already sent, a document being booked.",
    415: "The body is not JSON: send `Content-Type: application/json`.",
    422: "The request is well-formed JSON but breaks the contract (field types, ranges, dates, totals), or the "
         "accounting system refuses the setup (`details` names each problem).",
    503: "The accounting system is unavailable or the connection is busy with it (`vendor_unavailable`, `busy`); "
         "try again shortly (`Retry-After` when the vendor said when).",
}
TENANT_ERRORS = (401, 404, 422)  # every operation on a tenant's connection
BODY_ERRORS = (400, 415, 422)  # every operation that takes a JSON body
# Operations that ask the accounting system: it may refuse the credential (409 not_connected) or
# the request (422 vendor_refused), or be unavailable (503).
VENDOR_ERRORS = (409, 422, 503)


def answers(success: dict[int, str], *errors: int, html: bool = False,
            headers: dict[int, dict] | None = None, empty: tuple[int, ...] = ()) -> dict[int, dict]:
    """The responses an operation declares in the OpenAPI contract (docs/openapi.json).

    ``success``: status -> description; its body is the handler's return annotation (JSON), text/html
    with ``html``, or none for the statuses in ``empty``. ``errors``: the refusals it can answer,
    each with ErrorBody."""
    declared: dict[int, dict] = {}
    for status, description in success.items():
        declared[status] = {"description": description}
        if status in empty:
            declared[status]["content"] = {}
        elif html:
            declared[status]["content"] = {content_types.TEXT_HTML: {"schema": {"type": "string"}}}
        if headers and status in headers:
            declared[status]["headers"] = headers[status]
    for status in sorted(set(errors)):
        declared[status] = {"description": ERROR_ANSWERS[status],
                            "content": {content_types.APPLICATION_JSON: {"model": ErrorBody}}}
    return declared


def unsupported_type_message(exc: RequestUnsupportedContentType) -> str:
    return next((e.get("msg") for e in exc.errors() if e.get("msg")), "the body must be JSON")


def unsupported_type_response(exc: RequestUnsupportedContentType) -> Response:
    return error_response(415, "unsupported_media_type", unsupported_type_message(exc))


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
            # The decoder's own reason ("Expecting ',' delimiter", "nested deeper than 32 levels"):
            # it never quotes the input.
            reason = str((error.get("ctx") or {}).get("error") or "")
            position = next((part for part in error.get("loc", ()) if isinstance(part, int)), None)
            if reason and position:
                reason += f" (at character {position})"
            details.append({"field": "(body)", "message": f"malformed JSON: {reason}" if reason else "malformed JSON",
                            "type": "json_invalid"})
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


def public_base_url(app: APIGatewayRestResolver) -> str:
    """The URL this API is reached at, as the caller reached it (for links handed to a browser).

    API Gateway's own domain carries the stage in the path (https://<id>.execute-api.<region>.amazonaws.com/Prod),
    a custom domain its base-path mapping if any, the local gateway nothing."""
    event = app.current_event.raw_event
    context = event.get("requestContext") or {}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    domain = context.get("domainName") or headers.get("host") or "localhost"
    if domain.endswith(".amazonaws.com"):
        return f"https://{domain}/{context.get('stage', '')}".rstrip("/")
    local = domain.split(":")[0] in ("127.0.0.1", "localhost")
    scheme = headers.get("x-forwarded-proto") or ("http" if local else "https")
    # A custom domain's base-path mapping (api.example.com/v1): requestContext.path is the path as the
    # caller sent it, the event's path the API's own; the difference is the base path.
    full, own = context.get("path") or "", event.get("path") or ""
    base_path = full[: -len(own)] if not local and own and full.endswith(own) else ""
    return f"{scheme}://{domain}{base_path.rstrip('/')}"
