"""The console's pages: server-rendered HTML forms over the same services the management API calls.

Every page but sign-in needs a session (cookie ``lb_console``, see session.py); every POST carries
the session's form token. Each action answers 303 to the page that shows its outcome (so a reload
never repeats it), or re-renders the form with the refusal beside the row it concerns.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Callable
from urllib.parse import urlencode, urlparse

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import ValidationError

from ..errors import CredentialRejected, LedgerbridgeError, NotFound, TransientVendorError, ValidationFailed, VendorError
from ..repositories.leases import LeaseBusy
from ..models.connection import (
    ConnectionCreate,
    ConnectionStatus,
    CredentialCreate,
    Frequency,
    MappingKind,
    TransferSchedule,
)
from ..models.documents import DocumentState
from ..oauth.providers import known_vendors, provider
from ..repositories import console_sessions
from . import forms, render
from .session import ForgedForm, NotSignedIn, Visitor, check_form, cleared_cookie, session_cookie, visitor
from .status import connection_status, notices

logger = Logger(child=True)
app = APIGatewayRestResolver()

MAX_ID = 128


# ----------------------------------------------------------------------------- request helpers

def _headers() -> dict[str, str]:
    return dict(app.current_event.headers or {})


def _base_url() -> str:
    from ..api.common import public_base_url

    return public_base_url(app)


def _root() -> str:
    """The path the API is served under (API Gateway's stage, or nothing behind a custom domain)."""
    return urlparse(_base_url()).path.rstrip("/")


def _url(path: str, **query: Any) -> str:
    query = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{_root()}/console{path}" + (f"?{urlencode(query)}" if query else "")


def _secure() -> bool:
    return _base_url().startswith("https://")


def _form() -> dict[str, list[str]]:
    return forms.parse(app.current_event.body, app.current_event.is_base64_encoded)


def _query(name: str) -> str:
    return (app.current_event.query_string_parameters or {}).get(name, "") or ""


def _signed_in() -> Visitor:
    return visitor(_headers())


def _posted(who: Visitor) -> dict[str, str]:
    form = forms.single(_form())
    check_form(who, form)
    return form


def _id(value: str) -> str:
    if not value or len(value) > MAX_ID:
        raise NotFound("no such page")
    return value


def _page(template: str, who: Visitor | None, status: int = 200, **context: Any) -> Response:
    return render.page(template, status, visitor=who, url=_url, notice=notices(_query("notice"), _query("n")),
                       api_docs=f"{_root()}/console/api-docs", **context)


# ----------------------------------------------------------------------------- errors

# What a service may refuse with: our own refusals, the vendor's, and a connection busy with the vendor.
REFUSALS = (LedgerbridgeError, VendorError, LeaseBusy)


def _why(exc: Exception) -> tuple[int, str]:
    """The status and the words for a refusal, as the API would answer it (api/common.py)."""
    if isinstance(exc, LedgerbridgeError):
        return exc.status_code, exc.message
    if isinstance(exc, LeaseBusy):
        return 503, "the connection is busy with the accounting system (renewing its sign-in); try again shortly"
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(exc, CredentialRejected):
        return 409, message
    return (503 if isinstance(exc, TransientVendorError) else 422), message


def _refusal(exc: Exception) -> tuple[int, str]:
    """A form's refusal in words: pydantic's errors (422, each with its field), or the service's refusal.
    Not found is not a refusal: it goes on to the 404 page."""
    if isinstance(exc, ValidationError):
        return 422, "; ".join(f"{'.'.join(map(str, loc))}: {m}" if loc else m for loc, m in forms.error_messages(exc))
    if isinstance(exc, NotFound):
        raise exc
    return _why(exc)


@app.exception_handler(VendorError)
def _vendor_refused(exc: VendorError) -> Response:
    status, message = _why(exc)
    return _page("error.html", None, status, title="The accounting system refused", message=message)


@app.exception_handler(LeaseBusy)
def _busy(exc: LeaseBusy) -> Response:
    status, message = _why(exc)
    return _page("error.html", None, status, title="Busy", message=message)


@app.exception_handler(NotSignedIn)
def _not_signed_in(exc: NotSignedIn) -> Response:
    return _page("sign_in.html", None, 401, token="", problem=exc.message)


@app.exception_handler(ForgedForm)
def _forged(exc: ForgedForm) -> Response:
    return _page("error.html", None, 403, title="Form refused", message=exc.message)


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _page("error.html", None, 404, title="Not found", message=exc.message)


@app.not_found
def _no_route(_exc: Exception) -> Response:
    return _page("error.html", None, 404, title="Not found", message="there is no such page in the console")


# ----------------------------------------------------------------------------- sign-in

@app.get("/console")
def home() -> Response:
    try:
        _signed_in()
    except NotSignedIn:
        return _page("sign_in.html", None, token="", problem=None)
    return render.redirect(_url("/connections"))


@app.get("/console/sign-in")
def sign_in_page() -> Response:
    # GET never uses the link up: mail scanners and chat previews fetch links before people do.
    token = _query("token")[:console_sessions.MAX_TOKEN_LENGTH]
    return _page("sign_in.html", None, token=token, problem=None if token else "this link has no token")


def _same_site_post() -> bool:
    """Whether this POST came from one of our own pages (or the address bar). A sign-in form posted from
    another site would sign the victim into the attacker's tenant (login CSRF); browsers say where a
    request came from in Sec-Fetch-Site and Origin."""
    headers = {k.lower(): v for k, v in _headers().items()}
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("origin")
    if origin and origin != "null":
        own = urlparse(_base_url())
        return origin.rstrip("/") == f"{own.scheme}://{own.netloc}"
    return True


@app.post("/console/sign-in")
def sign_in() -> Response:
    if not _same_site_post():
        raise ForgedForm("sign in from the link itself: this form came from another site")
    token = forms.single(_form()).get("token", "")
    session = console_sessions.redeem_sign_in_link(token)
    if session is None:
        return _page("sign_in.html", None, 401, token="",
                     problem="this sign-in link is used up or expired: make a new one (ledgerbridge sign-in-link, "
                             "or POST /console/sign-in-links with the tenant key)")
    logger.info("console session opened", extra={"tenant_id": session.tenant_id})
    max_age = session.expires_at - int(datetime.now(timezone.utc).timestamp())
    return render.redirect(_url("/connections"), cookies=[
        session_cookie(session.token, max_age, secure=_secure(), path=f"{_root()}/console")])


@app.post("/console/sign-out")
def sign_out() -> Response:
    from .session import cookie_value

    who = _signed_in()
    _posted(who)
    token = cookie_value(_headers())
    if token:
        console_sessions.close_session(token)
    return render.redirect(_url(""), cookies=[cleared_cookie(secure=_secure(), path=f"{_root()}/console")])


# ----------------------------------------------------------------------------- connections

def _vendor_names() -> dict[str, str]:
    return {vendor: provider(vendor).display_name for vendor in known_vendors()}


@app.get("/console/connections")
def connections_page() -> Response:
    from ..services import connections

    who = _signed_in()
    rows = [(c, connection_status(c)) for c in connections.list_all(who.tenant_id)]
    return _page("connections.html", who, rows=rows, vendors=_vendor_names(), problem=None, typed={})


@app.post("/console/connections")
def create_connection() -> Response:
    from ..services import connections

    who = _signed_in()
    form = _posted(who)
    try:
        created = connections.create(who.tenant_id, ConnectionCreate(vendor=form.get("vendor", ""),
                                                                     name=form.get("name", "")))
    except (ValidationError, ValidationFailed) as exc:
        problem = "; ".join(m for _, m in forms.error_messages(exc)) if isinstance(exc, ValidationError) \
            else exc.message
        rows = [(c, connection_status(c)) for c in connections.list_all(who.tenant_id)]
        return _page("connections.html", who, 422, rows=rows, vendors=_vendor_names(), problem=problem, typed=form)
    return render.redirect(_url(f"/connections/{created.connection_id}", notice="created"))


def _connection_page(who: Visitor, connection_id: str, status: int = 200, **extra: Any) -> Response:
    from ..services import companies, connections, master_data

    connection = connections.get(who.tenant_id, connection_id)
    spec = provider(connection.vendor)
    sections = spec.console_sections
    context: dict[str, Any] = {
        "connection": connection, "spec": spec, "words": connection_status(connection), "sections": sections,
        "frequencies": [f.value for f in Frequency], "check": None, "setup_problems": {}, "setup_general": [],
        "typed_rows": None, "catalog": None, "catalog_problem": None, "credential_problem": None,
        "json_problem": {}, "typed_json": {}, "typed_credential": {}, "typed_schedule": None,
        "typed_payroll_setup": None, "dimension_roles": ["cost_centre", "cost_unit"], "companies": [], "sync": None, "changes": [], "shown_once": None,
        "pretty": forms.pretty, "setup_json": forms.setup_json,
        "usage": connections.usage_today(connection),
        "mapping_kinds": [k.value for k in MappingKind],
    }
    context.update(extra)
    stray = [p for section, problems in context["json_problem"].items() if section not in sections for p in problems]
    if stray:  # a form this vendor's page does not show (posted by hand): its refusal on top
        context["action_problem"] = "; ".join(stray)
    if context["check"] is not None:  # "Test integration"'s answer; the template reads every field
        context["check"] = {"company_name": None, "companies": None, "warnings": [], **context["check"]}
    if connection.status == ConnectionStatus.CONNECTED and {"account_setup", "payroll_setup"} & set(sections) \
            and context["catalog"] is None:
        try:
            context["catalog"] = _catalog(connection)
        except REFUSALS as exc:
            context["catalog_problem"] = _why(exc)[1]
    context.update(_setup_table(connection, context["catalog"], context["typed_rows"]))
    if "companies" in sections:
        context["companies"] = companies.list_all(who.tenant_id, connection_id)
    if "customer_sync" in sections and connection.customer_sync is not None:
        context["sync"] = master_data.view(connection, counts=True)
        context["changes"] = master_data.latest_changes(connection)
    return _page("connection.html", who, status, **context)


# The chart and VAT codes read for a connection's page, kept a few minutes per container: every view and
# every action's redirect would otherwise ask the vendor again (Uniconta counts each call against the
# day's budget). Keyed by the credential's version: a reconnect reads afresh.
CATALOG_SECONDS = 300
_catalogs: dict[tuple, tuple[float, Any]] = {}


def _catalog(connection: Any) -> Any:
    import time

    from ..services import connections

    key = (connection.tenant_id, connection.connection_id, connection.credential_version)
    cached = _catalogs.get(key)
    if cached and time.monotonic() - cached[0] < CATALOG_SECONDS:
        return cached[1]
    catalog = connections.catalog(connection.tenant_id, connection.connection_id)
    if len(_catalogs) > 200:
        _catalogs.clear()
    _catalogs[key] = (time.monotonic(), catalog)
    return catalog


def _setup_table(connection: Any, catalog: Any, typed_rows: list[dict] | None) -> dict[str, Any]:
    """The mapping table's rows as strings (typed, else saved) and the chart's active accounts to pick from."""
    if typed_rows is not None:
        rows = [{k: "" if v is None else str(v) for k, v in row.items()} for row in typed_rows]
    elif connection.account_setup is not None:
        rows = [{"kind": r.kind.value, "key": r.key, "vat_rate": "" if r.vat_rate is None else format(r.vat_rate, "f"),
                 "account": r.account, "vat_code": r.vat_code or ""} for r in connection.account_setup.rows]
    else:
        rows = []
    chart: dict[str, Any] = {}
    for year_accounts in (catalog.accounts.values() if catalog else []):
        for account in year_accounts:
            if account.active:
                chart.setdefault(account.number, account)
    accounts = [chart[number] for number in sorted(chart)]
    return {"setup_rows": rows, "accounts": accounts, "account_numbers": set(chart)}


@app.get("/console/connections/<connection_id>")
def connection_page(connection_id: str) -> Response:
    return _connection_page(_signed_in(), _id(connection_id))


def _action(connection_id: str, run: Callable[[Visitor, dict[str, str]], Response | str]) -> Response:
    """A POST on a connection: checked, run; a string answer is a notice shown on the connection's page.
    A refusal the service raises is shown on the page, beside the form."""
    who = _signed_in()
    form = _posted(who)
    connection_id = _id(connection_id)
    try:
        answer = run(who, form)
    except REFUSALS as exc:
        status, message = _refusal(exc)
        return _connection_page(who, connection_id, status, action_problem=message)
    if isinstance(answer, Response):
        return answer
    return render.redirect(_url(f"/connections/{connection_id}", notice=answer))


@app.post("/console/connections/<connection_id>/connect")
def connect(connection_id: str) -> Response:
    from ..services import oauth

    def run(who: Visitor, form: dict[str, str]) -> Response:
        credential = "api_key" if form.get("credential") == "api_key" else "oauth"
        return render.redirect(oauth.start(who.tenant_id, connection_id, credential))

    return _action(connection_id, run)


@app.post("/console/connections/<connection_id>/credential")
def store_credential(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    form = _posted(who)
    connection_id = _id(connection_id)
    fields = {k: form.get(k, "").strip() or None for k in ("username", "password", "api_key", "company_id")}
    try:
        credential = CredentialCreate.model_validate({k: v for k, v in fields.items() if v is not None})
        check = connections.store_credential(who.tenant_id, connection_id, credential)
    except (ValidationError, *REFUSALS) as exc:
        status, message = _refusal(exc)
        return _connection_page(who, connection_id, status, credential_problem=message,
                                typed_credential=_no_secrets(form))
    return _connection_page(who, connection_id, check=check)


@app.post("/console/connections/<connection_id>/api-key")
def store_api_key(connection_id: str) -> Response:
    """An API key pasted from the vendor (Procountor: Management > API client keys), tested at once."""
    from ..services import connections

    who = _signed_in()
    form = _posted(who)
    connection_id = _id(connection_id)
    api_key = form.get("api_key", "").strip()
    try:
        if not 8 <= len(api_key) <= 4096:
            raise ValidationFailed("paste the whole API key (8 to 4,096 characters)")
        check = connections.store_api_key(who.tenant_id, connection_id, api_key)
    except REFUSALS as exc:
        status, message = _refusal(exc)
        return _connection_page(who, connection_id, status, credential_problem=message)
    return _connection_page(who, connection_id, check=check)


def _no_secrets(form: dict[str, str]) -> dict[str, str]:
    """What a refused credential form shows again: never the password or the API key."""
    return {k: form.get(k, "") for k in ("username", "company_id")}


@app.post("/console/connections/<connection_id>/check")
def check(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    _posted(who)
    connection_id = _id(connection_id)
    try:
        result = connections.check(who.tenant_id, connection_id)
    except REFUSALS as exc:
        result = {"ok": False, "message": _refusal(exc)[1]}
    return _connection_page(who, connection_id, check=result)


@app.post("/console/connections/<connection_id>/vendor-settings")
def vendor_settings(connection_id: str) -> Response:
    from ..services import connections

    def run(who: Visitor, form: dict[str, str]) -> str:
        if form.get("refresh"):
            connections.refresh_choices(who.tenant_id, connection_id)
            return "choices_read"
        picks = {k.removeprefix("pick_"): v for k, v in form.items() if k.startswith("pick_") and v}
        connections.update_vendor_settings(who.tenant_id, connection_id, picks)
        return "settings_saved"

    return _action(connection_id, run)


@app.post("/console/connections/<connection_id>/schedule")
def schedule(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    form = _posted(who)
    connection_id = _id(connection_id)
    try:
        chosen = TransferSchedule.model_validate({
            "frequency": form.get("frequency", "daily"), "lookback_days": form.get("lookback_days") or 0,
            "from_date": form.get("from_date") or None, "run_at_hour": form.get("run_at_hour") or 0,
            "timezone": form.get("timezone", "").strip()})
        connections.update_schedule(who.tenant_id, connection_id, chosen)
    except (ValidationError, *REFUSALS) as exc:
        status, message = _refusal(exc)
        return _connection_page(who, connection_id, status, schedule_problem=message, typed_schedule=form)
    return render.redirect(_url(f"/connections/{connection_id}", notice="schedule_saved"))


@app.post("/console/connections/<connection_id>/account-setup")
def account_setup(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    raw = _form()
    check_form(who, forms.single(raw))
    connection_id = _id(connection_id)
    setup, rows, by_row, general = forms.account_setup(raw)
    if setup is not None:
        try:
            connections.save_account_setup(who.tenant_id, connection_id, setup)
            return render.redirect(_url(f"/connections/{connection_id}", notice="setup_saved"))
        except ValidationFailed as exc:
            ids = forms.row_ids(rows)
            for detail in exc.details or []:
                row = detail.get("row") if isinstance(detail, dict) else None
                if row in ids:
                    by_row.setdefault(ids.index(row), []).append(detail.get("message", ""))
                else:
                    general.append(detail.get("message", str(detail)) if isinstance(detail, dict) else str(detail))
            if not exc.details:
                general.append(exc.message)
        except REFUSALS as exc:
            general.append(_refusal(exc)[1])
    return _connection_page(who, connection_id, 422, typed_rows=rows, setup_problems=by_row,
                            setup_general=general or ["see the rows marked below"],
                            typed_setup={"voucher_series": forms.single(raw).get("voucher_series", ""),
                                         "inventory_change": forms.single(raw).get("inventory_change") == "on"})


def _json_section(connection_id: str, section: str, save: Callable[[Visitor, Any], Any],
                  from_form: Callable[[dict[str, list[str]]], dict] | None = None) -> Response:
    """A setup posted as a JSON document, or (``from_form``) as the section's form fields: saved, or shown
    again as typed with why not."""
    who = _signed_in()
    raw = _form()
    form = forms.single(raw)
    check_form(who, form)
    connection_id = _id(connection_id)
    if from_form is not None and "document" not in form:
        built = from_form(raw)
        text, typed = forms.pretty(built), {f"typed_{section}": built}
    else:
        text = form.get("document", "")
        typed = {"typed_json": {section: text}}
    try:
        saved = save(who, forms.json_document(text))
    except (ValueError, *REFUSALS) as exc:  # ValueError: JSONDecodeError, and pydantic's ValidationError
        status, message = (422, f"not JSON: {exc}") if isinstance(exc, json.JSONDecodeError) else _refusal(exc)
        details = [d.get("message", str(d)) if isinstance(d, dict) else str(d)
                   for d in getattr(exc, "details", None) or []]
        return _connection_page(who, connection_id, status, json_problem={section: [message, *details]}, **typed)
    if getattr(saved, "notification_argument", None) or getattr(saved, "webhook_secret", None):
        # Secrets made by this save are shown once, on this answer, never in a URL.
        return _connection_page(who, connection_id, shown_once=saved)
    return render.redirect(_url(f"/connections/{connection_id}", notice=f"{section}_saved"))


@app.post("/console/connections/<connection_id>/payroll-setup")
def payroll_setup(connection_id: str) -> Response:
    from ..models.payroll import PayrollSetup
    from ..services import connections

    return _json_section(connection_id, "payroll_setup", lambda who, doc: connections.save_payroll_setup(
        who.tenant_id, connection_id, PayrollSetup.model_validate(doc)), from_form=forms.payroll_setup)


@app.post("/console/connections/<connection_id>/customer-sync")
def customer_sync(connection_id: str) -> Response:
    from ..models.sync import SyncSetup
    from ..services import master_data

    return _json_section(connection_id, "customer_sync", lambda who, doc: master_data.save_setup(
        who.tenant_id, connection_id, SyncSetup.model_validate(doc)))


@app.post("/console/connections/<connection_id>/customer-sync/check")
def customer_sync_check(connection_id: str) -> Response:
    from ..services import master_data

    return _action(connection_id, lambda who, _form: (master_data.request_check(who.tenant_id, connection_id),
                                                      "sync_check_queued")[1])


@app.post("/console/connections/<connection_id>/transfer")
def transfer(connection_id: str) -> Response:
    from ..services import transfers

    def run(who: Visitor, _form: dict[str, str]) -> Response:
        result = transfers.transfer_now(who.tenant_id, connection_id)
        return render.redirect(_url(f"/connections/{connection_id}/documents", notice="transfer",
                                    n=result.get("enqueued", 0)))

    return _action(connection_id, run)


@app.post("/console/connections/<connection_id>/companies/import")
def import_companies(connection_id: str) -> Response:
    from ..services import runs

    return _action(connection_id, lambda who, _form: (runs.start_import(who.tenant_id, connection_id),
                                                      "import_started")[1])


@app.post("/console/connections/<connection_id>/balance-refresh")
def refresh_balances(connection_id: str) -> Response:
    from ..services import runs

    return _action(connection_id, lambda who, _form: (runs.start_refresh(who.tenant_id, connection_id),
                                                      "refresh_started")[1])


@app.get("/console/connections/<connection_id>/delete")
def delete_page(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    connection = connections.get(who.tenant_id, _id(connection_id))
    return _page("delete.html", who, connection=connection, spec=provider(connection.vendor))


@app.post("/console/connections/<connection_id>/delete")
def delete(connection_id: str) -> Response:
    from ..services import connections

    who = _signed_in()
    form = _posted(who)
    connection = connections.get(who.tenant_id, _id(connection_id))
    if form.get("confirm_name", "").strip() != connection.name:
        return _page("delete.html", who, 422, connection=connection, spec=provider(connection.vendor),
                     problem="type the connection's name exactly to delete it")
    connections.delete(who.tenant_id, connection.connection_id)
    return render.redirect(_url("/connections", notice="deleted"))


# ----------------------------------------------------------------------------- export log

def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@app.get("/console/connections/<connection_id>/documents")
def documents_page(connection_id: str) -> Response:
    from ..repositories import documents as document_store
    from ..services import connections

    who = _signed_in()
    connection = connections.get(who.tenant_id, _id(connection_id))
    state_text, date_from, date_to = _query("state"), _date(_query("from")), _date(_query("to"))
    state = DocumentState(state_text) if state_text in {s.value for s in DocumentState} else None
    problem = None
    if date_from and date_to and date_from > date_to:
        problem, date_from, date_to = "the from-date is after the to-date; swap them", None, None
    cursor = _query("cursor")[:2000] or None
    try:
        records, next_cursor = document_store.page(who.tenant_id, connection.connection_id, state=state,
                                                   date_from=date_from, date_to=date_to, limit=50, cursor=cursor)
    except Exception as exc:  # a cursor edited by hand: start from the first page again
        if not cursor:
            raise
        logger.info("console: cursor refused", extra={"error": type(exc).__name__})
        records, next_cursor = document_store.page(who.tenant_id, connection.connection_id, state=state,
                                                   date_from=date_from, date_to=date_to, limit=50, cursor=None)
    failed = sum(1 for r in records if r.state == DocumentState.FAILED and not r.is_run)
    return _page("documents.html", who, connection=connection, spec=provider(connection.vendor), records=records,
                 next_cursor=next_cursor, states=[s.value for s in DocumentState], problem=problem, failed=failed,
                 filters={"state": state.value if state else "", "from": date_from.isoformat() if date_from else "",
                          "to": date_to.isoformat() if date_to else ""})


def _document_page(who: Visitor, connection_id: str, document_id: str, status: int = 200,
                   problem: str | None = None) -> Response:
    from ..models.documents import DocumentView
    from ..repositories import documents as document_store
    from ..services import booking, connections

    connection = connections.get(who.tenant_id, _id(connection_id))
    record = document_store.latest(who.tenant_id, connection.connection_id, _id(document_id))
    if record is None:
        raise NotFound(f"document {document_id} not found")
    vouchers, voucher_problem = [], None
    if not record.is_run and record.state != DocumentState.REJECTED:
        try:
            vouchers = booking.vouchers_of(record, connection)
        except Exception as exc:  # a setup missing or changed: say so instead of lines
            voucher_problem = getattr(exc, "message", None) or str(exc)
    return _page("document.html", who, status, connection=connection, record=record, view=DocumentView.of(record),
                 vouchers=vouchers, voucher_problem=voucher_problem, problem=problem)


@app.get("/console/connections/<connection_id>/documents/<document_id>")
def document_page(connection_id: str, document_id: str) -> Response:
    return _document_page(_signed_in(), connection_id, document_id)


@app.post("/console/connections/<connection_id>/documents/<document_id>/replay")
def replay(connection_id: str, document_id: str) -> Response:
    from ..services import transfers

    who = _signed_in()
    _posted(who)
    connection_id, document_id = _id(connection_id), _id(document_id)
    try:
        transfers.replay(who.tenant_id, connection_id, document_id)
    except REFUSALS as exc:
        status, message = _refusal(exc)
        return _document_page(who, connection_id, document_id, status, problem=message)
    return render.redirect(_url(f"/connections/{connection_id}/documents/{document_id}", notice="replayed"))


@app.post("/console/connections/<connection_id>/replay-failed")
def replay_failed(connection_id: str) -> Response:
    from ..services import transfers

    def run(who: Visitor, _form: dict[str, str]) -> Response:
        result = transfers.replay_failed(who.tenant_id, connection_id)
        return render.redirect(_url(f"/connections/{connection_id}/documents", notice="replayed_all",
                                    n=result.get("replayed", 0)))

    return _action(connection_id, run)


def _company_page(who: Visitor, connection_id: str, company_id: str, status: int = 200, **extra: Any) -> Response:
    from ..services import companies, connections

    connection = connections.get(who.tenant_id, _id(connection_id))
    company = companies.get(who.tenant_id, connection.connection_id, _id(company_id))
    context: dict[str, Any] = {"problem": None, "typed_accounts": None, **extra}
    return _page("company.html", who, status, connection=connection, company=company, **context)


@app.get("/console/connections/<connection_id>/companies/<company_id>")
def company_page(connection_id: str, company_id: str) -> Response:
    return _company_page(_signed_in(), connection_id, company_id)


@app.post("/console/connections/<connection_id>/companies/<company_id>/reconciliation")
def company_reconciliation(connection_id: str, company_id: str) -> Response:
    """The accounts to reconcile, typed as numbers separated by commas or spaces, checked against the
    company's own chart (its 422 names each missing account)."""
    from ..models.companies import ReconciliationSetup
    from ..services import companies

    who = _signed_in()
    form = _posted(who)
    typed = form.get("accounts", "")
    accounts = [a for a in typed.replace(",", " ").split() if a]
    try:
        companies.set_up(who.tenant_id, _id(connection_id), _id(company_id),
                         ReconciliationSetup.model_validate({"accounts": accounts}))
    except (ValidationError, *REFUSALS) as exc:
        status, message = _refusal(exc)
        return _company_page(who, connection_id, company_id, status, typed_accounts=typed, problem=message)
    return render.redirect(_url(f"/connections/{connection_id}/companies/{company_id}", notice="reconciliation_saved"))


@app.post("/console/connections/<connection_id>/companies/<company_id>/refresh")
def company_refresh(connection_id: str, company_id: str) -> Response:
    from ..services import runs

    who = _signed_in()
    _posted(who)
    try:
        runs.start_refresh(who.tenant_id, _id(connection_id), company_ids=[_id(company_id)])
    except REFUSALS as exc:
        status, message = _refusal(exc)
        return _company_page(who, connection_id, company_id, status, problem=message)
    return render.redirect(_url(f"/connections/{connection_id}/companies/{company_id}", notice="refresh_started"))


# ----------------------------------------------------------------------------- API documentation

@app.get("/console/api-docs")
def api_docs() -> Response:
    """Swagger UI over the API's own OpenAPI document, served from Powertools' bundled assets (offline)."""
    from .api_docs import swagger_page

    return Response(status_code=200, content_type="text/html; charset=utf-8", body=swagger_page(_base_url()),
                    headers={"Cache-Control": "no-cache"})


@app.get("/console/openapi.json")
def openapi_document() -> Response:
    from .api_docs import document_json

    return Response(status_code=200, content_type="application/json", body=document_json(),
                    headers={"Cache-Control": "no-cache"})
