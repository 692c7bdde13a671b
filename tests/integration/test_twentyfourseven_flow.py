"""24SevenOffice end to end through the API handlers and the SQS worker, against the SOAP simulator.

Integration user and "Test integration", company import (re-import, lost and restored access),
per-company setup against each company's own chart, balance refresh (manual and scheduled) with
the entries read, the failures a user can act on, session reuse and renewal, transient failures
retried through SQS, thousands of entries read in bounded chunks, handover and tenant isolation.
Every expectation about balances is computed from the simulator's own ledger.
"""
from __future__ import annotations

import io
import json
import logging
import os
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from conftest import TFSO_PASSWORD, TFSO_USER, Api
from devstack import lambdas, reset_process_caches
from simulators.twentyfourseven.app import TOO_MANY_LOGINS
from simulators.twentyfourseven.state import Fault
from tests.integration.scheduler_helpers import plan_handed_out, schedule
from tests.integration.test_worker_exactly_once import sqs_event
from tests.integration.tfso_helpers import connect_tfso, drain, import_companies

TENANT = "tenant-a"
FJORD, NORDLYS, HAVN = "1100001", "1100002", "1100003"
ORG_NUMBERS = {FJORD: "918273646", NORDLYS: "927364557", HAVN: "936455123"}
NAMES = {FJORD: "Fjordbakeriet AS", NORDLYS: "Nordlys Frisør AS", HAVN: "Havnekafeen AS"}
LAST_YEAR = date.today().year - 1
# A closed month of seed data (vouchers every month of the previous year).
JUNE_FROM, JUNE_TO = date(LAST_YEAR, 6, 1), date(LAST_YEAR, 6, 30)


# --- helpers ------------------------------------------------------------------------------------------

@pytest.fixture
def hub(aws, tfso):
    """Tenant A with a 24SevenOffice connection whose integration user passed "Test integration"."""
    api = Api(TENANT)
    connection_id, result = connect_tfso(api)
    assert result["ok"], result
    return SimpleNamespace(api=api, session=aws, tfso=tfso, cid=connection_id)


@pytest.fixture
def imported(hub):
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "done", run
    return hub


def companies(hub) -> dict[str, dict]:
    status, body = hub.api.call("GET", f"/connections/{hub.cid}/companies")
    assert status == 200, body
    return {c["company_id"]: c for c in body}


def connection(hub) -> dict:
    status, body = hub.api.call("GET", f"/connections/{hub.cid}")
    assert status == 200, body
    return body


def set_up(hub, company_id: str, accounts: list[str]) -> dict:
    status, body = hub.api.call("PUT", f"/connections/{hub.cid}/companies/{company_id}/reconciliation",
                                {"accounts": accounts})
    assert status == 200, body
    assert body["status"] == "ready"
    return body


def start(hub, path: str, body: dict | None = None) -> str:
    status, started = hub.api.call("POST", f"/connections/{hub.cid}{path}", body)
    assert status == 202, started
    return started["run_id"]


def run_doc(hub, run_id: str) -> dict:
    status, run = hub.api.call("GET", f"/connections/{hub.cid}/documents/{run_id}")
    assert status == 200, run
    return run


def refresh(hub, company_id: str | None = None, period_from: date = JUNE_FROM, as_of: date = JUNE_TO) -> dict:
    """Start a refresh (one company or all ready ones), play the worker until the queue is empty."""
    path = f"/companies/{company_id}/refresh" if company_id else "/balance-refresh"
    run_id = start(hub, path, {"period_from": period_from.isoformat(), "as_of": as_of.isoformat()})
    drain(hub.session)
    return run_doc(hub, run_id)


def expected(tfso, company_id: str, account: str, period_from: date, as_of: date) -> dict:
    """What the simulator's ledger says: opening before the period, movement in it, closing at as_of."""
    opening = tfso.balance(int(company_id), int(account), before=period_from)
    closing = tfso.balance(int(company_id), int(account), before=as_of + timedelta(days=1))
    entries = [e for e in tfso.transactions(int(company_id))
               if e.account_no == int(account) and period_from <= e.date <= as_of]
    assert closing - opening == sum((e.amount for e in entries), Decimal("0"))
    return {"opening": opening, "movement": closing - opening, "closing": closing, "entries": len(entries)}


def balances(hub, company_id: str) -> dict[str, dict]:
    """The company's stored balances by account, amounts as Decimal."""
    snapshot = companies(hub)[company_id]["balances"]
    assert snapshot is not None
    return {b["account"]: {"opening": Decimal(str(b["opening"])), "movement": Decimal(str(b["movement"])),
                           "closing": Decimal(str(b["closing"])), "entries": b["entries"]}
            for b in snapshot["accounts"]}


def assert_balances(hub, company_id: str, accounts: list[str], period_from: date = JUNE_FROM,
                    as_of: date = JUNE_TO) -> None:
    stored = balances(hub, company_id)
    assert sorted(stored) == sorted(accounts)
    for account in accounts:
        assert stored[account] == expected(hub.tfso, company_id, account, period_from, as_of), (company_id, account)


def ledger(hub, company_id: str, account: str, limit: int) -> tuple[list[dict], int]:
    """Every entry of the latest refresh through the ledger API, following cursors; and the page count."""
    entries, pages, cursor = [], 0, None
    while True:
        query = {"account": account, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = hub.api.call("GET", f"/connections/{hub.cid}/companies/{company_id}/ledger", query=query)
        assert status == 200, page
        pages += 1
        assert len(page["entries"]) <= limit
        entries += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries, pages
        assert page["entries"], "a page with a cursor after it is never empty"
        assert pages < 1000


def failures(results: list[dict]) -> int:
    return sum(len(r["batchItemFailures"]) for r in results)


def work_one_batch(session) -> tuple[int, dict]:
    """Receive one batch and run it through the real worker handler (as the SQS event source does)."""
    sqs = session.client("sqs")
    queue_url = os.environ["LB_TRANSFER_QUEUE_URL"]
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                   AttributeNames=["All"]).get("Messages", [])
    if not messages:
        return 0, {"batchItemFailures": []}
    result = lambdas.handler("TransferWorkerFunction")(
        sqs_event(messages), lambdas.LocalContext("TransferWorkerFunction", timeout_seconds=120))
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return len(messages), result


