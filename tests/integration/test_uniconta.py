"""Uniconta: the stored login (user, password, API key, company id) and "Test integration", which says
exactly which of the four is wrong as far as Uniconta lets anyone tell; the account setup against the
chart and VAT codes; a day's sales as one batch of lines in the picked daily journal, VAT split by
Uniconta and brought to the Z-report's to the cent, exactly once (issue 11, steps 1 and 6)."""
from __future__ import annotations

import json
from decimal import Decimal

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


# --- the day's sales into the journal ---------------------------------------------------------------

def salon_day(day: str, n: int = 1, *, extra_items: int = 0) -> dict:
    """A salon's Z-report in DKK: treatments and products at 25 %, card, cash and MobilePay."""
    sales = [{"category": "Behandlinger", "vat_rate": "25", "net": "3200.00", "vat": "800.00", "gross": "4000.00"},
             {"category": "Produkter", "vat_rate": "25", "net": "396.00", "vat": "99.00", "gross": "495.00"}]
    # Items the POS rounds one by one: 9.99 gross, 2.00 VAT each (Uniconta's split of their sum differs).
    sales += [{"category": "Produkter", "vat_rate": "25", "net": "7.99", "vat": "2.00", "gross": "9.99"}] * extra_items
    gross = sum(Decimal(line["gross"]) for line in sales)
    net = sum(Decimal(line["net"]) for line in sales)
    return {"document_id": f"Z-{day}-{n}", "business_date": day, "currency": "DKK", "register_id": "1",
            "sales": sales, "payments": [{"method": "Kort", "amount": str(gross - Decimal("600.00"))},
                                         {"method": "Kontant", "amount": "400.00"},
                                         {"method": "MobilePay", "amount": "200.00"}],
            "cash_rounding": "0", "totals": {"net": str(net), "vat": str(gross - net), "gross": str(gross)}}


SALON_SETUP = {"rows": [
    {"kind": "sales", "key": "Behandlinger", "vat_rate": "25", "account": "1010", "vat_code": "U25"},
    {"kind": "sales", "key": "Produkter", "vat_rate": "25", "account": "1020", "vat_code": "U25"},
    {"kind": "vat", "key": "25", "account": "6900"},
    {"kind": "payment", "key": "Kort", "account": "5820"}, {"kind": "payment", "key": "Kontant", "account": "5800"},
    {"kind": "payment", "key": "MobilePay", "account": "5830"}, {"kind": "rounding", "account": "3600"}]}


@pytest.fixture
def booking_salon(salon):
    api, connection_id = salon
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    status, body = api.call("PUT", f"/connections/{connection_id}/vendor-settings", {"journal": "SALG"})
    assert status == 200, body
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", SALON_SETUP)
    assert status == 200, body
    return api, connection_id


def journal_lines(uniconta, journal: str = "SALG") -> list[dict]:
    import httpx

    return httpx.get(f"{uniconta.base_url}/_sim/companies/4415/journals/{journal}/lines").json()


def test_the_account_setup_is_checked_against_the_chart_and_vat_codes(salon):
    api, connection_id = salon
    assert api.call("PUT", f"/connections/{connection_id}/credential", LOGIN)[1]["ok"]
    wrong = {"rows": [*SALON_SETUP["rows"][:1],
                      {"kind": "sales", "key": "Produkter", "vat_rate": "25", "account": "1099", "vat_code": "U25"},
                      {"kind": "payment", "key": "Kort", "account": "9999"},
                      {"kind": "payment", "key": "Kontant", "account": "5801"},
                      {"kind": "sales", "key": "Gavekort", "vat_rate": "25", "account": "1030", "vat_code": "U0"},
                      {"kind": "rounding", "account": "3600"}]}
    status, body = api.call("PUT", f"/connections/{connection_id}/account-setup", wrong)
    assert status == 422, body
    problems = {d["row"]: d["message"] for d in body["details"]}
    assert "1099 is inactive in the chart of accounts" in problems["sales:Produkter@25"]  # a Sum account
    assert "9999 is inactive" in problems["payment:Kort"]  # blocked
    assert "5801 does not exist in the chart of accounts" in problems["payment:Kontant"]
    assert "U0 is 0%" in problems["sales:Gavekort@25"]


def test_a_day_of_sales_is_one_batch_of_journal_lines_with_vat_codes_balanced_to_the_cent(booking_salon, aws,
                                                                                        uniconta):
    from tests.integration.test_worker_exactly_once import QueueDriver

    api, connection_id = booking_salon
    day = salon_day("2026-11-20", extra_items=3)
    assert api.call("POST", f"/connections/{connection_id}/settlements", day)[0] == 201
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    QueueDriver(aws).run()
    status, document = api.call("GET", f"/connections/{connection_id}/documents/{day['document_id']}")
    assert document["state"] == "booked", document
    lines = journal_lines(uniconta)
    assert all(f"[{document['reference']}]" in line["Text"] for line in lines)
    debit = sum(Decimal(str(line.get("Debit") or 0)) for line in lines)
    credit = sum(Decimal(str(line.get("Credit") or 0)) for line in lines)
    assert debit == credit
    by_account = {}
    for line in lines:
        by_account.setdefault((line["Account"], line.get("Vat")), Decimal(0))
        by_account[(line["Account"], line.get("Vat"))] += Decimal(str(line.get("Credit") or 0)) - Decimal(
            str(line.get("Debit") or 0))
    assert by_account[("1010", "U25")] == Decimal("4000.00")  # gross: Uniconta splits the VAT itself
    # Products: 495.00 + 3 × 9.99 = 524.97 gross; Uniconta's 25 % split gives 104.99 VAT, the POS said 105.00:
    # the cent moves from revenue to VAT so both end as the Z-report says.
    assert by_account[("1020", "U25")] == Decimal("524.97")
    assert by_account[("6900", None)] == Decimal("0.01") and by_account[("1020", None)] == Decimal("-0.01")
    # The bookkeeper posts the journal: revenue and VAT land exactly as on the Z-report.
    import httpx

    posted = httpx.post(f"{uniconta.base_url}/_sim/companies/4415/journals/SALG/post")
    assert posted.status_code == 200, posted.text
    ledger = httpx.get(f"{uniconta.base_url}/_sim/companies/4415/ledger").json()
    total = {}
    for entry in ledger if isinstance(ledger, list) else ledger.get("transactions", []):
        total[entry["Account"]] = total.get(entry["Account"], Decimal(0)) + Decimal(str(entry["Amount"]))
    assert total["6900"] == Decimal("-905.00")  # 800.00 + 99.00 + 3 × 2.00, as on the Z-report
    assert total["1010"] == Decimal("-3200.00") and total["1020"] == Decimal("-419.97")


