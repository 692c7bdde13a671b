"""The tenant commands against the hub of the tests (local gateway + handlers + moto in process, the
Visma eAccounting and Uniconta simulators): push with refusals, transfer --follow, the export log, the
account setup as a file, connections, the console link, and errors as messages and exit codes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from devstack import samples
from ledgerbridge_cli.runtime import Runtime
from tests.cli.cli_helpers import HUB_URL, as_json, gateway_transport, run, work_queue, write_json

DAY = date.today() - timedelta(days=3)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No profiles file, variable or working directory of the machine's leaks into a test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in ("URL", "KEY", "PROFILE", "CONFIG", "OUTPUT"):
        monkeypatch.delenv(f"LEDGERBRIDGE_{name}", raising=False)


@dataclass
class Shop:
    api: object  # tests/conftest.py's Api for tenant-a (set-up steps the CLI does not do)
    connection_id: str
    key: str
    aws: object

    def cli(self, *args: str, sleep=None, key: str | None = None):
        runtime = Runtime(transport=gateway_transport(), sleep=sleep or (lambda seconds: None))
        return run(["--url", HUB_URL, *args], runtime=runtime, env={"LEDGERBRIDGE_KEY": key or self.key})


@pytest.fixture
def shop(connected, aws):
    """tenant-a with a connected, set-up Visma eAccounting connection, and a key for the command."""
    from ledgerbridge.repositories import tenants

    api, connection_id = connected
    return Shop(api, connection_id, tenants.issue_key("tenant-a", "cli tests"), aws)


def _unbalanced(day: date, number: int) -> dict:
    body = samples.settlement(day, number, with_pdf=False)
    body["totals"]["gross"] = str(Decimal(body["totals"]["gross"]) + Decimal("0.01"))
    return body


def _as_numbers(body: dict) -> str:
    """The settlement's amounts as JSON numbers (as a POS may write them), not strings."""
    text = json.dumps(body)
    for line in body["sales"]:
        for field in ("net", "vat", "gross"):
            text = text.replace(f'"{field}": "{line[field]}"', f'"{field}": {line[field]}')
    return text


def test_push_settlements_names_each_refusal_and_exits_1(shop, tmp_path):
    write_json(tmp_path / "in" / "a-day.json", samples.settlement(DAY, 1, with_pdf=False))
    (tmp_path / "in" / "b-week.json").write_text(
        "[" + _as_numbers(samples.settlement(DAY - timedelta(days=1), 1, with_pdf=False)) + ","
        + json.dumps(_unbalanced(DAY - timedelta(days=2), 1)) + "]", encoding="utf-8")
    (tmp_path / "in" / "c-broken.json").write_text('{"document_id": "Z-broken", ', encoding="utf-8")
    (tmp_path / "in" / "notes.txt").write_text("not pushed: not *.json", encoding="utf-8")

    pushed = shop.cli("push", "settlements", shop.connection_id, "in")
    assert pushed.exit_code == 1, pushed.output
    assert f"settlements → {shop.connection_id}: 2 created, 2 refused" in pushed.stdout
    assert f"Z-1-{(DAY - timedelta(days=2)).isoformat()}-1" in pushed.stdout  # the refused document, by id
    assert "sum of sales gross is" in pushed.stdout  # and the hub's reason
    assert "c-broken.json" in pushed.stdout and "not valid JSON" in pushed.stdout
    assert shop.key not in pushed.output

    again = shop.cli("-o", "json", "push", "settlements", shop.connection_id, "in")
    assert again.exit_code == 1
    report = as_json(again)
    assert report["counts"] == {"unchanged": 2, "refused": 2}
    refused = {r["source"].rsplit("/", 1)[-1]: r for r in report["results"] if r["outcome"] == "refused"}
    assert set(refused) == {"b-week.json[1]", "c-broken.json"}
    assert refused["b-week.json[1]"]["status"] == 422 and refused["b-week.json[1]"]["error"] == "validation_failed"
    assert "but totals.gross is" in refused["b-week.json[1]"]["details"][0]["message"]
    assert again.stderr == ""  # no progress bar, no notes: only the JSON

    status, entry = shop.api.call("GET", f"/connections/{shop.connection_id}/documents/"
                                         f"Z-1-{(DAY - timedelta(days=1)).isoformat()}-1")
    assert status == 200 and entry["state"] == "waiting"


