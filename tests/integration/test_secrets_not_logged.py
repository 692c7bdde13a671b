"""No secret reaches a log line when a function runs at DEBUG.

Lambda's log-level setting (AWS_LAMBDA_LOG_LEVEL, or POWERTOOLS_LOG_LEVEL) puts the root logger at
DEBUG; every library logger left at NOTSET then writes its wire traces: botocore the Secrets Manager
bodies (tokens, passwords, the app's client secret), httpcore the vendors' headers (the
24SevenOffice session cookie, Basic auth). Here it is harsher still: the root logger and every
logger that exists are set to DEBUG (as ``boto3.set_stream_logger`` or a hand-edited logging config
would), the package logger of Powertools propagates (as with POWERTOOLS_DEBUG), and real flows run
through the handlers: the Visma OAuth connect, a token refresh, a settlement booked by the worker,
and the 24SevenOffice integration user, check and company import. Every record of every logger is
captured by a handler on the root logger (message, args, extra fields, exception), together with
the Powertools JSON output and stdout/stderr, then searched for every secret value the flow used,
read afterwards from the simulators and Secrets Manager.

Failures name the logger and the kind of secret, never its value.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import secrets as secrets_module
from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from conftest import CLIENT_ID, CLIENT_SECRET, TFSO_PASSWORD, Api, Browser, browser_consent
from devstack import lambdas, reset_process_caches, samples
from tests.integration.test_worker_exactly_once import QueueDriver
from tests.integration.tfso_helpers import connect_tfso, import_companies

TENANT = "tenant-a"
HANDLERS = ("ManagementApiFunction", "OAuthCallbackFunction", "IngestFunction", "TransferWorkerFunction")
# Loggers of the test doubles themselves (moto stands in for AWS, the simulators for the vendors):
# they are not deployed, and what they write is not what CloudWatch would get from the hub.
NOT_DEPLOYED = ("moto", "werkzeug", "simulators", "flask")


class Capture(logging.Handler):
    """Every record that reaches the root logger, as text: name, level, formatted message, args, extras."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[tuple[str, str]] = []
        self.active = True

    def filter(self, record: logging.LogRecord) -> bool:
        # Powertools adds a filter to root handlers when a Logger is first built; none may hide a record here.
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if not self.active or record.name.split(".")[0] in NOT_DEPLOYED:
            return
        try:
            message = record.getMessage()
        except Exception as exc:  # noqa: BLE001 - a bad format string must not hide the raw msg/args below
            message = f"<unformattable: {exc!r}>"
        # record.__dict__ holds msg, args and every `extra` field, whatever the formatter would keep.
        text = f"{record.levelname} {message} {record.__dict__!r}"
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.records.append((record.name, text))

    @contextlib.contextmanager
    def paused(self):
        """For what the test itself does (the user's browser at Visma, reading the secrets to look for)."""
        self.active = False
        try:
            yield
        finally:
            self.active = True