def queue_depth(session) -> int:
    attrs = session.client("sqs").get_queue_attributes(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"],
                                                       AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def immediate_retries(monkeypatch) -> None:
    """SQS retries come back at once (backoff capped at 0 s), so a test can play them."""
    from ledgerbridge.settings import reset_settings

    monkeypatch.setenv("LB_BACKOFF_MAX_SECONDS", "0")
    reset_settings()


def no_in_process_sleep(monkeypatch) -> None:
    """VendorHttp's short in-process retries still happen (same count), without sleeping between them."""
    monkeypatch.setattr("ledgerbridge.vendor_http._backoff", lambda attempt, retry_after: 0)


# --- the integration user and "Test integration" ---------------------------------------------------------

def test_test_integration_answers_clearly_and_offers_the_transaction_types(aws, tfso):
    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Regnskap"})
    assert status == 201
    cid = created["connection_id"]
    path = f"/connections/{cid}/credential"

    status, result = api.call("PUT", path, {"username": TFSO_USER, "password": "not-the-password"})
    assert status == 200 and result["ok"] is False
    assert "password" in result["message"] and "24SevenOffice" in result["message"]
    view = api.call("GET", f"/connections/{cid}")[1]
    assert view["status"] == "needs_reauth" and "password" in view["status_reason"]
    # Nothing can run on a refused credential.
    status, body = api.call("POST", f"/connections/{cid}/companies/import")
    assert status == 409 and body["error"] == "not_connected"

    status, result = api.call("PUT", path, {"username": "noaccess@regnskap.example", "password": "noaccess-password"})
    assert status == 200 and result["ok"] is False
    assert "no access" in result["message"] and result["companies"] == 0
    assert api.call("GET", f"/connections/{cid}")[1]["status"] == "needs_reauth"

    status, result = api.call("PUT", path, {"username": TFSO_USER, "password": TFSO_PASSWORD})
    assert status == 200 and result["ok"] is True, result
    assert result["company_name"] == "Fjordbakeriet AS" and result["companies"] == 3
    assert TFSO_USER in result["message"]
    assert result["choices"]["transaction_type"] == [
        {"id": "1", "name": "1 Generelt bilag"}, {"id": "2", "name": "2 Utgående faktura"},
        {"id": "3", "name": "3 Inngående faktura"}, {"id": "4", "name": "4 Bank"}, {"id": "5", "name": "5 Kassesalg"}]
    view = api.call("GET", f"/connections/{cid}")[1]
    assert view["status"] == "connected" and view["status_reason"] is None
    assert view["vendor_company"] == "Fjordbakeriet AS" and view["vendor_currency"] == "NOK"
    assert [c["id"] for c in view["choices"]["transaction_type"]] == ["1", "2", "3", "4", "5"]

    # "Test integration" again (POST /check) answers the same without storing anything new.
    status, again = api.call("POST", f"/connections/{cid}/check")
    assert status == 200 and again["ok"] and again["companies"] == 3

    # The user picks one of the transaction types offered; anything else is refused.
    path = f"/connections/{cid}/vendor-settings"
    status, view = api.call("PUT", path, {"transaction_type": "4"})
    assert status == 200 and view["vendor_settings"] == {"transaction_type": "4"}
    status, body = api.call("PUT", path, {"transaction_type": "99"})
    assert status == 422 and "'99'" in body["message"] and "4 (4 Bank)" in body["message"]
    status, body = api.call("PUT", path, {"vat_type": "1"})
    assert status == 422 and "vat_type" in body["message"]
    assert api.call("GET", f"/connections/{cid}")[1]["vendor_settings"] == {"transaction_type": "4"}, \
        "a refused pick changes nothing"

    # A credential for a vendor that signs in through OAuth is refused, naming the way to connect.
    status, created = api.call("POST", "/connections", {"vendor": "visma_eaccounting", "name": "Shop"})
    status, body = api.call("PUT", f"/connections/{created['connection_id']}/credential",
                            {"username": TFSO_USER, "password": TFSO_PASSWORD})
    assert status == 422 and "/connect" in body["message"]


def test_access_to_the_default_client_going_during_test_integration_is_no_server_error(hub, monkeypatch):
    from ledgerbridge.connectors.twentyfourseven import soap

    real_call = soap.SoapClient.call
    revoked: list[str] = []

    def call(self, service, operation, **arguments):
        result = real_call(self, service, operation, **arguments)
        if operation == "GetIdentities" and revoked:
            hub.tfso.revoke(TFSO_USER, int(revoked.pop()))  # right after the identities were listed
        return result

    monkeypatch.setattr(soap.SoapClient, "call", call)
    revoked.append(FJORD)  # the default client
    status, result = hub.api.call("POST", f"/connections/{hub.cid}/check")
    assert status == 200 and result["ok"] is True, result
    assert result["company_name"] in (NAMES[NORDLYS], NAMES[HAVN])
    assert [c["id"] for c in result["choices"]["transaction_type"]] == ["1", "2", "3", "4", "5"]

    hub.tfso.revoke(TFSO_USER, int(NORDLYS))
    revoked.append(HAVN)  # the last client goes too
    status, result = hub.api.call("POST", f"/connections/{hub.cid}/check")
    assert status == 200 and result["ok"] is False and "no access" in result["message"], result
    assert connection(hub)["status"] == "needs_reauth"


def test_login_limit_is_retried_never_reported_as_a_wrong_password(hub, monkeypatch):
    """24SevenOffice throttles repeated logins: a throttled login is transient, in the API and in runs."""
    from ledgerbridge.credentials import SessionSource

    immediate_retries(monkeypatch)
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "done"
    set_up(hub, FJORD, ["1920"])

    def new_container_and_new_vendor_session():
        SessionSource.forget_all()
        hub.tfso.expire_sessions()

    # Logins 2..5 of the simulator's 5 per minute (login 1 was storing the credential).
    for _ in range(4):
        new_container_and_new_vendor_session()
        assert hub.api.call("POST", f"/connections/{hub.cid}/check")[1]["ok"]
    assert hub.tfso.login_count(TFSO_USER) == 5

    new_container_and_new_vendor_session()
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/check")
    assert status == 503 and body["error"] == "vendor_unavailable", body
    assert "throttled" in body["message"] and TOO_MANY_LOGINS in body["message"]
    assert "password" not in body["message"]
    assert connection(hub)["status"] == "connected", "a throttled login is not a refused credential"

    run_id = start(hub, "/balance-refresh", {"period_from": JUNE_FROM.isoformat(), "as_of": JUNE_TO.isoformat()})
    handled, result = work_one_batch(hub.session)
    assert handled == 1 and len(result["batchItemFailures"]) == 1, "the job goes back to SQS"
    assert run_doc(hub, run_id)["state"] == "running"
    assert connection(hub)["status"] == "connected"
    assert queue_depth(hub.session) == 1

    hub.tfso.advance_clock(61)  # the vendor's login window passes
    handled, result = work_one_batch(hub.session)
    assert handled == 1 and result["batchItemFailures"] == []
    run = run_doc(hub, run_id)
    assert run["state"] == "done", run
    assert_balances(hub, FJORD, ["1920"])
    # The check's and the run's logins refused by the throttle, then the one that worked.
    assert hub.tfso.login_count(TFSO_USER) == 8


def test_password_appears_in_no_response_log_table_or_object(aws, tfso, monkeypatch, capsys, caplog):
    username, password, wrong = "hemmelig@regnskap.example", "Pw-9f3kQ-unik-hemmelighet", "Pw-feil-7xZq-gjett"
    tfso.add_user(username, password)
    tfso.grant(username, int(FJORD), default=True)
    tfso.grant(username, int(NORDLYS))

    # Every handler's logger exists before its output is captured.
    lambdas.handler("ManagementApiFunction")
    lambdas.handler("TransferWorkerFunction")
    stream = io.StringIO()
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = f"{record.getMessage()} {record.__dict__!r}"
            if record.exc_info:
                text += logging.Formatter().formatException(record.exc_info)
            records.append(text)

    collect = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if type(handler) is logging.StreamHandler:  # Powertools' JSON handler: what CloudWatch gets
                monkeypatch.setattr(handler, "stream", stream)
        lg.addHandler(collect)
    caplog.set_level(logging.INFO)
    responses: list[str] = []

    class RecordingApi(Api):
        def call(self, *args, **kwargs):
            result = super().call(*args, **kwargs)
            responses.append(json.dumps(result, default=str))
            return result

    try:
        api = RecordingApi(TENANT)
        status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Hemmelig"})
        cid = created["connection_id"]
        hub = SimpleNamespace(api=api, session=aws, tfso=tfso, cid=cid)
        assert api.call("PUT", f"/connections/{cid}/credential", {"username": username, "password": wrong})[1][
            "ok"] is False
        status, body = api.call("PUT", f"/connections/{cid}/credential", {"username": "no-at-sign", "password": wrong})
        assert status == 422
        assert api.call("PUT", f"/connections/{cid}/credential", {"username": username, "password": password})[1]["ok"]
        assert import_companies(api, aws, cid)["state"] == "done"
        set_up(hub, FJORD, ["1920"])
        assert refresh(hub)["state"] == "done"
        tfso.change_password(username, "nytt-passord-etter-bytte")
        run = refresh(hub)
        assert run["state"] == "failed" and "password" in run["reason"]
        api.call("GET", f"/connections/{cid}")
        api.call("GET", f"/connections/{cid}/documents")
        api.call("GET", f"/connections/{cid}/companies")
    finally:
        for lg in loggers:
            lg.removeHandler(collect)

    captured = capsys.readouterr()
    logs = stream.getvalue() + "\n".join(records) + captured.out + captured.err + caplog.text
    assert "run finished" in logs and "run failed" in logs, "the logs were captured"
    stored = []
    for key, value in os.environ.items():
        if key.startswith("LB_") and key.endswith("_TABLE"):
            stored += aws.client("dynamodb").scan(TableName=value)["Items"]
    bucket = os.environ["LB_ATTACHMENTS_BUCKET"]
    s3 = aws.client("s3")
    objects = [s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
               for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert objects, "the entries read were stored"
    everything = {"responses": "\n".join(responses), "logs": logs, "tables": json.dumps(stored, default=str),
                  "objects": "\n".join(objects)}
    for where, text in everything.items():
        assert password not in text, f"the password leaked into {where}"
        assert wrong not in text, f"the wrong password leaked into {where}"


# --- company import -------------------------------------------------------------------------------------

def test_import_brings_every_accessible_company_not_set_up(hub):
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["kind"] == "company_import" and run["state"] == "done" and run["reason"] is None
    assert run["summary"] == {"companies": 3, "not_set_up": 3, "ready": 0, "access_lost": 0, "new": 3}
    found = companies(hub)
    assert sorted(found) == [FJORD, NORDLYS, HAVN]
    for company_id, company in found.items():
        assert company["name"] == NAMES[company_id]
        assert company["organisation_number"] == ORG_NUMBERS[company_id]
        assert company["currency"] == "NOK"
        assert company["status"] == "not_set_up" and company["accounts"] == [] and company["balances"] is None
    status, one = hub.api.call("GET", f"/connections/{hub.cid}/companies/{HAVN}")
    assert status == 200 and one["name"] == "Havnekafeen AS"
    assert hub.api.call("GET", f"/connections/{hub.cid}/companies/999")[0] == 404
    status, log = hub.api.call("GET", f"/connections/{hub.cid}/documents")
    assert [(d["document_id"], d["kind"], d["state"]) for d in log["documents"]] == [
        (run["document_id"], "company_import", "done")]


def test_reimport_adds_new_companies_keeps_setups_and_never_duplicates(imported):
    hub = imported
    set_up(hub, FJORD, ["1920", "1500"])
    new_id = hub.tfso.add_client("Kaiholmen Sykkel AS", "912345674")
    hub.tfso.grant(TFSO_USER, new_id)

    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "done", run
    assert run["summary"] == {"companies": 4, "not_set_up": 3, "ready": 1, "access_lost": 0, "new": 1}
    found = companies(hub)
    assert sorted(found) == sorted([FJORD, NORDLYS, HAVN, str(new_id)])
    assert found[str(new_id)]["status"] == "not_set_up"
    assert found[str(new_id)]["organisation_number"] == "912345674"
    assert found[FJORD]["status"] == "ready"
    assert [a["account"] for a in found[FJORD]["accounts"]] == ["1920", "1500"]

    # Once more, unchanged: nothing new, nothing lost, nothing duplicated.
    hub.tfso.reset_counts()
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["summary"] == {"companies": 4, "not_set_up": 3, "ready": 1, "access_lost": 0, "new": 0}
    assert companies(hub) .keys() == found.keys()
    assert hub.tfso.request_counts().get("GetClientInformation", 0) == 0, "known companies are not described again"


def test_lost_access_is_marked_with_a_reason_and_restored_with_its_setup(imported):
    hub = imported
    set_up(hub, NORDLYS, ["1920"])
    hub.tfso.revoke(TFSO_USER, int(NORDLYS))  # the identity removed ...
    hub.tfso.disable_identity(TFSO_USER, int(HAVN))  # ... or disabled

    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "failed"
    assert "2 of 3 companies need attention" in run["reason"] and "no longer has access" in run["reason"]
    for company_id in (NORDLYS, HAVN):
        assert run["outcomes"][company_id]["state"] == "access_lost"
        assert run["outcomes"][company_id]["company"] == NAMES[company_id]
        assert "no longer has access" in run["outcomes"][company_id]["reason"]
    found = companies(hub)
    assert len(found) == 3
    assert found[NORDLYS]["status"] == found[HAVN]["status"] == "access_lost"
    assert "give it access again" in found[NORDLYS]["status_reason"]
    assert [a["account"] for a in found[NORDLYS]["accounts"]] == ["1920"], "the setup is kept"
    assert found[FJORD]["status"] == "not_set_up"
    status, body = hub.api.call("PUT", f"/connections/{hub.cid}/companies/{NORDLYS}/reconciliation",
                                {"accounts": ["1920"]})
    assert status == 409
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/companies/{NORDLYS}/refresh", {})
    assert status == 422 and "access_lost" in body["message"]

    hub.tfso.grant(TFSO_USER, int(NORDLYS))
    hub.tfso.disable_identity(TFSO_USER, int(HAVN), disabled=False)
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "done" and run["outcomes"] == {}, run
    assert run["summary"] == {"companies": 3, "not_set_up": 2, "ready": 1, "access_lost": 0, "new": 0}
    found = companies(hub)
    assert found[NORDLYS]["status"] == "ready" and found[NORDLYS]["status_reason"] is None
    assert found[HAVN]["status"] == "not_set_up" and found[HAVN]["status_reason"] is None
    assert refresh(hub, NORDLYS)["state"] == "done"
    assert_balances(hub, NORDLYS, ["1920"])


# --- setup ----------------------------------------------------------------------------------------------

def test_setup_checks_accounts_against_each_company_own_chart(imported):
    hub = imported
    path = f"/connections/{hub.cid}/companies/{{}}/reconciliation"
    assert connection(hub)["next_run_at"] is None, "nothing to schedule before a company is set up"

    status, body = hub.api.call("PUT", path.format(FJORD), {"accounts": ["1920", "9999"]})
    assert status == 422 and "9999" in body["message"] and "Fjordbakeriet AS" in body["message"]
    assert body["details"] == [{"account": "9999", "message": "account 9999 does not exist in Fjordbakeriet AS"}]
    status, body = hub.api.call("PUT", path.format(HAVN), {"accounts": ["1510"]})
    assert status == 422 and "1510" in body["message"] and "Havnekafeen AS" in body["message"]
    assert companies(hub)[HAVN]["status"] == "not_set_up", "a refused setup changes nothing"
    status, body = hub.api.call("PUT", path.format(FJORD), {"accounts": ["1930"]})
    assert status == 422 and "1930" in body["message"]
    status, body = hub.api.call("PUT", path.format(FJORD), {"accounts": ["1920", "1920"]})
    assert status == 422 and "1920" in body["message"]
    status, body = hub.api.call("PUT", path.format(FJORD), {"accounts": []})
    assert status == 422
    assert hub.api.call("PUT", path.format("4242"), {"accounts": ["1920"]})[0] == 404

    fjord = set_up(hub, FJORD, ["1510", "1920"])
    assert fjord["accounts"] == [{"account": "1510", "name": "Andre kundefordringer"},
                                 {"account": "1920", "name": "Bankinnskudd"}]
    havn = set_up(hub, HAVN, ["1930"])
    assert havn["accounts"] == [{"account": "1930", "name": "Bankinnskudd skattetrekk"}]
    assert connection(hub)["next_run_at"] is not None, "a set-up company puts the connection on the schedule"
    # Choosing again replaces the accounts and keeps the company ready.
    assert set_up(hub, FJORD, ["1500"])["accounts"] == [{"account": "1500", "name": "Kundefordringer"}]


# --- balance refresh ------------------------------------------------------------------------------------

def test_refresh_reads_balances_and_entries_as_the_ledger_has_them_for_its_tenant_only(imported):
    hub = imported
    status, body = hub.api.call("GET", f"/connections/{hub.cid}/companies/{FJORD}/ledger", query={"account": "1920"})
    assert status == 404, "no balances before a refresh"
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/companies/{FJORD}/refresh", {})
    assert status == 422 and "not_set_up" in body["message"]
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/balance-refresh", {})
    assert status == 422 and "no company is set up" in body["message"]
    set_up(hub, FJORD, ["1920", "1500", "3010"])
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/companies/{FJORD}/refresh",
                                {"period_from": "2025-02-01", "as_of": "2025-01-31"})
    assert status == 422 and "period_from" in body["message"]
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/companies/{FJORD}/refresh",
                                {"period_from": "2023-01-01", "as_of": "2024-06-30"})
    assert status == 422 and "one year" in body["message"]

    client = int(FJORD)
    hub.tfso.add_voucher(client, JUNE_FROM - timedelta(days=1), [(1920, Decimal("1000.00"), "før perioden"),
                                                                 (3000, Decimal("-1000.00"), "før perioden")])
    hub.tfso.add_voucher(client, JUNE_FROM, [(1920, Decimal("250.50"), "første dag"),
                                             (3000, Decimal("-250.50"), "første dag")])
    hub.tfso.add_voucher(client, JUNE_TO, [(1920, Decimal("-99.99"), "siste dag"),
                                           (6800, Decimal("99.99"), "siste dag")])
    hub.tfso.add_voucher(client, JUNE_TO + timedelta(days=1), [(1920, Decimal("7777.00"), "etter perioden"),
                                                               (3000, Decimal("-7777.00"), "etter perioden")])
    run = refresh(hub, FJORD)
    assert run["kind"] == "balance_refresh" and run["state"] == "done" and run["reason"] is None, run
    assert run["business_date"] == JUNE_TO.isoformat()
    expected_1920 = expected(hub.tfso, FJORD, "1920", JUNE_FROM, JUNE_TO)
    assert expected_1920["entries"] >= 4, "the seed's June entries plus the two added in the period"
    assert_balances(hub, FJORD, ["1920", "1500", "3010"])
    assert run["outcomes"][FJORD]["state"] == "ok"
    total = sum(expected(hub.tfso, FJORD, a, JUNE_FROM, JUNE_TO)["entries"] for a in ("1920", "1500", "3010"))
    assert run["outcomes"][FJORD]["entries"] == str(total)
    assert run["summary"] == {"companies": 1, "ok": 1, "failed": 0, "entries": total}
    snapshot = companies(hub)[FJORD]["balances"]
    assert (snapshot["period_from"], snapshot["as_of"], snapshot["run_id"]) == (
        JUNE_FROM.isoformat(), JUNE_TO.isoformat(), run["document_id"])
    assert [a["name"] for a in snapshot["accounts"]][:1] == ["Bankinnskudd"]

    entries, pages = ledger(hub, FJORD, "1920", limit=2)
    assert len(entries) == expected_1920["entries"] and pages >= 2
    days = [e["entry_date"] for e in entries]
    assert days == sorted(days) and days[0] >= JUNE_FROM.isoformat() and days[-1] <= JUNE_TO.isoformat()
    assert sum(Decimal(str(e["amount"])) for e in entries) == expected_1920["movement"]
    assert {"første dag", "siste dag"} <= {e["text"] for e in entries}
    vendor = sorted((e.date.isoformat(), e.amount, str(e.transaction_no)) for e in hub.tfso.transactions(client)
                    if e.account_no == 1920 and JUNE_FROM <= e.date <= JUNE_TO)
    assert sorted((e["entry_date"], Decimal(str(e["amount"])), e["voucher_number"]) for e in entries) == vendor
    # One page with everything equals the pages put together.
    assert ledger(hub, FJORD, "1920", limit=1000) == (entries, 1)
    # 3010 has no entries in June (food sales are booked in odd months): an empty, final page.
    assert expected(hub.tfso, FJORD, "3010", JUNE_FROM, JUNE_TO)["entries"] == 0
    assert ledger(hub, FJORD, "3010", limit=10) == ([], 1)

    query = {"account": "1920", "cursor": "not-a-cursor"}
    assert hub.api.call("GET", f"/connections/{hub.cid}/companies/{FJORD}/ledger", query=query)[0] == 422
    status, body = hub.api.call("GET", f"/connections/{hub.cid}/companies/{FJORD}/ledger", query={"account": "2400"})
    assert status == 404 and "2400" in body["message"]

    # Refreshed again: one GetTransactions call for the company (accounts 1500..3010 and the period
    # in one search; the rows of accounts between them not chosen are dropped), with the same result.
    hub.tfso.reset_counts()
    again = refresh(hub, FJORD)
    assert again["state"] == "done" and again["outcomes"][FJORD]["entries"] == str(total)
    assert hub.tfso.request_counts()["GetTransactions"] == 1
    assert_balances(hub, FJORD, ["1920", "1500", "3010"])
    run = again

    # Another tenant can neither see nor touch any of it.
    other = Api("tenant-b")
    base = f"/connections/{hub.cid}"
    for method, path, body, query in [
        ("GET", f"{base}/companies", None, None),
        ("GET", f"{base}/companies/{FJORD}", None, None),
        ("GET", f"{base}/companies/{FJORD}/ledger", None, {"account": "1920"}),
        ("PUT", f"{base}/companies/{FJORD}/reconciliation", {"accounts": ["1500"]}, None),
        ("POST", f"{base}/companies/{FJORD}/refresh", {}, None),
        ("POST", f"{base}/balance-refresh", {}, None),
        ("POST", f"{base}/companies/import", None, None),
        ("PUT", f"{base}/credential", {"username": TFSO_USER, "password": TFSO_PASSWORD}, None),
        ("PUT", f"{base}/vendor-settings", {"transaction_type": "1"}, None),
        ("GET", f"{base}/documents/{run['document_id']}", None, None),
    ]:
        status, answer = other.call(method, path, body, query=query)
        assert status == 404, (method, path, answer)
    assert other.call("GET", "/connections") == (200, [])
    assert [a["account"] for a in companies(hub)[FJORD]["accounts"]] == ["1920", "1500", "3010"]
    assert connection(hub)["status"] == "connected"
    assert ledger(hub, FJORD, "1920", limit=1000) == (entries, 1)


