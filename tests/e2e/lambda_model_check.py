"""Run by test_lambda_model.py in a subprocess (the local runtime owns process-wide settings).

Concurrent invocations of one function must not share what two Lambda containers would not
share: each worker invocation reports exactly its own failed records, and each API request sees
its own tenant. Prints one JSON line with what it saw.
"""
from __future__ import annotations

import json
import sys
import threading
import uuid

from devstack.stack import DevStack, StackOptions


def worker_event(batch: int) -> tuple[dict, set[str]]:
    records, failing = [], set()
    for index in range(4):
        message_id = f"b{batch}-m{index}"
        if (batch + index) % 3 == 0:
            body = "{not json"  # fails to parse: must be reported as this invocation's failure
            failing.add(message_id)
        else:
            body = json.dumps({"job_id": uuid.uuid4().hex, "tenant_id": "nobody", "connection_id": "con_x",
                               "document_id": f"Z-{batch}-{index}", "version": 1})
        records.append({"messageId": message_id, "receiptHandle": message_id, "body": body,
                        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x",
                                       "ApproximateFirstReceiveTimestamp": "0"},
                        "messageAttributes": {}, "md5OfBody": "x", "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:eu-north-1:000000000000:q", "awsRegion": "eu-north-1"})
    return {"Records": records}, failing


def main() -> int:
    from devstack import lambdas

    seen = {"worker_mismatches": 0, "worker_invocations": 0, "api_mismatches": 0, "api_requests": 0}
    lock = threading.Lock()
    with DevStack(StackOptions(worker_concurrency=4, api_concurrency=4)) as stack:
        keys = {}
        for tenant in ("tenant-one", "tenant-two"):
            keys[tenant] = stack.create_tenant(tenant)
            with stack.api(keys[tenant]) as api:
                api.post("/connections", json={"vendor": "visma_eaccounting", "name": f"shop of {tenant}"})

        def work(batch: int) -> None:
            event, failing = worker_event(batch)
            result = lambdas.invoke("TransferWorkerFunction", event)
            reported = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            with lock:
                seen["worker_invocations"] += 1
                seen["worker_mismatches"] += reported != failing

        def read(tenant: str) -> None:
            with stack.api(keys[tenant]) as api:
                for _ in range(10):
                    names = [c["name"] for c in api.get("/connections").json()]
                    with lock:
                        seen["api_requests"] += 1
                        seen["api_mismatches"] += names != [f"shop of {tenant}"]

        threads = [threading.Thread(target=work, args=(b,)) for b in range(24)]
        threads += [threading.Thread(target=read, args=(t,)) for t in ("tenant-one", "tenant-two") * 3]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        seen["containers"] = stack.containers.cold_starts
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