@pytest.fixture
def debug_logs(aws, monkeypatch, capfd):
    """Everything at DEBUG, everything captured; every logger's level and propagation restored after."""
    for function in HANDLERS:  # the handlers' loggers exist (and Powertools' root filters are added) first
        lambdas.handler(function)
    import httpcore  # noqa: F401 - their loggers exist, so they too are set to DEBUG below
    import httpx  # noqa: F401

    import ledgerbridge.connectors.twentyfourseven.connector  # noqa: F401 - zeep and lxml, as a 24SevenOffice call loads them

    # A session token of the function's role as Lambda gives one (the default "testing" is too common a
    # word to search for); the layer's clients are rebuilt so they sign with it.
    session_token = "IQoJb3JpZ2luX2VjE" + secrets_module.token_hex(24)
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    reset_process_caches()

    root = logging.getLogger()
    loggers = [root] + [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    saved = [(lg, lg.level, lg.propagate, lg.disabled) for lg in loggers]
    stream = io.StringIO()
    for lg in loggers:
        for handler in lg.handlers:
            if type(handler) is logging.StreamHandler:  # Powertools' JSON handler: what CloudWatch gets
                monkeypatch.setattr(handler, "stream", stream)
    capture = Capture()
    root.addHandler(capture)
    # pytest's own log capture would print every DEBUG line (secrets included) in a failure report: the
    # report names the loggers; pytest shows warnings and errors only.
    for handler in root.handlers:
        if type(handler).__module__ == "_pytest.logging":
            monkeypatch.setattr(handler, "level", logging.WARNING)
    try:
        for lg in loggers:
            lg.setLevel(logging.DEBUG)
            lg.disabled = False
            if lg is not root:
                lg.propagate = True  # e.g. aws_lambda_powertools' package logger, as POWERTOOLS_DEBUG=1 makes it
        yield SimpleNamespace(capture=capture, stream=stream, capfd=capfd, session=aws, session_token=session_token)
    finally:
        root.removeHandler(capture)
        for lg, level, propagate, disabled in saved:
            lg.setLevel(level)
            lg.propagate = propagate
            lg.disabled = disabled


def _leaks(logs, secrets: dict[str, set[str]]) -> list[str]:
    captured = logs.capfd.readouterr()
    sources = [(name, text) for name, text in logs.capture.records]
    sources += [("<powertools stream>", logs.stream.getvalue()), ("<stdout>", captured.out), ("<stderr>", captured.err)]
    found = []
    for label, values in secrets.items():
        values = {v for v in values if v}
        assert values, f"the flow used no {label}: nothing to look for"
        where = sorted({name for name, text in sources if any(v in text for v in values)})
        if where:
            found.append(f"{label}: {', '.join(where)}")
    return found


def _assert_clean(logs, secrets: dict[str, set[str]]) -> None:
    # The handlers ran at DEBUG under the capture: Powertools' own debug records (its event handler's) are here.
    assert any(name.startswith("aws_lambda_powertools.event_handler") for name, _ in logs.capture.records), \
        "no DEBUG record of the handlers was captured: the capture itself is broken"
    leaks = _leaks(logs, {**secrets, "AWS session token": {logs.session_token}})
    assert not leaks, "secrets logged at DEBUG (secret: loggers):\n" + "\n".join(leaks)


def _visma_secrets(visma, session, connection_id: str) -> dict[str, set[str]]:
    state = visma.state
    with state.lock:
        codes, access, refresh = set(state.authorization_codes), set(state.access_tokens), set(state.refresh_tokens)
    stored = json.loads(session.client("secretsmanager").get_secret_value(
        SecretId=f"ledgerbridge/test/connections/{TENANT}/{connection_id}")["SecretString"])
    assert stored["access_token"] in access and stored["refresh_token"] in refresh
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    return {"access token": access, "refresh token": refresh, "OAuth code": codes,
            "app client secret": {CLIENT_SECRET}, "app client secret (Basic auth header)": {basic}}


def _connect(logs, api: Api, name: str = "Bakery", schedule: dict | None = None) -> str:
    status, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": name,
                                                        **({"schedule": schedule} if schedule else {})})
    assert status == 201, created
    connection_id = created["connection_id"]
    status, started = api.call("POST", f"/connections/{connection_id}/connect")
    assert status == 200, started
    browser = Browser()
    authorize_url = browser.start(started["connect_url"])
    with logs.capture.paused():  # the user's browser at Visma's sign-in page: not the hub
        params = browser_consent(authorize_url)
    status, page = browser.callback(params)
    assert status == 200 and "account connected" in page, page
    return connection_id


def test_visma_connect_logs_no_secret(debug_logs, visma):
    api = Api(TENANT)
    connection_id = _connect(debug_logs, api)
    status, check = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and check["ok"], check
    with debug_logs.capture.paused():
        secrets = _visma_secrets(visma, debug_logs.session, connection_id)
    _assert_clean(debug_logs, secrets)


def test_token_refresh_logs_no_secret(debug_logs, visma):
    from ledgerbridge.credentials import TokenSource

    api = Api(TENANT)
    connection_id = _connect(debug_logs, api)
    sm = debug_logs.session.client("secretsmanager")
    name = f"ledgerbridge/test/connections/{TENANT}/{connection_id}"
    with debug_logs.capture.paused():  # the test ages the tokens, as an hour would (see test_token_refresh.py)
        before = json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
        visma.advance_clock(3600 + 60)
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(dict(before, expires_at="2000-01-01T00:00:00+00:00")))
    TokenSource.forget_all()
    visma.reset_counts()
    status, check = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and check["ok"], check
    assert visma.request_counts().get("POST /connect/token") == 1, "the check refreshed the tokens"
    with debug_logs.capture.paused():
        secrets = _visma_secrets(visma, debug_logs.session, connection_id)
    assert before["refresh_token"] in secrets["refresh token"] and len(secrets["refresh token"]) == 2
    _assert_clean(debug_logs, secrets)


def test_booking_a_settlement_logs_no_secret(debug_logs, visma):
    api = Api(TENANT)
    connection_id = _connect(debug_logs, api, schedule={"frequency": "daily", "lookback_days": 30})
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.account_setup())
    assert status == 200, body
    day = date.today() - timedelta(days=1)
    status, body = api.call("POST", f"/connections/{connection_id}/settlements", samples.settlement(day, 1))
    assert status == 201, body
    status, body = api.call("POST", f"/connections/{connection_id}/transfers")
    assert status in (200, 202), body
    QueueDriver(debug_logs.session).run()
    documents = api.call("GET", f"/connections/{connection_id}/documents")[1]["documents"]
    assert [d["state"] for d in documents] == ["booked"], documents
    assert len(visma.vouchers()) == 1
    with debug_logs.capture.paused():
        secrets = _visma_secrets(visma, debug_logs.session, connection_id)
    _assert_clean(debug_logs, secrets)


