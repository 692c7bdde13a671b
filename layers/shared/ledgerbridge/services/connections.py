"""Creating, reading and configuring connections; account setup against the vendor's catalog."""
from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta

from ..connectors import registry
from ..connectors.base import Catalog
from ..connectors.base import BOOKING, ConnectionCheck, require
from ..credentials import TokenSource, delete_connection_secret, refresh_lease_id, store_password
from ..credentials import store_api_key as store_api_key_secret
from ..domain.schedule import next_run_after
from ..settings import get_settings
from ..domain.payroll import validate_payroll_setup
from ..domain.setup_validation import validate_account_setup
from ..errors import (
    Conflict,
    CredentialRejected,
    LedgerbridgeError,
    NotConnected,
    PermanentVendorError,
    ValidationFailed,
    VendorError,
)
from ..models.common import utcnow
from ..models.connection import (
    AccountSetup,
    Choice,
    Connection,
    ConnectionCreate,
    CredentialCreate,
    ConnectionStatus,
    TransferSchedule,
)
from ..models.payroll import PayrollSetup
from ..oauth.providers import Provider, provider
from ..repositories import companies as company_store
from ..repositories import sync_records as sync_store
from ..repositories import leases
from ..repositories.leases import LeaseBusy
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


def usage_today(connection: Connection) -> dict[str, int | str] | None:
    """Today's calls against the vendor's daily budget for the connection's user (None: no budget, no user)."""
    spec = provider(connection.vendor)
    if not spec.daily_call_budget or connection.status == ConnectionStatus.CREATED:
        return None
    from ..credentials import stored_password  # deferred: only budgeted vendors read their user here
    from ..vendor_budget import CallBudget

    try:
        username = stored_password(connection.tenant_id, connection.connection_id).username
    except NotConnected:
        return None
    return CallBudget(spec, username).today()


def list_all(tenant_id: str) -> list[Connection]:
    return connection_store.list_for_tenant(tenant_id)


def delete(tenant_id: str, connection_id: str) -> None:
    connection_store.get(tenant_id, connection_id)  # 404 for unknown / other tenant's
    delete_connection_secret(tenant_id, connection_id)
    company_store.delete_all(tenant_id, connection_id)
    sync_store.delete_partition(tenant_id, connection_id)
    connection_store.delete(tenant_id, connection_id)


def update_schedule(tenant_id: str, connection_id: str, schedule: TransferSchedule,
                    now: datetime | None = None) -> Connection:
    def change(connection: Connection) -> None:
        connection.schedule = schedule
        connection.next_run_at = planned_next_run(connection, now or utcnow())

    return connection_store.update(tenant_id, connection_id, change)


def planned_next_run(connection: Connection, now: datetime) -> datetime | None:
    # Only a connected connection with something set up (bookings, reconciliation) has anything to run.
    if connection.status != ConnectionStatus.CONNECTED or not connection.has_scheduled_work:
        return None
    return next_run_after(connection.schedule, now)


def mark_connected(tenant_id: str, connection_id: str, company: str | None, currency: str | None,
                   choices: dict[str, list[Choice]] | None = None, *, new_credential: bool = True,
                   company_id: str | None = None) -> Connection:
    def change(connection: Connection) -> None:
        if company_id and not connection.vendor_company_id:
            connection.vendor_company_id = company_id  # bound from its first connect on
        connection.status = ConnectionStatus.CONNECTED
        connection.status_reason = None
        connection.vendor_company = company
        connection.vendor_currency = currency
        if choices is not None:
            connection.choices = choices
            # A pick that is no longer offered is dropped rather than kept silently wrong.
            connection.vendor_settings = {k: v for k, v in connection.vendor_settings.items()
                                          if any(c.id == v for c in choices.get(k, []))}
        if new_credential:
            connection.credential_version += 1
        connection.next_run_at = planned_next_run(connection, utcnow())

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
        if provider(connection.vendor).auth_mode.startswith("password"):
            raise NotConnected(f"store the integration user first (PUT /connections/{connection.connection_id}/credential)")
        raise NotConnected(f"connect the account first (POST /connections/{connection.connection_id}/connect)")


