"""DevStack: moto server + vendor simulators (Visma eAccounting, 24SevenOffice, Procountor, Uniconta) + local
gateway + schedule + SQS poller. moto and every function container run in processes of their own."""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "shared"), str(ROOT)]

import boto3  # noqa: E402
import httpx  # noqa: E402

from . import aws_resources, reset_process_caches  # noqa: E402
from .drivers import Schedule, SqsPoller  # noqa: E402
from .gateway import LocalGateway  # noqa: E402

REGION = "eu-north-1"
VISMA_CLIENT_ID = "ledgerbridge-local"
VISMA_CLIENT_SECRET = "local-secret"
# The hub's ApplicationId at the 24SevenOffice simulator (configuration, as in AWS).
TFSO_APPLICATION_ID = "6f0b7a52-3c1e-4c8a-9a55-24502450aa01"
TFSO_USER = ("integration@regnskap.example", "integration-password")
# The hub's API client at the Procountor simulator, and its user who reaches both seeded companies
# (the company picked at sign-in decides what a grant is for).
PROCOUNTOR_CLIENT_ID = "ledgerbridge-local"
PROCOUNTOR_CLIENT_SECRET = "local-secret"
PROCOUNTOR_USER = ("demo@palkka.example", "demo-password")
PAYROLL_COMPANY = "Palkkatoimisto Demo Oy"  # all 2026 periods open; Kustannuspaikka 100, 200, 300
BUILDER_COMPANY = "Rakennus Esimerkki Oy"  # January 2026 closed; Kustannuspaikka 10, 20


