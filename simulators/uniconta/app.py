"""Flask app of the Uniconta simulator: the REST api/Entities surface (Read, Insert, InsertList, Update, Delete),
OData reads under /odata, HTTP Basic auth with Uniconta's login forms, the daily call budget, and /_sim control
endpoints (faults, the bookkeeper's own edits, modification URLs, journal posting, usage, clock).

Error bodies of api/Entities are ``{"ErrorCode", "Message"[, "Errors": [{"Field", "ErrorCode", "Message"}...]]}``
(ErrorCode names: UserOrPasswordIsWrong is Uniconta's; the others are the simulator's own, see README.md); OData
answers OData's ``{"error": {"code", "message"[, "details"]}}``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from typing import Any
from urllib.parse import unquote, urlencode

from flask import Flask, Response, g, request

from ..faults import add_fault_routes
from . import journal, seed
from .config import SimulatorConfig
from .entities import ENTITIES, USER_FIELD_TYPES, EntityError, entity, text_value, user_field
from .jsonio import from_json, to_json
from .odata import compile_filter, metadata_document, odata_error, order_key
from .state import Company, Fault, SimulatorState

_ODATA_OPTIONS = {"$filter", "$orderby", "$select", "$top", "$skip", "$count", "$format"}


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(to_json(payload), status=status, headers=headers, mimetype="application/json")


def _spec_style_template(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def create_app(config: SimulatorConfig | None = None, state: SimulatorState | None = None,
               stop_event: threading.Event | None = None) -> Flask:
    config = config or SimulatorConfig()
    stop_event = stop_event or threading.Event()
    state = state or SimulatorState(config, stop_event)

    app = Flask(__name__)
    app.url_map.strict_slashes = False
    app.extensions["uniconta_simulator"] = {"config": config, "state": state}

    def pause(seconds: float) -> None:
        if seconds > 0:
            stop_event.wait(seconds)

    def is_odata() -> bool:
        return request.path.startswith("/odata")

    def error_response(error: EntityError, headers: dict[str, str] | None = None) -> Response:
        if is_odata() or getattr(error, "odata", False):
            body: dict[str, Any] = {"code": error.code, "message": error.message}
            if error.problems:
                body["details"] = error.problems
            return json_response({"error": body}, error.status, headers)
        return json_response(error.body(), error.status, headers)

    # -- request pipeline: counting, faults, latency, auth, call budget ---------------------------

    @app.before_request
    def before_request() -> Response | None:
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        with state.lock:
            state.request_counts[f"{request.method} {_spec_style_template(rule)}"] += 1
        path = request.path
        if path.startswith("/_sim") or not (path.startswith("/api") or path.startswith("/odata")):
            return None

        fault = state.take_fault(request.method, path)
        if fault is not None:
            if fault.kind == "status":
                return error_response(EntityError(fault.status, "InjectedFault", f"Injected fault: HTTP {fault.status}"))
            if fault.kind == "timeout":
                pause(fault.delay_s)
                return error_response(EntityError(504, "InjectedFault", "Injected fault: timeout"))
            if fault.kind == "latency":
                pause(fault.delay_s)
            elif fault.kind == "timeout_after_commit":
                g.delay_before_response_s = fault.delay_s
            elif fault.kind == "status_after_commit":
                g.status_after_commit = fault.status
            elif fault.kind == "budget_exhausted":
                g.budget_exhausted = True

        pause(config.latency_ms / 1000)
        try:
            username, company = authenticate()
        except EntityError as error:
            headers = {"WWW-Authenticate": 'Basic realm="Uniconta"'} if error.status == 401 else None
            return error_response(error, headers)
        g.username, g.company = username, company
        return spend_budget(username)

    def authenticate() -> tuple[str, Company]:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise EntityError(401, "NotLoggedIn", "HTTP Basic authentication is required")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise EntityError(401, "NotLoggedIn", "The Authorization header is not valid Basic credentials") from exc
        login, separator, password = decoded.partition(":")
        if not separator:
            raise EntityError(401, "NotLoggedIn", "The Authorization header is not valid Basic credentials")
        path_company = (request.view_args or {}).get("company_id")
        with state.lock:
            return state.authenticate(login, password, path_company)

    def spend_budget(username: str) -> Response | None:
        if getattr(g, "budget_exhausted", False):
            with state.lock:
                usage = state.usage_of(username)
                usage.calls = max(usage.calls, config.daily_call_budget)
        levels = state.count_call(username)
        if not levels:
            return None
        with state.lock:
            usage = state.usage_of(username)
            if config.over_budget == "refuse":
                usage.refused_calls += 1
            else:
                usage.delayed_calls += 1
                usage.delay_s_total += levels * config.delay_unit_s
        if config.over_budget == "refuse":
            return error_response(EntityError(429, "TooManyCalls", "The daily call budget is spent"))
        pause(levels * config.delay_unit_s)
        return None

    @app.after_request
    def after_request(response: Response) -> Response:
        pause(getattr(g, "delay_before_response_s", 0))
        status = getattr(g, "status_after_commit", None)
        if status:
            return error_response(EntityError(status, "InjectedFault", f"Injected fault after commit: HTTP {status}"))
        return response

    @app.errorhandler(EntityError)
    def handle_entity_error(error: EntityError) -> Response:
        return error_response(error)

    @app.errorhandler(404)
    def handle_not_found(_error: Exception) -> Response:
        return error_response(EntityError(404, "NotFound", f"No resource {request.path}"))

    @app.errorhandler(405)
    def handle_method_not_allowed(_error: Exception) -> Response:
        return error_response(EntityError(405, "MethodNotAllowed", f"{request.method} is not allowed here"))

    def read_body() -> Any:
        # Parsed with Decimal so amounts are checked exactly as the client wrote them.
        try:
            return from_json(request.get_data(as_text=True) or "null")
        except ValueError as exc:
            raise EntityError(400, "InvalidBody", "The body is not valid JSON") from exc

    # -- REST: api/Entities --------------------------------------------------------------------------

    @app.get("/api/Entities/<name>")
    @app.get("/api/Entities/Read/<name>")
    def read_entities(name: str) -> Response:
        definition = entity(name)
        with state.lock:
            company = g.company
            records = state.records(company, definition)
            field_name, value = request.args.get("Name"), request.args.get("Value")
            if field_name is not None:
                if field_name not in state.fields_of(company, definition):
                    raise EntityError(400, "UnknownField", f"{definition.name} has no field {field_name}")
                records = [record for record in records if text_value(record.get(field_name)) == (value or "")]
            return json_response([state.view(company, definition, record) for record in records])

    def one_body() -> Any:
        body = read_body()
        if not isinstance(body, dict):
            raise EntityError(400, "InvalidBody", "The body must be one JSON object")
        return body

    def list_body() -> list[Any]:
        body = read_body()
        if not isinstance(body, list) or not body:
            raise EntityError(400, "InvalidBody", "The body must be a non-empty JSON array")
        return body

    @app.post("/api/Entities/Insert/<name>")
    def insert_entity(name: str) -> Response:
        return json_response(state.insert(g.company, entity(name), [one_body()])[0])

    @app.post("/api/Entities/InsertList/<name>")
    def insert_entity_list(name: str) -> Response:
        return json_response(state.insert(g.company, entity(name), list_body()))

    @app.put("/api/Entities/Update/<name>")
    def update_entity(name: str) -> Response:
        return json_response(state.update(g.company, entity(name), [one_body()])[0])

    @app.delete("/api/Entities/Delete/<name>")
    def delete_entity(name: str) -> Response:
        return json_response(state.delete(g.company, entity(name), [one_body()])[0])

    if config.update_list_supported:
        @app.put("/api/Entities/UpdateList/<name>")
        def update_entity_list(name: str) -> Response:
            return json_response(state.update(g.company, entity(name), list_body()))

        @app.delete("/api/Entities/DeleteList/<name>")
        def delete_entity_list(name: str) -> Response:
            return json_response(state.delete(g.company, entity(name), list_body()))

    # -- OData reads ------------------------------------------------------------------------------

    def service_document(company: Company) -> Response:
        base = f"{request.host_url.rstrip('/')}/odata"
        sets = sorted({definition.name for definition in ENTITIES.values() if not definition.with_user_fields})
        return json_response({"@odata.context": f"{base}/$metadata",
                              "value": [{"name": name, "kind": "EntitySet", "url": name} for name in sets]})

    @app.get("/odata")
    def odata_root() -> Response:
        return service_document(g.company)

    @app.get("/odata/$metadata")
    def odata_metadata() -> Response:
        return Response(metadata_document(), mimetype="application/xml")

    @app.get("/odata/<int:company_id>")
    def odata_company_root(company_id: int) -> Response:
        return service_document(g.company)

    @app.get("/odata/<name>")
    def odata_default_company_set(name: str) -> Response:
        return odata_set(name)

    @app.get("/odata/<int:company_id>/<name>")
    def odata_company_set(company_id: int, name: str) -> Response:
        return odata_set(name)

    def odata_set(name: str) -> Response:
        try:
            definition = entity(name)
        except EntityError as error:
            raise odata_error(404, error.code, error.message) from error
        unknown = [key for key in request.args if key.startswith("$") and key not in _ODATA_OPTIONS]
        if unknown:
            raise odata_error(400, "UnsupportedQueryOption", f"Not supported: {', '.join(unknown)}")
        with state.lock:
            company = g.company
            fields = definition.fields if definition.table == "Company" else state.fields_of(company, definition)
            records = state.records(company, definition)
            if request.args.get("$filter"):
                predicate = compile_filter(request.args["$filter"], fields)
                records = [record for record in records if predicate(record)]
            if request.args.get("$orderby"):
                for field_name, descending in reversed(order_key(request.args["$orderby"], fields)):
                    records.sort(key=lambda record, f=field_name: (record.get(f) is not None, record.get(f)),
                                 reverse=descending)
            total = len(records)
            skip, top = _non_negative("$skip"), _non_negative("$top")
            start = skip or 0
            end = total if top is None else min(total, start + top)
            page_end = end
            if config.odata_page_size is not None and end - start > config.odata_page_size:
                page_end = start + config.odata_page_size
            selected = [state.view(company, definition, record) for record in records[start:page_end]]
        if request.args.get("$select"):
            wanted = [part.strip() for part in request.args["$select"].split(",") if part.strip()]
            missing = [name for name in wanted if name not in fields]
            if missing:
                raise odata_error(400, "InvalidSelect", f"$select: no field {', '.join(missing)}")
            selected = [{k: v for k, v in view.items() if k in wanted} for view in selected]
        base = f"{request.host_url.rstrip('/')}/odata"
        body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#{definition.name}"}
        if request.args.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        body["value"] = selected
        if page_end < end:
            params = {k: v for k, v in request.args.items() if k not in ("$skip", "$top")}
            params["$skip"] = str(page_end)
            if top is not None:
                params["$top"] = str(end - page_end)
            body["@odata.nextLink"] = f"{request.base_url}?{urlencode(params)}"
        return json_response(body)

    def _non_negative(name: str) -> int | None:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return None
        if not raw.isdigit():
            raise odata_error(400, "InvalidQueryOption", f"{name} must be a whole number")
        return int(raw)

    # -- control endpoints -----------------------------------------------------------------------

    def sim_error(message: str, status: int = 400) -> Response:
        return json_response({"error": message}, status)

    def sim_body() -> dict[str, Any]:
        try:
            body = from_json(request.get_data(as_text=True) or "{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    def sim_company(key: str) -> Company:
        try:
            return state.company(unquote(key))
        except KeyError as exc:
            raise EntityError(404, "CouldNotFind", f"no company {key}") from exc

    add_fault_routes(app, state, Fault, body=sim_body, refuse=sim_error, respond=json_response)

    @app.get("/_sim/companies")
    def sim_companies() -> Response:
        with state.lock:
            return json_response([{"CompanyId": c.id, "Name": c.name, "debtors": len(c.tables["Debtor"].rows),
                                   "journal_lines": len(c.tables["GLDailyJournalLine"].rows),
                                   "users": sorted(u for u, spec in config.users.items() if c.id in spec["companies"])}
                                  for c in state.companies.values()])

    @app.get("/_sim/companies/<company>/debtors")
    def sim_debtors(company: str) -> Response:
        target = sim_company(company)
        with state.lock:
            return json_response(state.rows(target, entity("DebtorClientUser")))

    @app.post("/_sim/companies/<company>/debtors")
    def sim_create_debtor(company: str) -> Response:
        """The bookkeeper creates a debtor in Uniconta (notified as an insert)."""
        return json_response(state.insert(sim_company(company), entity("DebtorClientUser"), [sim_body()])[0], 201)

    @app.patch("/_sim/companies/<company>/debtors/<account>")
    def sim_edit_debtor(company: str, account: str) -> Response:
        """The bookkeeper edits the named fields of a debtor in Uniconta (notified as an update)."""
        return json_response(state.bookkeeper_edit_debtor(sim_company(company), unquote(account), sim_body()))

    @app.delete("/_sim/companies/<company>/debtors/<account>")
    def sim_delete_debtor(company: str, account: str) -> Response:
        return json_response(state.delete(sim_company(company), entity("DebtorClientUser"),
                                          [{"Account": unquote(account)}])[0])

    @app.post("/_sim/companies/<company>/user-fields")
    def sim_add_user_field(company: str) -> Response:
        """The bookkeeper adds a user-defined field to the Debtor table."""
        target = sim_company(company)
        body = sim_body()
        name, field_type = body.get("Name"), body.get("FieldType")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) \
                or field_type not in USER_FIELD_TYPES:
            return sim_error(f"Name (an identifier) and FieldType ({', '.join(USER_FIELD_TYPES)}) are required")
        with state.lock:
            if name in state.fields_of(target, entity("DebtorClientUser")):
                return sim_error(f"the Debtor table has a field {name} already", 409)
            spec = {"RowId": state.next_row_id(), "TableId": seed.DEBTOR_TABLE_ID, "Name": name,
                    "Prompt": body.get("Prompt") or name, "FieldType": field_type}
            if body.get("Length") is not None:
                spec["Length"] = int(body["Length"])
            user_field(spec)
            target.user_fields.append(spec)
            return json_response(spec, 201)

    @app.get("/_sim/companies/<company>/modification-urls")
    def sim_modification_urls(company: str) -> Response:
        target = sim_company(company)
        with state.lock:
            return json_response([state.modification_url_view(r)
                                  for r in target.tables["TableChangeEvent"].rows.values()])

    @app.post("/_sim/companies/<company>/modification-urls")
    def sim_add_modification_url(company: str) -> Response:
        """Company → Maintenance → Modification URL → Add record (Table "Debtor", or empty for every table)."""
        target = sim_company(company)
        body = sim_body()
        url = body.get("Url")
        if not isinstance(url, str) or not re.match(r"^https?://", url):
            return sim_error("Url (http or https) is required")
        table = body.get("Table", "Debtor")
        if table not in ("Debtor", "", None):
            return sim_error("Table must be Debtor (or empty for every master-data table)")
        argument = body.get("Argument")
        if argument is not None and not isinstance(argument, str):
            return sim_error("Argument must be a string")
        return json_response(state.add_modification_url(target, url, table or None, argument,
                                                        bool(body.get("Post", False))), 201)

    @app.delete("/_sim/companies/<company>/modification-urls/<int:row_id>")
    def sim_delete_modification_url(company: str, row_id: int) -> Response:
        target = sim_company(company)
        with state.lock:
            table = target.tables["TableChangeEvent"]
            if row_id not in table.rows:
                return sim_error("no such modification URL", 404)
            return json_response(state.modification_url_view(table.remove(row_id)))

    @app.post("/_sim/companies/<company>/modification-urls/<int:row_id>/refresh")
    def sim_refresh_modification_url(company: str, row_id: int) -> Response:
        target = sim_company(company)
        with state.lock:
            if row_id not in target.tables["TableChangeEvent"].rows:
                return sim_error("no such modification URL", 404)
            return json_response(state.refresh_modification_url(target, row_id))

    @app.get("/_sim/deliveries")
    def sim_deliveries() -> Response:
        """Every delivery attempt, oldest first; ?wait=1 first waits (up to ?timeout=10 s) for the queue to drain."""
        idle = True
        if request.args.get("wait") in ("1", "true"):
            idle = state.notifier.wait_idle(float(request.args.get("timeout", "10")))
        with state.lock:
            return json_response({"idle": idle, "pending": state.notifier.pending(),
                                  "deliveries": list(state.deliveries)})

    @app.get("/_sim/companies/<company>/journals/<name>/lines")
    def sim_journal_lines(company: str, name: str) -> Response:
        target = sim_company(company)
        with state.lock:
            return json_response([line for line in state.rows(target, entity("GLDailyJournalLineClient"))
                                  if line.get("Journal") == unquote(name)])

    @app.post("/_sim/companies/<company>/journals/<name>/check")
    def sim_check_journal(company: str, name: str) -> Response:
        problems = journal.check(state, sim_company(company), unquote(name))
        return json_response({"ok": not problems, "problems": problems})

    @app.post("/_sim/companies/<company>/journals/<name>/post")
    def sim_post_journal(company: str, name: str) -> Response:
        return json_response(journal.post(state, sim_company(company), unquote(name)))

    @app.get("/_sim/companies/<company>/ledger")
    def sim_ledger(company: str) -> Response:
        target = sim_company(company)
        with state.lock:
            return json_response(state.rows(target, entity("GLTransClient")))

    @app.get("/_sim/usage")
    def sim_usage() -> Response:
        wanted = request.args.get("user")
        users = [wanted] if wanted else list(config.users)
        if wanted and state.find_user(wanted) is None:
            return sim_error(f"no user {wanted}", 404)
        return json_response({user: state.usage_view(state.find_user(user)[0]) for user in users})

    @app.post("/_sim/usage")
    def sim_set_usage() -> Response:
        """Budget exhaustion on demand: sets a user's calls today (and the level carried over from yesterday)."""
        body = sim_body()
        found = state.find_user(str(body.get("user", "")))
        calls, carried = body.get("calls"), body.get("carried_level")
        if found is None or not isinstance(calls, int) or (carried is not None and not isinstance(carried, int)):
            return sim_error("user (a configured login id) and calls (int) are required; carried_level is an int")
        state.set_calls(found[0], calls, carried)
        return json_response(state.usage_view(found[0]))

    @app.get("/_sim/stats")
    def sim_stats() -> Response:
        with state.lock:
            return json_response({
                "request_counts": dict(state.request_counts),
                "ignored_fields": dict(state.ignored_fields),
                "debtors": {c.name: len(c.tables["Debtor"].rows) for c in state.companies.values()},
                "deliveries": len(state.deliveries),
                "pending_faults": len(state.faults),
                "clock_offset_s": state.clock_offset_s,
            })

    @app.post("/_sim/clock")
    def sim_clock() -> Response:
        seconds = sim_body().get("advance_seconds", 0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) and not hasattr(seconds, "as_tuple"):
            return sim_error("advance_seconds must be a number")
        state.advance_clock(float(seconds))
        return json_response({"now": state.local_now(), "clock_offset_s": state.clock_offset_s})

    @app.post("/_sim/reset")
    def sim_reset() -> Response:
        state.reset()
        return json_response({"reset": True})

    return app


__all__ = ["create_app", "json_response"]