def test_scheduled_refresh_starts_one_run_per_due_time(imported, monkeypatch):
    from ledgerbridge.services import scheduling

    hub = imported
    set_up(hub, FJORD, ["1920"])
    set_up(hub, HAVN, ["1920", "1930"])
    status, view = hub.api.call("PUT", f"/connections/{hub.cid}/schedule", {"frequency": "daily", "run_at_hour": 4})
    assert status == 200 and view["next_run_at"], view
    due_at = datetime.fromisoformat(view["next_run_at"].replace("Z", "+00:00"))
    now = due_at + timedelta(minutes=1)
    assert schedule(hub.session, due_at - timedelta(minutes=1))["connections"] == 0, "not due yet"

    # The first scheduler invocation dies after handing the connection out, before advancing it ...
    real_advance = scheduling.connection_store.advance_due

    def crash(*args, **kwargs):
        raise RuntimeError("scheduler invocation died")

    monkeypatch.setattr(scheduling.connection_store, "advance_due", crash)
    with pytest.raises(RuntimeError):
        scheduling.run_due(now)
    monkeypatch.setattr(scheduling.connection_store, "advance_due", real_advance)
    # ... so EventBridge's retry sees the same due time and hands it out again ...
    assert scheduling.run_due(now) == {"connections": 1, "advanced": 1}
    assert scheduling.run_due(now) == {"connections": 0, "advanced": 0}, "planned on: nothing due any more"
    # ... and the workers plan it once: one run, one job.
    assert plan_handed_out(hub.session) == {"planned": 2, "jobs": 1}
    assert queue_depth(hub.session) == 1
    runs_logged = [d for d in hub.api.call("GET", f"/connections/{hub.cid}/documents")[1]["documents"]
                   if d["kind"] == "balance_refresh"]
    assert len(runs_logged) == 1 and runs_logged[0]["document_id"].endswith("-scheduled")

    drain(hub.session)
    run = run_doc(hub, runs_logged[0]["document_id"])
    assert run["state"] == "done" and sorted(run["outcomes"]) == [FJORD, HAVN], run
    snapshot = companies(hub)[FJORD]["balances"]
    as_of = date.fromisoformat(snapshot["as_of"])
    local_due = due_at.astimezone(ZoneInfo("Europe/Oslo")).date()
    assert as_of == local_due - timedelta(days=1), "a scheduled run reads up to the last closed day"
    assert date.fromisoformat(snapshot["period_from"]) == as_of.replace(day=1)
    assert_balances(hub, FJORD, ["1920"], as_of.replace(day=1), as_of)
    assert_balances(hub, HAVN, ["1920", "1930"], as_of.replace(day=1), as_of)
    assert companies(hub)[NORDLYS]["balances"] is None, "a company not set up is not read"

    # The next due time starts the next run.
    next_due = datetime.fromisoformat(connection(hub)["next_run_at"].replace("Z", "+00:00"))
    assert next_due > due_at
    assert schedule(hub.session, next_due + timedelta(minutes=1))["jobs"] == 1


