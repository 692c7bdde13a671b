"""Client companies of a connection: list, set up for reconciliation, read stored balances."""
from __future__ import annotations

import base64
import json

from .. import aws
from ..connectors import registry
from ..connectors.base import RECONCILIATION, CompanyAccessLost, CompanyRef, require
from ..errors import Conflict, CredentialRejected, NotConnected, NotFound, ValidationFailed
from ..models.companies import (
    Company,
    CompanyStatus,
    LedgerEntryView,
    LedgerPage,
    ReconciledAccount,
    ReconciliationSetup,
)
from ..models.common import utcnow
from ..models.connection import Connection, ConnectionStatus
from ..oauth.providers import provider
from ..repositories import companies as company_store
from ..repositories import connections as connection_store
from ..repositories import payloads
from ..settings import get_settings
from .connections import planned_next_run


def list_all(tenant_id: str, connection_id: str) -> list[Company]:
    connection_store.get(tenant_id, connection_id)  # 404 for unknown / other tenant's
    return company_store.list_for_connection(tenant_id, connection_id)


def get(tenant_id: str, connection_id: str, company_id: str) -> Company:
    connection_store.get(tenant_id, connection_id)
    return company_store.get(tenant_id, connection_id, company_id)


def set_up(tenant_id: str, connection_id: str, company_id: str, setup: ReconciliationSetup) -> Company:
    """Choose the accounts to reconcile, validated against this company's own chart of accounts."""
    connection = connection_store.get(tenant_id, connection_id)
    if connection.status != ConnectionStatus.CONNECTED:
        raise NotConnected(connection.status_reason or f"the connection is {connection.status.value}")
    company = company_store.get(tenant_id, connection_id, company_id)
    if company.status == CompanyStatus.ACCESS_LOST:
        raise Conflict(f"{company.name}: {company.status_reason}")
    connector = registry.connector_for(connection)
    require(connector, RECONCILIATION, provider(connection.vendor).display_name)
    try:
        chart = {a.number: a for a in connector.read_accounts(
            CompanyRef(company_id=company.company_id, identity_id=company.identity_id, name=company.name))}
    except CompanyAccessLost as exc:
        raise Conflict(f"the integration user no longer has access to {company.name}; re-import the companies") \
            from exc
    except CredentialRejected as exc:
        from .connections import mark_needs_reauth

        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        raise NotConnected(exc.message) from exc
    unknown = [a for a in setup.accounts if a not in chart]
    if unknown:
        raise ValidationFailed(
            f"not in the chart of accounts of {company.name}: {', '.join(unknown)}",
            details=[{"account": a, "message": f"account {a} does not exist in {company.name}"} for a in unknown],
        )
    accounts = [ReconciledAccount(account=a, name=chart[a].name) for a in setup.accounts]

    def change(current: Company) -> None:
        current.accounts = accounts
        current.last_error = None
        if current.status == CompanyStatus.NOT_SET_UP:
            current.status = CompanyStatus.READY

    updated = company_store.update(tenant_id, connection_id, company_id, change)
    if not connection.reconciles:
        # The first company set up puts the connection on the schedule (balance refreshes).
        def reconcile(current: Connection) -> bool | None:
            if current.reconciles:
                return False
            current.reconciles = True
            if current.next_run_at is None:
                current.next_run_at = planned_next_run(current, utcnow())
            return True

        connection_store.update(tenant_id, connection_id, reconcile)
    return updated


def _decode_cursor(cursor: str | None) -> tuple[int, int]:
    if not cursor:
        return 0, 0
    try:
        part, offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(part, int) and isinstance(offset, int) and part >= 0 and offset >= 0:
            return part, offset
    except (ValueError, TypeError):
        pass
    raise ValidationFailed("invalid cursor: pass next_cursor from the previous page unchanged")


def ledger_page(tenant_id: str, connection_id: str, company_id: str, account: str, *,
                cursor: str | None = None, limit: int = 200) -> LedgerPage:
    """One page of the entries read in the latest refresh, for one account, in date order."""
    company = get(tenant_id, connection_id, company_id)
    snapshot = company.balances
    if snapshot is None:
        raise NotFound(f"no balances have been read for {company.name} yet; refresh first")
    balance = next((b for b in snapshot.accounts if b.account == account), None)
    if balance is None:
        raise NotFound(f"account {account} is not reconciled for {company.name}")
    part, offset = _decode_cursor(cursor)
    entries: list[LedgerEntryView] = []
    s3 = aws.client("s3")
    bucket = get_settings().attachments_bucket
    # Reads part by part (each one vendor chunk): a page never loads the whole period.
    while part < balance.parts and len(entries) < limit:
        key = payloads.ledger_part_key(tenant_id, connection_id, company_id, snapshot.read_id or snapshot.run_id,
                                       account, part)
        try:
            lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
        except s3.exceptions.NoSuchKey as exc:
            # Entries read are kept 40 days (bucket lifecycle); the balances outlive them.
            raise NotFound(f"the entries read on {snapshot.refreshed_at:%Y-%m-%d} have expired; "
                           f"refresh {company.name} to read them again") from exc
        take = lines[offset:offset + (limit - len(entries))]
        entries.extend(LedgerEntryView.model_validate_json(line) for line in take)
        offset += len(take)
        if offset >= len(lines):
            part, offset = part + 1, 0
    next_cursor = (base64.urlsafe_b64encode(json.dumps([part, offset]).encode()).decode()
                   if part < balance.parts else None)
    return LedgerPage(company_id=company_id, account=account, as_of=snapshot.as_of,
                      period_from=snapshot.period_from, entries=entries, next_cursor=next_cursor)