def catalog(tenant_id: str, connection_id: str, on_date: date | None = None) -> Catalog:
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    connector = registry.connector_for(connection)
    require(connector, BOOKING, provider(connection.vendor).display_name)
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
        connection.next_run_at = planned_next_run(connection, utcnow())

    return connection_store.update(tenant_id, connection_id, change)


def save_payroll_setup(tenant_id: str, connection_id: str, setup: PayrollSetup) -> Connection:
    """Validate the payroll setup against the company's chart and dimensions, then store it."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    resolved = validate_payroll_setup(setup, catalog(tenant_id, connection_id, utcnow().date()))
    resolved = resolved.model_copy(update={"validated_at": utcnow()})

    def change(connection: Connection) -> None:
        connection.payroll_setup = resolved
        connection.next_run_at = planned_next_run(connection, utcnow())

    return connection_store.update(tenant_id, connection_id, change)


API_KEY_HOST = "keylogin"  # providers.toml: where the sign-in issues an API key instead of tokens


def bound_elsewhere(connection: Connection, access_token: str) -> str | None:
    """Why this sign-in may not be kept: the connection is bound to another company (None: it may).

    One connection books into one company (seed 002: "one administration per account"); signing in
    for another company there must never switch it silently. Vendors whose connector can tell the
    company an access token acts for (``identify``) are checked before anything is stored."""
    identify = getattr(registry.connector_module(connection.vendor), "identify", None)
    if identify is None or not connection.vendor_company_id:
        return None
    company_id, company_name = identify(provider(connection.vendor), access_token)
    if company_id == connection.vendor_company_id:
        return None
    return (f"This connection is bound to {connection.vendor_company or 'another company'} "
            f"(id {connection.vendor_company_id}), but the sign-in was for {company_name or 'another company'} "
            f"(id {company_id}). A connection books into one company only: create a new connection for "
            f"{company_name or 'that company'}, or sign in again choosing {connection.vendor_company or 'the bound company'}.")


def store_api_key(tenant_id: str, connection_id: str, api_key: str) -> dict:
    """A machine-to-machine API key pasted from the vendor ("API client keys"): proven with its first
    access token, the company it reaches checked against the connection's, stored, then tested."""
    connection = connection_store.get(tenant_id, connection_id)
    spec = provider(connection.vendor)
    if API_KEY_HOST not in spec.hosts:
        raise ValidationFailed(f"{spec.display_name} issues no API keys")
    try:
        answer = registry.connector_module(connection.vendor).access_token_for_api_key(spec, api_key)
        refusal = bound_elsewhere(connection, str(answer.get("access_token") or ""))
    except CredentialRejected as exc:
        return {"ok": False, "message": f"{spec.display_name} refused the API key ({exc.message}); copy it again"}
    if refusal:
        raise Conflict(refusal)
    with leases.held(refresh_lease_id(tenant_id, connection_id), seconds=30,
                     wait=get_settings().token_lease_wait_seconds):
        store_api_key_secret(tenant_id, connection_id, api_key, answer)
    TokenSource.forget(tenant_id, connection_id)
    connection = connection_store.get(tenant_id, connection_id)
    checked = registry.connector_for(connection).check()
    mark_connected(tenant_id, connection_id, checked.company_name, checked.currency, checked.choices,
                   company_id=checked.company_id)
    return _check_view(checked)


def _check_view(result: ConnectionCheck) -> dict:
    return {"ok": result.ok, "company_name": result.company_name, "message": result.message,
            "companies": result.companies, "warnings": list(result.warnings),
            "choices": {k: [c.model_dump() for c in v] for k, v in result.choices.items()},
            "company_id": result.company_id, "business_id": result.business_id,
            "fiscal_years": [fy.model_dump(mode="json") for fy in result.fiscal_years],
            "dimensions": [d.model_dump(mode="json") for d in result.dimensions]}


