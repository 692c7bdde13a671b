"""Bad input never gives a 5xx (issue 7, items 5-8), through the real handlers with moto.

Each test names the input that used to answer 502 (an exception escaping the handler) or that was
accepted and then did harm, and asserts the 4xx with a reason that names the field.
"""
from __future__ import annotations

import base64
import json
from datetime import date, timedelta

import pytest
from werkzeug.test import Client

from conftest import TFSO_PASSWORD, TFSO_USER, Api, api_event, connect
from devstack import lambdas, samples
from devstack.gateway import LocalGateway
from ledgerbridge.models.common import utcnow
from tests.integration.tfso_helpers import connect_tfso

TENANT = "tenant-a"
DAY = date(2026, 11, 10)
DEEP = "[" * 1000 + "]" * 1000


def log(api, connection_id: str, **query) -> list[dict]:
    status, page = api.call("GET", f"/connections/{connection_id}/documents", query=query or None)
    assert status == 200, page
    return page["documents"]


@pytest.fixture
def hub(aws, visma, tfso):
    """Tenant A with a connected Visma connection and a 24SevenOffice one whose user passed the test."""
    api = Api(TENANT)
    visma_id = connect(api, schedule={"frequency": "daily", "lookback_days": 30})
    status, body = api.call("PUT", f"/connections/{visma_id}/account-setup", samples.account_setup())
    assert status == 200, body
    tfso_id, result = connect_tfso(api)
    assert result["ok"], result
    return api, visma_id, tfso_id


def write_operations(visma_id: str, tfso_id: str) -> list[tuple[str, str]]:
    """The nine operations that take a JSON body."""
    return [
        ("POST", "/connections"),
        ("PUT", f"/connections/{visma_id}/schedule"),
        ("PUT", f"/connections/{visma_id}/account-setup"),
        ("PUT", f"/connections/{tfso_id}/credential"),
        ("PUT", f"/connections/{tfso_id}/vendor-settings"),
        ("PUT", f"/connections/{tfso_id}/companies/1100001/reconciliation"),
        ("POST", f"/connections/{tfso_id}/companies/1100001/refresh"),
        ("POST", f"/connections/{tfso_id}/balance-refresh"),
        ("POST", f"/connections/{visma_id}/settlements"),
    ]


# --- item 5: JSON nested 1,000 deep ------------------------------------------------------------------

def test_json_nested_1000_deep_is_a_clear_400_on_every_write(hub):
    api, visma_id, tfso_id = hub
    for method, path in write_operations(visma_id, tfso_id):
        for raw in (DEEP, '{"a":' * 1000 + "1" + "}" * 1000):
            status, body = api.call(method, path, raw_body=raw)
            assert status == 400, (method, path, status, body)
            assert body["details"] == [{"field": "(body)", "type": "json_invalid",
                                        "message": "malformed JSON: nested deeper than 32 levels"}], body


def test_a_deeply_nested_settlement_is_logged_as_rejected(hub):
    api, visma_id, _ = hub
    status, body = api.call("POST", f"/connections/{visma_id}/settlements", raw_body=DEEP)
    assert status == 400 and "nested deeper" in body["message"]
    rejected = log(api, visma_id, state="rejected")
    assert len(rejected) == 1 and "nested deeper than 32 levels" in rejected[0]["reason"]


def test_malformed_json_says_why_and_where(hub):
    api, visma_id, _ = hub
    status, body = api.call("PUT", f"/connections/{visma_id}/schedule", raw_body='{"lookback_days": 3,}')
    assert status == 400
    assert body["details"][0]["message"].startswith("malformed JSON: Expecting property name"), body


@pytest.mark.parametrize("raw, reason", [
    ('{"vendor": "visma_eaccounting", "name": "Bakeri \ufffd"}', "not UTF-8"),
    ('{"vendor": "visma_eaccounting", "name": "\\ud800"}', "unpaired surrogate"),
    ('{"vendor": "visma_eaccounting", "name": "x", "schedule": {"lookback_days": NaN}}', "NaN"),
])
def test_json_that_is_no_usable_text_is_400(hub, raw, reason):
    api = hub[0]
    status, body = api.call("POST", "/connections", raw_body=raw)
    assert status == 400 and reason in body["message"], body


