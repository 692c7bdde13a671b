"""ledgerbridge.aws: clients built on first use, cached per endpoint, all from one lazily created session."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import pytest

from ledgerbridge import aws
from ledgerbridge.settings import reset_settings

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"


@pytest.fixture
def sessions(monkeypatch):
    """Every boto3 session the module creates, in order; a clean module and settings around the test."""
    created: list[boto3.session.Session] = []
    real = boto3.session.Session

    class Counted(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(boto3.session, "Session", Counted)
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.delenv("LB_AWS_ENDPOINT_URL", raising=False)
    reset_settings()
    aws.reset_clients()
    yield created
    aws.reset_clients()
    monkeypatch.undo()
    reset_settings()


def test_one_session_serves_every_client(sessions):
    clients = {service: aws.client(service) for service in ("dynamodb", "sqs", "s3", "secretsmanager")}
    assert len(sessions) == 1
    assert {c.meta.service_model.service_name for c in clients.values()} == set(clients)
    assert all(c.meta.region_name == "eu-north-1" for c in clients.values())
    assert aws.session() is sessions[0]


def test_a_client_is_built_once_per_service_and_endpoint(sessions, monkeypatch):
    first = aws.client("dynamodb")
    assert aws.client("dynamodb") is first
    monkeypatch.setenv("LB_AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
    reset_settings()
    local = aws.client("dynamodb")
    assert local is not first and local.meta.endpoint_url == "http://127.0.0.1:5999"
    assert len(sessions) == 1


def test_reset_forgets_clients_and_session(sessions):
    first = aws.client("sqs")
    aws.reset_clients()
    again = aws.client("sqs")
    assert again is not first
    assert len(sessions) == 2


def test_threads_racing_for_a_client_share_one(sessions):
    barrier = threading.Barrier(8)
    got: list[object] = []

    def build() -> None:
        barrier.wait()
        got.append(aws.client("s3"))

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len({id(c) for c in got}) == 1
    assert len(sessions) == 1


def test_importing_builds_nothing_and_loads_no_boto3():
    code = "import json, sys; import ledgerbridge.aws as a; print(json.dumps(['boto3' in sys.modules, a._session]))"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LB_", "PYTHON"))}
    env.update(PYTHONPATH=str(LAYER))
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(LAYER), capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout) == [False, None]
