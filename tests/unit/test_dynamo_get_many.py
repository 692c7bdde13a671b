"""dynamo.get_many: items of several tables in one BatchGetItem, in the order asked, None where missing,
and keys DynamoDB leaves unprocessed asked for again."""
from __future__ import annotations

import pytest

from ledgerbridge.repositories import dynamo

DOCS = ("documents", {"pk": {"S": "t#c"}, "sk": {"S": "d#1"}})
CONN = ("connections", {"tenant_id": {"S": "t"}, "connection_id": {"S": "c"}})
GONE = ("documents", {"pk": {"S": "t#c"}, "sk": {"S": "gone#1"}})


class FakeDynamo:
    """Answers from ``items``; the first call leaves the connections table's key unprocessed."""

    def __init__(self, throttle_first: bool = True):
        self.items = {"documents": [{**DOCS[1], "state": {"S": "waiting"}}],
                      "connections": [{**CONN[1], "name": {"S": "café"}}]}
        self.calls: list[dict] = []
        self.throttle_first = throttle_first

    def batch_get_item(self, RequestItems):
        self.calls.append(RequestItems)
        responses, unprocessed = {}, {}
        for table, request in RequestItems.items():
            assert request["ConsistentRead"] is True
            if self.throttle_first and len(self.calls) == 1 and table == "connections":
                unprocessed[table] = request
                continue
            responses[table] = [item for item in self.items[table]
                                if any(all(item.get(k) == v for k, v in key.items()) for key in request["Keys"])]
        return {"Responses": responses, "UnprocessedKeys": unprocessed}


def test_one_call_for_two_tables_in_the_order_asked(monkeypatch):
    fake = FakeDynamo(throttle_first=False)
    monkeypatch.setattr(dynamo, "ddb", lambda: fake)
    document, connection, missing = dynamo.get_many([DOCS, CONN, GONE])
    assert len(fake.calls) == 1 and set(fake.calls[0]) == {"documents", "connections"}
    assert document["state"] == {"S": "waiting"} and connection["name"] == {"S": "café"} and missing is None


def test_unprocessed_keys_are_asked_for_again(monkeypatch):
    fake = FakeDynamo()
    monkeypatch.setattr(dynamo, "ddb", lambda: fake)
    monkeypatch.setattr(dynamo.time, "sleep", lambda seconds: None)
    connection, document = dynamo.get_many([CONN, DOCS])
    assert len(fake.calls) == 2 and set(fake.calls[1]) == {"connections"}
    assert connection["name"] == {"S": "café"} and document["state"] == {"S": "waiting"}


def test_keys_never_processed_are_an_error_not_a_missing_item(monkeypatch):
    class AlwaysThrottled(FakeDynamo):
        def batch_get_item(self, RequestItems):
            self.calls.append(RequestItems)
            return {"Responses": {}, "UnprocessedKeys": RequestItems}

    fake = AlwaysThrottled()
    monkeypatch.setattr(dynamo, "ddb", lambda: fake)
    monkeypatch.setattr(dynamo.time, "sleep", lambda seconds: None)
    with pytest.raises(RuntimeError, match="unprocessed"):
        dynamo.get_many([DOCS])
    assert len(fake.calls) == 8