# --- failures a user can act on ------------------------------------------------------------------------

def test_an_account_gone_from_the_chart_fails_that_company_only(imported):
    hub = imported
    set_up(hub, FJORD, ["1920", "1500"])
    set_up(hub, NORDLYS, ["1920"])
    assert refresh(hub)["state"] == "done"
    hub.tfso.remove_account(int(FJORD), 1500)

    run = refresh(hub)
    assert run["state"] == "failed"
    fjord = run["outcomes"][FJORD]
    assert fjord["state"] == "failed"
    assert "1500 no longer exists in the chart of accounts of Fjordbakeriet AS" in fjord["reason"]
    assert run["outcomes"][NORDLYS]["state"] == "ok"
    assert "1 of 2 companies need attention" in run["reason"] and "1500" in run["reason"]
    assert run["summary"]["ok"] == 1 and run["summary"]["failed"] == 1
    found = companies(hub)
    assert "1500" in found[FJORD]["last_error"] and found[FJORD]["status"] == "ready"
    assert found[NORDLYS]["last_error"] is None
    assert_balances(hub, NORDLYS, ["1920"])
    # Choosing the accounts again clears the error and the next refresh is clean.
    set_up(hub, FJORD, ["1920"])
    assert companies(hub)[FJORD]["last_error"] is None
    assert refresh(hub)["state"] == "done"


