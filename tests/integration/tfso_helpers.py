"""Helpers for the 24SevenOffice flow tests: a connected connection and a worker that drains SQS."""
from __future__ import annotations

import os

from devstack import lambdas
from tests.conftest import TFSO_PASSWORD, TFSO_USER

from .test_worker_exactly_once import sqs_event


def drain(session, *, timeout_seconds: int = 120, rounds: int = 200) -> list[dict]:
    """Play the SQS event source until the queue is empty; returns the batch results."""
    sqs = session.client("sqs")
    queue_url = os.environ["LB_TRANSFER_QUEUE_URL"]
    results = []
    for _ in range(rounds):
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return results
        context = lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=timeout_seconds)
        result = lambdas.handler("TransferWorkerFunction")(sqs_event(messages), context)
        results.append(result)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError("the queue did not drain")


def connect_tfso(api, username: str = TFSO_USER, password: str = TFSO_PASSWORD, name: str = "Regnskap") -> tuple[str, dict]:
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": name})
    assert status == 201, created
    connection_id = created["connection_id"]
    status, result = api.call("PUT", f"/connections/{connection_id}/credential",
                              {"username": username, "password": password})
    assert status == 200, result
    return connection_id, result


def import_companies(api, session, connection_id: str) -> dict:
    status, started = api.call("POST", f"/connections/{connection_id}/companies/import")
    assert status == 202, started
    drain(session)
    status, run = api.call("GET", f"/connections/{connection_id}/documents/{started['run_id']}")
    assert status == 200, run
    return run