def test_twentyfourseven_integration_user_check_and_import_log_no_secret(debug_logs, tfso, monkeypatch):
    sessions: list[str] = []
    create_session = tfso.state.create_session

    def recording_create_session(*args, **kwargs):  # every session id the vendor hands out, even short-lived ones
        session = create_session(*args, **kwargs)
        sessions.append(session.id)
        return session

    monkeypatch.setattr(tfso.state, "create_session", recording_create_session)
    api = Api(TENANT)
    connection_id, result = connect_tfso(api)
    assert result["ok"] and result["companies"] == 3, result
    status, check = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and check["ok"], check
    run = import_companies(api, debug_logs.session, connection_id)
    assert run["state"] == "done", run
    with debug_logs.capture.paused():
        sm = debug_logs.session.client("secretsmanager")
        stored = json.loads(sm.get_secret_value(
            SecretId=f"ledgerbridge/test/connections/{TENANT}/{connection_id}")["SecretString"])
        # The session lives apart, per credential (shared by the user's connections).
        session = json.loads(sm.get_secret_value(SecretId=f"ledgerbridge/test/sessions/24sevenoffice/"
                                                          f"{stored['fingerprint']}")["SecretString"])
        with tfso.state.lock:
            live = set(tfso.state.sessions)
    assert stored["password"] == TFSO_PASSWORD and session["session_id"] in sessions
    _assert_clean(debug_logs, {"24SevenOffice password": {TFSO_PASSWORD},
                               "24SevenOffice session id": set(sessions) | live})


def test_procountor_api_key_connect_and_booking_log_no_secret(debug_logs, procountor):
    from tests.integration.procountor_helpers import DEMO_COMPANY, procountor_sign_in

    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "procountor", "name": "Palkat"})
    assert status == 201, created
    connection_id = created["connection_id"]
    status, started = api.call("POST", f"/connections/{connection_id}/connect", query={"credential": "api_key"})
    assert status == 200, started
    browser = Browser()
    authorize_url = browser.start(started["connect_url"])
    with debug_logs.capture.paused():  # the user's browser at Procountor's /keylogin: not the hub
        params = procountor_sign_in(authorize_url, procountor.company_id(DEMO_COMPANY))
    status, page = browser.callback(params)
    assert status == 200 and "connected" in page, page
    status, body = api.call("PUT", f"/connections/{connection_id}/payroll-setup", samples.payroll_setup())
    assert status == 200, body
    status, body = api.call("POST", f"/connections/{connection_id}/payroll-journals",
                            samples.payroll_journal(corrections=(5,)))
    assert status == 201, body
    with debug_logs.capture.paused():
        pasted = procountor.issue_api_key(DEMO_COMPANY)
    status, check = api.call("PUT", f"/connections/{connection_id}/api-key", {"api_key": pasted})
    assert status == 200 and check["ok"], check
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    QueueDriver(debug_logs.session).run()
    assert api.call("GET", f"/connections/{connection_id}/documents/run-2026-06")[1]["state"] == "booked"
    with debug_logs.capture.paused():
        with procountor.state.lock:
            keys, access = set(procountor.state.api_keys), set(procountor.state.access_tokens)
            codes = set(procountor.state.authorization_codes)
        stored = json.loads(debug_logs.session.client("secretsmanager").get_secret_value(
            SecretId=f"ledgerbridge/test/connections/{TENANT}/{connection_id}")["SecretString"])
    assert stored["kind"] == "api_key" and stored["api_key"] == pasted and len(keys) == 2
    _assert_clean(debug_logs, {"API key": keys, "access token": access, "authorization code": codes,
                               "app client secret": {CLIENT_SECRET}})


def test_uniconta_login_and_check_log_no_secret(debug_logs, uniconta):
    login = {"username": "salon-api", "password": "Sakse-2026!", "api_key": "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13",
             "company_id": "4415"}
    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "uniconta", "name": "Salon"})
    assert status == 201, created
    status, result = api.call("PUT", f"/connections/{created['connection_id']}/credential", login)
    assert status == 200 and result["ok"], result
    status, result = api.call("PUT", f"/connections/{created['connection_id']}/credential",
                              {**login, "password": "Sakse-2026?"})
    assert status == 200 and not result["ok"], result
    basic = {base64.b64encode(f"004415/salon-api:{password}".encode()).decode()
             for password in ("Sakse-2026!", "Sakse-2026?")}
    _assert_clean(debug_logs, {"password": {"Sakse-2026!", "Sakse-2026?"}, "API key": {login["api_key"]},
                               "Basic auth header": basic})
