"""Running the `ledgerbridge` command in process against the hub of the tests.

The hub is the local API Gateway (devstack.gateway.LocalGateway, a WSGI app) over the handlers and
moto in process (tests/conftest.py's ``aws``); the command talks to it through an httpx WSGI transport
handed in with its Runtime. The transfer worker is played by :func:`work_queue` (the SQS event source:
receive, invoke, delete), which tests hand in as the command's ``sleep`` so a follow sees bookings
between two polls.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from typer.testing import CliRunner

from devstack import lambdas
from ledgerbridge_cli.main import app
from ledgerbridge_cli.runtime import Runtime

HUB_URL = "http://localhost"
OPERATOR_SETTINGS = {
    "tenants_table": "LB_TENANTS_TABLE", "connections_table": "LB_CONNECTIONS_TABLE",
    "documents_table": "LB_DOCUMENTS_TABLE", "transfer_queue_url": "LB_TRANSFER_QUEUE_URL",
    "transfer_dlq_url": "LB_TRANSFER_DLQ_URL",
}


def gateway_transport() -> httpx.WSGITransport:
    """The local gateway, in process. Its handlers are loaded here, outside the CliRunner: Powertools binds
    each function's log handler to the sys.stdout of the moment it is loaded, and the CliRunner's own
    stream is closed once the command ends."""
    from devstack.gateway import LocalGateway

    for function in ("AuthorizerFunction", "ManagementApiFunction", "IngestFunction", "TransferWorkerFunction"):
        lambdas.handler(function)
    return httpx.WSGITransport(app=LocalGateway(stage="test"))


def run(args: list[str], *, runtime: Runtime | None = None, env: dict[str, str] | None = None) -> SimpleNamespace:
    """The command's exit_code, stdout, stderr and output; wide enough that tables do not wrap reasons.

    The hub runs in this process: a function's first invocation prints its cold-start metric (Powertools'
    EMF line, ``{"_aws": …}``) to stdout, into the command's. Those lines are not the command's: left out."""
    result = CliRunner().invoke(app, args, obj=runtime, env={"COLUMNS": "220", **(env or {})},
                                catch_exceptions=False)

    def own(text: str) -> str:
        return "".join(line for line in text.splitlines(keepends=True) if not line.startswith('{"_aws":'))

    return SimpleNamespace(exit_code=result.exit_code, stdout=own(result.stdout), stderr=own(result.stderr),
                           output=own(result.output))


def as_json(result) -> Any:
    return json.loads(result.stdout, parse_float=Decimal)


def sqs_event(messages: list[dict]) -> dict:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {"ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"], "SentTimestamp": "0",
                       "SenderId": "x", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-north-1:123456789012:q", "awsRegion": "eu-north-1",
    } for m in messages]}


def work_queue(session, rounds: int = 50) -> int:
    """Play the SQS event source until the transfer queue has nothing to deliver; jobs processed."""
    sqs = session.client("sqs")
    queue_url = os.environ["LB_TRANSFER_QUEUE_URL"]
    done = 0
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return done
        context = lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=60)
        result = lambdas.handler("TransferWorkerFunction")(sqs_event(messages), context)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        done += len(messages)
    raise AssertionError("the transfer queue did not drain")


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def operator_profile(path: Path, name: str = "ops", **extra: str) -> Path:
    """A profiles file with an operator profile naming the tables and queues the tests' moto has."""
    lines = [f"[profiles.{name}]", f'region = "{os.environ["AWS_REGION"]}"']
    lines += [f'{setting} = "{os.environ[env]}"' for setting, env in OPERATOR_SETTINGS.items()]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
