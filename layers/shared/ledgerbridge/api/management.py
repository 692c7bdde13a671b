"""The management API: connections, connect (OAuth start or an integration user), account setup,
schedule, transfers, export log; client companies in ``companies.py``."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from botocore.exceptions import ClientError
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr

from ..connectors.base import Catalog, Dimension, FiscalYear
from ..errors import NotFound, ValidationFailed
from ..models.common import EARLIEST_DATE, LATEST_FILTER_DATE
from ..models.connection import (
    AccountSetup,
    Choice,
    ConnectionCreate,
    ConnectionView,
    CredentialCreate,
    TransferSchedule,
)
from ..models.documents import DocumentState, DocumentView
from ..models.payroll import PayrollSetup
from ..repositories import console_sessions
from ..repositories import documents as document_store
from ..services import connections, oauth, transfers
from .common import (
    BODY_ERRORS,
    TENANT_ERRORS,
    VENDOR_ERRORS,
    PathId,
    answers,
    new_resolver,
    public_base_url,
    tenant_of,
)
from .companies import router as companies_router
from .customer_sync import router as customer_sync_router
from ..models.common import LazyModel

app = new_resolver()
app.include_router(companies_router)
app.include_router(customer_sync_router)

# Date filters in query strings: plain dates, from 2000-01-01 (before any business date) on.
DATE_FILTER = dict(ge=EARLIEST_DATE, le=LATEST_FILTER_DATE,
                   description=f"a date from {EARLIEST_DATE.isoformat()} to {LATEST_FILTER_DATE.isoformat()}")


class ConnectStarted(LazyModel):
    connect_url: str  # open in the user's browser: it redirects to the vendor's sign-in page


class DocumentPage(LazyModel):
    documents: list[DocumentView]
    next_cursor: str | None = None


class CheckResult(LazyModel):
    """ "Test integration": the vendor's verdict on the stored credential, and what to pick from."""

    ok: bool
    message: str = Field(description="the vendor's verdict, e.g. why a password was refused")
    company_name: str | None = None
    companies: int | None = Field(None, description="client companies the credential reaches, where several")
    warnings: list[str] = Field(default_factory=list, description="what works but deserves attention")
    choices: dict[str, list[Choice]] = Field(default_factory=dict,
                                             description="lists to pick from by setting name (PUT vendor-settings)")
    company_id: str | None = Field(None, description="the vendor's id of the company: the connection is bound to it")
    business_id: str | None = Field(None, description="the company's business id (Y-tunnus, org. no.)")
    fiscal_years: list[FiscalYear] = Field(default_factory=list,
                                           description="fiscal years with their periods' status, where the vendor "
                                                       "tracks periods (Procountor)")
    dimensions: list[Dimension] = Field(default_factory=list, description="dimensions (cost centres, cost units…) "
                                                                          "with their items, where the vendor has them")


