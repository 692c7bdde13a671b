"""The operator commands against moto in process (tests/conftest.py's ``aws``): keys, console links, the
tenants overview, the dead-letter queue, replay, and the hub's resources found from a CloudFormation stack."""
from __future__ import annotations

import json
import os
from datetime import date, timedelta

import pytest

from devstack import samples
from ledgerbridge_cli.runtime import Runtime
from tests.cli.cli_helpers import HUB_URL, as_json, gateway_transport, operator_profile, run, work_queue


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in ("URL", "KEY", "PROFILE", "CONFIG", "OUTPUT"):
        monkeypatch.delenv(f"LEDGERBRIDGE_{name}", raising=False)


@pytest.fixture
def ops(aws, tmp_path):
    """`ledgerbridge --config <file> --profile ops …` with the operator profile of this moto."""
    path = operator_profile(tmp_path / "profiles.toml", url=HUB_URL)

    def cli(*args: str):
        return run(["--config", str(path), "--profile", "ops", *args])

    return cli


def test_keys_issue_list_revoke(ops, aws):
    issued = ops("operator", "keys", "issue", "bakery", "--label", "POS back office")
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip()  # the key alone on stdout, the note on stderr
    assert key.startswith("lbk_") and "\n" not in key
    assert "shown this once" in issued.stderr and key not in issued.stderr

    second = as_json(ops("-o", "json", "operator", "keys", "issue", "bakery"))
    assert second["tenant_id"] == "bakery" and second["key"].startswith("lbk_") and second["key"] != key

    listed = ops("-o", "json", "operator", "keys", "list", "--tenant", "bakery")
    rows = as_json(listed)
    assert sorted(r["label"] for r in rows) == ["POS back office", "default"]
    assert key not in listed.stdout and second["key"] not in listed.stdout
    assert second["key_id"] in {r["key_id"] for r in rows}
    table = ops("operator", "keys", "list")
    assert second["key_id"] in table.stdout and "POS back office" in table.stdout and key not in table.stdout

    # The key works against the hub, until it is revoked by its id.
    hub = Runtime(transport=gateway_transport())
    answer = run(["--url", HUB_URL, "-o", "json", "connections"], runtime=hub, env={"LEDGERBRIDGE_KEY": key})
    assert answer.exit_code == 0 and answer.stdout == "[]\n"
    mine = next(r for r in rows if r["label"] == "POS back office")
    revoked = ops("operator", "keys", "revoke", mine["key_id"][:8])
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked key {mine['key_id']} of tenant bakery" in revoked.stdout
    refused = run(["--url", HUB_URL, "connections"], runtime=Runtime(transport=gateway_transport()),
                  env={"LEDGERBRIDGE_KEY": key})
    assert refused.exit_code == 1 and "revoked" in refused.stderr

    again = ops("operator", "keys", "revoke", key)  # the key itself: never echoed
    assert again.exit_code == 1 and "no key matches that key" in again.stderr and key not in again.output
    short = ops("operator", "keys", "revoke", "abc")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr


def test_sign_in_link_for_a_tenant(ops, aws):
    from ledgerbridge.repositories import console_sessions, tenants

    unknown = ops("operator", "sign-in-link", "nobody")
    assert unknown.exit_code == 1 and "no key and no connection" in unknown.stderr
    tenants.issue_key("bakery")
    made = ops("-o", "json", "operator", "sign-in-link", "bakery")
    assert made.exit_code == 0, made.output
    link = as_json(made)
    assert link["sign_in_url"].startswith(f"{HUB_URL}/console/sign-in?token=lbs_")
    session = console_sessions.redeem_sign_in_link(link["sign_in_url"].split("token=", 1)[1])
    assert session is not None and session.tenant_id == "bakery"
    forced = ops("operator", "sign-in-link", "newcomer", "--force")
    assert forced.exit_code == 0 and forced.stdout.startswith(f"{HUB_URL}/console/sign-in?token=lbs_")


def test_tenants_lists_connections_with_their_sync_health(ops, connected, uniconta, api_for):
    from ledgerbridge.repositories import tenants
    from tests.integration.test_uniconta import LOGIN

    _, visma_connection = connected  # tenant-a: Visma eAccounting, connected, scheduled daily
    salon = api_for("salon")
    status, created = salon.call("POST", "/connections", {"vendor": "uniconta", "name": "Salon Sakse"})
    salon_connection = created["connection_id"]
    assert salon.call("PUT", f"/connections/{salon_connection}/credential", LOGIN)[1]["ok"]
    assert salon.call("PUT", f"/connections/{salon_connection}/customer-sync",
                      {"tag": "Uniconta", "fields": ["Name"]})[0] == 200
    tenants.issue_key("salon")
    tenants.issue_key("keys-only")

    listed = ops("-o", "json", "operator", "tenants")
    assert listed.exit_code == 0, listed.output
    found = {t["tenant_id"]: t for t in as_json(listed)}
    assert set(found) == {"tenant-a", "salon", "keys-only"}
    assert found["keys-only"] == {"tenant_id": "keys-only", "keys": 1, "connections": []}
    [visma] = found["tenant-a"]["connections"]
    assert (visma["connection_id"], visma["vendor"], visma["status"]) == (visma_connection, "visma_eaccounting",
                                                                           "connected")
    assert visma["next_run_at"] and visma["customer_sync"] is None
    [uniconta_row] = found["salon"]["connections"]
    assert uniconta_row["vendor"] == "uniconta" and uniconta_row["customer_sync"]["state"] == "not_checked"

    table = ops("operator", "tenants")
    assert "salon (1 key)" in table.stdout and "not_checked" in table.stdout and visma_connection in table.stdout


