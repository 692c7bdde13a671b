"""Flask app of the Visma eAccounting simulator: identity server, API v2 subset and /_sim control endpoints.

Shapes follow the 2026 PascalCase OpenAPI spec (VoucherApi, VoucherRowApi, AccountApi, VatCodeApi,
FiscalYearApi, Attachment, AttachmentUploadApi, AttachmentLinkApi, CommonExtendedBadRequest,
PaginatedResponseOf*). Request bodies may be PascalCase or camelCase (the pre-2026 spec).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from flask import Flask, Response, g, redirect, request

from ..faults import add_fault_routes
from .config import SimulatorConfig
from .state import Company, Fault, SimulatorState, utc_iso

# Visma error codes (developer.vismaonline.com, "Error codes").
VALIDATION_ERROR = 2000
NOT_FOUND = 3000
FISCAL_YEAR_MISSING = 3001
ACCOUNT_NOT_FOUND = 3002
CONFLICT = 4000
TOO_MANY_REQUESTS = 4010
# Not documented for 401/403/5xx; the simulator picks these so bodies keep the usual shape.
UNAUTHORIZED = 4001
FORBIDDEN = 4003
SERVER_ERROR = 5000

DOCUMENT_TYPE_VOUCHER = 3
VOUCHER_TYPE_MANUAL = 2
ALLOWED_ATTACHMENT_TYPES = ("application/pdf", "image/jpeg", "image/png", "image/tiff")
KNOWN_SCOPES = {
    "openid", "profile", "email", "offline_access", "ea:api",
    "ea:accounting", "ea:accounting_readonly", "ea:sales", "ea:sales_readonly",
    "ea:purchase", "ea:purchase_readonly",
}
MANDATORY_SCOPES = ("ea:api", "offline_access")
MAX_AMOUNT = Decimal("10000000000")
CENT = Decimal("0.01")


# ---------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------

# Decimals are emitted as JSON numbers with their exact digits (100.00, 0.25). The json module has no
# hook for raw numbers, so they are first written as marked strings and the quotes removed after.
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


def pascalize(value: Any) -> Any:
    """Upper-case the first letter of every object key, recursively (camelCase -> PascalCase)."""
    if isinstance(value, dict):
        return {(k[:1].upper() + k[1:] if isinstance(k, str) else k): pascalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascalize(item) for item in value]
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

@dataclass
class FieldError:
    code: int
    field: str | None
    message: str


class ApiError(Exception):
    """Raised by handlers; rendered as CommonExtendedBadRequest."""

    def __init__(self, status: int, code: int, message: str, errors: list[FieldError] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors or []

    @classmethod
    def from_field_errors(cls, errors: list[FieldError]) -> "ApiError":
        first = errors[0]
        return cls(400, first.code, first.message, errors)


def visma_error(status: int, code: int, message: str, errors: list[FieldError] | None = None,
                headers: dict[str, str] | None = None, with_errors: bool = True) -> Response:
    body: dict[str, Any] = {"ErrorCode": code, "DeveloperErrorMessage": message, "ErrorId": str(uuid.uuid4())}
    if with_errors:
        # CommonError in the spec: {Field, ErrorCode (string), Message, Key}.
        body["Errors"] = [{"Field": e.field, "ErrorCode": str(e.code), "Message": e.message, "Key": None}
                          for e in (errors or [])]
    return json_response(body, status, headers)


def too_many_requests(retry_after_s: int) -> Response:
    return visma_error(429, TOO_MANY_REQUESTS, f"Too many requests. Try again in {retry_after_s} seconds.",
                       headers={"Retry-After": str(retry_after_s)}, with_errors=False)


def oauth_error(error: str, status: int = 400, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": error}, status, {"Cache-Control": "no-store", **(headers or {})})


# ---------------------------------------------------------------------------------------------
# Query helpers: paging and the $filter subset
# ---------------------------------------------------------------------------------------------

_AND = re.compile(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)  # " and " outside quotes
_EQ = re.compile(r"^(\w+)\s+eq\s+('(?:[^']|'')*'|[^\s']+)$", re.IGNORECASE)
_CONTAINS = re.compile(r"^contains\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _filter_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values_equal(actual: Any, literal: str) -> bool:
    if literal.startswith("'"):
        wanted = literal[1:-1].replace("''", "'")
        if isinstance(actual, str) and _ISO_DATE.match(wanted) and re.match(r"^\d{4}-\d{2}-\d{2}T", actual):
            return actual[:10] == wanted  # date-time field compared with a date: date part only
        return _filter_text(actual).lower() == wanted.lower()
    if isinstance(actual, (int, Decimal)) and not isinstance(actual, bool):
        try:
            return Decimal(actual) == Decimal(literal)
        except ArithmeticError:
            return False
    return _filter_text(actual).lower() == literal.lower()


def _resolve_field(name: str, fields: set[str]) -> str:
    by_lower = {f.lower(): f for f in fields}
    if fields and name.lower() not in by_lower:
        raise ApiError(400, VALIDATION_ERROR, f"Unknown field '{name}' in $filter",
                       [FieldError(VALIDATION_ERROR, "$filter", f"Unknown field '{name}'")])
    return by_lower.get(name.lower(), name)


def apply_filter(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    if not expression or not expression.strip():
        return items
    fields = set(items[0]) if items else set()
    predicates = []
    for clause in _AND.split(expression.strip()):
        clause = clause.strip()
        if match := _EQ.match(clause):
            field_name, literal = _resolve_field(match.group(1), fields), match.group(2)
            predicates.append(lambda item, f=field_name, lit=literal: _values_equal(item.get(f), lit))
        elif match := _CONTAINS.match(clause):
            field_name, needle = _resolve_field(match.group(1), fields), match.group(2).replace("''", "'")
            predicates.append(
                lambda item, f=field_name, n=needle.lower(): n in _filter_text(item.get(f)).lower())
        else:
            raise ApiError(400, VALIDATION_ERROR, f"Unsupported $filter expression: {clause}",
                           [FieldError(VALIDATION_ERROR, "$filter", f"Unsupported expression: {clause}")])
    return [item for item in items if all(p(item) for p in predicates)]


def _spec_style_template(rule: str) -> str:
    """Flask rule "/v2/vouchers/<fiscalyearId>" -> "/v2/vouchers/{fiscalyearId}" as in the spec."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _positive_int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, VALIDATION_ERROR, f"{name} must be a positive integer",
                       [FieldError(VALIDATION_ERROR, name, "Must be a positive integer")])
    return int(raw)


