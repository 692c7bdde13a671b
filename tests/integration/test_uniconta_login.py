"""Uniconta: the stored login (user, password, API key, company id) and "Test integration", which says
exactly which of the four is wrong as far as Uniconta lets anyone tell (issue 11, step 1)."""
from __future__ import annotations

import json

import pytest

API_KEY = "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13"
LOGIN = {"username": "salon-api", "password": "Sakse-2026!", "api_key": API_KEY, "company_id": "4415"}


def new_connection(api) -> str:
    status, created = api.call("POST", "/connections", {"vendor": "uniconta", "name": "Salon"})
    assert status == 201, created
    return created["connection_id"]


@pytest.fixture
def salon(aws, uniconta, api_for):
    api = api_for("salon")
    return api, new_connection(api)


def test_the_right_login_is_stored_and_tested_with_the_company_and_its_journals(salon, aws, uniconta):
    api, connection_id = salon
    status, result = api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)
    assert status == 200 and result["ok"], result
    assert result["company_name"] == "Salon Sakse ApS" and "4415" in result["message"]
    assert "does not check" in result["message"]  # the API key: only its form could be checked, and it says so
    assert [c["id"] for c in result["choices"]["journal"]] == ["SALG", "DIV"]
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "connected" and connection["vendor_currency"] == "DKK"
    assert json.dumps(LOGIN["password"]) not in json.dumps(connection) and API_KEY not in json.dumps(connection)
    stored = json.loads(aws.client("secretsmanager").get_secret_value(
        SecretId=f"ledgerbridge/test/connections/salon/{connection_id}")["SecretString"])
    assert stored["api_key"] == API_KEY and stored["company_id"] == "4415" and stored["username"] == "salon-api"
    # "Test integration" again: the same verdict; a user of two companies reaches the one it names.
    status, again = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and again["ok"] and again["company_name"] == "Salon Sakse ApS"
    status, result = api.call("PUT", f"/connections/{connection_id}/credential",
                              {"username": "bogholder", "password": "Bog-2026!", "api_key": API_KEY,
                               "company_id": "5120"})
    assert result["ok"] and result["company_name"] == "Frisør Nord ApS"


@pytest.mark.parametrize("change, words", [
    ({"password": "wrong"}, "user name or the password"),
    ({"username": "nobody"}, "user name or the password"),
    ({"company_id": "9999"}, "company id 9999 does not exist in Uniconta, or user salon-api has no access"),
    ({"company_id": "5120"}, "company id 5120"),  # the salon's user may not open the other company
    ({"api_key": "not-a-key"}, "the API key is not a Uniconta API key"),
])
def test_a_wrong_field_is_named_and_the_connection_waits_for_a_fix(salon, uniconta, change, words):
    api, connection_id = salon
    status, result = api.call("PUT", f"/connections/{connection_id}/credential", {**LOGIN, **change})
    assert status == 200 and not result["ok"] and words in result["message"], result
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["status"] == "needs_reauth" and words in connection["status_reason"]
    for secret in ("wrong", "not-a-key"):
        assert secret not in result["message"]  # what was typed is never echoed


def test_missing_fields_are_a_422_naming_them_and_24sevenoffice_still_needs_an_email(salon, aws, api_for):
    api, connection_id = salon
    status, body = api.call("PUT", f"/connections/{connection_id}/credential",
                            {"username": "salon-api", "password": "Sakse-2026!"})
    assert status == 422 and "api_key: required for Uniconta" in body["message"]
    assert "company_id: required for Uniconta" in body["message"]
    status, created = api.call("POST", "/connections", {"vendor": "24sevenoffice", "name": "Regnskap"})
    status, body = api.call("PUT", f"/connections/{created['connection_id']}/credential",
                            {"username": "not-an-email", "password": "x", "company_id": "1"})
    assert status == 422 and "e-mail address" in body["message"] and "company_id: 24SevenOffice does not use it" \
        in body["message"]


def test_what_uniconta_cannot_do_yet_is_refused_not_pretended(salon):
    api, connection_id = salon
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    status, body = api.call("GET", f"/connections/{connection_id}/catalog")
    assert status == 422 and "do not support booking" in body["message"]