def test_dlq_depth_and_redrive(ops, aws):
    sqs = aws.client("sqs")
    dlq, queue = os.environ["LB_TRANSFER_DLQ_URL"], os.environ["LB_TRANSFER_QUEUE_URL"]
    bodies = [json.dumps({"job": n}) for n in range(3)]
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)

    depth = as_json(ops("-o", "json", "operator", "dlq"))
    assert (depth["depth"], depth["visible"], depth["in_flight"]) == (3, 3, 0)
    assert "3 job(s)" in ops("operator", "dlq").stdout

    moved = ops("-o", "json", "operator", "dlq", "redrive", "--max", "2", "--wait", "0")
    assert moved.exit_code == 0, moved.output
    assert as_json(moved) == {"moved": 2, "failed": [], "left": 1, "to": queue}
    rest = ops("operator", "dlq", "redrive", "--wait", "0")
    assert rest.exit_code == 0 and "Moved 1 job(s)" in rest.stdout and "0 left" in rest.stdout

    received = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        received += [m["Body"] for m in batch]
    assert sorted(received) == sorted(bodies)
    assert as_json(ops("-o", "json", "operator", "dlq"))["depth"] == 0


def test_replay_failed(ops, connected, aws):
    api, connection_id = connected
    day = date.today() - timedelta(days=2)
    document = samples.settlement(day, 1, extra_category="Blomster")  # a category the setup does not map
    assert api.call("POST", f"/connections/{connection_id}/settlements", document)[0] == 201
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    work_queue(aws)
    assert api.call("GET", f"/connections/{connection_id}/documents/{document['document_id']}")[1]["state"] == "failed"

    replayed = ops("-o", "json", "operator", "replay-failed", "tenant-a", connection_id)
    assert replayed.exit_code == 0, replayed.output
    assert as_json(replayed) == {"tenant_id": "tenant-a", "connection_id": connection_id, "replayed": 1}
    assert api.call("GET", f"/connections/{connection_id}/documents/{document['document_id']}")[1]["state"] == "waiting"

    missing = ops("operator", "replay-failed", "tenant-b", connection_id)  # another tenant's: not found
    assert missing.exit_code == 1 and f"connection {connection_id} not found" in missing.stderr


def test_resources_come_from_the_cloudformation_stack(aws, tmp_path, monkeypatch):
    """Table and queue names looked up in the stack (resources and outputs); the profile names none."""
    template = {
        "Resources": {
            "TenantsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "key_hash", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "key_hash", "KeyType": "HASH"}]}},
            "TransferQueue": {"Type": "AWS::SQS::Queue"},
            "TransferDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
        },
        "Outputs": {"TransferQueueUrl": {"Value": {"Ref": "TransferQueue"}},
                    "TransferDeadLetterQueueUrl": {"Value": {"Ref": "TransferDeadLetterQueue"}},
                    "ApiUrl": {"Value": "https://abc.execute-api.eu-north-1.amazonaws.com/Prod"}},
    }
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(StackName="hub-prod", TemplateBody=json.dumps(template))
    resources = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                 for r in cloudformation.describe_stack_resources(StackName="hub-prod")["StackResources"]}
    for name in ("LB_TENANTS_TABLE", "LB_TRANSFER_QUEUE_URL", "LB_TRANSFER_DLQ_URL"):
        monkeypatch.delenv(name)  # only the stack says where they are
    (tmp_path / "profiles.toml").write_text('default_profile = "prod"\n[profiles.prod]\nregion = "eu-north-1"\n'
                                            'stack = "hub-prod"\n', encoding="utf-8")
    config = ["--config", str(tmp_path / "profiles.toml")]

    key = run([*config, "operator", "keys", "issue", "bakery"]).stdout.strip()
    assert key.startswith("lbk_")
    stored = aws.client("dynamodb").scan(TableName=resources["TenantsTable"])["Items"]
    assert [i["tenant_id"]["S"] for i in stored] == ["bakery"]
    link = as_json(run([*config, "-o", "json", "operator", "sign-in-link", "bakery"]))
    assert link["sign_in_url"].startswith("https://abc.execute-api.eu-north-1.amazonaws.com/Prod/console/sign-in?")
    aws.client("sqs").send_message(QueueUrl=resources["TransferDeadLetterQueue"], MessageBody="{}")
    assert as_json(run([*config, "-o", "json", "operator", "dlq"]))["depth"] == 1
    assert "LB_TENANTS_TABLE" not in os.environ  # set for the command only

    (tmp_path / "profiles.toml").write_text('[profiles.prod]\nregion = "eu-north-1"\n', encoding="utf-8")
    unknown = run([*config, "--profile", "prod", "operator", "keys", "list"])
    assert unknown.exit_code == 2 and "add tenants_table (or stack) to the operator profile" in unknown.stderr
    missing = run([*config, "--profile", "prod", "operator", "dlq"])
    assert missing.exit_code == 2 and "transfer_dlq_url" in missing.stderr
    (tmp_path / "profiles.toml").write_text('[profiles.prod]\nstack = "no-such-stack"\n', encoding="utf-8")
    gone = run([*config, "--profile", "prod", "operator", "tenants"])
    assert gone.exit_code == 1 and "AWS refused DescribeStacks" in gone.stderr