class ApiKeyCreate(LazyModel):
    """A machine-to-machine API key copied from the vendor (Procountor: "API client keys")."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    api_key: SecretStr = Field(min_length=8, max_length=4096)


class TransferWindow(LazyModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from", description="first business date")
    to: date = Field(description="last business date")


class TransferStarted(LazyModel):
    """ "Transfer now": the waiting documents queued, from the from-date on."""

    enqueued: int = Field(description="documents queued now; one already queued is not counted again")
    window: TransferWindow | None = Field(description="the business dates looked at (from the from-date to "
                                                      "tomorrow); null: the from-date is after tomorrow")
    before_from_date: int | None = Field(None, description="waiting documents dated before the from-date, left "
                                                           "for replay (null when there are none)")
    message: str | None = Field(None, description="what to do about those (null when there are none)")


class SignInLink(LazyModel):
    """A one-time link into the console for this tenant: opened once, within 15 minutes."""

    sign_in_url: str = Field(description="open in a browser; it signs in once, then it is used up")
    expires_at: datetime = Field(description="the link no longer signs in after this")


class ReplayStarted(LazyModel):
    replayed: int = Field(description="failed documents reopened and queued")




@app.get("/connections", responses=answers({200: "The tenant's connections."}, 401))
def list_connections() -> list[ConnectionView]:
    return [ConnectionView.of(c) for c in connections.list_all(tenant_of(app))]


@app.post("/connections", responses=answers({201: "Created."}, 401, *BODY_ERRORS))
def create_connection(request: Annotated[ConnectionCreate, Body()]) -> Response[ConnectionView]:
    created = connections.create(tenant_of(app), request)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=ConnectionView.of(created))


@app.get("/connections/<connection_id>", responses=answers({200: "The connection."}, *TENANT_ERRORS))
def get_connection(connection_id: PathId) -> ConnectionView:
    connection = connections.get(tenant_of(app), connection_id)
    view = ConnectionView.of(connection)
    view.vendor_usage = connections.usage_today(connection)
    return view


@app.delete("/connections/<connection_id>",
            responses=answers({204: "Deleted, with its stored credential."}, *TENANT_ERRORS, empty=(204,)))
def delete_connection(connection_id: PathId) -> Response[str]:
    connections.delete(tenant_of(app), connection_id)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body="")


@app.put("/connections/<connection_id>/schedule",
         responses=answers({200: "The connection, next run planned."}, *TENANT_ERRORS, *BODY_ERRORS))
def put_schedule(connection_id: PathId, schedule: Annotated[TransferSchedule, Body()]) -> ConnectionView:
    return ConnectionView.of(connections.update_schedule(tenant_of(app), connection_id, schedule))


@app.post("/connections/<connection_id>/connect",
          responses=answers({200: "A one-time link for the user's browser."}, *TENANT_ERRORS))
def connect(connection_id: PathId,
            credential: Annotated[Literal["oauth", "api_key"], Query(
                description="oauth: the interactive sign-in (refresh tokens); api_key: the vendor's "
                            "machine-to-machine sign-in, which issues a per-company API key (Procountor's "
                            "/keylogin, recommended for unattended integrations)")] = "oauth") -> ConnectStarted:
    return ConnectStarted(connect_url=oauth.start(tenant_of(app), connection_id, credential))


@app.put("/connections/<connection_id>/api-key",
         responses=answers({200: "Stored and tested: the verdict (`ok: false` with the reason when refused)."},
                           *TENANT_ERRORS, *BODY_ERRORS, *VENDOR_ERRORS))
def put_api_key(connection_id: PathId, credential: Annotated[ApiKeyCreate, Body()]) -> CheckResult:
    """Store an API key copied from the vendor (Procountor: Management > API client keys) and test it."""
    return CheckResult.model_validate(connections.store_api_key(tenant_of(app), connection_id,
                                                                credential.api_key.get_secret_value()))


@app.get("/connections/<connection_id>/payroll-setup",
         responses=answers({200: "The saved payroll setup (null: none yet)."}, *TENANT_ERRORS))
def get_payroll_setup(connection_id: PathId) -> PayrollSetup | None:
    return connections.get(tenant_of(app), connection_id).payroll_setup


@app.put("/connections/<connection_id>/payroll-setup",
         responses=answers({200: "Checked against the company's chart and dimensions, and saved."}, *TENANT_ERRORS,
                           *BODY_ERRORS, *VENDOR_ERRORS))
def put_payroll_setup(connection_id: PathId, setup: Annotated[PayrollSetup, Body()]) -> ConnectionView:
    """How payroll journals are booked: account mapping, dimensions (cost centre → e.g. "Kustannuspaikka"),
    whether unknown dimension items are created, whether receipts are approved by the hub."""
    return ConnectionView.of(connections.save_payroll_setup(tenant_of(app), connection_id, setup))


@app.post("/connections/<connection_id>/check",
          responses=answers({200: "The verdict (`ok: false` with the reason when refused)."}, *TENANT_ERRORS,
                            *VENDOR_ERRORS))
def check(connection_id: PathId) -> CheckResult:
    return CheckResult.model_validate(connections.check(tenant_of(app), connection_id))


@app.put("/connections/<connection_id>/credential",
         responses=answers({200: "Stored and tested: the verdict (`ok: false` with the reason when refused)."},
                           *TENANT_ERRORS, *BODY_ERRORS, *VENDOR_ERRORS))
def put_credential(connection_id: PathId, credential: Annotated[CredentialCreate, Body()]) -> CheckResult:
    """Store an integration user (vendors without OAuth, e.g. 24SevenOffice) and test it at once."""
    return CheckResult.model_validate(connections.store_credential(tenant_of(app), connection_id, credential))


@app.put("/connections/<connection_id>/vendor-settings",
         responses=answers({200: "The connection with its picks."}, *TENANT_ERRORS, *BODY_ERRORS, *VENDOR_ERRORS))
def put_vendor_settings(connection_id: PathId, settings: Annotated[dict[str, str], Body()]) -> ConnectionView:
    """Pick from the lists "Test integration" offered, e.g. {"transaction_type": "1"}."""
    return ConnectionView.of(connections.update_vendor_settings(tenant_of(app), connection_id, settings))


@app.post("/connections/<connection_id>/choices",
          responses=answers({200: "The connection with the lists read again."}, *TENANT_ERRORS, *VENDOR_ERRORS))
def refresh_choices(connection_id: PathId) -> ConnectionView:
    """Read the lists to pick from (companies, departments, voucher types…) from the vendor again."""
    return ConnectionView.of(connections.refresh_choices(tenant_of(app), connection_id))


@app.get("/connections/<connection_id>/catalog",
         responses=answers({200: "Chart of accounts, VAT codes, fiscal years."}, *TENANT_ERRORS, *VENDOR_ERRORS))
def catalog(connection_id: PathId, on_date: Annotated[date | None, Query(alias="date", **DATE_FILTER)] = None) -> Catalog:
    return connections.catalog(tenant_of(app), connection_id, on_date)


@app.get("/connections/<connection_id>/account-setup",
         responses=answers({200: "The saved account setup (null: none yet)."}, *TENANT_ERRORS))
def get_account_setup(connection_id: PathId) -> AccountSetup | None:
    return connections.get(tenant_of(app), connection_id).account_setup


@app.put("/connections/<connection_id>/account-setup",
         responses=answers({200: "Checked against the accounting system and saved."}, *TENANT_ERRORS, *BODY_ERRORS,
                           *VENDOR_ERRORS))
def put_account_setup(connection_id: PathId, setup: Annotated[AccountSetup, Body()]) -> ConnectionView:
    return ConnectionView.of(connections.save_account_setup(tenant_of(app), connection_id, setup))


@app.post("/connections/<connection_id>/transfers",
          responses=answers({202: "Queued."}, *TENANT_ERRORS, 409))
def transfer_now(connection_id: PathId) -> Response[TransferStarted]:
    result = TransferStarted.model_validate(transfers.transfer_now(tenant_of(app), connection_id))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result)


@app.get("/connections/<connection_id>/documents",
         responses=answers({200: "A page of the export log."}, *TENANT_ERRORS))
def export_log(
    connection_id: PathId,
    state: Annotated[DocumentState | None, Query()] = None,
    date_from: Annotated[date | None, Query(alias="from", **DATE_FILTER)] = None,
    date_to: Annotated[date | None, Query(alias="to", **DATE_FILTER)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> DocumentPage:
    if date_from and date_to and date_from > date_to:
        raise ValidationFailed(f"from {date_from.isoformat()} is after to {date_to.isoformat()}; swap them")
    tenant_id = tenant_of(app)
    connections.get(tenant_id, connection_id)  # 404 for another tenant's connection
    try:
        records, next_cursor = document_store.page(tenant_id, connection_id, state=state, date_from=date_from,
                                                   date_to=date_to, limit=limit, cursor=cursor)
    except ClientError as exc:
        # A cursor of the right shape can still hold a start key DynamoDB refuses (an empty key
        # value, a date outside this query's range): the caller's input, not our failure.
        if not cursor or exc.response.get("Error", {}).get("Code") != "ValidationException":
            raise
        raise ValidationFailed("invalid cursor: pass next_cursor from the previous page unchanged, "
                               "with the same filters") from exc
    return DocumentPage(documents=[DocumentView.of(r) for r in records], next_cursor=next_cursor)


@app.get("/connections/<connection_id>/documents/<document_id>",
         responses=answers({200: "The document or run, latest version."}, *TENANT_ERRORS))
def get_document(connection_id: PathId, document_id: PathId) -> DocumentView:
    tenant_id = tenant_of(app)
    connections.get(tenant_id, connection_id)
    record = document_store.latest(tenant_id, connection_id, document_id)
    if record is None:
        raise NotFound(f"document {document_id} not found")
    return DocumentView.of(record)


@app.post("/connections/<connection_id>/documents/<document_id>/replay",
          responses=answers({202: "Queued again."}, *TENANT_ERRORS, 409))
def replay(connection_id: PathId, document_id: PathId,
           resend: Annotated[bool, Query(description="the voucher of an unanswered post was checked for at the "
                                                      "vendor and is not there: send it again")] = False,
           ) -> Response[DocumentView]:
    record = transfers.replay(tenant_of(app), connection_id, document_id, resend=resend)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=DocumentView.of(record))


@app.post("/connections/<connection_id>/replay-failed",
          responses=answers({202: "Failed documents queued again."}, *TENANT_ERRORS, 409))
def replay_failed(connection_id: PathId) -> Response[ReplayStarted]:
    result = ReplayStarted.model_validate(transfers.replay_failed(tenant_of(app), connection_id))
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result)


@app.post("/console/sign-in-links", responses=answers({201: "A one-time sign-in link."}, 401))
def create_sign_in_link() -> Response[SignInLink]:
    """A link that opens the console signed in as this tenant (a short-lived session), for a browser."""
    link = console_sessions.create_sign_in_link(tenant_of(app))
    body = SignInLink(sign_in_url=f"{public_base_url(app)}/console/sign-in?token={link.token}",
                      expires_at=datetime.fromtimestamp(link.expires_at, tz=timezone.utc))
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)
