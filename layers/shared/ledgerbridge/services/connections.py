"""Creating, reading and configuring connections; account setup against the vendor's catalog."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from ..connectors import registry
from ..connectors.base import Catalog
from ..credentials import delete_connection_secret
from ..domain.schedule import next_run_after
from ..domain.setup_validation import validate_account_setup
from ..errors import CredentialRejected, NotConnected
from ..models.common import utcnow
from ..models.connection import (
    AccountSetup,
    Connection,
    ConnectionCreate,
    ConnectionStatus,
    TransferSchedule,
)
from ..repositories import connections as connection_store


def create(tenant_id: str, request: ConnectionCreate) -> Connection:
    registry.require_supported(request.vendor)
    now = utcnow()
    connection = Connection(
        tenant_id=tenant_id, connection_id=f"con_{uuid.uuid4().hex[:20]}", vendor=request.vendor,
        name=request.name, schedule=request.schedule, created_at=now, updated_at=now,
    )
    connection_store.create(connection)
    return connection


def get(tenant_id: str, connection_id: str) -> Connection:
    return connection_store.get(tenant_id, connection_id)


def list_all(tenant_id: str) -> list[Connection]:
    return connection_store.list_for_tenant(tenant_id)


def delete(tenant_id: str, connection_id: str) -> None:
    connection_store.get(tenant_id, connection_id)  # 404 for unknown / other tenant's
    delete_connection_secret(tenant_id, connection_id)
    connection_store.delete(tenant_id, connection_id)


def update_schedule(tenant_id: str, connection_id: str, schedule: TransferSchedule,
                    now: datetime | None = None) -> Connection:
    def change(connection: Connection) -> None:
        connection.schedule = schedule
        connection.next_run_at = _next_run(connection, now or utcnow())

    return connection_store.update(tenant_id, connection_id, change)


def _next_run(connection: Connection, now: datetime) -> datetime | None:
    # Only a connected connection with an account setup has anything to run.
    if connection.status != ConnectionStatus.CONNECTED or connection.account_setup is None:
        return None
    return next_run_after(connection.schedule, now)


def mark_connected(tenant_id: str, connection_id: str, company: str | None, currency: str | None) -> Connection:
    def change(connection: Connection) -> None:
        connection.status = ConnectionStatus.CONNECTED
        connection.status_reason = None
        connection.vendor_company = company
        connection.vendor_currency = currency
        connection.credential_version += 1
        connection.next_run_at = _next_run(connection, utcnow())

    return connection_store.update(tenant_id, connection_id, change)


def mark_needs_reauth(tenant_id: str, connection_id: str, reason: str, credential_version: int | None = None,
                      new_credential: bool = False) -> None:
    """The vendor refused the credential of ``credential_version``; a newer one (a reconnect that
    happened meanwhile) is left alone. ``new_credential``: a new, unverified credential was stored."""

    def change(connection: Connection) -> bool:
        if credential_version is not None and connection.credential_version != credential_version:
            return False
        connection.status = ConnectionStatus.NEEDS_REAUTH
        connection.status_reason = reason
        if new_credential:
            connection.credential_version += 1
        return True

    connection_store.update(tenant_id, connection_id, change)


def _require_connected(connection: Connection) -> None:
    if connection.status == ConnectionStatus.CREATED:
        raise NotConnected("connect the account first (POST /connections/{id}/connect)")


def catalog(tenant_id: str, connection_id: str, on_date: date | None = None) -> Catalog:
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    connector = registry.connector_for(connection)
    try:
        return connector.read_catalog(on_date or utcnow().date())
    except CredentialRejected as exc:
        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        raise NotConnected(exc.message) from exc


def save_account_setup(tenant_id: str, connection_id: str, setup: AccountSetup) -> Connection:
    """Validate every row against the vendor's chart and VAT codes, then store the setup."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    today = utcnow().date()
    dates = [today]
    if connection.schedule.from_date and connection.schedule.from_date < today:
        dates.append(connection.schedule.from_date)
    dates.append(today - timedelta(days=connection.schedule.lookback_days))
    vendor_catalog = catalog(tenant_id, connection_id, today)
    resolved = validate_account_setup(setup, vendor_catalog, dates)
    resolved.validated_at = utcnow()

    def change(connection: Connection) -> None:
        connection.account_setup = resolved
        connection.next_run_at = _next_run(connection, utcnow())

    return connection_store.update(tenant_id, connection_id, change)


def check(tenant_id: str, connection_id: str) -> dict:
    """'Test integration': call the vendor with the stored credential."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    connector = registry.connector_for(connection)
    try:
        result = connector.check()
    except CredentialRejected as exc:
        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        return {"ok": False, "message": exc.message}
    return {"ok": result.ok, "company_name": result.company_name, "message": result.message}


