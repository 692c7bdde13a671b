"""Flask app of the Procountor simulator: sign-in (/login, /keylogin), /api/oauth/token, the REST API subset a
payroll-journal integration uses, and /_sim control endpoints.

Shapes follow Procountor's own OpenAPI (26.04, as generated into public clients) and the third-party excerpt in
vendor-specs/procountor/: LedgerReceipt, Transaction, DimensionItemValue, Dimension(Item), FiscalYear,
TrackingPeriod, LedgerAccounts, Company, SessionInfo, LedgerReceiptSearchResult, InfoMessage and
ErrorMessages ``{"errors": [{"status", "field", "message"}]}``. Where the sources disagree the stricter reading is
built; README.md lists each choice.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
import threading
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import unquote_plus, urlencode, urlsplit

from flask import Flask, Response, g, redirect, request

from ..faults import add_fault_routes
from . import ledger
from .config import SimulatorConfig
from .ledger import FieldError, ProcountorError
from .seed import VAT_PERCENTAGES, VAT_STATUSES
from .state import AccessToken, Company, Fault, SimulatorState

# Versioned API roots (NOTES.md): /latest/api, /supported/api and /vYYMM/api serve the same API here.
_VERSIONED_ROOT = re.compile(r"^/(?:latest|supported|v\d{4})(/api(?:/.*)?)$")
_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?$")
LEDGER_STATUSES = ("EMPTY", "UNFINISHED", "NOT_SENT", "SENT", "RECEIVED", "PAID", "PAYMENT_DENIED", "VERIFIED",
                   "APPROVED", "INVALIDATED", "PAYMENT_QUEUED", "PARTLY_PAID", "PAYMENT_SENT_TO_BANK", "MARKED_PAID",
                   "STARTED", "INVOICED", "OVERRIDDEN", "DELETED", "UNSAVED", "PAYMENT_TRANSACTION_REMOVED")
SORT_KEYS = {"orderById": "id", "orderByDate": "receiptDate", "orderByCreated": "created",
             "orderByVersion": "version"}
BASIC_INFO_FIELDS = ("id", "type", "status", "name", "receiptDate", "receiptNumber", "invoiceNumber", "created",
                     "version")


# ---------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------

# Decimals go out as JSON numbers with their exact digits (1250.00, 25.5): marked strings, unquoted afterwards.
_DECIMAL_MARK = f"~dec{secrets.token_hex(4)}~"
_DECIMAL_MARKED = re.compile(rf'"{re.escape(_DECIMAL_MARK)}([-+0-9.Ee]+){re.escape(_DECIMAL_MARK)}"')


def _encode_extra(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_DECIMAL_MARK}{value}{_DECIMAL_MARK}"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(payload: Any) -> str:
    return _DECIMAL_MARKED.sub(r"\1", json.dumps(payload, ensure_ascii=False, default=_encode_extra))


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(payload), status=status, headers=headers, mimetype="application/json")


def error_response(errors: list[FieldError], headers: dict[str, str] | None = None) -> Response:
    return json_response({"errors": [e.as_dict() for e in errors]}, errors[0].status, headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _spec_style_template(rule: str) -> str:
    """Flask rule "/api/ledgerreceipts/<receiptId>" -> "/api/ledgerreceipts/{receiptId}" as in the spec."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