# --- item 6: content types -------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [
    "multipart/form-data",  # no boundary: a ValueError inside Powertools' validation, HTTP 502
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/xml",
])
def test_a_body_that_is_not_declared_json_is_415_on_every_write(hub, content_type):
    api, visma_id, tfso_id = hub
    raw = json.dumps(samples.settlement(DAY, 1))
    for method, path in write_operations(visma_id, tfso_id):
        status, body = api.call(method, path, raw_body=raw, headers={"Content-Type": content_type})
        assert status == 415, (method, path, content_type, status, body)
        assert body["error"] == "unsupported_media_type"
        assert body["message"] == (f"the body must be JSON (Content-Type: application/json), "
                                   f"not {content_type.split(';')[0]}"), body


def test_a_settlement_sent_as_a_form_is_415_and_logged(hub):
    api, visma_id, _ = hub
    status, body = api.call("POST", f"/connections/{visma_id}/settlements", samples.settlement(DAY, 1),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    rejected = log(api, visma_id, state="rejected")
    assert rejected[0]["document_id"] == "Z-1-2026-11-10-1" and "must be JSON" in rejected[0]["reason"]


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json; charset=utf-8"},
                                     {"Content-Type": "Application/JSON"},
                                     {"Content-Type": "application/vnd.ledgerbridge+json"},
                                     {"Content-Type": ""}])
def test_json_content_types_and_a_missing_one_are_read_as_json(hub, headers):
    api, visma_id, _ = hub
    status, body = api.call("POST", f"/connections/{visma_id}/settlements", samples.settlement(DAY, 1),
                            headers=headers)
    assert status == 201, body


def test_no_content_type_header_at_all_is_read_as_json(aws):
    event = api_event("POST", "/connections", tenant=TENANT, body={"vendor": "visma_eaccounting", "name": "Shop"})
    del event["headers"]["Content-Type"]
    result = lambdas.invoke("ManagementApiFunction", event)
    assert result["statusCode"] == 201, result


def test_operations_without_a_body_ignore_whatever_is_sent(hub):
    api, visma_id, _ = hub
    for headers in ({"Content-Type": "multipart/form-data"}, {"Content-Type": "text/plain"}):
        status, body = api.call("GET", f"/connections/{visma_id}", raw_body="\x00 not json", headers=headers)
        assert status == 200, body
        status, body = api.call("POST", f"/connections/{visma_id}/transfers", raw_body="x", headers=headers)
        assert status == 202, body


# --- bodies that are not UTF-8 (item 9's gateway fix, and what the handlers answer) ---------------------