def test_a_changed_password_fails_the_run_and_asks_for_the_new_one(imported):
    hub = imported
    set_up(hub, FJORD, ["1920"])
    set_up(hub, NORDLYS, ["1920"])
    assert refresh(hub)["state"] == "done"
    hub.tfso.change_password(TFSO_USER, "nytt-passord")

    run = refresh(hub)
    assert run["state"] == "failed" and "password" in run["reason"], run
    view = connection(hub)
    assert view["status"] == "needs_reauth" and "password" in view["status_reason"]
    found = companies(hub)
    assert sorted(found) == [FJORD, NORDLYS, HAVN], "the companies stay"
    assert found[FJORD]["status"] == found[NORDLYS]["status"] == "ready"
    status, body = hub.api.call("POST", f"/connections/{hub.cid}/balance-refresh", {})
    assert status == 409 and "password" in body["message"]

    status, result = hub.api.call("PUT", f"/connections/{hub.cid}/credential",
                                  {"username": TFSO_USER, "password": "nytt-passord"})
    assert status == 200 and result["ok"]
    assert connection(hub)["status"] == "connected"
    assert refresh(hub)["state"] == "done"
    assert_balances(hub, NORDLYS, ["1920"])

    # Changed again, and noticed while choosing accounts: the same clear answer.
    hub.tfso.change_password(TFSO_USER, "tredje-passord")
    status, body = hub.api.call("PUT", f"/connections/{hub.cid}/companies/{HAVN}/reconciliation",
                                {"accounts": ["1920"]})
    assert status == 409 and body["error"] == "not_connected" and "password" in body["message"]
    assert connection(hub)["status"] == "needs_reauth"
    assert companies(hub)[HAVN]["status"] == "not_set_up"