def test_transfer_follow_waits_for_the_bookings_and_counts_them(shop):
    for number in (1, 2):
        assert shop.api.call("POST", f"/connections/{shop.connection_id}/settlements",
                             samples.settlement(DAY, number))[0] == 201
    polls = []

    def worker(seconds: float) -> None:
        polls.append(seconds)
        work_queue(shop.aws)

    done = shop.cli("-o", "json", "transfer", shop.connection_id, "--follow", "--interval", "0.5", sleep=worker)
    assert done.exit_code == 0, done.output
    outcome = as_json(done)
    assert outcome["enqueued"] == 2 and outcome["followed"] == 2
    assert outcome["booked"] == 2 and outcome["failed"] == 0 and outcome["states"] == {"booked": 2}
    assert polls and polls[0] == 0.5

    # A category the setup does not map fails at booking: counted, its reason shown, exit 1.
    assert shop.api.call("POST", f"/connections/{shop.connection_id}/settlements",
                         samples.settlement(DAY, 3, extra_category="Blomster"))[0] == 201
    failed = shop.cli("transfer", shop.connection_id, "--follow", sleep=lambda s: work_queue(shop.aws))
    assert failed.exit_code == 1, failed.output
    assert "Queued 1 document(s)" in failed.stdout
    assert "booked 0, failed 1" in failed.stdout
    assert f"Z-1-{DAY.isoformat()}-3" in failed.stdout and "Blomster" in failed.stdout

    # Without --follow: the hub's answer as it is.
    plain = shop.cli("-o", "json", "transfer", shop.connection_id)
    assert plain.exit_code == 0 and as_json(plain)["enqueued"] == 0


def test_log_shows_the_export_log_and_follows_it(shop):
    assert shop.api.call("POST", f"/connections/{shop.connection_id}/settlements",
                         samples.settlement(DAY, 1))[0] == 201
    assert shop.api.call("POST", f"/connections/{shop.connection_id}/settlements",
                         samples.settlement(DAY - timedelta(days=1), 1))[0] == 201
    polls = []

    def tail(seconds: float) -> None:  # the worker books between the first and the second poll, then Ctrl-C
        polls.append(seconds)
        if len(polls) == 1:
            assert shop.api.call("POST", f"/connections/{shop.connection_id}/transfers")[0] == 202
            work_queue(shop.aws)
        else:
            raise KeyboardInterrupt

    followed = shop.cli("-o", "json", "log", shop.connection_id, "--follow", "--interval", "1", sleep=tail)
    assert followed.exit_code == 0, followed.output
    lines = [json.loads(line) for line in followed.stdout.splitlines()]
    assert [(e["business_date"], e["state"]) for e in lines] == [
        ((DAY - timedelta(days=1)).isoformat(), "waiting"), (DAY.isoformat(), "waiting"),  # oldest first
        ((DAY - timedelta(days=1)).isoformat(), "booked"), (DAY.isoformat(), "booked")]

    listed = shop.cli("-o", "json", "log", shop.connection_id, "--state", "booked", "--from", DAY.isoformat())
    documents = as_json(listed)["documents"]
    assert [d["document_id"] for d in documents] == [f"Z-1-{DAY.isoformat()}-1"]
    number = documents[0]["vendor_document_number"]
    assert number

    table = shop.cli("log", shop.connection_id)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if f"Z-1-{DAY.isoformat()}-1" in line)
    assert "booked" in row and number in row and DAY.isoformat() in row


def test_setup_export_and_import_round_trip_and_refusals_name_each_row(shop, tmp_path):
    exported = shop.cli("setup", "export", shop.connection_id, "setup.json")
    assert exported.exit_code == 0, exported.output
    assert "9 rows" in exported.stdout
    setup = json.loads((tmp_path / "setup.json").read_text(encoding="utf-8"))
    assert "validated_at" not in setup and all("vat_code_id" not in row for row in setup["rows"])
    assert {r["key"]: r["account"] for r in setup["rows"] if r["kind"] == "sales"}["Brød og bakst"] == "3011"

    saved = shop.cli("-o", "json", "setup", "import", shop.connection_id, "setup.json")
    assert saved.exit_code == 0, saved.output
    assert as_json(saved)["rows"] == 9

    setup["rows"][0]["account"] = "3010"  # exists in fiscal year 2025 only
    (tmp_path / "wrong.json").write_text(json.dumps(setup, ensure_ascii=False), encoding="utf-8")
    refused = shop.cli("setup", "import", shop.connection_id, "wrong.json")
    assert refused.exit_code == 1
    assert "sales:Brød og bakst@15" in refused.stderr
    assert "account 3010 does not exist in fiscal year 2026" in refused.stderr

    as_script = shop.cli("-o", "json", "setup", "import", shop.connection_id, "wrong.json")
    assert as_script.exit_code == 1 and as_script.stdout == ""
    error = json.loads(as_script.stderr)
    assert error["status"] == 422 and {"row": "sales:Brød og bakst@15",
                                       "message": "account 3010 does not exist in fiscal year 2026"}.items() <= \
        next(d for d in error["details"] if d.get("row") == "sales:Brød og bakst@15").items()

    to_stdout = shop.cli("setup", "export", shop.connection_id)
    assert json.loads(to_stdout.stdout)["rows"] == json.loads((tmp_path / "setup.json").read_text())["rows"]


