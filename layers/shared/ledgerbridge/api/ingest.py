"""The ingest API: a POS back office pushes daily settlements (with the Z-report PDF)."""
from __future__ import annotations

from datetime import date
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ..errors import LedgerbridgeError
from ..models.common import utcnow
from ..models.documents import DocumentView
from ..models.settlement import Settlement
from ..repositories import connections as connection_store
from ..repositories import documents
from ..services.ingest import ingest_settlement
from .common import (
    MAX_PATH_ID,
    PathId,
    describe_validation,
    error_response,
    exact_json_body,
    new_resolver,
    status_for,
    tenant_of,
    unsupported_type_message,
    unsupported_type_response,
)

logger = Logger(child=True)
app = new_resolver()


@app.post("/connections/<connection_id>/settlements")
def post_settlement(
    connection_id: PathId,
    settlement: Annotated[Settlement, Body()],
    supersede: Annotated[bool, Query()] = False,
) -> Response[DocumentView]:
    try:
        result = ingest_settlement(tenant_of(app), connection_id, settlement, supersede=supersede)
    except LedgerbridgeError as exc:
        if exc.status_code in (409, 422):
            _log_rejection(connection_id, exc.message)
        raise
    status = 201 if result.created else 200
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=DocumentView.of(result.record))


@app.exception_handler(RequestValidationError)
def _rejected(exc: RequestValidationError) -> Response:
    details = describe_validation(exc)
    message = "invalid settlement: " + "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    connection_id = (app.current_event.path_parameters or {}).get("connection_id")
    if connection_id:
        _log_rejection(connection_id, message)
    return error_response(status_for(details), "validation_failed", message, details)


@app.exception_handler(RequestUnsupportedContentType)
def _not_json(exc: RequestUnsupportedContentType) -> Response:
    connection_id = (app.current_event.path_parameters or {}).get("connection_id")
    if connection_id:
        _log_rejection(connection_id, f"invalid settlement: {unsupported_type_message(exc)}")
    return unsupported_type_response(exc)


def _log_rejection(connection_id: str, message: str) -> None:
    """Refused input still leaves a line in the export log, so the shop can see what bounced."""
    if not 0 < len(connection_id) <= MAX_PATH_ID:
        return  # no such connection (and no key DynamoDB would take)
    try:
        tenant_id = tenant_of(app)
        connection_store.get(tenant_id, connection_id)
    except LedgerbridgeError:
        return  # unknown connection or tenant: nothing to log against
    document_id, business_date = _peek(app.current_event.body)
    documents.record_rejection(tenant_id, connection_id, document_id=document_id,
                               business_date=business_date or utcnow().date(), reason=message)
    logger.info("settlement rejected", extra={"connection_id": connection_id, "document_id": document_id})


def _peek(body: str | None) -> tuple[str | None, date | None]:
    """Best-effort document id and date out of a body that failed validation."""
    try:
        data = exact_json_body(body or "")
    except ValueError:  # malformed, not UTF-8, too deep: nothing to peek at
        return None, None
    if not isinstance(data, dict):
        return None, None
    document_id = data.get("document_id") if isinstance(data.get("document_id"), str) else None
    try:
        business_date = date.fromisoformat(str(data.get("business_date")))
    except ValueError:
        business_date = None
    return (document_id[:128] if document_id else None), business_date