def test_the_local_gateway_passes_non_utf8_bytes_as_api_gateway_does_and_the_handlers_refuse_them(aws):
    from ledgerbridge.repositories import tenants

    key = tenants.issue_key(TENANT)
    client = Client(LocalGateway(stage="test"))
    raw = '{"vendor": "visma_eaccounting", "name": "Bakeri Æøå"}'.encode("latin-1")  # not UTF-8
    response = client.post("/connections", data=raw, headers={"Authorization": f"Bearer {key}",
                                                               "Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "not UTF-8" in response.get_json()["message"]
    # What the function was handed: text with U+FFFD for each byte that is not UTF-8, not base64
    # (template.yaml sets no BinaryMediaTypes, so every body is a text payload).
    gateway = LocalGateway(stage="test")
    assert gateway.binary_media_types == []
    body, is_base64 = gateway.integration_body(raw, "application/json")
    assert (body, is_base64) == ('{"vendor": "visma_eaccounting", "name": "Bakeri \ufffd\ufffd\ufffd"}', False)
    assert gateway.integration_body(b"\x00\xff", "application/octet-stream") == ("\x00\ufffd", False)
    gateway.binary_media_types = ["image/*", "application/octet-stream"]  # as if the API declared some
    assert gateway.integration_body(b"\x00\xff", "image/png") == ("AP8=", True)
    assert gateway.integration_body(b"\x00\xff", "Application/Octet-Stream; x=y") == ("AP8=", True)
    assert gateway.integration_body(b"{}", "application/json") == ("{}", False)


def test_a_base64_body_that_is_not_utf8_is_400(hub):
    """As API Gateway would send it if binaryMediaTypes matched the request's Content-Type."""
    api, visma_id, _ = hub
    for raw in (base64.b64encode(b'{"name": "\xff"}').decode(), "%%% not base64"):
        event = api_event("POST", f"/connections/{visma_id}/settlements", tenant=TENANT, raw_body=raw,
                          path_params={"connection_id": visma_id})
        event["isBase64Encoded"] = True
        result = lambdas.invoke("IngestFunction", event)
        assert result["statusCode"] == 400, result
        assert "not UTF-8" in json.loads(result["body"])["message"]


# --- item 7: an integration user's password with a control character ------------------------------------

@pytest.mark.parametrize("password", ["integration-password\x01", "integration-password\n", "\tintegration-password",
                                      "integration\x00password"])
def test_a_password_with_a_control_character_is_refused_at_the_door_and_not_stored(aws, tfso, password):
    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Regnskap"})
    connection_id = created["connection_id"]
    status, body = api.call("PUT", f"/connections/{connection_id}/credential",
                            {"username": TFSO_USER, "password": password})
    assert status == 422, body
    assert body["details"] == [{"field": "password", "message": (
        "password contains a control character (a line break or tab pasted with it?); "
        "type or paste it again without it")}]
    assert "integration" not in json.dumps(body).replace(TFSO_USER, "")  # never the password itself
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "created" and connection["status_reason"] is None  # nothing stored
    assert tfso.login_count(TFSO_USER) == 0


def test_a_username_with_a_control_character_is_refused_naming_the_username(aws, tfso):
    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Regnskap"})
    status, body = api.call("PUT", f"/connections/{created['connection_id']}/credential",
                            {"username": "integration\x01@regnskap.example", "password": TFSO_PASSWORD})
    assert status == 422 and body["details"][0]["field"] == "username", body


def test_a_stored_password_24sevenoffice_cannot_receive_ends_in_a_reason_and_a_good_one_fixes_it(hub, tfso):
    """Stored before the door refused it (or written by other means): every check used to answer 502 while
    the connection stayed "being tested"."""
    from ledgerbridge.credentials import store_password
    from ledgerbridge.services import connections

    api, _, tfso_id = hub
    store_password(TENANT, tfso_id, TFSO_USER, TFSO_PASSWORD + "\x01")
    connections.mark_needs_reauth(TENANT, tfso_id, connections.BEING_TESTED, new_credential=True)
    status, body = api.call("POST", f"/connections/{tfso_id}/check")
    assert status == 200 and body["ok"] is False, body
    assert "control character" in body["message"] and "store the integration user again" in body["message"]
    status, connection = api.call("GET", f"/connections/{tfso_id}")
    assert connection["status"] == "needs_reauth" and connection["status_reason"] == body["message"]
    assert "\x01" not in json.dumps(body) and TFSO_PASSWORD not in json.dumps(body)

    status, body = api.call("PUT", f"/connections/{tfso_id}/credential",
                            {"username": TFSO_USER, "password": TFSO_PASSWORD})
    assert status == 200 and body["ok"] is True, body
    status, connection = api.call("GET", f"/connections/{tfso_id}")
    assert connection["status"] == "connected" and connection["status_reason"] is None


def test_an_unexpected_error_while_testing_a_new_credential_never_leaves_it_being_tested(aws, tfso, monkeypatch):
    from ledgerbridge.connectors.twentyfourseven.connector import TwentyFourSevenConnector

    api = Api(TENANT)
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Regnskap"})
    connection_id = created["connection_id"]
    original = TwentyFourSevenConnector.check

    def broken(self):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(TwentyFourSevenConnector, "check", broken)
    with pytest.raises(RuntimeError):  # a fault of ours stays visible (a 502 behind API Gateway)...
        api.call("PUT", f"/connections/{connection_id}/credential", {"username": TFSO_USER, "password": TFSO_PASSWORD})
    status, connection = api.call("GET", f"/connections/{connection_id}")
    # ...but the connection says what to do, not "being tested".
    assert connection["status"] == "needs_reauth", connection
    assert connection["status_reason"].startswith("testing the integration user failed unexpectedly (RuntimeError)")
    assert f"POST /connections/{connection_id}/check" in connection["status_reason"]

    monkeypatch.setattr(TwentyFourSevenConnector, "check", original)
    status, body = api.call("PUT", f"/connections/{connection_id}/credential",
                            {"username": TFSO_USER, "password": TFSO_PASSWORD})
    assert status == 200 and body["ok"] is True, body


def test_a_check_that_fails_on_a_connection_left_being_tested_replaces_the_reason(aws, tfso, monkeypatch):
    from ledgerbridge.connectors.twentyfourseven.connector import TwentyFourSevenConnector
    from ledgerbridge.errors import PermanentVendorError
    from ledgerbridge.services import connections

    api = Api(TENANT)
    connection_id, _ = connect_tfso(api)
    connections.mark_needs_reauth(TENANT, connection_id, connections.BEING_TESTED)  # e.g. a Lambda timed out

    def refused(self):
        raise PermanentVendorError("24SevenOffice refused the request: bad value")

    monkeypatch.setattr(TwentyFourSevenConnector, "check", refused)
    status, body = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 422, body
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status_reason"] == ("the integration user could not be tested (24SevenOffice refused the "
                                           "request: bad value); store it again")


def test_a_failed_check_on_a_connection_left_being_tested_gives_the_vendors_reason(aws, tfso, monkeypatch):
    from ledgerbridge.connectors.base import ConnectionCheck
    from ledgerbridge.connectors.twentyfourseven.connector import TwentyFourSevenConnector
    from ledgerbridge.services import connections

    api = Api(TENANT)
    connection_id, _ = connect_tfso(api)
    connections.mark_needs_reauth(TENANT, connection_id, connections.BEING_TESTED)
    monkeypatch.setattr(TwentyFourSevenConnector, "check",
                        lambda self: ConnectionCheck(ok=False, message="no access to any client", companies=0))
    status, body = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and body["ok"] is False
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status_reason"] == "no access to any client", connection


# --- item 8: dates and document ids ---------------------------------------------------------------------

@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_business_dates_far_out_are_refused_with_the_bounds(hub, day):
    api, visma_id, _ = hub
    body = samples.settlement(DAY, 1)
    body["business_date"] = day
    status, result = api.call("POST", f"/connections/{visma_id}/settlements", body)
    assert status == 422, result
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    assert result["details"] == [{"field": "business_date", "message": (
        f"{day} is out of range: use a date from 2000-01-01 to {tomorrow} "
        f"(tomorrow in UTC; send the day the register was closed)")}], result


def test_tomorrow_in_utc_is_accepted(hub):
    api, visma_id, _ = hub
    tomorrow = utcnow().date() + timedelta(days=1)
    status, doc = api.call("POST", f"/connections/{visma_id}/settlements", samples.settlement(tomorrow, 1))
    assert status == 201 and doc["business_date"] == tomorrow.isoformat(), doc


@pytest.mark.parametrize("document_id", ["../Z-1", "Z-1/2026-11-10", "Z..1"])
def test_a_document_id_that_cannot_be_read_back_by_id_is_refused(hub, document_id):
    api, visma_id, _ = hub
    body = samples.settlement(DAY, 1)
    body["document_id"] = document_id
    status, result = api.call("POST", f"/connections/{visma_id}/settlements", body)
    assert status == 422, result
    assert result["details"][0]["field"] == "document_id"
    assert "'/'" in result["message"] or "'..'" in result["message"], result


@pytest.mark.parametrize("from_date", ["0001-01-01", "9999-12-31"])
def test_a_from_date_far_out_is_refused_and_transfer_now_keeps_working(hub, from_date):
    api, visma_id, _ = hub
    status, body = api.call("PUT", f"/connections/{visma_id}/schedule", {"frequency": "daily", "from_date": from_date})
    assert status == 422 and body["details"][0]["field"] == "from_date", body
    assert "2000-01-01" in body["message"]
    status, body = api.call("POST", f"/connections/{visma_id}/transfers")
    assert status == 202, body


@pytest.mark.parametrize("field, day", [("as_of", "9999-12-31"), ("as_of", "0001-01-01"),
                                        ("period_from", "0001-01-01")])
def test_balance_refresh_dates_far_out_are_refused(hub, field, day):
    api, _, tfso_id = hub
    for path in (f"/connections/{tfso_id}/balance-refresh", f"/connections/{tfso_id}/companies/1100001/refresh"):
        status, body = api.call("POST", path, {field: day})
        assert status == 422 and body["details"][0]["field"] == field, body
        assert "2000-01-01" in body["message"]


@pytest.mark.parametrize("query", [{"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "1999-12-31"}])
def test_export_log_date_filters_are_bounded(hub, query):
    api, visma_id, _ = hub
    status, body = api.call("GET", f"/connections/{visma_id}/documents", query=query)
    assert status == 422, body
    assert body["details"][0]["field"] == f"query.{next(iter(query))}"


def test_an_export_log_window_that_ends_before_it_starts_is_refused(hub):
    """DynamoDB refuses BETWEEN with a lower bound above the upper one (a 500 in AWS; moto does not mind)."""
    api, visma_id, _ = hub
    status, body = api.call("GET", f"/connections/{visma_id}/documents", query={"from": "2026-02-01", "to": "2026-01-01"})
    assert status == 422 and body["message"] == "from 2026-02-01 is after to 2026-01-01; swap them", body


def test_catalog_date_is_bounded(hub):
    api, visma_id, _ = hub
    status, body = api.call("GET", f"/connections/{visma_id}/catalog", query={"date": "0001-01-01"})
    assert status == 422 and body["details"][0]["field"] == "query.date", body
    status, body = api.call("GET", f"/connections/{visma_id}/catalog", query={"date": DAY.isoformat()})
    assert status == 200, body


def test_a_forged_cursor_dynamodb_refuses_is_422_not_a_500(hub, monkeypatch):
    """A cursor of the right shape whose start key DynamoDB refuses (empty key value, or outside the
    query's range: ValidationException in AWS; moto does not check, so it is played here)."""
    from botocore.exceptions import ClientError

    from ledgerbridge.repositories import documents

    api, visma_id, _ = hub
    real = documents.ddb

    class RefusingStartKeys:
        def __getattr__(self, name):
            return getattr(real(), name)

        def query(self, **kwargs):
            if "ExclusiveStartKey" in kwargs:
                raise ClientError({"Error": {"Code": "ValidationException", "Message": "The provided starting "
                                             "key is invalid"}}, "Query")
            return real().query(**kwargs)

    monkeypatch.setattr(documents, "ddb", RefusingStartKeys)
    pk = documents.partition(TENANT, visma_id)
    cursor = base64.urlsafe_b64encode(json.dumps({"pk": {"S": pk}, "sk": {"S": ""}, "date_key": {"S": ""}}).encode())
    status, body = api.call("GET", f"/connections/{visma_id}/documents", query={"cursor": cursor.decode()})
    assert status == 422 and body["message"].startswith("invalid cursor"), body
    status, body = api.call("GET", f"/connections/{visma_id}/documents")
    assert status == 200, body


def test_an_id_in_the_path_longer_than_any_id_is_refused_before_dynamodb(hub):
    """DynamoDB refuses key values past 1,024 bytes with an error (moto does not check)."""
    api, visma_id, _ = hub
    long_id = "c" * 129
    for method, path in [("GET", f"/connections/{long_id}"), ("DELETE", f"/connections/{long_id}"),
                         ("GET", f"/connections/{visma_id}/documents/{long_id}"),
                         ("POST", f"/connections/{long_id}/settlements")]:
        status, body = api.call(method, path, samples.settlement(DAY, 1) if path.endswith("settlements") else None)
        assert status == 422, (method, path, body)
        assert "at most 128 characters" in body["message"], body
