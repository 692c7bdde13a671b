"""Management API, client companies (vendors where one credential reaches many companies):
import, reconciliation setup, balance refresh and the entries read."""
from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ..models.companies import BalanceRefreshRequest, CompanyView, LedgerPage, ReconciliationSetup
from ..services import companies, runs
from .common import BODY_ERRORS, TENANT_ERRORS, PathId, answers, tenant_of
from ..models.common import LazyModel

router = Router()


class RunStarted(LazyModel):
    run_id: str  # follow it in the export log: GET /connections/{id}/documents/{run_id}


def _accepted(run_id: str) -> Response[RunStarted]:
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=RunStarted(run_id=run_id))


@router.post("/connections/<connection_id>/companies/import",
             responses=answers({202: "Import started."}, *TENANT_ERRORS, 409))
def import_companies(connection_id: PathId) -> Response[RunStarted]:
    return _accepted(runs.start_import(tenant_of(router), connection_id))


@router.get("/connections/<connection_id>/companies",
            responses=answers({200: "Every imported client company."}, *TENANT_ERRORS))
def list_companies(connection_id: PathId) -> list[CompanyView]:
    return [CompanyView.of(c) for c in companies.list_all(tenant_of(router), connection_id)]


@router.get("/connections/<connection_id>/companies/<company_id>",
            responses=answers({200: "The company, its setup and latest balances."}, *TENANT_ERRORS))
def get_company(connection_id: PathId, company_id: PathId) -> CompanyView:
    return CompanyView.of(companies.get(tenant_of(router), connection_id, company_id))


@router.put("/connections/<connection_id>/companies/<company_id>/reconciliation",
            responses=answers({200: "Checked against the company's chart and saved."}, *TENANT_ERRORS, *BODY_ERRORS,
                              409, 503))
def set_up_company(connection_id: PathId, company_id: PathId,
                   setup: Annotated[ReconciliationSetup, Body()]) -> CompanyView:
    return CompanyView.of(companies.set_up(tenant_of(router), connection_id, company_id, setup))


@router.post("/connections/<connection_id>/companies/<company_id>/refresh",
             responses=answers({202: "Refresh started."}, *TENANT_ERRORS, *BODY_ERRORS, 409))
def refresh_company(connection_id: PathId, company_id: PathId,
                    request: Annotated[BalanceRefreshRequest, Body()]) -> Response[RunStarted]:
    return _accepted(runs.start_refresh(tenant_of(router), connection_id, company_ids=[company_id],
                                        as_of=request.as_of, period_from=request.period_from))


@router.post("/connections/<connection_id>/balance-refresh",
             responses=answers({202: "Refresh of every set-up company started."}, *TENANT_ERRORS, *BODY_ERRORS, 409))
def refresh_all(connection_id: PathId, request: Annotated[BalanceRefreshRequest, Body()]) -> Response[RunStarted]:
    return _accepted(runs.start_refresh(tenant_of(router), connection_id, as_of=request.as_of,
                                        period_from=request.period_from))


@router.get("/connections/<connection_id>/companies/<company_id>/ledger",
            responses=answers({200: "A page of the entries read."}, *TENANT_ERRORS))
def ledger(
    connection_id: PathId,
    company_id: PathId,
    account: Annotated[str, Query(pattern=r"^[0-9]{1,6}$")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LedgerPage:
    return companies.ledger_page(tenant_of(router), connection_id, company_id, account, cursor=cursor, limit=limit)