def test_connections_and_the_console_link(shop):
    from ledgerbridge.repositories import console_sessions

    listed = shop.cli("-o", "json", "connections")
    assert listed.exit_code == 0
    [connection] = as_json(listed)
    assert connection["connection_id"] == shop.connection_id and connection["status"] == "connected"
    table = shop.cli("connections")
    assert shop.connection_id in table.stdout and "visma_eaccounting" in table.stdout

    link = shop.cli("sign-in-link")
    assert link.exit_code == 0, link.output
    url = link.stdout.strip()
    assert url.startswith(f"{HUB_URL}/console/sign-in?token=lbs_")
    session = console_sessions.redeem_sign_in_link(url.split("token=", 1)[1])
    assert session is not None and session.tenant_id == "tenant-a"
    assert "opens once" in link.stderr


def test_errors_are_messages_with_exit_codes_and_never_show_the_key(shop):
    missing = shop.cli("log", "no-such-connection")
    assert missing.exit_code == 1
    assert "connection no-such-connection not found" in missing.stderr and "HTTP 404 not_found" in missing.stderr

    wrong_key = "lbk_" + "x" * 43
    refused = shop.cli("-o", "json", "connections", key=wrong_key)
    assert refused.exit_code == 1 and refused.stdout == ""
    error = json.loads(refused.stderr)
    assert error["status"] in (401, 403) and "key" in error["message"]
    assert wrong_key not in refused.output

    unreachable = run(["--url", "http://127.0.0.1:9", "connections"], env={"LEDGERBRIDGE_KEY": shop.key})
    assert unreachable.exit_code == 1
    assert "cannot reach the hub at http://127.0.0.1:9" in unreachable.stderr
    assert shop.key not in unreachable.output

    no_key = run(["--url", HUB_URL, "connections"])
    assert no_key.exit_code == 2 and "no tenant API key" in no_key.stderr


@pytest.fixture
def salon(aws, uniconta, api_for):
    """A Uniconta connection with its login tested and customer sync set up (tag Uniconta)."""
    from ledgerbridge.repositories import tenants
    from tests.integration.test_uniconta import LOGIN

    api = api_for("salon")
    status, created = api.call("POST", "/connections", {"vendor": "uniconta", "name": "Salon"})
    assert status == 201, created
    connection_id = created["connection_id"]
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    status, view = api.call("PUT", f"/connections/{connection_id}/customer-sync",
                            {"tag": "Uniconta", "fields": ["Name", "ContactEmail", "Phone"]})
    assert status == 200, view
    return Shop(api, connection_id, tenants.issue_key("salon"), aws)


def test_push_customers_answers_per_customer(salon, tmp_path):
    def customer(customer_id: str, n: int, tags=("Uniconta",)) -> dict:
        return {"id": customer_id, "tags": list(tags),
                "fields": {"Name": f"Kunde {n}", "ContactEmail": f"k{n}@example.dk", "Phone": f"+45 2000000{n}"}}

    write_json(tmp_path / "customers.json", {"customers": [customer("C0001", 1), customer("C0002", 2, tags=[])]})
    write_json(tmp_path / "more.json", [customer("C0003", 3), customer("K" * 25, 4)])
    pushed = salon.cli("-o", "json", "push", "customers", salon.connection_id, "customers.json", "more.json")
    assert pushed.exit_code == 1, pushed.output
    report = as_json(pushed)
    assert report["counts"] == {"queued": 2, "not_tagged": 1, "refused": 1}
    [refusal] = [r for r in report["results"] if r["outcome"] == "refused"]
    assert refusal["id"] == "K" * 25 and "20" in refusal["reason"]
