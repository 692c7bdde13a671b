"""The vendor notification receiver: public, authenticated by the connection's secret, no vendor call.

A vendor calls ``/hooks/<vendor>/<tenant>/<connection>`` when one of its records changes (Uniconta's
modification URL: ``Table, RowId, Key, Operation`` in the query string, our secret echoed as
``Argument``, the record as JSON when "Post" is ticked). The call is checked (the secret, compared as
SHA-256 digests in constant time), parsed by the vendor's connector package, queued as a sync job, and
answered 200 at once: a receiver that is slow or fails makes Uniconta mark the link "Has errors", after
which it sends nothing at all. Every refusal has one answer (401) whatever was wrong, so the endpoint
tells a prober nothing about which tenants or connections exist.
"""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query

from ..connectors import registry
from ..errors import LedgerbridgeError, Unauthorized
from ..models.common import LazyModel
from ..models.sync import SyncJob
from ..repositories import connections as connection_store
from ..services import notification_secrets
from ..services.transfer_queue import enqueue
from .common import PathId, answers, error_response, new_resolver

logger = Logger(child=True)
app = new_resolver()


class Queued(LazyModel):
    queued: bool
    reason: str | None = None


REFUSED = "unknown notification link, or its Argument is not this connection's secret"


def _refused() -> Unauthorized:
    # Raised, not returned: the exception handlers answer it (a route's answer is validated as Queued).
    return Unauthorized(REFUSED)


@app.not_found
def _no_route(exc: Exception) -> Response:
    # A path the resolver cannot match (characters its pattern does not take): an unknown link like any other.
    return error_response(401, Unauthorized.code, REFUSED)


def _ok(body: Queued) -> Response[Queued]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


NOTIFICATION_DESCRIPTION = (
    "Where the accounting system reports a change of a synced record (Uniconta's modification URL: GET, or POST "
    "with the record as JSON when \"Post\" is ticked). Public: the connection's secret, given once when customer "
    "sync was set up, must come back as `Argument`. Answers 200 as soon as the change is queued (no call to the "
    "accounting system is made here), 401 for an unknown link or a wrong secret (one answer for both), 400 for a "
    "call without `Key` or operation. The operation may be named `Operation` (Insert/Update/Delete) or `Action` "
    "(add/update/delete)."
)
HOOK_ANSWERS = answers({200: "Queued (or ignored: sync not set up; still 2xx, so the link stays healthy)."}, 400, 401,
                       422)


@app.get("/hooks/<vendor>/<tenant_id>/<connection_id>", summary="Change notification (GET)",
         description=NOTIFICATION_DESCRIPTION, responses=HOOK_ANSWERS)
@app.post("/hooks/<vendor>/<tenant_id>/<connection_id>", summary="Change notification (POST, with the record)",
          description=NOTIFICATION_DESCRIPTION, responses=HOOK_ANSWERS)
def notification(vendor: PathId, tenant_id: PathId, connection_id: PathId,
                 # Uniconta's own parameter names; declared so the contract says what is read.
                 Argument: Annotated[str | None, Query(max_length=200)] = None,  # noqa: N803
                 Table: Annotated[str | None, Query(max_length=100)] = None,  # noqa: N803
                 Key: Annotated[str | None, Query(max_length=200)] = None,  # noqa: N803
                 Operation: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
                 Action: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
                 RowId: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
                 CompanyId: Annotated[str | None, Query(max_length=20)] = None,  # noqa: N803
                 ) -> Response[Queued]:
    return _notification(vendor, tenant_id, connection_id)


def _notification(vendor: str, tenant_id: str, connection_id: str) -> Response:
    query = app.current_event.query_string_parameters or {}
    try:
        connection = connection_store.get(tenant_id, connection_id)
    except LedgerbridgeError:
        raise _refused() from None
    if connection.vendor != vendor or not notification_secrets.matches(connection, query.get("Argument")):
        logger.warning("notification refused", extra={"connection_id": connection_id, "vendor": vendor})
        raise _refused()
    if connection.customer_sync is None:
        return _ok(Queued(queued=False, reason="customer sync is not set up"))  # 2xx: the link stays healthy
    raw = app.current_event.decoded_body
    body = raw.encode() if isinstance(raw, str) else raw
    try:
        change = registry.connector_module(vendor).parse_notification(query, body or None)
    except ValueError as exc:
        raise LedgerbridgeError(f"not a notification this link takes: {exc}") from None
    job = SyncJob(action="vendor_change", tenant_id=tenant_id, connection_id=connection_id,
                  kind=change.kind, change=change, trigger="notification")
    enqueue([job])
    logger.info("notification queued", extra={"connection_id": connection_id, "operation": change.operation,
                                              "job_id": job.job_id})
    return _ok(Queued(queued=True))
