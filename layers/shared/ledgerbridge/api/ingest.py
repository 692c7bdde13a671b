"""The ingest API: a POS back office pushes daily settlements (with the Z-report PDF) and stock
registrations (goods received, write-offs, count adjustments, with the delivery note or count sheet);
a payroll system pushes the journals of its payroll runs; a booking system pushes its customers
(master-data sync: answered per customer, see ``services.master_data``).

Both answer alike: 201 new, 200 identical resend, 409 changed content (unless superseded before it
was booked), 400 malformed JSON, 415 not JSON, 422 invalid; every refusal is logged in the export log.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ..errors import LedgerbridgeError
from ..models.common import utcnow
from ..models.documents import DocumentKind, DocumentView
from ..models.settlement import Settlement
from ..models.payroll import PayrollJournal
from ..models.stock import StockRegistration
from ..models.sync import PushAnswer, RecordPush
from ..repositories import connections as connection_store
from ..repositories import documents
from ..services.ingest import IngestResult, ingest_payroll_journal, ingest_settlement, ingest_stock_registration
from .common import (
    BODY_ERRORS,
    MAX_PATH_ID,
    TENANT_ERRORS,
    PathId,
    answers,
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


STOCK_REGISTRATIONS_DESCRIPTION = (
    "A stock registration: goods received (`goods_received`, varemottak), a write-off (`write_off`, svinn) or a "
    "count adjustment (`count_adjustment`, varetelling), booked as a voucher of its own between the account "
    "setup's `inventory` account (the stock, e.g. 1460 Varelager) and its `inventory_change` account (cost of "
    "goods, e.g. 4090 Beholdningsendring); the setup needs `inventory_change` on, or the document fails with "
    "what to set up.\n\n"
    "Amounts are the change of the stock's value at cost, **signed**: positive = the stock goes up (debit "
    "inventory, credit inventory change), negative = it goes down (the reverse); the voucher books their sum. "
    "`goods_received` takes amounts of 0 or more, `write_off` amounts of 0 or less (the other sign is refused "
    "with 422), `count_adjustment` either. Lines adding up to zero are accepted and logged as `nothing_to_book`.\n\n"
    "Answers as for settlements: 201 new, 200 identical resend, 409 changed content (send `?supersede=true` to "
    "replace a version not yet booked; a booked one needs a correction in the accounting system) or a "
    "`document_id` already used by a settlement, 400 malformed JSON, 415 not JSON, 422 invalid (e.g. a "
    "`business_date` outside 2000-01-01 … tomorrow (UTC), a `document_id` with `/` or `..`, a currency the "
    "company does not book in). Refusals are logged in the export log as `rejected`."
)


# 409: changed content of a version already sent (unless superseded before it was submitted), or a
# document_id already used by another kind of document.
INGEST_ANSWERS = answers({201: "Accepted: a new document or a new version.",
                          200: "An identical resend: the version already accepted."},
                         *TENANT_ERRORS, *BODY_ERRORS, 409)


@app.post("/connections/<connection_id>/settlements", responses=INGEST_ANSWERS)
def post_settlement(
    connection_id: PathId,
    settlement: Annotated[Settlement, Body()],
    supersede: Annotated[bool, Query()] = False,
) -> Response[DocumentView]:
    return _accepted(connection_id, lambda tenant_id: ingest_settlement(tenant_id, connection_id, settlement,
                                                                        supersede=supersede))


@app.post("/connections/<connection_id>/stock-registrations", summary="Push a stock registration",
          description=STOCK_REGISTRATIONS_DESCRIPTION, responses=INGEST_ANSWERS)
def post_stock_registration(
    connection_id: PathId,
    registration: Annotated[StockRegistration, Body()],
    supersede: Annotated[bool, Query()] = False,
) -> Response[DocumentView]:
    return _accepted(connection_id, lambda tenant_id: ingest_stock_registration(tenant_id, connection_id, registration,
                                                                                supersede=supersede))


PAYROLL_JOURNALS_DESCRIPTION = (
    "The journal of one payroll run (e.g. Nmbrs' journal entries), booked as **one ledger receipt per accounting "
    "period its lines concern**: a normal run's lines concern its `pay_period`; correction lines name the earlier "
    "`period` they concern and are booked in it (a June run with corrections for January–May becomes six "
    "receipts, dated inside January…June). Each receipt is named with `run_reference` and its period.\n\n"
    "Every period's lines must balance (debits = credits): a period that does not is refused with 422 naming the "
    "period and the difference. A journal whose `source_company` is a test company, or whose group is blocked, is "
    "refused with 422 and that reason. Accounts and `cost_centre` / `cost_unit` are booked as the connection's "
    "payroll setup maps them (PUT /connections/{id}/payroll-setup).\n\n"
    "Answers as for settlements: 201 new, 200 identical resend, 409 changed content (send `?supersede=true` to "
    "replace a version none of whose receipts was sent yet), 400 malformed JSON, 415 not JSON, 422 invalid; "
    "refusals are logged in the export log as `rejected`. The export log shows the journal once, with each "
    "period's receipt (`parts`: id, number, state)."
)


@app.post("/connections/<connection_id>/payroll-journals", summary="Push a payroll journal",
          description=PAYROLL_JOURNALS_DESCRIPTION, responses=INGEST_ANSWERS)
def post_payroll_journal(
    connection_id: PathId,
    journal: Annotated[PayrollJournal, Body()],
    supersede: Annotated[bool, Query()] = False,
) -> Response[DocumentView]:
    return _accepted(connection_id, lambda tenant_id: ingest_payroll_journal(tenant_id, connection_id, journal,
                                                                             supersede=supersede))


CUSTOMERS_DESCRIPTION = (
    "The source system's customers (one or a batch of up to 500), with their tags and fields named as the "
    "accounting system names them (customer sync: PUT /connections/{id}/customer-sync). Answers 202 with one "
    "result per customer:\n\n"
    "- `queued`: tagged and new or changed; written to the accounting system by a worker shortly;\n"
    "- `unchanged`: tagged and exactly as last pushed: nothing to write, **no call** to the accounting system;\n"
    "- `untagged`: the tag was removed: syncing stops (nothing is deleted there); put it back and the customer "
    "is synced again in full;\n"
    "- `not_tagged`: never synced; `refused`: a value its field cannot take, or an id the accounting system "
    "cannot use as the customer's number (Uniconta: at most 20 characters), with the reason.\n\n"
    "409 if customer sync is not set up or the connection has no login; 400/415/422 for a malformed body."
)


@app.post("/connections/<connection_id>/customers", summary="Push customers (master-data sync)",
          description=CUSTOMERS_DESCRIPTION,
          responses=answers({202: "Taken: one result per customer."}, *TENANT_ERRORS, *BODY_ERRORS, 409))
def post_customers(connection_id: PathId, batch: Annotated[RecordPush, Body()]) -> Response[PushAnswer]:
    from ..services import master_data  # deferred: settlements never load the sync

    answer = master_data.push(tenant_of(app), connection_id, batch)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=answer)


def _accepted(connection_id: str, ingest: Callable[[str], IngestResult]) -> Response[DocumentView]:
    try:
        result = ingest(tenant_of(app))
    except LedgerbridgeError as exc:
        if exc.status_code in (409, 422):
            _log_rejection(connection_id, exc.message)
        raise
    status = 201 if result.created else 200
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=DocumentView.of(result.record))


_KIND_BY_PATH = {"stock-registrations": DocumentKind.STOCK_REGISTRATION,
                 "payroll-journals": DocumentKind.PAYROLL_JOURNAL}
# Master data, not documents: a refused push is answered (per customer), not logged as a document.
_NOT_DOCUMENTS = ("customers",)


def _kind() -> DocumentKind:
    """The kind of document the current request sends (the export log's kind for a refusal)."""
    path = (app.current_event.path or "").rstrip("/")
    return _KIND_BY_PATH.get(path.rsplit("/", 1)[-1], DocumentKind.DAILY_SETTLEMENT)


def _noun() -> str:
    """What the current request sends, as refusals name it."""
    return _kind().value.replace("_", " ").replace("daily ", "")


def _sends_documents() -> bool:
    return (app.current_event.path or "").rstrip("/").rsplit("/", 1)[-1] not in _NOT_DOCUMENTS


@app.exception_handler(RequestValidationError)
def _rejected(exc: RequestValidationError) -> Response:
    details = describe_validation(exc)
    if not _sends_documents():
        message = "invalid customers: " + "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
        return error_response(status_for(details), "validation_failed", message, details)
    message = f"invalid {_noun()}: " + "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    connection_id = (app.current_event.path_parameters or {}).get("connection_id")
    if connection_id:
        _log_rejection(connection_id, message)
    return error_response(status_for(details), "validation_failed", message, details)


@app.exception_handler(RequestUnsupportedContentType)
def _not_json(exc: RequestUnsupportedContentType) -> Response:
    connection_id = (app.current_event.path_parameters or {}).get("connection_id")
    if connection_id and _sends_documents():
        _log_rejection(connection_id, f"invalid {_noun()}: {unsupported_type_message(exc)}")
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
    if business_date is None and _kind() is DocumentKind.PAYROLL_JOURNAL:
        business_date = _peek_date(app.current_event.body, "run_date")
    documents.record_rejection(tenant_id, connection_id, document_id=document_id,
                               business_date=business_date or utcnow().date(), reason=message,
                               kind=_kind().value)
    logger.info(f"{_noun()} rejected", extra={"connection_id": connection_id, "document_id": document_id})


def _peek_date(body: str | None, name: str) -> date | None:
    try:
        data = exact_json_body(body or "")
        return date.fromisoformat(str(data.get(name))) if isinstance(data, dict) else None
    except ValueError:
        return None


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