def test_an_unanswered_insert_is_found_in_the_journal_or_among_posted_lines_never_inserted_twice(
        booking_salon, aws, uniconta):
    import httpx

    from simulators.uniconta import Fault
    from tests.integration.test_worker_exactly_once import QueueDriver

    api, connection_id = booking_salon
    days = [salon_day(f"2026-11-{d}", d) for d in (17, 18, 19)]
    for day in days:
        assert api.call("POST", f"/connections/{connection_id}/settlements", day)[0] == 201
    uniconta.add_fault(Fault(kind="timeout_after_commit", method="POST", path_prefix="/api/Entities/InsertList",
                             times=1, delay_s=3))
    uniconta.add_fault(Fault(kind="status_after_commit", method="POST", path_prefix="/api/Entities/InsertList",
                             times=1, status=502))
    uniconta.add_fault(Fault(kind="status", method="GET", path_prefix="/odata", times=1, status=503))
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    driver = QueueDriver(aws)
    driver.duplicate_everything()
    driver.run(max_seconds=180)
    for day in days:
        status, document = api.call("GET", f"/connections/{connection_id}/documents/{day['document_id']}")
        assert document["state"] == "booked", document
    lines = journal_lines(uniconta)
    references = {line["Text"].rsplit("[", 1)[1] for line in lines}
    assert len(references) == 3 and len(lines) == 3 * 5  # three days, five lines each (2 sales, 3 payments), once
    # Lines the bookkeeper posted meanwhile are found among the posted transactions, not inserted again.
    assert httpx.post(f"{uniconta.base_url}/_sim/companies/4415/journals/SALG/post").status_code == 200
    assert journal_lines(uniconta) == []
    from ledgerbridge.connectors import registry
    from ledgerbridge.repositories import connections as connection_store
    from ledgerbridge.services.booking import _read_document
    from ledgerbridge.repositories import documents as document_store

    connection = connection_store.get("salon", connection_id)
    record = document_store.latest("salon", connection_id, days[0]["document_id"])
    voucher = _read_document(record).vouchers(connection, record.reference)[0]
    found = registry.connector_for(connection).find_booking(voucher)
    assert found is not None and found.vendor_document_id.startswith("posted:")
    other = voucher.model_copy(update={"reference": "LB-0000000000000000"})
    assert registry.connector_for(connection).find_booking(other) is None


def test_the_hub_keeps_to_its_share_of_the_daily_call_budget_and_books_the_rest_after_midnight(
        booking_salon, aws, uniconta, monkeypatch):
    from ledgerbridge.vendor_budget import CallBudget

    api, connection_id = booking_salon
    status, connection = api.call("GET", f"/connections/{connection_id}")
    usage = connection["vendor_usage"]
    assert usage["budget"] == 5000 and usage["hub_share"] == 4000 and usage["calls"] >= 4  # check + catalog so far
    # The salon's user has spent the hub's share today (other connections of the same user count too).
    from ledgerbridge.oauth.providers import provider

    CallBudget(provider("uniconta"), "salon-api").spend(4000 - usage["calls"])
    assert api.call("POST", f"/connections/{connection_id}/settlements", salon_day("2026-11-20"))[0] == 201
    calls_before = uniconta.state.usage_of("salon-api").calls
    assert api.call("POST", f"/connections/{connection_id}/transfers")[0] == 202
    import os

    sqs = aws.client("sqs")
    messages = sqs.receive_message(QueueUrl=os.environ["LB_TRANSFER_QUEUE_URL"], MaxNumberOfMessages=10,
                                   AttributeNames=["All"]).get("Messages", [])
    from devstack import lambdas
    from tests.integration.test_worker_exactly_once import sqs_event

    result = lambdas.handler("TransferWorkerFunction")(sqs_event(messages),
                                                       lambdas.LocalContext("TransferWorkerFunction", 60))
    assert result["batchItemFailures"] == []  # a wait, not a failure: the job goes on as a delayed message
    status, document = api.call("GET", f"/connections/{connection_id}/documents/Z-2026-11-20-1")
    assert document["state"] == "waiting" and "daily call budget" in document["reason"]
    assert "after midnight (Europe/Copenhagen)" in document["reason"] and document["retry_not_before"]
    assert uniconta.state.usage_of("salon-api").calls == calls_before  # not one call past the share
    assert journal_lines(uniconta) == []
    status, connection = api.call("GET", f"/connections/{connection_id}")
    assert connection["vendor_usage"]["calls"] == 4000