def test_access_removed_after_setup_or_during_the_read_is_that_company_outcome(imported, monkeypatch):
    """Access can go before the refresh, or between selecting a client and reading it: the company
    ends access_lost and the run goes on with the next one (not a failed run leaving the rest unread)."""
    from ledgerbridge.connectors.twentyfourseven import soap

    hub = imported
    for company_id in (FJORD, NORDLYS, HAVN):
        set_up(hub, company_id, ["1920"])
    hub.tfso.revoke(TFSO_USER, int(NORDLYS))
    havn_identity = hub.tfso.identity_id(TFSO_USER, int(HAVN))
    real_call = soap.SoapClient.call

    def call(self, service, operation, **arguments):
        result = real_call(self, service, operation, **arguments)
        if operation == "SetIdentityById" and arguments.get("identityId") == havn_identity:
            hub.tfso.revoke(TFSO_USER, int(HAVN))  # right after Havnekafeen was selected
        return result

    monkeypatch.setattr(soap.SoapClient, "call", call)
    run = refresh(hub)  # companies go in name order: Fjordbakeriet, Havnekafeen, Nordlys
    assert run["state"] == "failed"
    for company_id in (NORDLYS, HAVN):
        assert run["outcomes"][company_id]["state"] == "access_lost", run
        assert "no longer has access" in run["outcomes"][company_id]["reason"]
    assert run["outcomes"][FJORD]["state"] == "ok"
    assert "2 of 3 companies need attention" in run["reason"]
    found = companies(hub)
    assert found[NORDLYS]["status"] == found[HAVN]["status"] == "access_lost"
    assert found[NORDLYS]["balances"] is None and found[HAVN]["balances"] is None
    assert connection(hub)["status"] == "connected", "one client's access is not the whole credential"
    assert_balances(hub, FJORD, ["1920"])
    # The next refresh leaves those companies out until access is back.
    run = refresh(hub)
    assert run["state"] == "done" and sorted(run["outcomes"]) == [FJORD]


# --- sessions -------------------------------------------------------------------------------------------

def test_runs_reuse_one_session_and_log_in_again_only_when_it_is_gone(imported):
    from ledgerbridge.credentials import SessionSource

    hub = imported
    set_up(hub, FJORD, ["1920"])
    set_up(hub, NORDLYS, ["1920", "1500"])
    for _ in range(3):
        assert refresh(hub)["state"] == "done"
    assert hub.tfso.login_count(TFSO_USER) == 1, "storing the credential was the only login"

    # The session this (warm) container trusts died at the vendor: log in once, don't stall.
    hub.tfso.expire_sessions()
    assert refresh(hub)["state"] == "done"
    assert hub.tfso.login_count(TFSO_USER) == 2
    assert_balances(hub, NORDLYS, ["1920", "1500"])

    # A new container reuses the stored session after proving it alive.
    SessionSource.forget_all()
    reset_process_caches()
    hub.tfso.reset_counts()
    assert refresh(hub)["state"] == "done"
    assert hub.tfso.login_count(TFSO_USER) == 2
    assert hub.tfso.request_counts()["HasSession"] == 1

    # The vendor ended the session: the next container logs in exactly once, and stores it.
    hub.tfso.expire_sessions()
    SessionSource.forget_all()
    reset_process_caches()
    assert refresh(hub)["state"] == "done"
    assert hub.tfso.login_count(TFSO_USER) == 3
    assert refresh(hub)["state"] == "done"
    assert import_companies(hub.api, hub.session, hub.cid)["state"] == "done"
    assert hub.tfso.login_count(TFSO_USER) == 3
    assert_balances(hub, FJORD, ["1920"])


def test_session_expiring_mid_run_is_renewed_and_the_identity_selected_again(imported):
    hub = imported
    set_up(hub, FJORD, ["1920"])
    hub.tfso.reset_counts()
    assert refresh(hub, FJORD)["state"] == "done"
    fjord_reads = hub.tfso.request_counts()["GetTransactions"]
    set_up(hub, NORDLYS, ["1920"])
    # Companies go in name order: Fjordbakeriet's reads pass, the session ends at Nordlys' first read.
    # A new session starts at the user's default identity (Fjordbakeriet): unless Nordlys is selected
    # again, the rest of the run would read Fjordbakeriet's ledger as Nordlys'.
    hub.tfso.add_fault(Fault(kind="latency", operation="GetTransactions", times=fjord_reads))
    hub.tfso.add_fault(Fault(kind="session_expired", operation="GetTransactions", times=1))
    hub.tfso.add_voucher(int(NORDLYS), date(LAST_YEAR, 6, 15), [(1920, Decimal("12345.67"), "bare Nordlys"),
                                                                (3000, Decimal("-12345.67"), "bare Nordlys")])
    run = refresh(hub)
    assert run["state"] == "done", run
    assert not hub.tfso.state.faults, "the session did expire mid-run"
    assert hub.tfso.login_count(TFSO_USER) == 2
    assert_balances(hub, FJORD, ["1920"])
    assert_balances(hub, NORDLYS, ["1920"])
    entries, _ = ledger(hub, NORDLYS, "1920", limit=1000)
    assert "bare Nordlys" in {e["text"] for e in entries}
    fjord_entries, _ = ledger(hub, FJORD, "1920", limit=1000)
    assert "bare Nordlys" not in {e["text"] for e in fjord_entries}


