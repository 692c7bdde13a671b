"""Shared fixtures: moto in-process for AWS, the Visma simulator over real HTTP, handler invocation."""
from __future__ import annotations

import json
import os
import uuid
from typing import Any

import boto3
import pytest

from devstack import aws_resources, lambdas, reset_process_caches
from simulators.procountor import ProcountorSimulator
from simulators.twentyfourseven import TwentyFourSevenSimulator
from simulators.uniconta import SimulatorConfig as UnicontaConfig
from simulators.uniconta import UnicontaSimulator
from simulators.visma_eaccounting import VismaSimulator

# Powertools names child loggers after the service when a module is first imported: set before any
# test imports the layer, so the worker's logger finds the handler's parent logger in any test order.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ledgerbridge")

REGION = "eu-north-1"
CLIENT_ID = "ledgerbridge-local"
CLIENT_SECRET = "local-secret"
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
TFSO_APPLICATION_ID = "6f0b7a52-3c1e-4c8a-9a55-24502450aa01"
TFSO_USER = "integration@regnskap.example"
TFSO_PASSWORD = "integration-password"


@pytest.fixture(scope="session")
def visma_server():
    simulator = VismaSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def visma(visma_server):
    visma_server.reset()
    yield visma_server
    visma_server.clear_faults()


@pytest.fixture(scope="session")
def tfso_server():
    simulator = TwentyFourSevenSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def tfso(tfso_server):
    """The 24SevenOffice simulator, back at its seed data (three companies for TFSO_USER)."""
    tfso_server.reset()
    yield tfso_server
    tfso_server.clear_faults()


@pytest.fixture(scope="session")
def procountor_server():
    simulator = ProcountorSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def procountor(procountor_server):
    """The Procountor simulator, back at its seed data (two companies behind demo@palkka.example)."""
    procountor_server.reset()
    yield procountor_server
    procountor_server.clear_faults()


@pytest.fixture(scope="session")
def uniconta_server():
    simulator = UnicontaSimulator(UnicontaConfig(delay_unit_s=0.001))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def uniconta(uniconta_server):
    """The Uniconta simulator, back at its seed data (Salon Sakse ApS 4415, Frisør Nord ApS 5120)."""
    uniconta_server.reset()
    yield uniconta_server
    uniconta_server.clear_faults()


@pytest.fixture
def aws(monkeypatch, visma_server, tfso_server, procountor_server, uniconta_server):
    """A fresh moto account with every table, queue and bucket of template.yaml."""
    from moto import mock_aws

    env = {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "LB_STAGE": "test",
        "LB_OAUTH_REDIRECT_URI": REDIRECT_URI,
        "LB_VENDOR_URLS": json.dumps({
            "visma_eaccounting.authorize_url": f"{visma_server.base_url}/connect/authorize",
            "visma_eaccounting.token_url": f"{visma_server.base_url}/connect/token",
            "visma_eaccounting.api_url": f"{visma_server.base_url}/v2",
            "24sevenoffice.api_url": tfso_server.base_url,
            "24sevenoffice.hosts.webservices": tfso_server.base_url,
            "procountor.authorize_url": f"{procountor_server.base_url}/login",
            "procountor.hosts.keylogin": f"{procountor_server.base_url}/keylogin",
            "procountor.token_url": f"{procountor_server.base_url}/api/oauth/token",
            "procountor.api_url": f"{procountor_server.base_url}/api",
            "uniconta.api_url": uniconta_server.base_url,
        }),
        "LB_APPLICATION_IDS": json.dumps({"24sevenoffice": TFSO_APPLICATION_ID}),
        "LB_BACKOFF_BASE_SECONDS": "0", "LB_VENDOR_TIMEOUT_SECONDS": "2",
        "LB_MIN_TIME_TO_START_BOOKING_MS": "0", "LB_LEASE_MARGIN_MS": "0", "LB_SUBMIT_SETTLE_SECONDS": "0",
        "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "Ledgerbridge", "POWERTOOLS_SERVICE_NAME": "ledgerbridge",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("LB_AWS_ENDPOINT_URL", raising=False)
    from devstack.moto_atomic import serialize_dynamodb, serialize_s3_objects
    from devstack.moto_speed import narrow_queries

    serialize_dynamodb()  # conditional writes atomic under threads, as in DynamoDB
    serialize_s3_objects()  # concurrent writes of one key, as S3 takes them
    narrow_queries()  # a query costs its partition, not the whole table
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        created = aws_resources.create_all(session, None, prefix="test", max_delivery_attempts=6)
        for key, value in created.items():
            monkeypatch.setenv(key, value)
        reset_process_caches()
        session.client("secretsmanager").create_secret(
            Name="ledgerbridge/test/apps/visma_eaccounting",
            SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        session.client("secretsmanager").create_secret(
            Name="ledgerbridge/test/apps/procountor",
            SecretString=json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        )
        yield session
    reset_process_caches()


def api_event(method: str, path: str, *, tenant: str | None, body: Any = None, query: dict | None = None,
              resource: str | None = None, path_params: dict | None = None, raw_body: str | None = None) -> dict:
    """A REST API proxy event as API Gateway sends it after the authorizer ran."""
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "resource": resource or path, "path": path, "httpMethod": method,
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
        "queryStringParameters": query, "multiValueQueryStringParameters": (
            {k: [v] for k, v in query.items()} if query else None),
        "pathParameters": path_params, "stageVariables": None,
        "requestContext": {"resourcePath": resource or path, "httpMethod": method, "stage": "test",
                           "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1"},
                           "authorizer": {"tenantId": tenant, "principalId": tenant} if tenant else None},
        "body": text, "isBase64Encoded": False,
    }