class _VersionedPaths:
    """WSGI middleware: /latest/api/..., /supported/api/..., /v2604/api/... -> /api/..."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        match = _VERSIONED_ROOT.match(environ.get("PATH_INFO", ""))
        if match:
            environ["PATH_INFO"] = match.group(1)
        return self.wsgi_app(environ, start_response)


# ---------------------------------------------------------------------------------------------
# App factory
# ---------------------------------------------------------------------------------------------

def create_app(config: SimulatorConfig | None = None, state: SimulatorState | None = None,
               stop_event: threading.Event | None = None) -> Flask:
    config = config or SimulatorConfig()
    state = state or SimulatorState(config)
    # Sleeps wait on this event so that stopping the server cuts injected delays short.
    stop_event = stop_event or threading.Event()

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.wsgi_app = _VersionedPaths(app.wsgi_app)  # type: ignore[method-assign]
    app.extensions["procountor_simulator"] = {"config": config, "state": state}

    def pause(seconds: float) -> None:
        if seconds > 0:
            stop_event.wait(seconds)

    # -- request pipeline: counting, faults, latency, auth, rate limit ---------------------------

    def endpoint_template() -> str:
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        return f"{request.method} {_spec_style_template(rule)}"

    @app.before_request
    def before_request() -> Response | None:
        with state.lock:
            state.request_counts[endpoint_template()] += 1
        path = request.path
        if path.startswith("/_sim"):
            return None

        fault = state.take_fault(request.method, path)
        if fault is not None:
            if fault.kind == "status":
                return error_response([FieldError(fault.status, None, f"Injected fault: HTTP {fault.status}")],
                                      {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None)
            if fault.kind == "rate_limit":
                return too_many_requests(fault.retry_after)
            if fault.kind == "latency":
                pause(fault.delay_s)
            elif fault.kind == "timeout_after_commit":
                g.delay_before_response_s = fault.delay_s
            elif fault.kind == "status_after_commit":
                g.status_after_commit = fault.status

        if path.startswith("/api"):
            pause(config.latency_ms / 1000)
            if not path.startswith("/api/oauth"):
                return authorize_api_call()
        return None

    @app.after_request
    def after_request(response: Response) -> Response:
        # timeout_after_commit: the work is done (and committed); only the answer is late.
        pause(getattr(g, "delay_before_response_s", 0))
        status = getattr(g, "status_after_commit", None)
        if status:
            # status_after_commit: committed, but a proxy in front answers with an error instead.
            return error_response([FieldError(status, None, f"Injected fault after commit: HTTP {status}")])
        return response

    def too_many_requests(retry_after_s: float) -> Response:
        headers = {"Retry-After": str(max(1, int(-(-retry_after_s // 1))))} if config.send_retry_after else None
        return error_response([FieldError(429, None, "TOO_MANY_REQUESTS")], headers)

    def bearer_token() -> AccessToken | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with state.lock:
            token = state.access_tokens.get(value.strip())
            if token is None or token.expires_at <= state.clock():
                return None
            return token

    def authorize_api_call() -> Response | None:
        token = bearer_token()
        if token is None:
            return error_response([FieldError(401, None, "UNAUTHORIZED")],
                                  {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        wait_s = state.rate_limit_wait(token.client_id)
        if wait_s:
            return too_many_requests(wait_s)
        g.token = token
        return None

    @app.errorhandler(ProcountorError)
    def handle_procountor_error(error: ProcountorError) -> Response:
        return error_response(error.errors, error.headers)

    @app.errorhandler(404)
    def handle_not_found(_error: Exception) -> Response:
        return error_response([FieldError(404, None, "NOT_FOUND")])

    @app.errorhandler(405)
    def handle_method_not_allowed(_error: Exception) -> Response:
        return error_response([FieldError(405, None, "METHOD_NOT_ALLOWED")])

    def current_company() -> Company:
        return state.companies[g.token.company_id]

    def read_json() -> Any:
        # Parsed with Decimal so amounts are checked exactly as the client wrote them.
        try:
            return json.loads(request.get_data(as_text=True) or "null", parse_float=Decimal,
                              parse_constant=_reject_constant)
        except ValueError as exc:
            raise ProcountorError.one(400, "INVALID_JSON") from exc

    # -- sign-in (/login, /keylogin, legacy /api/oauth/authz) --------------------------------------

    def page(title: str, body: str, status: int = 200) -> Response:
        document = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                    f"<body><h1>Procountor (simulator)</h1>{body}</body></html>")
        return Response(document, status=status, mimetype="text/html")

    def error_page(message: str) -> Response:
        return page("Error", f"<p class='error'>{html.escape(message)}</p>", 400)

    def hidden(params: dict[str, str | None]) -> str:
        return "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                       for k, v in params.items() if v is not None)

    def redirect_with(redirect_uri: str, **params: str | None) -> Response:
        # The registered URI never has a query string, so the parameters always start one.
        return redirect(f"{redirect_uri}?{urlencode({k: v for k, v in params.items() if v is not None})}", code=302)

    def redirect_uri_problem(client_id: str, redirect_uri: str) -> str | None:
        parts = urlsplit(redirect_uri)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "The redirect_uri must be an absolute http(s) URL."
        if parts.query or "?" in redirect_uri or parts.fragment:
            return "The redirect_uri must be a clean URL without a query string."
        if config.clients[client_id].get("redirect_uri") is None and state.redirect_uris.get(client_id) is None \
                and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            return "The redirect_uri is not the one registered for this client."
        if not state.bind_redirect_uri(client_id, redirect_uri):
            return "The redirect_uri is not the one registered for this client."
        return None

    def credentials_form(action: str, params: dict[str, str | None], error: str | None = None) -> Response:
        error_html = f"<p class='error'>{html.escape(error)}</p>" if error else ""
        heading = "Create an API key" if action == "/keylogin" else "Sign in"
        return page(heading, f"""<h2>{heading} for {html.escape(params.get("client_id") or "")}</h2>{error_html}