def _start_moto(port: int, timeout: float = 60.0) -> subprocess.Popen:
    """moto's server in a process of its own (devstack/moto_process.py); returns once it answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
    process = subprocess.Popen([sys.executable, "-m", "devstack.moto_process", str(port)], cwd=str(ROOT), env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready or process.stdout.readline().strip() != b"ready":
        process.kill()
        raise RuntimeError(f"moto's server did not start on port {port}")
    return process


def _stop_moto(process: subprocess.Popen) -> None:
    try:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StackOptions:
    gateway_port: int = 0
    simulator_port: int = 0
    tfso_port: int = 0
    procountor_port: int = 0
    uniconta_port: int = 0
    moto_port: int = 0
    simulator_latency_ms: int = 0
    worker_concurrency: int = 2
    # Containers per API function (the gateway's concurrent requests); each is a process.
    api_concurrency: int = 4
    schedule_interval: float | None = None  # seconds; None: only explicit ticks
    max_delivery_attempts: int = 8
    backoff_base_seconds: int = 1
    vendor_timeout_seconds: float = 5.0
    # After an unanswered voucher post, how long before it is looked for at the vendor.
    submit_settle_seconds: int = 120
    # Chance that SQS delivers a message again after it was processed (at-least-once).
    redeliver_rate: float = 0.0
    log_level: str = "WARNING"


class DevStack:
    def __init__(self, options: StackOptions | None = None):
        self.options = options or StackOptions()
        self.moto = None
        self.simulator = None
        self.tfso = None  # the 24SevenOffice simulator
        self.procountor = None  # the Procountor simulator
        self.uniconta = None  # the Uniconta simulator
        self.salon_link: dict = {}  # the salon's last customer-sync setup answer (its notification URL)
        self.gateway: LocalGateway | None = None
        self.poller: SqsPoller | None = None
        self.schedule: Schedule | None = None
        self.containers = None
        self.env: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "DevStack":
        from simulators import procountor, twentyfourseven, uniconta
        from simulators.visma_eaccounting import SimulatorConfig, VismaSimulator

        import logging
        import warnings

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's and the servers' access logs
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        opts = self.options
        moto_port = opts.moto_port or free_port()
        self.moto = _start_moto(moto_port)
        moto_url = f"http://127.0.0.1:{moto_port}"

        self.simulator = VismaSimulator(SimulatorConfig(latency_ms=opts.simulator_latency_ms))
        sim_url = self.simulator.start(port=opts.simulator_port)
        self.tfso = twentyfourseven.TwentyFourSevenSimulator(
            twentyfourseven.SimulatorConfig(latency_ms=opts.simulator_latency_ms))
        tfso_url = self.tfso.start(port=opts.tfso_port)
        self.procountor = procountor.ProcountorSimulator(
            procountor.SimulatorConfig(latency_ms=opts.simulator_latency_ms))
        procountor_url = self.procountor.start(port=opts.procountor_port)
        # Uniconta's own defaults otherwise: its daily call budget slows calls by a real second per level.
        self.uniconta = uniconta.UnicontaSimulator(uniconta.SimulatorConfig(latency_ms=opts.simulator_latency_ms))
        uniconta_url = self.uniconta.start(port=opts.uniconta_port)

        self.gateway = LocalGateway()
        gateway_port = opts.gateway_port or free_port()
        gateway_url = f"http://127.0.0.1:{gateway_port}"

        base_env = {
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
            "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "LB_AWS_ENDPOINT_URL": moto_url, "LB_STAGE": "local",
            "LB_OAUTH_REDIRECT_URI": f"{gateway_url}/oauth/callback",
            "LB_HOOKS_BASE_URL": f"{gateway_url}/hooks",
            "LB_VENDOR_URLS": json.dumps({
                "visma_eaccounting.authorize_url": f"{sim_url}/connect/authorize",
                "visma_eaccounting.token_url": f"{sim_url}/connect/token",
                "visma_eaccounting.api_url": f"{sim_url}/v2",
                "24sevenoffice.api_url": tfso_url,
                "24sevenoffice.hosts.webservices": tfso_url,
                "procountor.authorize_url": f"{procountor_url}/login",
                "procountor.hosts.keylogin": f"{procountor_url}/keylogin",
                "procountor.token_url": f"{procountor_url}/api/oauth/token",
                "procountor.api_url": f"{procountor_url}/api",
                "uniconta.api_url": uniconta_url,
            }),
            "LB_APPLICATION_IDS": json.dumps({"24sevenoffice": TFSO_APPLICATION_ID}),
            # Each worker container is a process with its own rate limiter, as in AWS: each takes
            # this share of a vendor's limit.
            "LB_WORKER_CONCURRENCY": str(opts.worker_concurrency),
            "LB_BACKOFF_BASE_SECONDS": str(opts.backoff_base_seconds),
            "LB_BACKOFF_MAX_SECONDS": "30",
            "LB_VENDOR_TIMEOUT_SECONDS": str(opts.vendor_timeout_seconds),
            "LB_SUBMIT_SETTLE_SECONDS": str(opts.submit_settle_seconds),
            "POWERTOOLS_SERVICE_NAME": "ledgerbridge", "POWERTOOLS_METRICS_NAMESPACE": "Ledgerbridge",
            "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": opts.log_level, "POWERTOOLS_DEV": "0",
        }
        os.environ.update(base_env)
        session = boto3.session.Session(region_name=REGION)
        resource_env = aws_resources.create_all(session, moto_url, max_delivery_attempts=opts.max_delivery_attempts)
        os.environ.update(resource_env)
        self.env = {**base_env, **resource_env}
        reset_process_caches()

        self.sqs = session.client("sqs", endpoint_url=moto_url)
        self.secrets = session.client("secretsmanager", endpoint_url=moto_url)
        self.secrets.create_secret(
            Name="ledgerbridge/local/apps/visma_eaccounting",
            SecretString=json.dumps({"client_id": VISMA_CLIENT_ID, "client_secret": VISMA_CLIENT_SECRET}),
        )
        self.secrets.create_secret(
            Name="ledgerbridge/local/apps/procountor",
            SecretString=json.dumps({"client_id": PROCOUNTOR_CLIENT_ID, "client_secret": PROCOUNTOR_CLIENT_SECRET}),
        )
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=resource_env["LB_TRANSFER_QUEUE_URL"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

        # Each function in containers of its own, as in Lambda (devstack/containers.py).
        from . import lambdas
        from .containers import ContainerPool
        from .drivers import SCHEDULER, WORKER

        self.containers = ContainerPool(dict(os.environ), limits={WORKER: opts.worker_concurrency, SCHEDULER: 1},
                                        default_limit=opts.api_concurrency)
        lambdas.use_pool(self.containers)
        self.containers.warm(["AuthorizerFunction", "ManagementApiFunction", "IngestFunction", "HooksFunction",
                             "ConsoleFunction", WORKER])
        self.gateway.start(port=gateway_port)
        self.poller = SqsPoller(self.sqs, resource_env["LB_TRANSFER_QUEUE_URL"], queue_arn, REGION,
                                concurrency=opts.worker_concurrency, redeliver_rate=opts.redeliver_rate)
        self.poller.start()
        self.schedule = Schedule(opts.schedule_interval)
        self.schedule.start()
        return self

    def stop(self) -> None:
        for part in (self.schedule, self.poller, self.gateway):
            if part is not None:
                part.stop()
        if self.containers is not None:
            from . import lambdas

            lambdas.use_pool(None)
            self.containers.close()
        for part in (self.simulator, self.tfso, self.procountor, self.uniconta):
            if part is not None:
                part.stop()
        if self.moto is not None:
            _stop_moto(self.moto)
            self.moto = None

    def __enter__(self) -> "DevStack":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- helpers for the demo, tests and benchmarks ---------------------------------------------
    @property
    def url(self) -> str:
        return self.gateway.base_url

    def create_tenant(self, tenant_id: str) -> str:
        from ledgerbridge.repositories import tenants

        return tenants.issue_key(tenant_id)

    def sign_in_link(self, api_key: str) -> str:
        """A one-time console sign-in link for the key's tenant (good for 15 minutes)."""
        with self.api(api_key) as api:
            answer = api.post("/console/sign-in-links")
            answer.raise_for_status()
            return answer.json()["sign_in_url"]

    def api(self, api_key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

    def connect_in_browser(self, api: httpx.Client, connection_id: str, username: str, password: str) -> httpx.Response:
        """Walk the OAuth flow as a user's browser would: open the connect link, log in, consent,
        land on the callback (one cookie jar throughout, as in a browser)."""
        started = api.post(f"/connections/{connection_id}/connect")
        started.raise_for_status()
        with httpx.Client(timeout=30, follow_redirects=False) as browser:
            connect_url = started.json()["connect_url"]
            browser.get(connect_url).raise_for_status()  # "you are about to connect …": confirm
            to_vendor = browser.post(connect_url.split("?")[0], data={"ticket": httpx.URL(connect_url).params["ticket"]})
            if to_vendor.status_code != 303:
                raise RuntimeError(f"connect link did not redirect: {to_vendor.status_code} {to_vendor.text[:200]}")
            authorize_url = to_vendor.headers["Location"]
            browser.get(authorize_url).raise_for_status()
            form = dict(httpx.URL(authorize_url).params)
            form.update(username=username, password=password, consent="yes")
            answer = browser.post(authorize_url.split("?")[0], data=form)
            if answer.status_code != 302:
                raise RuntimeError(f"identity server did not redirect: {answer.status_code} {answer.text[:200]}")
            return browser.get(answer.headers["Location"])

    def connect_procountor(self, api: httpx.Client, connection_id: str, company: str = PAYROLL_COMPANY, *,
                           credential: str = "oauth", username: str = PROCOUNTOR_USER[0],
                           password: str = PROCOUNTOR_USER[1]) -> httpx.Response:
        """Procountor's sign-in as a user's browser walks it: the hub's connect link and confirm page,
        then the vendor's sign-in (/login, or /keylogin for ``credential="api_key"``) with the company
        picked from the user's list, and the hub's callback page (its answer is returned)."""
        started = api.post(f"/connections/{connection_id}/connect",
                           params={"credential": credential} if credential != "oauth" else None)
        started.raise_for_status()
        with httpx.Client(timeout=30, follow_redirects=False) as browser:
            connect_url = started.json()["connect_url"]
            browser.get(connect_url).raise_for_status()  # "you are about to connect …": confirm
            to_vendor = browser.post(connect_url.split("?")[0], data={"ticket": httpx.URL(connect_url).params["ticket"]})
            if to_vendor.status_code != 303:
                raise RuntimeError(f"connect link did not redirect: {to_vendor.status_code} {to_vendor.text[:200]}")
            authorize_url = to_vendor.headers["Location"]
            browser.get(authorize_url).raise_for_status()
            picks = browser.post(authorize_url, data={"username": username, "password": password})
            company_id = str(self.procountor.company_id(company))
            if picks.status_code != 200 or company_id not in picks.text:
                raise RuntimeError(f"no company pick offering {company}: {picks.status_code} {picks.text[:200]}")
            answer = browser.post(authorize_url, data={"username": username, "password": password,
                                                       "company": company_id})
            if answer.status_code != 302:
                raise RuntimeError(f"Procountor sign-in did not redirect: {answer.status_code} {answer.text[:200]}")
            return browser.get(answer.headers["Location"])

    def payroll_bureau(self, tenant_id: str = "local-payroll") -> tuple[str, str]:
        """A payroll bureau's tenant with a Procountor connection to Palkkatoimisto Demo Oy (signed in,
        company picked) and its payroll setup (cost centres on Kustannuspaikka). Returns (API key,
        connection id)."""
        from . import samples

        api_key = self.create_tenant(tenant_id)
        with self.api(api_key) as api:
            created = api.post("/connections", json={"vendor": "procountor", "name": "Palkat – Procountor"})
            created.raise_for_status()
            connection_id = created.json()["connection_id"]
            page = self.connect_procountor(api, connection_id)
            if page.status_code != 200:
                raise RuntimeError(f"Procountor connect: {page.status_code} {page.text[:300]}")
            api.put(f"/connections/{connection_id}/payroll-setup", json=samples.payroll_setup()).raise_for_status()
        return api_key, connection_id

    def salon(self, tenant_id: str = "local-salon", *, link: bool = True) -> tuple[str, str]:
        """A hair salon's tenant with a Uniconta connection to Salon Sakse ApS (company 4415): the login
        stored and tested, daily journal SALG picked, the account setup saved, customer sync set up and
        its modification URL pasted into Uniconta (the simulator), with Post ticked. Returns (API key,
        connection id)."""
        from . import samples

        api_key = self.create_tenant(tenant_id)
        with self.api(api_key) as api:
            created = api.post("/connections", json={"vendor": "uniconta", "name": "Salon Sakse – Uniconta"})
            created.raise_for_status()
            connection_id = created.json()["connection_id"]
            tested = api.put(f"/connections/{connection_id}/credential", json=samples.UNICONTA_LOGIN)
            if tested.status_code != 200 or not tested.json().get("ok"):
                raise RuntimeError(f"Uniconta login refused: {tested.text}")
            api.put(f"/connections/{connection_id}/vendor-settings",
                    json={"journal": samples.UNICONTA_JOURNAL}).raise_for_status()
            api.put(f"/connections/{connection_id}/account-setup", json=samples.salon_setup()).raise_for_status()
            synced = api.put(f"/connections/{connection_id}/customer-sync", json=samples.customer_sync_setup())
            synced.raise_for_status()
            view = synced.json()
            self.salon_link = view
            if link:
                self.link_salon()
        return api_key, connection_id

    def link_salon(self) -> None:
        """Paste the salon's modification URL into Uniconta (the simulator), Post ticked."""
        from . import samples

        view = self.salon_link
        self.uniconta.add_modification_url(samples.UNICONTA_COMPANY, view["notification_url"],
                                           argument=view["notification_argument"], post=True)

    def accounting_office(self, tenant_id: str = "local-accounting") -> tuple[str, str]:
        """A tenant with a 24SevenOffice connection, its integration user stored and tested, and the
        import of its client companies queued. Returns (API key, connection id)."""
        api_key = self.create_tenant(tenant_id)
        with self.api(api_key) as api:
            created = api.post("/connections", json={"vendor": "24sevenoffice", "name": "Regnskapskontoret"})
            created.raise_for_status()
            connection_id = created.json()["connection_id"]
            tested = api.put(f"/connections/{connection_id}/credential",
                             json={"username": TFSO_USER[0], "password": TFSO_USER[1]})
            if tested.status_code != 200 or not tested.json().get("ok"):
                raise RuntimeError(f"24SevenOffice integration user refused: {tested.text}")
            api.post(f"/connections/{connection_id}/companies/import").raise_for_status()
        return api_key, connection_id

    def shop(self, tenant_id: str = "local-shop") -> tuple[str, str]:
        """A café booking its daily settlements into one of the accounting office's client companies
        (Havnekafeen, two departments) through the same integration user: company, department 201,
        voucher type 9 "Dagsoppgjør", voucher reception, the café's setup. Returns (API key, connection id)."""
        from . import samples

        api_key = self.create_tenant(tenant_id)
        with self.api(api_key) as api:
            created = api.post("/connections", json={"vendor": "24sevenoffice", "name": "Havnekafeen – kasse"})
            created.raise_for_status()
            connection_id = created.json()["connection_id"]
            tested = api.put(f"/connections/{connection_id}/credential",
                             json={"username": TFSO_USER[0], "password": TFSO_USER[1]})
            if tested.status_code != 200 or not tested.json().get("ok"):
                raise RuntimeError(f"24SevenOffice integration user refused: {tested.text}")
            for picks in ({"company": samples.SHOP_COMPANY},
                          {"department": "201", "transaction_type": "9", "type_import": "reception"}):
                api.put(f"/connections/{connection_id}/vendor-settings", json=picks).raise_for_status()
            api.put(f"/connections/{connection_id}/account-setup", json=samples.shop_setup_24so()).raise_for_status()
        return api_key, connection_id

    def tick(self, at: str | None = None) -> dict:
        return self.schedule.tick(at)

    def drain(self, timeout: float = 60.0) -> None:
        """Wait until the transfer queue is empty and no worker is busy."""
        deadline = time.monotonic() + timeout
        queue_url = self.env["LB_TRANSFER_QUEUE_URL"]
        quiet_since = None
        pause = 0.05
        while time.monotonic() < deadline:
            attrs = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"]
            pending = sum(int(value) for value in attrs.values())
            if pending == 0 and not self.poller.busy:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 0.3:
                    return
            else:
                quiet_since = None
            time.sleep(pause)
            # moto counts a queue's messages by scanning them all: a long drain asks less often,
            # so it does not starve the workers of the one process moto runs in.
            pause = min(pause * 1.2, 0.5)
        raise TimeoutError(f"the transfer queue did not drain in time: {attrs}, poller busy: {self.poller.busy}")