class Api:
    """Calls the deployed handlers (management, ingest, callback) the way API Gateway would."""

    ROUTES = {
        "settlements": "IngestFunction",
        "oauth": "OAuthCallbackFunction",
    }

    def __init__(self, tenant: str | None):
        self.tenant = tenant

    def call(self, method: str, path: str, body: Any = None, query: dict | None = None,
             raw_body: str | None = None, headers: dict | None = None, full: bool = False) -> Any:
        function = "ManagementApiFunction"
        params: dict[str, str] = {}
        parts = path.strip("/").split("/")
        if parts[0] == "oauth":
            function = "OAuthCallbackFunction"
        elif len(parts) >= 3 and parts[2] in ("settlements", "stock-registrations", "payroll-journals"):
            function = "IngestFunction"
        elif len(parts) == 3 and parts[2] == "customers" and method == "POST":
            function = "IngestFunction"
        if len(parts) >= 2 and parts[0] == "connections":
            params["connection_id"] = parts[1]
        if len(parts) >= 4 and parts[2] == "documents":
            params["document_id"] = parts[3]
        event = api_event(method, path, tenant=self.tenant, body=body, query=query, raw_body=raw_body,
                          path_params=params or None)
        event["headers"].update(headers or {})
        result = lambdas.invoke(function, event)
        if full:
            return result
        text = result.get("body") or ""
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = text
        return result["statusCode"], payload


@pytest.fixture
def api_for():
    return Api


@pytest.fixture(autouse=True)
def _no_endpoint_leak():
    # The local runtime sets LB_AWS_ENDPOINT_URL process-wide; tests never inherit it.
    os.environ.pop("LB_AWS_ENDPOINT_URL", None)
    yield


def browser_consent(authorize_url: str, username: str = "demo@bakery.example", password: str = "demo-password",
                    consent: str = "yes") -> dict[str, str]:
    """Log in and consent at the simulator's identity server; return the callback's query parameters."""
    import httpx

    with httpx.Client(timeout=10, follow_redirects=False) as browser:
        assert browser.get(authorize_url).status_code == 200
        form = dict(httpx.URL(authorize_url).params)
        form.update(username=username, password=password, consent=consent)
        answer = browser.post(authorize_url.split("?")[0], data=form)
        assert answer.status_code == 302, answer.text
        return dict(httpx.URL(answer.headers["Location"]).params)


class Browser:
    """A user's browser for the OAuth flow: follows /oauth/start and keeps its cookies."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def start(self, connect_url: str) -> str:
        """Open the hub's connect link, confirm; returns the vendor authorize URL it redirects to."""
        import httpx

        ticket = httpx.URL(connect_url).params["ticket"]
        page = Api(None).call("GET", "/oauth/start", query={"ticket": ticket}, full=True)
        assert page["statusCode"] == 200 and 'name="ticket"' in page["body"], page
        result = Api(None).call("POST", "/oauth/start", raw_body=f"ticket={ticket}",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}, full=True)
        assert result["statusCode"] == 303, result
        headers = {**(result.get("headers") or {}), **{k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}}
        for set_cookie in (result.get("multiValueHeaders") or {}).get("Set-Cookie", []):
            name, _, rest = set_cookie.partition("=")
            self.cookies[name] = rest.split(";")[0]
        return headers["Location"]

    def callback(self, params: dict) -> tuple[int, str]:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return Api(None).call("GET", "/oauth/callback", query=params, headers={"Cookie": cookie} if cookie else None)


def connect(api: Api, name: str = "Shop", username: str = "demo@bakery.example",
            password: str = "demo-password", schedule: dict | None = None) -> str:
    status, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": name,
                                                        **({"schedule": schedule} if schedule else {})})
    assert status == 201, created
    connection_id = created["connection_id"]
    status, started = api.call("POST", f"/connections/{connection_id}/connect")
    assert status == 200, started
    browser = Browser()
    params = browser_consent(browser.start(started["connect_url"]), username, password)
    status, page = browser.callback(params)
    assert status == 200, page
    return connection_id


@pytest.fixture
def connected(aws, visma):
    """Tenant 'tenant-a' with a connected, fully set-up Visma eAccounting connection."""
    from devstack import samples

    api = Api("tenant-a")
    connection_id = connect(api, schedule={"frequency": "daily", "lookback_days": 30})
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", samples.account_setup())
    assert status == 200, body
    return api, connection_id