# --- transient failures ---------------------------------------------------------------------------------

def test_transient_http_errors_retry_through_sqs_and_give_up_only_on_the_final_attempt(imported, monkeypatch):
    hub = imported
    no_in_process_sleep(monkeypatch)
    for company_id in (FJORD, NORDLYS, HAVN):
        set_up(hub, company_id, ["1920"])
    hub.tfso.reset_counts()
    # GetAggregated answers once, then twice 503 (the first company's closing check, then its retry).
    hub.tfso.add_fault(Fault(kind="latency", operation="GetAggregated", times=1))
    hub.tfso.add_fault(Fault(kind="http_status", operation="GetAggregated", status=503, times=2))
    run_id = start(hub, "/balance-refresh", {"period_from": JUNE_FROM.isoformat(), "as_of": JUNE_TO.isoformat()})
    results = drain(hub.session)
    run = run_doc(hub, run_id)
    # No in-process retry on 24SevenOffice (a timed-out call may still run on the session): each
    # 503 is one trip back to SQS.
    assert failures(results) == 2, "two trips back to SQS"
    assert run["state"] == "done" and run["attempts"] == 1, run
    assert sorted(run["outcomes"]) == [FJORD, NORDLYS, HAVN]
    assert all(o["state"] == "ok" for o in run["outcomes"].values())
    # First company: opening read, closing check refused (2); retried: opening refused (3); retried:
    # both (5); then 2 for each of the others (9). Each company's balances were stored once.
    assert hub.tfso.request_counts()["GetAggregated"] == 9
    for company_id in (FJORD, NORDLYS, HAVN):
        assert_balances(hub, company_id, ["1920"])

    # Down for longer than SQS retries: the final attempt ends the run with the reason.
    hub.tfso.add_fault(Fault(kind="http_status", operation="GetAggregated", status=503, times=None))
    run_id = start(hub, f"/companies/{FJORD}/refresh", {"period_from": JUNE_FROM.isoformat(),
                                                         "as_of": JUNE_TO.isoformat()})
    results = drain(hub.session)
    run = run_doc(hub, run_id)
    # The company is given up after MAX_COMPANY_ATTEMPTS reads (so it cannot hold up the others);
    # the run ends failed with the reason, before SQS's own attempts run out.
    from ledgerbridge.services.runs import MAX_COMPANY_ATTEMPTS

    assert failures(results) == MAX_COMPANY_ATTEMPTS
    assert run["state"] == "failed", run
    assert f"could not be read in {MAX_COMPANY_ATTEMPTS} attempts" in run["reason"] and "503" in run["reason"]
    assert queue_depth(hub.session) == 0
    assert connection(hub)["status"] == "connected"
    assert companies(hub)[FJORD]["status"] == "ready"
    hub.tfso.clear_faults()
    assert refresh(hub, FJORD)["state"] == "done"


# --- volume, handover --------------------------------------------------------------------------------

