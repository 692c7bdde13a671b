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

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types

from ..connectors import registry
from ..errors import LedgerbridgeError
from ..models.sync import SyncJob
from ..repositories import connections as connection_store
from ..services.master_data import notification_secret_matches
from ..services.transfer_queue import enqueue
from .common import MAX_PATH_ID, error_response, new_resolver

logger = Logger(child=True)
app = new_resolver()


def _refused() -> Response[str]:
    return error_response(401, "unauthorized", "unknown notification link, or its Argument is not this "
                                               "connection's secret")


def _ok(body: str) -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@app.route("/hooks/<vendor>/<tenant_id>/<connection_id>", method=["GET", "POST"], include_in_schema=False)
def notification(vendor: str, tenant_id: str, connection_id: str) -> Response[str]:
    query = app.current_event.query_string_parameters or {}
    if not (0 < len(tenant_id) <= MAX_PATH_ID and 0 < len(connection_id) <= MAX_PATH_ID):
        return _refused()
    try:
        connection = connection_store.get(tenant_id, connection_id)
    except LedgerbridgeError:
        return _refused()
    if connection.vendor != vendor or not notification_secret_matches(connection, query.get("Argument")):
        logger.warning("notification refused", extra={"connection_id": connection_id, "vendor": vendor})
        return _refused()
    if connection.customer_sync is None:
        return _ok('{"queued": false, "reason": "customer sync is not set up"}')  # 2xx: the link stays healthy
    raw = app.current_event.decoded_body
    body = raw.encode() if isinstance(raw, str) else raw
    try:
        change = registry.connector_module(vendor).parse_notification(query, body or None)
    except ValueError as exc:
        return error_response(400, "bad_notification", str(exc))
    job = SyncJob(action="vendor_change", tenant_id=tenant_id, connection_id=connection_id,
                  kind=change.kind, change=change, trigger="notification")
    enqueue([job])
    logger.info("notification queued", extra={"connection_id": connection_id, "operation": change.operation,
                                              "job_id": job.job_id})
    return _ok('{"queued": true}')