def _bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, VALIDATION_ERROR, f"{name} must be true or false",
                       [FieldError(VALIDATION_ERROR, name, "Must be true or false")])
    return raw.lower() == "true"


# ---------------------------------------------------------------------------------------------
# App factory
# ---------------------------------------------------------------------------------------------

def create_app(config: SimulatorConfig | None = None, state: SimulatorState | None = None,
               stop_event: threading.Event | None = None) -> Flask:
    config = config or SimulatorConfig()
    state = state or SimulatorState(config.users)
    # Sleeps wait on this event so that stopping the server cuts injected delays short.
    stop_event = stop_event or threading.Event()

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.extensions["visma_simulator"] = {"config": config, "state": state}

    def pause(seconds: float) -> None:
        if seconds > 0:
            stop_event.wait(seconds)

    # -- request pipeline: counting, faults, latency, auth, rate limit ---------------------------

    def endpoint_template() -> str:
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        return f"{request.method} {_spec_style_template(rule)}"

    @app.before_request
    def before_request() -> Response | None:
        template = endpoint_template()
        with state.lock:
            state.request_counts[template] += 1
        path = request.path
        if path.startswith("/_sim"):
            return None

        fault = state.take_fault(request.method, path)
        if fault is not None:
            if fault.kind == "status":
                code = {400: VALIDATION_ERROR, 404: NOT_FOUND, 409: CONFLICT,
                        429: TOO_MANY_REQUESTS}.get(fault.status, SERVER_ERROR)
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
                return visma_error(fault.status, code, f"Injected fault: HTTP {fault.status}", headers=headers)
            if fault.kind == "rate_limit":
                return too_many_requests(fault.retry_after)
            if fault.kind == "latency":
                pause(fault.delay_s)
            elif fault.kind == "timeout_after_commit":
                g.delay_before_response_s = fault.delay_s
            elif fault.kind == "status_after_commit":
                g.status_after_commit = fault.status

        if path.startswith("/v2") or path == "/connect/token":
            pause(config.latency_ms / 1000)
        if path.startswith("/v2"):
            return authorize_api_call(template)
        return None

    @app.after_request
    def after_request(response: Response) -> Response:
        # timeout_after_commit: the work is done (and committed); only the answer is late.
        pause(getattr(g, "delay_before_response_s", 0))
        status = getattr(g, "status_after_commit", None)
        if status:
            # status_after_commit: committed, but a proxy answers with an error instead.
            return visma_error(status, SERVER_ERROR, f"Injected fault after commit: HTTP {status}")
        return response

    def authorize_api_call(template: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token_value = header.partition(" ")
        with state.lock:
            token = state.access_tokens.get(token_value.strip()) if scheme.lower() == "bearer" else None
            expired = token is not None and token.expires_at <= state.clock()
        if token is None or expired:
            reason = "expired" if expired else ("invalid" if header else "missing")
            return visma_error(401, UNAUTHORIZED, f"Authorization has been denied for this request ({reason} token).",
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, with_errors=False)
        if not request.path.startswith("/v2/companysettings"):
            allowed = {"ea:accounting"} | ({"ea:accounting_readonly"} if request.method == "GET" else set())
            if not allowed & set(token.scopes):
                return visma_error(403, FORBIDDEN, "The access token lacks the scope ea:accounting.",
                                   with_errors=False)
        wait_s = state.rate_limit_wait(token.client_id, template, config.rate_limit_per_minute)
        if wait_s:
            return too_many_requests(wait_s)
        g.token = token
        return None

    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        return visma_error(error.status, error.code, error.message, error.errors)

    @app.errorhandler(404)
    def handle_not_found(_error: Exception) -> Response:
        return visma_error(404, NOT_FOUND, f"No such resource: {request.method} {request.path}")

    @app.errorhandler(405)
    def handle_method_not_allowed(_error: Exception) -> Response:
        return visma_error(405, VALIDATION_ERROR, f"Method {request.method} not allowed on {request.path}")

    def current_company() -> Company:
        return state.companies[g.token.company]

    def read_json_object() -> dict[str, Any]:
        # Parse the raw text with Decimal so amounts are checked exactly as the client wrote them.
        try:
            body = json.loads(request.get_data(as_text=True) or "null",
                              parse_float=Decimal, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ApiError(400, VALIDATION_ERROR, f"Request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, VALIDATION_ERROR, "Request body must be a JSON object")
        return pascalize(body)

    def paginated(items: list[dict[str, Any]]) -> Response:
        page = _positive_int_arg("$page", 1)
        page_size = min(_positive_int_arg("$pagesize", config.page_size_default), config.page_size_max)
        matching = apply_filter(items, request.args.get("$filter"))
        meta = {
            "CurrentPage": page,
            "PageSize": page_size,
            "TotalNumberOfPages": math.ceil(len(matching) / page_size),
            "TotalNumberOfResults": len(matching),
            "ServerTimeUtc": state.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return json_response({"Meta": meta, "Data": matching[(page - 1) * page_size: page * page_size]})

    # -- identity server -------------------------------------------------------------------------

    def redirect_uri_allowed(client: dict, redirect_uri: str) -> bool:
        registered = client.get("redirect_uris") or []
        if registered:
            return redirect_uri in registered
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost", "::1")

    def redirect_with(redirect_uri: str, **params: str) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", code=302)

    def error_page(message: str) -> Response:
        body = (f"<!doctype html><html><head><title>Error</title></head><body>"
                f"<h1>Visma Connect (simulator)</h1><p class='error'>{html.escape(message)}</p></body></html>")
        return Response(body, status=400, mimetype="text/html")

    def login_page(params: dict[str, str], scopes: list[str], error: str | None = None) -> Response:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in params.items() if v is not None)
        scope_items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        error_html = f"<p class='error'>{html.escape(error)}</p>" if error else ""
        body = f"""<!doctype html>
<html><head><title>Visma Connect (simulator) - Log in</title></head>
<body>
<h1>Visma Connect (simulator)</h1>
{error_html}
<form method="post" action="/connect/authorize">
{hidden}
<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<h2>{html.escape(params.get("client_id") or "")} is requesting access to:</h2>
<ul>{scope_items}</ul>
<button type="submit" name="consent" value="yes">Yes, allow</button>
<button type="submit" name="consent" value="no">No</button>
</form>
</body></html>"""
        return Response(body, status=200, mimetype="text/html")

    AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "prompt", "acr_values")

    @app.route("/connect/authorize", methods=["GET", "POST"])
    def connect_authorize() -> Response:
        source = request.args if request.method == "GET" else request.form
        params = {name: source.get(name) for name in AUTHORIZE_PARAMS}
        client = config.clients.get(params["client_id"] or "")
        if client is None:
            return error_page("Unknown client_id.")
        redirect_uri = params["redirect_uri"] or ""
        if not redirect_uri_allowed(client, redirect_uri):
            return error_page("The redirect_uri is not registered for this client.")
        if params["response_type"] != "code":
            return redirect_with(redirect_uri, error="unsupported_response_type", state=params["state"])
        scopes = (params["scope"] or "").split()
        if not all(s in scopes for s in MANDATORY_SCOPES) or not set(scopes) <= KNOWN_SCOPES:
            return redirect_with(redirect_uri, error="invalid_scope", state=params["state"])
        if request.method == "GET":
            return login_page(params, scopes)

        if request.form.get("consent") == "no":
            return redirect_with(redirect_uri, error="access_denied", state=params["state"])
        username = request.form.get("username", "")
        user = config.users.get(username)
        if user is None or not secrets.compare_digest(user["password"], request.form.get("password", "")):
            return login_page(params, scopes, "Invalid username or password")
        if request.form.get("consent") != "yes":
            return login_page(params, scopes, "Please allow or deny access")
        code = state.issue_code(params["client_id"], redirect_uri, scopes, username, config.authorization_code_ttl)
        return redirect_with(redirect_uri, code=code.code, state=params["state"])

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

    def token_response(client_id: str, company: str, scopes: list[str]) -> Response:
        access, refresh = state.issue_tokens(client_id, company, scopes, config.access_token_ttl)
        return json_response({
            "access_token": access.token,
            "refresh_token": refresh.token,
            "expires_in": config.access_token_ttl,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @app.post("/connect/token")
    def connect_token() -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return oauth_error("invalid_request")
        client_id = authenticate_client()
        if client_id is None:
            return oauth_error("invalid_client", 401, {"WWW-Authenticate": 'Basic realm="visma-connect"'})
        grant_type = request.form.get("grant_type")
        with state.lock:
            if grant_type == "authorization_code":
                code = state.authorization_codes.get(request.form.get("code", ""))
                if (code is None or code.used or code.expires_at <= state.clock() or code.client_id != client_id
                        or code.redirect_uri != request.form.get("redirect_uri")):
                    return oauth_error("invalid_grant")
                code.used = True
                return token_response(client_id, code.company, code.scopes)
            if grant_type == "refresh_token":
                presented = request.form.get("refresh_token", "")
                refresh = state.refresh_tokens.get(presented)
                if refresh is None or refresh.client_id != client_id:
                    return oauth_error("invalid_grant")
                state.refresh_token_uses[presented] += 1
                if refresh.used:
                    # Visma refresh tokens are single-use: the rotation cancelled this one.
                    state.refresh_token_reuse_attempts += 1
                    return oauth_error("invalid_grant")
                refresh.used = True
                return token_response(client_id, refresh.company, refresh.scopes)
        return oauth_error("unsupported_grant_type")

    # -- read endpoints ----------------------------------------------------------------------------

    def fiscal_year_or_404(company: Company, fiscal_year_id: str) -> dict[str, Any]:
        fiscal_year = company.fiscal_year_by_id(fiscal_year_id)
        if fiscal_year is None:
            raise ApiError(404, NOT_FOUND, f"Fiscal year {fiscal_year_id} not found")
        return fiscal_year

    @app.get("/v2/companysettings")
    def get_company_settings() -> Response:
        with state.lock:
            return json_response(current_company().settings)

    @app.get("/v2/fiscalyears")
    def list_fiscal_years() -> Response:
        with state.lock:
            return paginated(current_company().fiscal_years)

    @app.get("/v2/accounts")
    def list_accounts_current_year() -> Response:
        with state.lock:
            company = current_company()
            fiscal_year = company.fiscal_year_for(state.now().date())
            if fiscal_year is None:
                raise ApiError(400, FISCAL_YEAR_MISSING,
                               f"No fiscal year exists for date {state.now().date().isoformat()}")
            return paginated(list(company.accounts[fiscal_year["Id"]].values()))

    @app.get("/v2/accounts/<fiscalyearId>")
    def list_accounts(fiscalyearId: str) -> Response:  # noqa: N803 - named as in the spec
        with state.lock:
            company = current_company()
            fiscal_year = fiscal_year_or_404(company, fiscalyearId)
            return paginated(list(company.accounts[fiscal_year["Id"]].values()))

    @app.get("/v2/vatcodes")
    def list_vat_codes() -> Response:
        with state.lock:
            return paginated(current_company().vat_codes)

    @app.get("/v2/vatcodes/<id>")
    def get_vat_code(id: str) -> Response:  # noqa: A002 - named as in the spec
        with state.lock:
            vat_code = current_company().vat_code_by_id(id)
            if vat_code is None:
                raise ApiError(404, NOT_FOUND, f"VAT code {id} not found")
            return json_response(vat_code)

    @app.get("/v2/vouchers")
    def list_vouchers() -> Response:
        with state.lock:
            return paginated(current_company().vouchers)

    @app.get("/v2/vouchers/<fiscalyearId>")
    def list_vouchers_in_year(fiscalyearId: str) -> Response:  # noqa: N803
        with state.lock:
            company = current_company()
            fiscal_year = fiscal_year_or_404(company, fiscalyearId)
            start, end = fiscal_year["StartDate"][:10], fiscal_year["EndDate"][:10]
            return paginated([v for v in company.vouchers if start <= v["VoucherDate"][:10] <= end])

    @app.get("/v2/vouchers/<fiscalyearId>/<voucherId>")
    def get_voucher(fiscalyearId: str, voucherId: str) -> Response:  # noqa: N803
        with state.lock:
            company = current_company()
            fiscal_year = fiscal_year_or_404(company, fiscalyearId)
            voucher = company.voucher_by_id(voucherId)
            if voucher is None or not (fiscal_year["StartDate"][:10] <= voucher["VoucherDate"][:10]
                                       <= fiscal_year["EndDate"][:10]):
                raise ApiError(404, NOT_FOUND, f"Voucher {voucherId} not found")
            return json_response(voucher)

    # -- vouchers --------------------------------------------------------------------------------

    @app.post("/v2/vouchers")
    def create_voucher() -> Response:
        use_automatic_vat = _bool_arg("useAutomaticVatCalculation", False)
        use_default_vat_codes = _bool_arg("useDefaultVatCodes", True)
        use_default_series = _bool_arg("useDefaultVoucherSeries", True)
        if use_automatic_vat:
            raise ApiError(400, VALIDATION_ERROR,
                           "useAutomaticVatCalculation=true is not supported by the simulator")
        body = read_json_object()
        with state.lock:
            company = current_company()
            voucher = build_voucher(company, body, use_default_vat_codes, use_default_series)
            company.vouchers.append(voucher)
            return json_response(voucher, 201)

    def build_voucher(company: Company, body: dict[str, Any], use_default_vat_codes: bool,
                      use_default_series: bool) -> dict[str, Any]:
        errors: list[FieldError] = []
        text = body.get("VoucherText")
        if not isinstance(text, str) or not text.strip():
            errors.append(FieldError(VALIDATION_ERROR, "VoucherText", "VoucherText is required"))
        elif len(text) > 1000:
            errors.append(FieldError(VALIDATION_ERROR, "VoucherText", "VoucherText exceeds 1000 characters"))
        rows = body.get("Rows")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            errors.append(FieldError(VALIDATION_ERROR, "Rows", "Rows is required and must contain at least one row"))
        voucher_date = _parse_voucher_date(body.get("VoucherDate"), state.now().date(), errors)
        series = "A"
        if not use_default_series:
            series = body.get("NumberSeries")
            if not isinstance(series, str) or not series.strip():
                errors.append(FieldError(VALIDATION_ERROR, "NumberSeries",
                                         "NumberSeries is required when useDefaultVoucherSeries=false"))
        if errors:
            raise ApiError.from_field_errors(errors)

        fiscal_year = company.fiscal_year_for(voucher_date)
        if fiscal_year is None:
            raise ApiError(400, FISCAL_YEAR_MISSING, f"No fiscal year exists for date {voucher_date.isoformat()}",
                           [FieldError(FISCAL_YEAR_MISSING, "VoucherDate",
                                       f"No fiscal year exists for date {voucher_date.isoformat()}")])
        year_label = fiscal_year["StartDate"][:4]
        if fiscal_year["IsLockedForAccounting"]:
            raise ApiError(400, VALIDATION_ERROR, f"Fiscal year {year_label} is locked for accounting",
                           [FieldError(VALIDATION_ERROR, "VoucherDate",
                                       f"Fiscal year {year_label} is locked for accounting")])

        chart = company.accounts[fiscal_year["Id"]]
        stored_rows = []
        total_debit = total_credit = Decimal(0)
        for index, row in enumerate(rows):
            prefix = f"Rows[{index}]"
            row_errors: list[FieldError] = []
            account_number = row.get("AccountNumber")
            account = None
            if isinstance(account_number, bool) or not isinstance(account_number, int):
                row_errors.append(FieldError(VALIDATION_ERROR, f"{prefix}.AccountNumber",
                                             "AccountNumber is required and must be an integer"))
            else:
                account = chart.get(account_number)
                if account is None:
                    row_errors.append(FieldError(ACCOUNT_NOT_FOUND, f"{prefix}.AccountNumber",
                                                 f"Account {account_number} does not exist in fiscal year {year_label}"))
                elif not account["IsActive"]:
                    row_errors.append(FieldError(VALIDATION_ERROR, f"{prefix}.AccountNumber",
                                                 f"Account {account_number} is inactive"))
            debit = _parse_amount(row.get("DebitAmount"), f"{prefix}.DebitAmount", row_errors)
            credit = _parse_amount(row.get("CreditAmount"), f"{prefix}.CreditAmount", row_errors)
            if debit is not None and credit is not None and (debit > 0) == (credit > 0):
                row_errors.append(FieldError(VALIDATION_ERROR, prefix,
                                             "Exactly one of DebitAmount and CreditAmount must be greater than 0"))
            transaction_text = row.get("TransactionText")
            if transaction_text is not None and (not isinstance(transaction_text, str) or len(transaction_text) > 60):
                row_errors.append(FieldError(VALIDATION_ERROR, f"{prefix}.TransactionText",
                                             "TransactionText must be a string of at most 60 characters"))
            requested_vat_code_id = row.get("VatCodeId")
            requested_vat_code = None
            if requested_vat_code_id is not None:
                requested_vat_code = company.vat_code_by_id(requested_vat_code_id)
                if requested_vat_code is None:
                    row_errors.append(FieldError(VALIDATION_ERROR, f"{prefix}.VatCodeId",
                                                 f"VAT code {requested_vat_code_id} does not exist"))
            errors.extend(row_errors)
            if row_errors:
                continue
            total_debit += debit
            total_credit += credit
            # useDefaultVatCodes=true (the default): the account's VAT code wins over the request.
            vat_code = (company.vat_code_by_id(account["VatCodeId"]) if account["VatCodeId"] else None) \
                if use_default_vat_codes else requested_vat_code
            stored_rows.append({
                "AccountNumber": account_number,
                "AccountDescription": account["Name"],
                "DebitAmount": debit.quantize(CENT),
                "CreditAmount": credit.quantize(CENT),
                "TransactionText": transaction_text,
                "CostCenterItemId1": row.get("CostCenterItemId1"),
                "CostCenterItemId2": row.get("CostCenterItemId2"),
                "CostCenterItemId3": row.get("CostCenterItemId3"),
                "VatCodeId": vat_code["Id"] if vat_code else None,
                "VatCodeAndPercent": (f"{vat_code['Code']} ({(vat_code['VatRate'] * 100).normalize():f}%)"
                                      if vat_code else None),
                "VatAmount": None,
                "Quantity": None,
                "Weight": None,
                "DeliveryDate": None,
                "HarvestYear": None,
                "ProjectId": row.get("ProjectId"),
            })
        if errors:
            raise ApiError.from_field_errors(errors)
        if total_debit != total_credit:
            message = (f"Voucher is not balanced: debit {total_debit.quantize(CENT)} "
                       f"!= credit {total_credit.quantize(CENT)}")
            raise ApiError(400, VALIDATION_ERROR, message, [FieldError(VALIDATION_ERROR, "Rows", message)])

        company.last_voucher_number[series] += 1
        voucher_id = str(uuid.uuid4())
        now = utc_iso(state.now())
        return {
            "Id": voucher_id,
            "VoucherDate": f"{voucher_date.isoformat()}T00:00:00",
            "VoucherText": text,
            "Rows": stored_rows,
            "NumberAndNumberSeries": f"{series}{company.last_voucher_number[series]}",
            "NumberSeries": series,
            "ImportedVoucherNumber": None,
            "Attachments": {"DocumentId": voucher_id, "DocumentType": DOCUMENT_TYPE_VOUCHER, "AttachmentIds": []},
            "ModifiedUtc": now,
            "VoucherType": VOUCHER_TYPE_MANUAL,
            "SourceId": None,
            "CreatedUtc": now,
        }

    # -- attachments -----------------------------------------------------------------------------

    @app.post("/v2/attachments")
    def create_attachment() -> Response:
        body = read_json_object()
        errors: list[FieldError] = []
        content_type = body.get("ContentType")
        if content_type not in ALLOWED_ATTACHMENT_TYPES:
            errors.append(FieldError(VALIDATION_ERROR, "ContentType",
                                     f"ContentType must be one of {', '.join(ALLOWED_ATTACHMENT_TYPES)}"))
        file_name = body.get("FileName")
        if not isinstance(file_name, str) or not file_name.strip() or len(file_name) > 200:
            errors.append(FieldError(VALIDATION_ERROR, "FileName", "FileName is required (max 200 characters)"))
        elif not re.fullmatch(r"[\w\-() .]+", file_name):
            errors.append(FieldError(VALIDATION_ERROR, "FileName",
                                     "FileName may contain letters, numbers, spaces and - _ ( ) ."))
        content = None
        data = body.get("Data")
        if not isinstance(data, str) or not data:
            errors.append(FieldError(VALIDATION_ERROR, "Data", "Data (base64 file content) is required"))
        else:
            try:
                content = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                errors.append(FieldError(VALIDATION_ERROR, "Data", "Data is not valid base64"))
        attachment_id = body.get("Id") or str(uuid.uuid4())
        try:
            attachment_id = str(uuid.UUID(str(attachment_id)))
        except ValueError:
            errors.append(FieldError(VALIDATION_ERROR, "Id", "Id must be a uuid"))
        if errors:
            raise ApiError.from_field_errors(errors)
        with state.lock:
            company = current_company()
            if attachment_id in company.attachments:
                raise ApiError(400, CONFLICT, f"Attachment {attachment_id} already exists")
            attachment = {
                "Id": attachment_id,
                "ContentType": content_type,
                "DocumentId": None,
                "AttachedDocumentType": 0,
                "MessageThreads": [],
                "Notes": [],
                "PhotoSource": 105,  # Integration
                "FileName": file_name,
                "TemporaryUrl": f"{request.host_url}_sim/attachments/{attachment_id}/content",
                "Comment": body.get("Comment"),
                "SupplierName": None,
                "CurrencyCode": None,
                "AmountInvoiceCurrency": Decimal(0),
                "Type": 2,  # Document
                "AttachmentStatus": 1,  # Unmatched
                "UploadedBy": g.token.client_id,
                "ImageDate": utc_iso(state.now()),
                "TransactionDate": None,
                "Ocr": None,
                "InvoiceNumber": None,
                "Vat": None,
                "DueDate": None,
                "SupplierCorporateIdentityNumber": None,
                "PaymentDate": None,
            }
            company.attachments[attachment_id] = attachment
            company.attachment_content[attachment_id] = content
            return json_response(attachment, 201)

    @app.get("/v2/attachments")
    def list_attachments() -> Response:
        with state.lock:
            return paginated(list(current_company().attachments.values()))

    @app.get("/v2/attachments/<attachmentId>")
    def get_attachment(attachmentId: str) -> Response:  # noqa: N803
        with state.lock:
            attachment = current_company().attachments.get(attachmentId.lower())
            if attachment is None:
                raise ApiError(404, NOT_FOUND, f"Attachment {attachmentId} not found")
            return json_response(attachment)

    @app.post("/v2/attachmentlinks")
    def create_attachment_link() -> Response:
        body = read_json_object()
        document_type, document_id = body.get("DocumentType"), body.get("DocumentId")
        attachment_ids = body.get("AttachmentIds")
        if document_type != DOCUMENT_TYPE_VOUCHER:
            raise ApiError(400, VALIDATION_ERROR, "Only DocumentType 3 (Voucher) is supported by the simulator",
                           [FieldError(VALIDATION_ERROR, "DocumentType", "Must be 3")])
        if not isinstance(attachment_ids, list) or not attachment_ids:
            raise ApiError(400, VALIDATION_ERROR, "AttachmentIds is required",
                           [FieldError(VALIDATION_ERROR, "AttachmentIds", "At least one attachment id is required")])
        with state.lock:
            company = current_company()
            voucher = company.voucher_by_id(document_id) if isinstance(document_id, str) else None
            if voucher is None:
                raise ApiError(400, NOT_FOUND, f"Document {document_id} not found",
                               [FieldError(NOT_FOUND, "DocumentId", f"Voucher {document_id} not found")])
            attachments = []
            for attachment_id in attachment_ids:
                attachment = company.attachments.get(str(attachment_id).lower())
                if attachment is None:
                    raise ApiError(400, NOT_FOUND, f"Attachment {attachment_id} not found",
                                   [FieldError(NOT_FOUND, "AttachmentIds", f"Attachment {attachment_id} not found")])
                if attachment["DocumentId"] not in (None, voucher["Id"]):
                    message = f"Attachment {attachment_id} is already linked to document {attachment['DocumentId']}"
                    raise ApiError(400, CONFLICT, message, [FieldError(CONFLICT, "AttachmentIds", message)])
                attachments.append(attachment)
            # All checked first, so a rejected request links nothing.
            for attachment in attachments:
                attachment.update(DocumentId=voucher["Id"], AttachedDocumentType=DOCUMENT_TYPE_VOUCHER,
                                  AttachmentStatus=0)
                if attachment["Id"] not in voucher["Attachments"]["AttachmentIds"]:
                    voucher["Attachments"]["AttachmentIds"].append(attachment["Id"])
                    voucher["ModifiedUtc"] = utc_iso(state.now())
            return json_response({"DocumentId": voucher["Id"], "DocumentType": DOCUMENT_TYPE_VOUCHER,
                                  "AttachmentIds": [a["Id"] for a in attachments]})

    # -- control endpoints -----------------------------------------------------------------------

    add_fault_routes(app, state, Fault, body=lambda: request.get_json(force=True) or {},
                     refuse=lambda reason: json_response({"error": reason}, 400), respond=json_response)

    @app.get("/_sim/vouchers")
    def sim_vouchers() -> Response:
        wanted = request.args.get("company")
        with state.lock:
            return json_response([v for name, c in state.companies.items() if wanted in (None, name)
                                  for v in c.vouchers])

    @app.get("/_sim/stats")
    def sim_stats() -> Response:
        with state.lock:
            return json_response({
                "request_counts": dict(state.request_counts),
                "refresh_token_reuse_attempts": state.refresh_token_reuse_attempts,
                "max_refresh_token_uses": max(state.refresh_token_uses.values(), default=0),
                "vouchers": {name: len(c.vouchers) for name, c in state.companies.items()},
                "pending_faults": len(state.faults),
                "clock_offset_s": state.clock_offset_s,
            })

    @app.post("/_sim/clock")
    def sim_clock() -> Response:
        seconds = (request.get_json(force=True, silent=True) or {}).get("advance_seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            return json_response({"error": "advance_seconds must be a number"}, 400)
        state.advance_clock(seconds)
        return json_response({"now": utc_iso(state.now()), "clock_offset_s": state.clock_offset_s})

    @app.post("/_sim/reset")
    def sim_reset() -> Response:
        state.reset()
        return json_response({"reset": True})

    @app.get("/_sim/attachments/<attachment_id>/content")
    def sim_attachment_content(attachment_id: str) -> Response:
        with state.lock:
            for company in state.companies.values():
                if attachment_id in company.attachment_content:
                    return Response(company.attachment_content[attachment_id],
                                    mimetype=company.attachments[attachment_id]["ContentType"])
        return json_response({"error": "not found"}, 404)

    return app


def _parse_voucher_date(value: Any, today: date, errors: list[FieldError]) -> date:
    if value is None:
        return today
    match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?", str(value))
    try:
        if not isinstance(value, str) or match is None:
            raise ValueError
        return date.fromisoformat(match.group(1))
    except ValueError:
        errors.append(FieldError(VALIDATION_ERROR, "VoucherDate", "VoucherDate must be a date (yyyy-mm-dd)"))
        return today


def _parse_amount(value: Any, field: str, errors: list[FieldError]) -> Decimal | None:
    """Exact amount (Decimal) or None after recording why it is invalid; missing/null means 0."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        errors.append(FieldError(VALIDATION_ERROR, field, f"{field.rsplit('.', 1)[-1]} must be a number"))
        return None
    amount = Decimal(value)
    if amount < 0 or amount > MAX_AMOUNT:
        errors.append(FieldError(VALIDATION_ERROR, field,
                                 f"{field.rsplit('.', 1)[-1]} must be between 0 and {MAX_AMOUNT}"))
        return None
    if amount != amount.quantize(CENT):
        errors.append(FieldError(VALIDATION_ERROR, field,
                                 f"{field.rsplit('.', 1)[-1]} has more than 2 decimal places: {value}"))
        return None
    return amount