<form method="post" action="{action}">{hidden(params)}
<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Log in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>""")

    def company_form(action: str, params: dict[str, str | None], username: str, error: str | None = None) -> Response:
        ticket = state.issue_login_ticket(username)
        error_html = f"<p class='error'>{html.escape(error)}</p>" if error else ""
        choices = "".join(
            f'<li><label><input type="radio" name="company" value="{c.id}"> {html.escape(c.name)} '
            f'({html.escape(c.business_id)})</label></li>' for c in state.companies_of(username))
        return page("Choose company", f"""<h2>Choose the company (environment)</h2>{error_html}
<form method="post" action="{action}">{hidden(params)}<input type="hidden" name="login_ticket" value="{ticket.ticket}">
<ul class="companies">{choices}</ul>
<button type="submit" name="action" value="select">Continue</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>""")

    def sign_in(action: str, kind: str) -> Response:
        # client_id/state may come in the query string of a POST (the legacy /api/oauth/authz form does so).
        params = {name: request.values.get(name) for name in ("client_id", "redirect_uri", "response_type", "state")}
        client_id = params["client_id"] or ""
        if client_id not in config.clients:
            return error_page("Unknown client_id.")
        redirect_uri = params["redirect_uri"] or ""
        if not redirect_uri:
            return error_page("The redirect_uri is required.")
        problem = redirect_uri_problem(client_id, redirect_uri)
        if problem:
            return error_page(problem)
        if params["response_type"] != "code":
            return redirect_with(redirect_uri, error="unsupported_response_type", state=params["state"])
        if request.method == "GET":
            return credentials_form(action, params)

        if request.form.get("action") == "cancel":
            return redirect_with(redirect_uri, error="access_denied", state=params["state"])
        ticket_value = request.form.get("login_ticket")
        if ticket_value:
            ticket = state.take_login_ticket(ticket_value)
            if ticket is None:
                return credentials_form(action, params, "The sign-in expired. Please log in again.")
            username = ticket.username
        else:
            username = request.form.get("username", "")
            user = config.users.get(username)
            if user is None or not secrets.compare_digest(user["password"], request.form.get("password", "")):
                return credentials_form(action, params, "Invalid username or password")
        allowed = {c.id: c for c in state.companies_of(username)}
        picked = request.form.get("company", "")
        if not picked:
            return company_form(action, params, username)
        if not picked.isdigit() or int(picked) not in allowed:
            return company_form(action, params, username, "Choose one of your companies.")
        code = state.issue_code(client_id, redirect_uri, username, int(picked), kind)
        return redirect_with(redirect_uri, code=code.code, state=params["state"])

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        return sign_in("/login", "token")

    @app.route("/keylogin", methods=["GET", "POST"])
    def keylogin() -> Response:
        return sign_in("/keylogin", "api_key")

    @app.route("/api/oauth/authz", methods=["GET", "POST"])
    def legacy_authz() -> Response:
        # The deprecated endpoint: a POST with username, password and company (id) at once; GET shows /login's form.
        return sign_in("/api/oauth/authz", "token")

    # -- token endpoint --------------------------------------------------------------------------

    def oauth_error(error: str, status: int = 400, description: str | None = None,
                    headers: dict[str, str] | None = None) -> Response:
        body = {"error": error} | ({"error_description": description} if description else {})
        return json_response(body, status, {"Cache-Control": "no-store", **(headers or {})})

    def authenticate_client() -> str | None:
        client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)  # RFC 6749 2.3.1
        client = config.clients.get(client_id or "")
        if client is None or secret is None or not secrets.compare_digest(client["secret"], secret):
            return None
        return client_id

    def token_response(access: AccessToken, refresh_token: str | None) -> Response:
        body: dict[str, Any] = {"access_token": access.token, "token_type": "bearer",
                                "expires_in": config.access_token_ttl}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.post("/api/oauth/token")
    def oauth_token() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request", description="Content-Type must be application/x-www-form-urlencoded")
        client_id = authenticate_client()
        if client_id is None:
            return oauth_error("invalid_client", 401, headers={"WWW-Authenticate": 'Basic realm="procountor"'})
        grant_type = request.form.get("grant_type")
        redirect_uri = request.form.get("redirect_uri")
        with state.lock:
            if grant_type == "authorization_code":
                code = state.authorization_codes.get(request.form.get("code", ""))
                if (code is None or code.used or code.expires_at <= state.clock() or code.client_id != client_id
                        or code.redirect_uri != redirect_uri):
                    return oauth_error("invalid_grant")
                code.used = True
                if code.kind == "api_key":
                    # /keylogin's code is swapped for the API key itself (then client_credentials + api_key).
                    api_key = state.issue_api_key(client_id, code.company_id, code.username)
                    return json_response({"api_key": api_key.key}, headers={"Cache-Control": "no-store"})
                access = state.issue_access_token(client_id, code.company_id, code.username, grant_type)
                refresh = state.issue_refresh_token(client_id, code.company_id, code.username)
                return token_response(access, refresh.token)
            if grant_type == "refresh_token":
                presented = request.form.get("refresh_token", "")
                refresh = state.refresh_tokens.get(presented)
                if refresh is None or refresh.client_id != client_id:
                    return oauth_error("invalid_grant")
                if redirect_uri is not None and redirect_uri_problem(client_id, redirect_uri):
                    return oauth_error("invalid_grant")
                state.refresh_token_uses[presented] += 1
                if refresh.used:
                    # Rotation cancelled this one when it was first used.
                    state.refresh_token_reuse_attempts += 1
                    return oauth_error("invalid_grant")
                if refresh.expires_at is not None and refresh.expires_at <= state.clock():
                    return oauth_error("invalid_grant")
                access = state.issue_access_token(client_id, refresh.company_id, refresh.username, grant_type)
                if not config.refresh_token_rotates:
                    return token_response(access, refresh.token)
                refresh.used = True
                rotated = state.issue_refresh_token(client_id, refresh.company_id, refresh.username)
                return token_response(access, rotated.token)
            if grant_type == "client_credentials":
                presented_key = request.form.get("api_key")
                if not presented_key:
                    return oauth_error("invalid_request", description="api_key is required")
                if redirect_uri is None and config.client_credentials_requires_redirect_uri:
                    return oauth_error("invalid_request", description="redirect_uri is required")
                if redirect_uri is not None and redirect_uri_problem(client_id, redirect_uri):
                    return oauth_error("invalid_grant", description="redirect_uri does not match the client")
                api_key = state.api_keys.get(presented_key)
                if api_key is None or api_key.revoked or api_key.client_id != client_id:
                    return oauth_error("invalid_grant")
                access = state.issue_access_token(client_id, api_key.company_id, api_key.username, grant_type)
                return token_response(access, None)
        return oauth_error("unsupported_grant_type")

    @app.post("/logout")
    def logout() -> Response:
        token = bearer_token()
        if token is None:
            return error_response([FieldError(401, None, "UNAUTHORIZED")])
        with state.lock:
            state.access_tokens.pop(token.token, None)
        return json_response({"message": "Logged out"})

    # -- company, session, chart, VAT ------------------------------------------------------------

    @app.get("/api/company")
    def get_company() -> Response:
        with state.lock:
            company = current_company()
            return json_response({
                "id": company.id,
                "name": company.name,
                "country": "FINLAND",
                "productVersion": "FINANCIALS_GOLD",
                "operationType": "PRODUCTION",
                "companyAddress": {**company.address, "country": "FINLAND"},
                "billingAddress": {**company.address, "country": "FINLAND"},
                "mva": False,
                "inTradeRegister": True,
                "businessIdentifier": {"brnType": "YHD", "code": company.business_id},
                "accountingCoaLanguages": ["fi", "en"],
                "companyCurrency": "EUR",
                "currencyRateSearchDensity": "DAILY_EXCHANGE_RATE",
            })

    @app.get("/api/sessioninfo")
    def get_session_info() -> Response:
        with state.lock:
            company = current_company()
            user = config.users.get(g.token.username, {})
            return json_response({"companyId": company.id, "name": company.name, "country": "FINLAND",
                                  "productVersion": "FINANCIALS_GOLD", "userId": _user_id(g.token.username),
                                  "userName": user.get("name", g.token.username), "companySettings": {}})

    @app.get("/api/coa")
    def get_chart_of_accounts() -> Response:
        with state.lock:
            return json_response({"ledgerAccounts": list(current_company().accounts.values())})

    @app.get("/api/vats/default")
    def get_default_vats() -> Response:
        return json_response({
            "vatInformation": [{"country": "Finland", "percentages": [
                {"vatPercent": Decimal(p["vatPercent"]), "sales": p["sales"], "purchase": p["purchase"]}
                for p in VAT_PERCENTAGES]}],
            "vatStatuses": VAT_STATUSES,
        })

    # -- fiscal years ----------------------------------------------------------------------------

    @app.get("/api/fiscalyears")
    def get_fiscal_years() -> Response:
        with state.lock:
            return json_response({"fiscalYears": current_company().fiscal_years})

    @app.put("/api/fiscalyears/<int:fiscalYearId>/trackingPeriods/<int:trackingPeriodId>")
    def update_tracking_period(fiscalYearId: int, trackingPeriodId: int) -> Response:  # noqa: N803 - spec names
        body = read_json()
        with state.lock:
            fiscal_year = next((fy for fy in current_company().fiscal_years if fy["id"] == fiscalYearId), None)
            period = None if fiscal_year is None else next(
                (p for p in fiscal_year["trackingPeriods"] if p["id"] == trackingPeriodId), None)
            if period is None:
                raise ProcountorError.one(404, "TRACKING_PERIOD_NOT_FOUND")
            # "Currently, the only allowed operation is to change tracking period status from open to pending."
            if not isinstance(body, dict) or body.get("status") != "PENDING" or period["status"] != "OPEN":
                raise ProcountorError.one(409, "STATUS_CHANGE_NOT_ALLOWED", "status")
            period["status"] = "PENDING"
            period["modified"] = state.local_now()
            return json_response({"message": "Tracking period marked as pending"})

    # -- dimensions ------------------------------------------------------------------------------

    def dimension_or_404(dimension_id: int) -> dict[str, Any]:
        dimension = current_company().dimensions.get(dimension_id)
        if dimension is None:
            raise ProcountorError.one(404, "DIMENSION_NOT_FOUND")
        return dimension

    @app.get("/api/dimensions")
    def get_dimensions() -> Response:
        name = (request.args.get("name") or "").lower()
        code_name = (request.args.get("codeName") or "").lower()
        with state.lock:
            result = []
            for dimension in current_company().dimensions.values():
                if name and name not in dimension["name"].lower():
                    continue
                items = [i for i in dimension["items"] if code_name in i["codeName"].lower()]
                if code_name and not items:
                    continue
                result.append({**dimension, "items": items})
            return json_response(result)

    @app.get("/api/dimensions/<int:dimensionId>")
    def get_dimension(dimensionId: int) -> Response:  # noqa: N803
        with state.lock:
            return json_response(dimension_or_404(dimensionId))

    @app.put("/api/dimensions/<int:dimensionId>")
    def update_dimension(dimensionId: int) -> Response:  # noqa: N803
        body = read_json()
        with state.lock:
            dimension = dimension_or_404(dimensionId)
            name = body.get("name") if isinstance(body, dict) else None
            if not isinstance(name, str) or not 1 <= len(name) <= 255:
                raise ProcountorError.one(400, ledger.REQUIRED if name is None else ledger.INVALID_FORMAT, "name")
            dimension["name"] = name
            return json_response({"name": name})

    def checked_item(body: Any, dimension: dict[str, Any], item_id: int | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProcountorError.one(400, ledger.INVALID_FORMAT)
        errors = []
        code_name = body.get("codeName")
        if not isinstance(code_name, str) or not code_name.strip():
            errors.append(FieldError(400, "codeName", ledger.REQUIRED if code_name is None else ledger.INVALID_FORMAT))
        elif len(code_name) > 50:
            errors.append(FieldError(400, "codeName", ledger.TOO_LONG))
        elif any(i["codeName"].lower() == code_name.lower() and i["id"] != item_id for i in dimension["items"]):
            errors.append(FieldError(400, "codeName", "DUPLICATE_CODE_NAME"))
        description = body.get("description")
        if description is not None and (not isinstance(description, str) or len(description) > 255):
            errors.append(FieldError(400, "description", ledger.INVALID_FORMAT))
        status = body.get("status")
        if status not in (None, "P"):
            errors.append(FieldError(400, "status", ledger.INVALID_FORMAT))
        if errors:
            raise ProcountorError(errors)
        item: dict[str, Any] = {"codeName": code_name}
        if description is not None:
            item["description"] = description
        if status == "P":
            item["status"] = "P"
        return item

    @app.post("/api/dimensions/<int:dimensionId>/items")
    def add_dimension_item(dimensionId: int) -> Response:  # noqa: N803
        body = read_json()
        with state.lock:
            dimension = dimension_or_404(dimensionId)
            item = {"id": state.next_id(), **checked_item(body, dimension, None)}
            dimension["items"].append(item)
            return json_response(item)

    @app.put("/api/dimensions/<int:dimensionId>/items")
    def update_dimension_item(dimensionId: int) -> Response:  # noqa: N803
        body = read_json()
        with state.lock:
            dimension = dimension_or_404(dimensionId)
            item_id = body.get("id") if isinstance(body, dict) else None
            if isinstance(item_id, bool) or not isinstance(item_id, int):
                raise ProcountorError.one(400, ledger.REQUIRED, "id")   # "Dimension item ID. Required in PUT"
            index = next((n for n, i in enumerate(dimension["items"]) if i["id"] == item_id), None)
            if index is None:
                raise ProcountorError.one(404, "DIMENSION_ITEM_NOT_FOUND", "id")
            item = {"id": item_id, **checked_item(body, dimension, item_id)}
            dimension["items"][index] = item
            return json_response(item)

    # -- ledger receipts -------------------------------------------------------------------------

    def bool_arg(name: str) -> bool:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return False
        if raw.lower() not in ("true", "false"):
            raise ProcountorError.one(400, ledger.INVALID_FORMAT, name)
        return raw.lower() == "true"

    @app.post("/api/ledgerreceipts")
    def save_ledger_receipt() -> Response:
        create_reconciliation = bool_arg("createReconciliation")
        body = read_json()
        with state.lock:
            company = current_company()
            receipt = ledger.build_journal(state, company, body, create_reconciliation)
            ledger.assign_transaction_ids(state, receipt["transactions"])
            stored = state.store_receipt(company, receipt, state.local_now())
            return json_response(receipt_view(stored))

    def receipt_view(receipt: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in receipt.items() if k != "created"}

    def receipt_or_404(company: Company, raw_id: str) -> dict[str, Any]:
        if not raw_id.isdigit() or int(raw_id) not in company.receipts:
            raise ProcountorError.one(404, "LEDGER_RECEIPT_NOT_FOUND")
        return company.receipts[int(raw_id)]

    @app.get("/api/ledgerreceipts/<receiptId>")
    def get_ledger_receipt(receiptId: str) -> Response:  # noqa: N803
        ids = [part.strip() for part in receiptId.split(",")]
        if len(ids) > 200:
            raise ProcountorError.one(400, "TOO_MANY_IDS", "receiptId")
        with state.lock:
            company = current_company()
            if len(ids) == 1:
                return json_response(receipt_view(receipt_or_404(company, ids[0])))
            found = [receipt_view(company.receipts[int(i)]) for i in ids if i.isdigit() and int(i) in company.receipts]
            if not found:
                raise ProcountorError.one(404, "LEDGER_RECEIPT_NOT_FOUND")
            return json_response(found)

    def parse_search_args() -> dict[str, Any]:
        errors: list[FieldError] = []
        parsed: dict[str, Any] = {}
        for name in ("startDate", "endDate"):
            raw = request.args.get(name)
            if raw:
                day = ledger.parse_iso_date(raw)
                if day is None:
                    errors.append(FieldError(400, name, ledger.INVALID_FORMAT))
                parsed[name] = raw
        for name in ("createdStartDate", "createdEndDate", "versionStartDate", "versionEndDate"):
            raw = request.args.get(name)
            if raw:
                if not _LOCAL_DATETIME.match(raw):
                    errors.append(FieldError(400, name, ledger.INVALID_FORMAT))
                else:
                    parsed[name] = raw[:19]   # compared with Procountor's second-resolution local timestamps
        types = [t.strip() for raw in request.args.getlist("types") for t in raw.split(",") if t.strip()]
        if any(t not in ledger.RECEIPT_TYPES for t in types):
            errors.append(FieldError(400, "types", ledger.INVALID_FORMAT))
        parsed["types"] = types
        status = request.args.get("status")
        if status:
            if status not in LEDGER_STATUSES:
                errors.append(FieldError(400, "status", ledger.INVALID_FORMAT))
            parsed["status"] = status
        order: list[tuple[str, bool]] = []
        for name, _ in request.args.items(multi=True):
            if name in SORT_KEYS and all(key != SORT_KEYS[name] for key, _ in order):
                direction = request.args.get(name, "").upper()
                if direction not in ("ASC", "DESC"):
                    errors.append(FieldError(400, name, ledger.INVALID_FORMAT))
                order.append((SORT_KEYS[name], direction == "DESC"))
        parsed["order"] = order or [("id", True)]
        for name, default, low, high in (("size", config.page_size_default, 1, config.page_size_max),
                                         ("page", 0, 0, None), ("previousId", None, 0, None)):
            raw = request.args.get(name)
            if raw is None or raw == "":
                parsed[name] = default
            elif not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
                errors.append(FieldError(400, name, ledger.INVALID_FORMAT))
            else:
                parsed[name] = int(raw)
        if errors:
            raise ProcountorError(errors)
        return parsed

    @app.get("/api/ledgerreceipts")
    def search_ledger_receipts() -> Response:
        # Unknown parameters (e.g. a "name" filter, which Procountor does not have) are ignored, not refused.
        args = parse_search_args()
        with state.lock:
            matching = []
            for receipt in current_company().receipts.values():
                if args["types"] and receipt["type"] not in args["types"]:
                    continue
                if args.get("status") and receipt["status"] != args["status"]:
                    continue
                if args.get("startDate") and receipt["receiptDate"] < args["startDate"]:
                    continue
                if args.get("endDate") and receipt["receiptDate"] > args["endDate"]:
                    continue
                if args.get("createdStartDate") and receipt["created"] < args["createdStartDate"]:
                    continue
                if args.get("createdEndDate") and receipt["created"] > args["createdEndDate"]:
                    continue
                if args.get("versionStartDate") and receipt["version"] < args["versionStartDate"]:
                    continue
                if args.get("versionEndDate") and receipt["version"] > args["versionEndDate"]:
                    continue
                matching.append(receipt)
            # previousId: keyset paging along the id order (default newest first).
            id_descending = dict(args["order"]).get("id", True)
            if args["previousId"] is not None:
                matching = [r for r in matching
                            if (r["id"] < args["previousId"] if id_descending else r["id"] > args["previousId"])]
            keys = args["order"] + ([] if any(k == "id" for k, _ in args["order"]) else [("id", True)])
            for key, descending in reversed(keys):
                matching.sort(key=lambda r, k=key: r[k], reverse=descending)
            size, page_number = args["size"], args["page"]
            page_items = matching[page_number * size:(page_number + 1) * size]
            return json_response({
                "results": [{k: r[k] for k in BASIC_INFO_FIELDS} for r in page_items],
                "meta": {"pageNumber": page_number, "pageSize": size, "resultCount": len(page_items),
                         "totalCount": len(matching)},
            })

    def change_status(receipt_id: str, allowed_from: tuple[str, ...], to: str, message: str) -> Response:
        with state.lock:
            company = current_company()
            receipt = receipt_or_404(company, receipt_id)
            if receipt["type"] != "JOURNAL":
                raise ProcountorError.one(403, ledger.TYPE_NOT_ALLOWED, "type")
            if receipt["status"] not in allowed_from:
                raise ProcountorError.one(403, "INVALID_RECEIPT_STATUS", "status")
            refusal = ledger.period_refusal(company, ledger.parse_iso_date(receipt["receiptDate"]))
            if refusal is not None:
                raise ProcountorError.one(403, refusal, "receiptDate")
            receipt["status"] = to
            receipt["version"] = state.local_now()
            return json_response({"message": message})

    @app.put("/api/ledgerreceipts/<receiptId>/approve")
    def approve_ledger_receipt(receiptId: str) -> Response:  # noqa: N803
        # "Receipt can be set as approved only if it's status is UNFINISHED. Supported receipt types: JOURNAL."
        return change_status(receiptId, ("UNFINISHED",), "APPROVED", "Receipt approved")

    @app.put("/api/ledgerreceipts/<receiptId>/invalidate")
    def invalidate_ledger_receipt(receiptId: str) -> Response:  # noqa: N803
        return change_status(receiptId, ("UNFINISHED", "APPROVED"), "INVALIDATED", "Receipt invalidated")

    @app.put("/api/ledgerreceipts/<receiptId>/unfinished")
    def unfinish_ledger_receipt(receiptId: str) -> Response:  # noqa: N803
        return change_status(receiptId, ("APPROVED",), "UNFINISHED", "Receipt marked as unfinished")

    # -- control endpoints -----------------------------------------------------------------------

    def sim_error(message: str, status: int = 400) -> Response:
        return json_response({"error": message}, status)

    def sim_body() -> dict[str, Any]:
        body = request.get_json(force=True, silent=True)
        return body if isinstance(body, dict) else {}

    def sim_company(key: Any) -> Company | None:
        try:
            return state.company(key)
        except (KeyError, StopIteration, TypeError, ValueError):
            return None

    add_fault_routes(app, state, Fault, body=sim_body, refuse=sim_error, respond=json_response)

    @app.get("/_sim/companies")
    def sim_companies() -> Response:
        with state.lock:
            return json_response([{"id": c.id, "name": c.name, "businessId": c.business_id,
                                   "receipts": len(c.receipts)} for c in state.companies.values()])

    @app.get("/_sim/receipts")
    def sim_receipts() -> Response:
        wanted = request.args.get("company")
        with state.lock:
            if wanted is not None and sim_company(wanted) is None:
                return sim_error(f"no company {wanted}", 404)
            companies = [sim_company(wanted)] if wanted is not None else list(state.companies.values())
            return json_response([{"companyId": c.id, **r} for c in companies for r in c.receipts.values()])

    @app.post("/_sim/periods")
    def sim_set_period() -> Response:
        body = sim_body()
        if sim_company(body.get("company")) is None:
            return sim_error("company (id or name) is required and must exist")
        if not isinstance(body.get("period"), str) or not re.fullmatch(r"\d{4}-\d{2}", body["period"]):
            return sim_error("period must be YYYY-MM")
        try:
            period = state.set_period_status(body["company"], body["period"], str(body.get("status", "")))
        except (KeyError, ValueError) as exc:
            return sim_error(str(exc))
        return json_response(period)

    @app.post("/_sim/fiscal-years")
    def sim_set_fiscal_year() -> Response:
        body = sim_body()
        if sim_company(body.get("company")) is None or not isinstance(body.get("year"), int) \
                or not isinstance(body.get("open"), bool):
            return sim_error("company, year (int) and open (bool) are required")
        try:
            return json_response(state.set_fiscal_year_open(body["company"], body["year"], body["open"]))
        except KeyError as exc:
            return sim_error(str(exc))

    @app.post("/_sim/api-keys")
    def sim_issue_api_key() -> Response:
        # The "API client keys" page of the Procountor UI: a user creates a key for a client id.
        body = sim_body()
        company = sim_company(body.get("company"))
        username = body.get("username") or next(iter(config.users))
        client_id = body.get("client_id") or next(iter(config.clients))
        if company is None or username not in config.users or client_id not in config.clients:
            return sim_error("company must exist; username and client_id must be configured")
        if company.id not in {c.id for c in state.companies_of(username)}:
            return sim_error(f"{username} has no access to {company.name}")
        return json_response({"api_key": state.issue_api_key(client_id, company.id, username).key}, 201)

    @app.delete("/_sim/api-keys/<path:key>")
    def sim_revoke_api_key(key: str) -> Response:
        return json_response({"revoked": True}) if state.revoke_api_key(key) else sim_error("no such key", 404)

    @app.post("/_sim/tokens")
    def sim_issue_tokens() -> Response:
        """Tokens as the authorization-code flow would give them, without the browser step."""
        body = sim_body()
        company = sim_company(body.get("company"))
        username = body.get("username") or next(iter(config.users))
        client_id = body.get("client_id") or next(iter(config.clients))
        if company is None or username not in config.users or client_id not in config.clients:
            return sim_error("company must exist; username and client_id must be configured")
        access = state.issue_access_token(client_id, company.id, username, "authorization_code")
        refresh = state.issue_refresh_token(client_id, company.id, username)
        return json_response({"access_token": access.token, "token_type": "bearer",
                              "expires_in": config.access_token_ttl, "refresh_token": refresh.token}, 201)

    @app.get("/_sim/stats")
    def sim_stats() -> Response:
        with state.lock:
            return json_response({
                "request_counts": dict(state.request_counts),
                "rate_limited": state.rate_limited,
                "refresh_token_reuse_attempts": state.refresh_token_reuse_attempts,
                "max_refresh_token_uses": max(state.refresh_token_uses.values(), default=0),
                "receipts": {c.name: len(c.receipts) for c in state.companies.values()},
                "pending_faults": len(state.faults),
                "clock_offset_s": state.clock_offset_s,
            })

    @app.post("/_sim/clock")
    def sim_clock() -> Response:
        seconds = sim_body().get("advance_seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            return sim_error("advance_seconds must be a number")
        state.advance_clock(seconds)
        return json_response({"now": state.local_now(), "clock_offset_s": state.clock_offset_s})

    @app.post("/_sim/reset")
    def sim_reset() -> Response:
        state.reset()
        return json_response({"reset": True})

    return app


def _user_id(username: str) -> int:
    # A stable number per username (Procountor user ids are integers).
    return 10000 + int.from_bytes(username.encode()[:3].ljust(3, b"\0"), "big") % 90000
