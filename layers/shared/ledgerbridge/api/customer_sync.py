"""Management API, customer sync (master data): the setup, its state, the changes feed, a check on demand,
and a new notification secret."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import Field

from ..models.common import LazyModel
from ..models.sync import ChangesPage, SyncSetup, SyncView
from ..services import master_data
from .common import BODY_ERRORS, TENANT_ERRORS, VENDOR_ERRORS, PathId, answers, tenant_of

router = Router()

SETUP_DESCRIPTION = (
    "Which customers are synced (`tag`), which of their fields travel (`fields`: names exactly as the accounting "
    "system names its customer fields, standard or the company's own; names that match nothing are refused with "
    "422 listing each), and which side is master of each field (`master`, `default_master`: `both` = the latest "
    "change wins). Validated against the fields the accounting system reports.\n\n"
    "The answer holds `notification_url`: paste it into the accounting system's change notification (Uniconta: "
    "Company > Maintenance > Modification URL, table Debtor, tick Post) with `notification_argument` as its "
    "Argument. The argument is shown **once**, when first made (POST …/customer-sync/notification-secret makes a "
    "new one); so is `webhook_secret`, the key of the signature on calls to `webhook_url`."
)


class CheckQueued(LazyModel):
    queued: bool
    job_id: str = Field(description="the check runs in the background; GET …/customer-sync shows its outcome")


@router.get("/connections/<connection_id>/customer-sync",
            responses=answers({200: "The setup, the sync's health and its customers by state."}, *TENANT_ERRORS))
def get_customer_sync(connection_id: PathId) -> SyncView:
    return master_data.get_view(tenant_of(router), connection_id)


@router.put("/connections/<connection_id>/customer-sync", summary="Set up customer sync",
            description=SETUP_DESCRIPTION,
            responses=answers({200: "Stored."}, *TENANT_ERRORS, *BODY_ERRORS, *VENDOR_ERRORS))
def put_customer_sync(connection_id: PathId, setup: Annotated[SyncSetup, Body()]) -> SyncView:
    return master_data.save_setup(tenant_of(router), connection_id, setup)


@router.post("/connections/<connection_id>/customer-sync/notification-secret",
             responses=answers({200: "A new Argument secret (the old one stops working now)."}, *TENANT_ERRORS, 409))
def rotate_notification_secret(connection_id: PathId) -> SyncView:
    return master_data.rotate_notification_secret(tenant_of(router), connection_id)


@router.post("/connections/<connection_id>/customer-sync/check",
             responses=answers({202: "A comparison with the accounting system is queued."}, *TENANT_ERRORS, 409))
def check_customer_sync(connection_id: PathId) -> Response[CheckQueued]:
    result = master_data.request_check(tenant_of(router), connection_id)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=CheckQueued(**result))


@router.get("/connections/<connection_id>/customers/changes", summary="Changes made in the accounting system",
            description="Customers changed in the accounting system, oldest first, after `cursor` (the `cursor` of "
                        "the previous page; none: from the start of the kept history, 30 days). A change the hub "
                        "wrote itself is never listed; a change of a field the source is master of is put back "
                        "there, not listed.",
            responses=answers({200: "A page of changes."}, *TENANT_ERRORS, 409))
def customer_changes(connection_id: PathId,
                     cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$")] = None,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ChangesPage:
    return master_data.changes(tenant_of(router), connection_id, cursor, limit)