# The reason a connection shows while a freshly stored integration user is tested. Whatever ends
# the test replaces it (store_credential and check below), so it never stays.
BEING_TESTED = "the integration user is being tested"


def _untested_reason(connection_id: str, exc: BaseException) -> str:
    """What a user reads when testing an integration user ended in something other than a verdict."""
    if isinstance(exc, (VendorError, LeaseBusy, LedgerbridgeError)):
        what = getattr(exc, "message", None) or str(exc)
        if isinstance(exc, PermanentVendorError):
            return f"the integration user could not be tested ({what}); store it again"
        return (f"the integration user is stored but could not be tested yet ({what}); "
                f"press Test integration (POST /connections/{connection_id}/check)")
    # An error of ours, not the user's: say what to do, not what went wrong inside.
    return (f"testing the integration user failed unexpectedly ({type(exc).__name__}); press Test integration "
            f"(POST /connections/{connection_id}/check), or store the integration user again")


def check(tenant_id: str, connection_id: str) -> dict:
    """'Test integration': call the vendor with the stored credential."""
    connection = connection_store.get(tenant_id, connection_id)
    if connection.status == ConnectionStatus.CREATED:
        _require_connected(connection)
    try:
        result = registry.connector_for(connection).check()
    except CredentialRejected as exc:
        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        return {"ok": False, "message": exc.message}
    except Exception as exc:
        if (connection.status_reason or "").startswith(BEING_TESTED):
            # Left by a test that never finished: end it with a reason the user can act on.
            mark_needs_reauth(tenant_id, connection_id, _untested_reason(connection_id, exc),
                              connection.credential_version)
        raise
    if result.ok:
        # Passing again after a refusal (password fixed at the vendor) makes the connection usable.
        mark_connected(tenant_id, connection_id, result.company_name, result.currency, result.choices,
                       new_credential=False, company_id=result.company_id)
    elif connection.status == ConnectionStatus.CONNECTED or (connection.status_reason or "").startswith(BEING_TESTED):
        mark_needs_reauth(tenant_id, connection_id, result.message, connection.credential_version)
    return _check_view(result)


def store_credential(tenant_id: str, connection_id: str, credential: CredentialCreate) -> dict:
    """Store an integration user (e-mail, password) and test it at once ("Test integration")."""
    connection = connection_store.get(tenant_id, connection_id)
    spec = provider(connection.vendor)
    if not spec.auth_mode.startswith("password"):
        raise ValidationFailed(f"{spec.display_name} connects through its own sign-in page: "
                               f"POST /connections/{connection_id}/connect")
    _check_credential_fields(spec, credential)
    # Under the credential lease: a worker renewing the old user's session cannot write it back over this.
    with leases.held(refresh_lease_id(tenant_id, connection_id), seconds=30,
                     wait=get_settings().token_lease_wait_seconds):
        store_password(tenant_id, connection_id, credential.username, credential.password.get_secret_value(),
                       connection.vendor, company_id=credential.company_id,
                       api_key=credential.api_key.get_secret_value() if credential.api_key else None)
    # Should this invocation die mid-test (a Lambda timeout), the reason still says what to do.
    mark_needs_reauth(tenant_id, connection_id, f"{BEING_TESTED} (if this does not change within a minute, press "
                      f"Test integration: POST /connections/{connection_id}/check)", new_credential=True)
    connection = connection_store.get(tenant_id, connection_id)
    try:
        result = registry.connector_for(connection).check()
    except CredentialRejected as exc:
        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        return {"ok": False, "message": exc.message}
    except Exception as exc:
        # Stored but not proven (vendor down, logins throttled, a fault of ours): whatever it was,
        # the connection ends with a reason and what to do next, never "being tested".
        mark_needs_reauth(tenant_id, connection_id, _untested_reason(connection_id, exc),
                          connection.credential_version)
        raise
    if result.ok:
        mark_connected(tenant_id, connection_id, result.company_name, result.currency, result.choices,
                       new_credential=False)
    else:
        mark_needs_reauth(tenant_id, connection_id, result.message, connection.credential_version)
    return _check_view(result)