def test_thousands_of_entries_are_read_in_bounded_chunks(imported, monkeypatch):
    from ledgerbridge.connectors.twentyfourseven.connector import CHUNK_ENTRIES

    hub = imported
    # The simulator renders the whole answer before its first byte: on a busy machine that can take
    # longer than the suite's 2 s vendor timeout (a ReadTimeout, then a wait for the session lease).
    monkeypatch.setenv("LB_VENDOR_TIMEOUT_SECONDS", "15")
    reset_process_caches()
    month_from, month_to = date(LAST_YEAR, 3, 1), date(LAST_YEAR, 3, 31)
    hub.tfso.generate_transactions(int(NORDLYS), 1920, 3000, 5000, month_from, month_to, seed=7)
    set_up(hub, NORDLYS, ["1920"])
    hub.tfso.reset_counts()

    run = refresh(hub, NORDLYS, period_from=month_from, as_of=month_to)
    assert run["state"] == "done", run
    want = expected(hub.tfso, NORDLYS, "1920", month_from, month_to)
    assert want["entries"] > 5000
    assert_balances(hub, NORDLYS, ["1920"], month_from, month_to)
    sizes = hub.tfso.state.transaction_page_sizes
    assert sizes == [want["entries"]], "one call for the month, every entry read exactly once"
    # The answer is parsed as it arrives and stored chunk by chunk (S3 parts of at most CHUNK_ENTRIES).
    status, company = hub.api.call("GET", f"/connections/{hub.cid}/companies/{NORDLYS}")
    assert status == 200
    assert company["balances"]["accounts"][0]["parts"] == -(-want["entries"] // CHUNK_ENTRIES)

    entries, pages = ledger(hub, NORDLYS, "1920", limit=700)
    assert len(entries) == want["entries"] and pages == -(-want["entries"] // 700)
    assert [e["entry_date"] for e in entries] == sorted(e["entry_date"] for e in entries)
    assert len({e["voucher_number"] for e in entries}) == len(entries)
    assert sum(Decimal(str(e["amount"])) for e in entries) == want["movement"]
    assert ledger(hub, NORDLYS, "1920", limit=1000)[0] == entries


def test_a_run_hands_over_when_time_runs_short_and_ends_with_every_company_once(hub, monkeypatch):
    import time

    from ledgerbridge.services import runs

    # The real check: hand over once less than the margin is left of the invocation.
    now_ms = int(time.time() * 1000)
    assert runs._Run(None, None, None, deadline_ms=now_ms + runs.HANDOVER_MARGIN_MS + 60_000).time_left()
    assert not runs._Run(None, None, None, deadline_ms=now_ms + runs.HANDOVER_MARGIN_MS - 60_000).time_left()

    # Not every client has an organisation number; this one sorts first, so every invocation meets it.
    orgless = hub.tfso.add_client("Aalesund Fotoklubb", "912345674")
    with hub.tfso.state.lock:
        hub.tfso.state.client(orgless).organization_number = ""
    hub.tfso.grant(TFSO_USER, orgless)

    def one_company_per_invocation(self) -> bool:
        first = not getattr(self, "_went", False)
        self._went = True
        return first

    results: list[str] = []
    real_execute = runs.execute

    def execute(job, **kwargs):
        outcome = real_execute(job, **kwargs)
        results.append(outcome["outcome"])
        return outcome

    monkeypatch.setattr(runs._Run, "time_left", one_company_per_invocation)
    monkeypatch.setattr(runs, "execute", execute)
    hub.tfso.reset_counts()
    run = import_companies(hub.api, hub.session, hub.cid)
    assert results == ["handed_over"] * 3 + ["done"]
    assert run["state"] == "done" and run["summary"]["companies"] == 4, run
    assert hub.tfso.request_counts()["GetClientInformation"] == 4, "each company described once"
    found = companies(hub)
    assert found[str(orgless)]["organisation_number"] is None and found[str(orgless)]["currency"] == "NOK"
    assert all(found[c]["organisation_number"] == ORG_NUMBERS[c] for c in (FJORD, NORDLYS, HAVN))
    hub.tfso.reset_counts()
    results.clear()
    assert import_companies(hub.api, hub.session, hub.cid)["state"] == "done"
    assert results == ["done"] and hub.tfso.request_counts().get("GetClientInformation", 0) == 0, \
        "a re-import does not describe known companies again"

    for company_id in (FJORD, NORDLYS, HAVN):
        set_up(hub, company_id, ["1920"])
    results.clear()
    hub.tfso.reset_counts()
    run = refresh(hub)
    assert results == ["handed_over", "handed_over", "done"]
    assert run["state"] == "done" and sorted(run["outcomes"]) == [FJORD, NORDLYS, HAVN]
    assert run["summary"] == {"companies": 3, "ok": 3, "failed": 0, "entries": run["summary"]["entries"]}
    assert hub.tfso.request_counts()["GetAggregated"] == 6, "each company read once (opening and closing)"
    for company_id in (FJORD, NORDLYS, HAVN):
        assert_balances(hub, company_id, ["1920"])
    log = [d for d in hub.api.call("GET", f"/connections/{hub.cid}/documents")[1]["documents"]
           if d["kind"] == "balance_refresh"]
    assert len(log) == 1, "one run in the export log however many invocations it took"


# --- proofs and guards added after review -----------------------------------------------------------------

def test_balances_that_do_not_add_up_to_the_vendors_are_never_stored(imported, monkeypatch):
    """The closing balance is proven against 24SevenOffice's own aggregate after as_of: an entry the
    reader missed (here: dropped on purpose) fails that company with both figures, nothing stored."""
    from ledgerbridge.connectors.twentyfourseven import connector as tfso_connector

    hub = imported
    set_up(hub, FJORD, ["1920"])
    set_up(hub, NORDLYS, ["1920"])
    real = tfso_connector._entry
    dropped = []

    def lose_one_fjord_entry(account, row):
        entry = real(account, row)
        if not dropped and entry.amount != 0:
            dropped.append(entry)
            return entry.model_copy(update={"entry_date": date(1900, 1, 1)})  # outside every window
        return entry

    monkeypatch.setattr(tfso_connector, "_entry", lose_one_fjord_entry)
    run = refresh(hub)
    assert dropped, "the test must have hidden an entry"
    assert run["state"] == "failed", run
    outcome = run["outcomes"][FJORD]
    assert outcome["state"] == "failed" and "do not agree" in outcome["reason"] and "nothing was stored" in outcome["reason"]
    assert "account 1920" in outcome["reason"]
    assert run["outcomes"][NORDLYS]["state"] == "ok", "the other company is read as usual"
    assert companies(hub)[FJORD]["balances"] is None, "no unproven balance is shown"

    monkeypatch.setattr(tfso_connector, "_entry", real)
    assert refresh(hub)["state"] == "done"
    assert_balances(hub, FJORD, ["1920"])


def test_an_import_that_finds_no_client_at_all_changes_nothing(imported):
    hub = imported
    set_up(hub, FJORD, ["1920"])
    for company_id in (FJORD, NORDLYS, HAVN):
        hub.tfso.revoke(TFSO_USER, int(company_id))
    run = import_companies(hub.api, hub.session, hub.cid)
    assert run["state"] == "failed" and "reaches no client companies" in run["reason"], run
    assert "nothing was changed" in run["reason"]
    found = companies(hub)
    assert found[FJORD]["status"] == "ready" and found[NORDLYS]["status"] == "not_set_up"


def test_a_refresh_takes_up_a_company_whose_access_came_back(imported):
    hub = imported
    set_up(hub, FJORD, ["1920"])
    set_up(hub, NORDLYS, ["1920"])
    hub.tfso.revoke(TFSO_USER, int(NORDLYS))
    run = refresh(hub)
    assert run["outcomes"][NORDLYS]["state"] == "access_lost"
    assert companies(hub)[NORDLYS]["status"] == "access_lost"

    hub.tfso.grant(TFSO_USER, int(NORDLYS))  # a new identity id for the same client
    run = refresh(hub)
    assert run["state"] == "done" and run["outcomes"][NORDLYS]["state"] == "ok", run
    assert companies(hub)[NORDLYS]["status"] == "ready"
    assert_balances(hub, NORDLYS, ["1920"])


def test_the_scheduler_ends_a_run_whose_job_was_lost(imported, monkeypatch):
    """A run whose message is gone (dead-lettered without a final attempt) would show "running"
    forever: the scheduler's next run for the connection ends it with a reason."""
    from ledgerbridge.services import runs

    hub = imported
    set_up(hub, FJORD, ["1920"])
    lost_run = start(hub, "/balance-refresh", {})
    hub.session.client("sqs").purge_queue(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"])  # the job is lost
    status, view = hub.api.call("PUT", f"/connections/{hub.cid}/schedule", {"frequency": "daily", "run_at_hour": 4})
    due_at = datetime.fromisoformat(view["next_run_at"].replace("Z", "+00:00"))

    schedule(hub.session, due_at + timedelta(minutes=1))
    assert run_doc(hub, lost_run)["state"] == "running", "a run heard from within the last hours is left alone"

    monkeypatch.setattr(runs, "STALE_RUN_AFTER", timedelta(0))  # ... and now it has been silent for too long
    next_due = datetime.fromisoformat(connection(hub)["next_run_at"].replace("Z", "+00:00"))
    drain(hub.session)  # the first scheduled run, before the sweep could take it for lost
    schedule(hub.session, next_due + timedelta(minutes=1))
    run = run_doc(hub, lost_run)
    assert run["state"] == "failed" and "stopped without finishing" in run["reason"], run
    drain(hub.session)
    scheduled = [d for d in hub.api.call("GET", f"/connections/{hub.cid}/documents")[1]["documents"]
                 if d["document_id"].endswith("-scheduled")]
    assert len(scheduled) == 2 and all(d["state"] == "done" for d in scheduled), scheduled