def _check_credential_fields(spec: Provider, credential: CredentialCreate) -> None:
    """422 naming every field the vendor's login needs and the request left out (or got the form of wrong)."""
    given = {"username": credential.username, "password": credential.password, "api_key": credential.api_key,
             "company_id": credential.company_id}
    problems = [f"{name}: required for {spec.display_name}" for name in spec.credential_fields if not given.get(name)]
    problems += [f"{name}: {spec.display_name} does not use it; leave it out" for name, value in given.items()
                 if value and name not in spec.credential_fields]
    if spec.username_format == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", credential.username):
        problems.append(f"username: {spec.display_name} integration users log in with an e-mail address")
    if problems:
        raise ValidationFailed("; ".join(problems), details=[
            {"field": p.split(":", 1)[0], "message": p.split(": ", 1)[1]} for p in problems])


def update_vendor_settings(tenant_id: str, connection_id: str, settings: dict[str, str]) -> Connection:
    """Store the user's picks, each one of the options offered for it.

    Where the lists depend on earlier picks (24SevenOffice: a company's departments and voucher
    types), the connector builds them afresh for the picks as they will be, and a pick that the
    new lists no longer hold (the department of the previous company) is dropped, not kept wrong.
    """
    connection = connection_store.get(tenant_id, connection_id)
    merged = {**connection.vendor_settings, **settings}
    choices = _current_choices(connection, merged)
    for name, value in settings.items():
        options = choices.get(name)
        if options is None:
            raise ValidationFailed(f"unknown setting {name!r}; settable: {', '.join(sorted(choices)) or '-'}")
        if not options:
            raise ValidationFailed(f"no {name.replace('_', ' ')} is offered yet; refresh the lists "
                                   f"(POST /connections/{connection_id}/choices) once it exists in the vendor")
        if not any(option.id == value for option in options):
            raise ValidationFailed(f"{value!r} is not one of the {name.replace('_', ' ')}s offered: "
                                   + ", ".join(f"{o.id} ({o.name})" for o in options))
    kept = {k: v for k, v in merged.items() if k not in choices or any(c.id == v for c in choices[k])}

    def change(current: Connection) -> None:
        current.vendor_settings = kept
        current.choices = choices

    return connection_store.update(tenant_id, connection_id, change)


def refresh_choices(tenant_id: str, connection_id: str) -> Connection:
    """Read the lists the user picks from again ("an empty list can be refreshed")."""
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection)
    choices = _current_choices(connection, connection.vendor_settings)

    def change(current: Connection) -> None:
        current.choices = choices
        current.vendor_settings = {k: v for k, v in current.vendor_settings.items()
                                   if k not in choices or any(c.id == v for c in choices[k])}

    return connection_store.update(tenant_id, connection_id, change)


def _current_choices(connection: Connection, picks: dict[str, str]) -> dict[str, list[Choice]]:
    """The connector's lists for these picks, or (for a vendor whose lists never depend on picks)
    those "Test integration" offered last."""
    if connection.status == ConnectionStatus.CREATED:
        return connection.choices
    connector = registry.connector_for(connection)
    settings_choices = getattr(connector, "settings_choices", None)
    if settings_choices is None:
        return connection.choices
    try:
        return settings_choices(picks)
    except CredentialRejected as exc:
        mark_needs_reauth(connection.tenant_id, connection.connection_id, exc.message, connection.credential_version)
        raise NotConnected(exc.message) from exc


