"""Tests of the Uniconta simulator, driven over HTTP with httpx like a real client.

Modification-URL deliveries are received by a tiny HTTP server started in the test, so what is asserted is what
Uniconta would really send over the wire.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # project root, for `import simulators`

from simulators.uniconta import Fault, SimulatorConfig, UnicontaSimulator  # noqa: E402
from simulators.uniconta.jsonio import from_json, to_json  # noqa: E402

SALON, OTHER = 4415, 5120
USER, PASSWORD = "salon-api", "Sakse-2026!"
BOOKKEEPER, BOOKKEEPER_PASSWORD = "bogholder", "Bog-2026!"
SALON_LOGIN = (f"00{SALON}/{USER}", PASSWORD)

SIM = httpx.Client(timeout=5)     # for /_sim calls (no auth)


# ---------------------------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def make_sim():
    started: list[UnicontaSimulator] = []

    def factory(**config) -> UnicontaSimulator:
        simulator = UnicontaSimulator(SimulatorConfig(**config))
        simulator.start()
        started.append(simulator)
        return simulator

    yield factory
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_sim):
    return make_sim()


@pytest.fixture
def api(sim):
    with client(sim) as http:
        yield http


def client(sim: UnicontaSimulator, auth: tuple[str, str] = SALON_LOGIN) -> httpx.Client:
    return httpx.Client(base_url=sim.base_url, auth=auth, timeout=5, headers={"Accept": "application/json"})


def send(http: httpx.Client, method: str, url: str, body) -> httpx.Response:
    """Writes with Decimals as exact JSON numbers (the way a careful client does it)."""
    return http.request(method, url, content=to_json(body), headers={"Content-Type": "application/json"})


def debtor(account: str, name: str = "Mette Hansen", **fields) -> dict:
    return {"Account": account, "Name": name, "Group": "Privat", **fields}


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body["ErrorCode"], str) and isinstance(body["Message"], str), body
    return body


def sim_post(sim: UnicontaSimulator, path: str, body: dict | None = None) -> httpx.Response:
    return SIM.post(f"{sim.base_url}/_sim{path}", content=to_json(body or {}))


def deliveries(sim: UnicontaSimulator) -> list[dict]:
    answer = SIM.get(f"{sim.base_url}/_sim/deliveries", params={"wait": "1", "timeout": "10"}).json()
    assert answer["idle"] and answer["pending"] == 0, answer
    return answer["deliveries"]


def lines(journal: str, rows: list[tuple], day: str = "2026-11-26") -> list[dict]:
    """Journal lines from (account, debit, credit[, vat]) with exact Decimals."""
    result = []
    for row in rows:
        account, debit, credit = row[:3]
        line = {"Journal": journal, "Date": day, "Account": account, "Text": f"Salg {day}",
                "Debit": Decimal(debit), "Credit": Decimal(credit)}
        if len(row) > 3:
            line["Vat"] = row[3]
        result.append(line)
    return result


# A day of salon sales, amounts including VAT: card 1000.00 + MobilePay 250.00 + cash 125.00 = 1375.00
DAY_OF_SALES = [("5820", "1000.00", "0"), ("5830", "250.00", "0"), ("5800", "125.00", "0"),
                ("1010", "0", "1125.00", "U25"), ("1020", "0", "250.00", "U25")]


class Receiver:
    """A tiny HTTP server standing in for the hub's modification-URL receiver; records every call."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.status = 200
        self.delay_s = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with receiver.lock:
                    receiver.calls.append({"method": self.command, "path": parts.path, "raw_query": parts.query,
                                           "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                                           "body": body, "content_type": self.headers.get("Content-Type")})
                    status, delay_s = receiver.status, receiver.delay_s
                if delay_s:
                    time.sleep(delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/uniconta/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


def register(sim: UnicontaSimulator, url: str, argument: str | None = "conn-secret-1", company: int = SALON,
             **extra) -> dict:
    response = sim_post(sim, f"/companies/{company}/modification-urls",
                        {"Table": "Debtor", "Url": url, "Argument": argument, **extra})
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------------------------------------
# Authentication: user name, password, API key, company id
# ---------------------------------------------------------------------------------------------

def test_company_is_read_with_the_company_id_in_the_login(api):
    response = api.get("/api/Entities/CompanyClient")
    assert response.status_code == 200
    assert response.json() == [{"CompanyId": SALON, "Name": "Salon Sakse ApS", "Country": "Denmark",
                                "Currency": "DKK"}]


def test_login_without_company_opens_the_users_standard_company(sim):
    with client(sim, (BOOKKEEPER, BOOKKEEPER_PASSWORD)) as http:
        assert http.get("/api/Entities/CompanyClient").json()[0]["CompanyId"] == OTHER
    with client(sim, (f"00{SALON}/{BOOKKEEPER}", BOOKKEEPER_PASSWORD)) as http:
        assert http.get("/api/Entities/CompanyClient").json()[0]["CompanyId"] == SALON
    # OData takes the company from the path, else from the login, else the standard company.
    with client(sim, (BOOKKEEPER, BOOKKEEPER_PASSWORD)) as http:
        assert http.get(f"/odata/{SALON}/CompanyClient").json()["value"][0]["Name"] == "Salon Sakse ApS"
        assert http.get("/odata/CompanyClient").json()["value"][0]["CompanyId"] == OTHER


def test_wrong_user_name_and_wrong_password_get_the_same_answer(sim):
    # Uniconta does not tell which of the two is wrong (ErrorCodes.UserOrPasswordIsWrong).
    for login in ((f"00{SALON}/no-such-user", PASSWORD), (f"00{SALON}/{USER}", "wrong-password")):
        with client(sim, login) as http:
            response = http.get("/api/Entities/CompanyClient")
            assert error_of(response, 401)["ErrorCode"] == "UserOrPasswordIsWrong"
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    # Login ids are not case sensitive; passwords are.
    with client(sim, (f"00{SALON}/SALON-API", PASSWORD)) as http:
        assert http.get("/api/Entities/CompanyClient").status_code == 200
    with client(sim, (f"00{SALON}/{USER}", PASSWORD.upper())) as http:
        assert error_of(http.get("/api/Entities/CompanyClient"), 401)["ErrorCode"] == "UserOrPasswordIsWrong"


def test_wrong_company_id_is_told_apart_from_wrong_credentials(sim):
    for company in (999999, OTHER):          # no such company; a company the user has no rights to
        with client(sim, (f"00{company}/{USER}", PASSWORD)) as http:
            body = error_of(http.get("/api/Entities/CompanyClient"), 403)
            assert body["ErrorCode"] == "NoAccessToCompany" and str(company) in body["Message"]
    with client(sim) as http:
        response = http.get(f"/odata/{OTHER}/DebtorClient")
        assert response.status_code == 403 and response.json()["error"]["code"] == "NoAccessToCompany"
    # Without the "00" prefix the whole text is taken as the login id.
    with client(sim, (f"{SALON}/{USER}", PASSWORD)) as http:
        assert error_of(http.get("/api/Entities/CompanyClient"), 401)["ErrorCode"] == "UserOrPasswordIsWrong"


def test_the_api_key_is_not_checked_by_the_rest_api(sim):
    # REST/OData need no API key (unipedia); whatever is sent alongside, the login alone decides.
    for headers in ({}, {"X-Api-Key": "00000000-0000-0000-0000-000000000000"}, {"ApiKey": "not-a-guid"}):
        with client(sim) as http:
            assert http.get("/api/Entities/CompanyClient", headers=headers).status_code == 200


def test_missing_or_malformed_basic_auth(sim):
    assert error_of(httpx.get(f"{sim.base_url}/api/Entities/CompanyClient"), 401)["ErrorCode"] == "NotLoggedIn"
    response = httpx.get(f"{sim.base_url}/api/Entities/CompanyClient", headers={"Authorization": "Basic !!!"})
    assert error_of(response, 401)["ErrorCode"] == "NotLoggedIn"
    response = httpx.get(f"{sim.base_url}/odata/{SALON}/DebtorClient")
    assert response.status_code == 401 and response.json()["error"]["code"] == "NotLoggedIn"


# ---------------------------------------------------------------------------------------------
# Debtors: CRUD and InsertList
# ---------------------------------------------------------------------------------------------

def test_debtor_insert_read_update_delete(api):
    inserted = send(api, "POST", "/api/Entities/Insert/DebtorClient",
                    debtor("20001", ContactEmail="mette@example.dk", Phone="+45 20 30 40 50", City="Aarhus"))
    assert inserted.status_code == 200, inserted.text
    row = inserted.json()
    assert row["RowId"] > 0 and row["Account"] == "20001" and row["ContactEmail"] == "mette@example.dk"
    assert "Address2" not in row                   # nulls are left out

    found = api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "20001"}).json()
    assert found == [row]
    assert api.get("/api/Entities/Read/DebtorClient", params={"Name": "City", "Value": "Odense"}).json() == []

    # PUT replaces the whole object: what is left out is cleared.
    changed = {k: v for k, v in row.items() if k != "Phone"} | {"City": "Odense"}
    updated = send(api, "PUT", "/api/Entities/Update/DebtorClient", changed)
    assert updated.status_code == 200, updated.text
    stored = api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "20001"}).json()[0]
    assert stored["City"] == "Odense" and "Phone" not in stored and stored["RowId"] == row["RowId"]

    # By key when the body has no RowId.
    assert send(api, "PUT", "/api/Entities/Update/DebtorClient",
                debtor("20001", "Mette H. Hansen")).json()["Name"] == "Mette H. Hansen"

    deleted = send(api, "DELETE", "/api/Entities/Delete/DebtorClient", {"RowId": row["RowId"]})
    assert deleted.status_code == 200 and deleted.json()["Account"] == "20001"
    assert api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "20001"}).json() == []
    assert error_of(send(api, "DELETE", "/api/Entities/Delete/DebtorClient", {"RowId": row["RowId"]}),
                    404)["ErrorCode"] == "CouldNotFind"
    assert error_of(send(api, "PUT", "/api/Entities/Update/DebtorClient", debtor("nobody")), 404)


def test_debtor_rules(api):
    assert send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("20002")).status_code == 200
    duplicate = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("20002")), 409)
    assert duplicate["ErrorCode"] == "KeyExists"

    no_account = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("  ")), 400)
    assert {e["Field"]: e["ErrorCode"] for e in no_account["Errors"]} == {"Account": "Required"}

    bad = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient",
                        {"Account": "20003", "Name": "x" * 101, "Blocked": "yes", "Group": "Ukendt"}), 400)
    assert {(e["Field"], e["ErrorCode"]) for e in bad["Errors"]} == {("Name", "TooLong"), ("Blocked", "WrongType")}

    no_group = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient",
                             {"Account": "20004", "Name": "Uden gruppe"}), 400)
    assert no_group["Errors"] == [{"Field": "Group", "ErrorCode": "Required", "Message": no_group["Errors"][0]["Message"]}]
    unknown_group = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient",
                                  debtor("20005", Group="Ukendt")), 400)
    assert unknown_group["Errors"][0]["ErrorCode"] == "NotFound"

    row = api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "20002"}).json()[0]
    renamed = error_of(send(api, "PUT", "/api/Entities/Update/DebtorClient", {**row, "Account": "29999"}), 400)
    assert renamed["ErrorCode"] == "KeyCannotChange"

    assert error_of(api.post("/api/Entities/Insert/DebtorClient", content=b"{not json"), 400)["ErrorCode"] == \
        "InvalidBody"
    assert error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient", [debtor("1")]), 400)
    assert error_of(api.get("/api/Entities/NoSuchClient"), 404)["ErrorCode"] == "UnknownEntity"
    assert error_of(api.get("/api/Entities/DebtorClient", params={"Name": "Email", "Value": "x"}), 400)[
        "ErrorCode"] == "UnknownField"           # there is no Email field: ContactEmail / InvoiceEmail
    # Reference tables are read-only.
    assert error_of(send(api, "POST", "/api/Entities/Insert/GLAccountClient", {"Account": "1"}), 403)


def test_insert_list_inserts_all_rows_in_one_call(sim, api):
    rows = [debtor(f"3000{n}", f"Kunde {n}", ContactEmail=f"k{n}@example.dk") for n in range(5)]
    response = send(api, "POST", "/api/Entities/InsertList/DebtorClient", rows)
    assert response.status_code == 200, response.text
    inserted = response.json()
    assert [r["Account"] for r in inserted] == [f"3000{n}" for n in range(5)]
    assert len({r["RowId"] for r in inserted}) == 5
    assert sim.request_counts()["POST /api/Entities/InsertList/{name}"] == 1


def test_insert_list_is_all_or_nothing(api):
    rows = [debtor("31000"), debtor("31001", Group="Ukendt"), debtor("31000"), {"Account": 5}]
    body = error_of(send(api, "POST", "/api/Entities/InsertList/DebtorClient", rows), 409)
    assert body["ErrorCode"] == "ListNotInserted"
    assert {(e["Index"], e["ErrorCode"]) for e in body["Errors"]} == {(1, "NotFound"), (2, "KeyExists"),
                                                                      (3, "WrongType")}
    assert api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "31000"}).json() == []
    assert error_of(send(api, "POST", "/api/Entities/InsertList/DebtorClient", []), 400)["ErrorCode"] == "InvalidBody"


def test_update_list_is_not_offered_unless_configured(sim, make_sim):
    with client(sim) as http:
        assert send(http, "PUT", "/api/Entities/UpdateList/DebtorClient", [debtor("1000")]).status_code in (404, 405)
    lenient = make_sim(update_list_supported=True)
    with client(lenient) as http:
        send(http, "POST", "/api/Entities/InsertList/DebtorClient", [debtor("40001"), debtor("40002")])
        response = send(http, "PUT", "/api/Entities/UpdateList/DebtorClient",
                        [debtor("40001", "Ny 1"), debtor("40002", "Ny 2")])
        assert [r["Name"] for r in response.json()] == ["Ny 1", "Ny 2"]


# ---------------------------------------------------------------------------------------------
# User-defined fields
# ---------------------------------------------------------------------------------------------

def test_user_defined_fields_are_listed_per_company(sim, api):
    fields = api.get("/api/Entities/TableFieldsClient").json()
    assert {(f["TableId"], f["Name"], f["FieldType"]) for f in fields} == {
        (50, "Foedselsdag", "Date"), (50, "Nyhedsbrev", "Boolean"), (50, "FastFrisoer", "String"),
        (50, "Besoeg", "Integer"), (50, "Rabat", "Double")}
    assert next(f for f in fields if f["Name"] == "FastFrisoer")["Length"] == 30
    with client(sim, (f"00{OTHER}/{BOOKKEEPER}", BOOKKEEPER_PASSWORD)) as other:
        assert other.get("/api/Entities/TableFieldsClient").json() == []

    # The standard fields, for validating names: $metadata.
    metadata = api.get("/odata/$metadata")
    assert metadata.status_code == 200 and "ContactEmail" in metadata.text and '"Email"' not in metadata.text


def test_user_defined_fields_are_flat_keys_on_debtor_client_user(sim, api):
    values = debtor("50001", Foedselsdag="1990-05-01", Nyhedsbrev=True, FastFrisoer="Sanne", Besoeg=12,
                    Rabat=Decimal("12.5"))
    inserted = send(api, "POST", "/api/Entities/Insert/DebtorClientUser", values)
    assert inserted.status_code == 200, inserted.text
    row = inserted.json()
    assert row["Foedselsdag"] == "1990-05-01T00:00:00" and row["Nyhedsbrev"] is True and row["Besoeg"] == 12
    assert from_json(inserted.text)["Rabat"] == Decimal("12.5")

    plain = api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "50001"}).json()[0]
    assert "Nyhedsbrev" not in plain and "FastFrisoer" not in plain
    user = api.get("/api/Entities/DebtorClientUser", params={"Name": "Nyhedsbrev", "Value": "true"}).json()
    assert [r["Account"] for r in user] == ["50001"]

    bad = error_of(send(api, "POST", "/api/Entities/Insert/DebtorClientUser",
                        debtor("50002", Foedselsdag="01-05-1990", Nyhedsbrev="ja", FastFrisoer="x" * 31,
                               Besoeg=1.5)), 400)
    assert {(e["Field"], e["ErrorCode"]) for e in bad["Errors"]} == {
        ("Foedselsdag", "InvalidDate"), ("Nyhedsbrev", "WrongType"), ("FastFrisoer", "TooLong"),
        ("Besoeg", "WrongType")}


def test_user_defined_fields_sent_to_debtor_client_are_dropped_and_counted(sim, api):
    response = send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("50003", Nyhedsbrev=True, Email="x"))
    assert response.status_code == 200
    user_view = api.get("/api/Entities/DebtorClientUser", params={"Name": "Account", "Value": "50003"}).json()[0]
    assert user_view["Nyhedsbrev"] is False
    ignored = SIM.get(f"{sim.base_url}/_sim/stats").json()["ignored_fields"]
    assert ignored == {"DebtorClient.Email": 1, "DebtorClient.Nyhedsbrev": 1}


def test_unknown_fields_can_be_refused(make_sim):
    strict = make_sim(unknown_fields="reject")
    with client(strict) as http:
        body = error_of(send(http, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("1", Email="x")), 400)
        assert body["ErrorCode"] == "UnknownField" and body["Errors"][0]["Field"] == "Email"


def test_update_through_debtor_client_clears_user_fields(sim, api, make_sim):
    send(api, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("50004", FastFrisoer="Sanne"))
    send(api, "PUT", "/api/Entities/Update/DebtorClient", debtor("50004", "Nyt navn"))
    row = api.get("/api/Entities/DebtorClientUser", params={"Name": "Account", "Value": "50004"}).json()[0]
    assert row["Name"] == "Nyt navn" and "FastFrisoer" not in row

    lenient = make_sim(debtor_client_update_clears_user_fields=False)
    with client(lenient) as http:
        send(http, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("50004", FastFrisoer="Sanne"))
        send(http, "PUT", "/api/Entities/Update/DebtorClient", debtor("50004", "Nyt navn"))
        row = http.get("/api/Entities/DebtorClientUser", params={"Name": "Account", "Value": "50004"}).json()[0]
        assert row["FastFrisoer"] == "Sanne"


def test_bookkeeper_adds_a_user_defined_field(sim, api):
    response = sim_post(sim, f"/companies/{SALON}/user-fields", {"Name": "Allergier", "FieldType": "String",
                                                                 "Length": 60})
    assert response.status_code == 201, response.text
    assert "Allergier" in {f["Name"] for f in api.get("/api/Entities/TableFieldsClient").json()}
    inserted = send(api, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("50005", Allergier="Parfume"))
    assert inserted.json()["Allergier"] == "Parfume"
    assert sim_post(sim, f"/companies/{SALON}/user-fields", {"Name": "Allergier", "FieldType": "String"}
                    ).status_code == 409
    assert sim_post(sim, f"/companies/{SALON}/user-fields", {"Name": "X", "FieldType": "Blob"}).status_code == 400


# ---------------------------------------------------------------------------------------------
# OData reads
# ---------------------------------------------------------------------------------------------

def test_odata_filter_select_order_and_paging(make_sim):
    sim = make_sim(odata_page_size=3)
    with client(sim) as http:
        rows = [debtor(f"6000{n}", f"Kunde {n}", City="Aarhus" if n % 2 else "Odense", Besoeg=n) for n in range(7)]
        assert send(http, "POST", "/api/Entities/InsertList/DebtorClientUser", rows).status_code == 200

        answer = http.get(f"/odata/{SALON}/DebtorClientUser",
                          params={"$filter": "City eq 'Aarhus' and Besoeg ge 3", "$select": "Account,Besoeg",
                                  "$orderby": "Besoeg desc"}).json()
        assert answer["value"] == [{"Account": "60005", "Besoeg": 5}, {"Account": "60003", "Besoeg": 3}]

        contains = http.get(f"/odata/{SALON}/DebtorClient",
                            params={"$filter": "startswith(Account,'600') and not (City eq 'Odense')"}).json()
        assert [r["Account"] for r in contains["value"]] == ["60001", "60003", "60005"]

        # Server-driven paging: follow @odata.nextLink until there is none.
        seen, url = [], f"/odata/{SALON}/DebtorClient?$filter=startswith(Account,'600')&$count=true"
        pages = 0
        while url:
            page = http.get(url).json()
            pages += 1
            assert len(page["value"]) <= 3 and page["@odata.count"] == 7
            seen += [r["Account"] for r in page["value"]]
            url = page.get("@odata.nextLink")
        assert pages == 3 and seen == [f"6000{n}" for n in range(7)]

        top = http.get(f"/odata/{SALON}/DebtorClient", params={"$top": "2", "$skip": "1"}).json()
        assert len(top["value"]) == 2 and "@odata.nextLink" not in top


def test_odata_refuses_what_it_cannot_read(api):
    for params in ({"$filter": "Email eq 'x'"}, {"$filter": "Name eq"}, {"$filter": "Name like 'x'"},
                   {"$orderby": "Nope"}, {"$select": "Email"}, {"$expand": "Group"}, {"$top": "-1"}):
        response = api.get(f"/odata/{SALON}/DebtorClient", params=params)
        assert response.status_code == 400, params
        assert set(response.json()["error"]) >= {"code", "message"}
    assert api.get(f"/odata/{SALON}/NoSuchClient").status_code == 404
    service = api.get("/odata").json()
    assert {"DebtorClient", "GLDailyJournalLineClient"} <= {s["name"] for s in service["value"]}


def test_odata_filters_dates_and_decimals(api):
    send(api, "POST", "/api/Entities/InsertList/GLDailyJournalLineClient",
         lines("SALG", DAY_OF_SALES) + lines("SALG", [("5800", "10.00", "0"), ("3600", "0", "10.00")], "2026-11-27"))
    day = api.get(f"/odata/{SALON}/GLDailyJournalLineClient",
                  params={"$filter": "Date eq 2026-11-27 and Debit gt 5"}).json()["value"]
    assert [(r["Account"], r["Date"]) for r in day] == [("5800", "2026-11-27T00:00:00")]
    big = api.get(f"/odata/{SALON}/GLDailyJournalLineClient", params={"$filter": "Credit ge 250.00"})
    assert sorted(from_json(big.text)["value"][i]["Credit"] for i in range(2)) == [Decimal("250.00"),
                                                                                    Decimal("1125.00")]


# ---------------------------------------------------------------------------------------------
# Journals
# ---------------------------------------------------------------------------------------------

def test_journal_lines_in_one_batch_then_posted_by_the_bookkeeper(sim, api):
    response = send(api, "POST", "/api/Entities/InsertList/GLDailyJournalLineClient", lines("SALG", DAY_OF_SALES))
    assert response.status_code == 200, response.text
    assert '"Debit": 1000.00' in response.text          # money keeps its digits
    stored = api.get("/api/Entities/GLDailyJournalLineClient", params={"Name": "Journal", "Value": "SALG"})
    assert len(stored.json()) == 5
    assert sum(from_json(stored.text)[i]["Debit"] for i in range(5)) == Decimal("1375.00")

    check = sim_post(sim, f"/companies/{SALON}/journals/SALG/check").json()
    assert check == {"ok": True, "problems": []}
    posted = sim_post(sim, f"/companies/{SALON}/journals/SALG/post")
    assert posted.status_code == 200, posted.text
    assert posted.json()["Lines"] == 5
    assert api.get("/api/Entities/GLDailyJournalLineClient", params={"Name": "Journal", "Value": "SALG"}).json() == []

    ledger = from_json(api.get("/api/Entities/GLTransClient").text)
    by_account: dict[str, Decimal] = {}
    for transaction in ledger:
        by_account[transaction["Account"]] = by_account.get(transaction["Account"], Decimal(0)) + transaction["Amount"]
    # VAT split off the gross sales: 1125.00 = 900.00 + 225.00, 250.00 = 200.00 + 50.00.
    assert by_account == {"5820": Decimal("1000.00"), "5830": Decimal("250.00"), "5800": Decimal("125.00"),
                          "1010": Decimal("-900.00"), "1020": Decimal("-200.00"), "6900": Decimal("-275.00")}
    assert len({t["JournalPostedId"] for t in ledger}) == 1 and len({t["Voucher"] for t in ledger}) == 1


def test_journal_check_refuses_unbalanced_and_closed_year(sim, api):
    send(api, "POST", "/api/Entities/InsertList/GLDailyJournalLineClient",
         lines("DIV", [("5800", "100.00", "0"), ("1010", "0", "99.99", "U25")]) +
         lines("DIV", [("5800", "10.00", "0"), ("3600", "0", "10.00")], "2025-12-31"))
    check = sim_post(sim, f"/companies/{SALON}/journals/DIV/check").json()
    assert not check["ok"]
    assert {(p["ErrorCode"], p["Date"]) for p in check["problems"]} == {
        ("NotBalanced", "2026-11-26T00:00:00"), ("NoOpenAccountingYear", "2025-12-31T00:00:00")}
    assert Decimal(str(next(p for p in check["problems"] if p["ErrorCode"] == "NotBalanced")["Difference"])) == \
        Decimal("0.01")
    refused = sim_post(sim, f"/companies/{SALON}/journals/DIV/post")
    assert refused.status_code == 400 and refused.json()["ErrorCode"] == "JournalNotPosted"
    assert len(api.get("/api/Entities/GLDailyJournalLineClient").json()) == 4     # nothing posted
    assert api.get("/api/Entities/GLTransClient").json() == []


def test_journal_line_rules(api):
    def refused(line: dict) -> set[tuple[str, str]]:
        body = error_of(send(api, "POST", "/api/Entities/Insert/GLDailyJournalLineClient", line), 400)
        return {(e["Field"], e["ErrorCode"]) for e in body["Errors"]}

    base = lines("SALG", [("5800", "10.00", "0")])[0]
    assert refused({**base, "Journal": "NOPE"}) == {("Journal", "NotFound")}
    assert refused({**base, "Account": "4711"}) == {("Account", "NotFound")}
    assert refused({**base, "Account": "1000"}) == {("Account", "NotPostable")}      # a header
    assert refused({**base, "Account": "9999"}) == {("Account", "Blocked")}
    assert refused({**base, "Vat": "X99"}) == {("Vat", "NotFound")}
    assert refused({**base, "Debit": Decimal("10.005")}) == {("Debit", "TooManyDecimals")}
    assert refused({**base, "Debit": "10.00"}) == {("Debit", "WrongType")}           # money is a JSON number
    assert refused({**base, "Debit": Decimal("-10.00")}) == {("Debit", "NegativeNotAllowed")}
    assert refused({**base, "Credit": Decimal("1.00")}) == {("Credit", "DebitAndCredit")}
    assert refused({**base, "Date": "26-11-2026"}) == {("Date", "InvalidDate")}
    assert refused({k: v for k, v in base.items() if k != "Date"}) == {("Date", "Required")}
    assert refused({**base, "AccountType": "Debtor", "Account": "77777"}) == {("Account", "NotFound")}
    ok = send(api, "POST", "/api/Entities/Insert/GLDailyJournalLineClient",
              {**base, "AccountType": "Debtor", "Account": "1000"})
    assert ok.status_code == 200, ok.text


def test_journals_can_be_created_and_are_kept_while_they_have_lines(api):
    created = send(api, "POST", "/api/Entities/Insert/GLDailyJournalClient", {"Journal": "WEB", "Name": "Webshop"})
    assert created.status_code == 200
    assert "WEB" in {j["Journal"] for j in api.get("/api/Entities/GLDailyJournalClient").json()}
    send(api, "POST", "/api/Entities/Insert/GLDailyJournalLineClient", lines("WEB", [("5800", "1.00", "0")])[0])
    assert error_of(send(api, "DELETE", "/api/Entities/Delete/GLDailyJournalClient", {"Journal": "WEB"}),
                    400)["ErrorCode"] == "JournalHasLines"


# ---------------------------------------------------------------------------------------------
# The daily call budget
# ---------------------------------------------------------------------------------------------

def usage(sim: UnicontaSimulator, user: str = USER) -> dict:
    return SIM.get(f"{sim.base_url}/_sim/usage", params={"user": user}).json()[user]


def test_calls_beyond_the_budget_are_slowed_for_the_rest_of_the_day_and_the_next(make_sim):
    sim = make_sim(daily_call_budget=5, delay_unit_s=0.001)
    with client(sim) as http:
        for _ in range(5):
            assert http.get("/api/Entities/CompanyClient").status_code == 200
        assert usage(sim)["calls"] == 5 and usage(sim)["delayed_calls"] == 0
        for _ in range(6):
            assert http.get(f"/odata/{SALON}/DebtorClient").status_code == 200      # OData counts too
        today = usage(sim)
        assert today["calls"] == 11 and today["delayed_calls"] == 6 and today["delayed"] == 2
        # Failed logins of another user and /_sim calls are not this user's calls.
        with client(sim, (f"00{SALON}/{USER}", "wrong")) as wrong:
            wrong.get("/api/Entities/CompanyClient")
        assert usage(sim)["calls"] == 11

        sim_post(sim, "/clock", {"advance_seconds": 86400})          # next day: count reset, delay stays
        assert usage(sim)["calls"] == 0 and usage(sim)["next_call_delay_s"] > 0
        http.get("/api/Entities/CompanyClient")
        assert usage(sim)["delayed_calls"] == 1 and usage(sim)["carried_level"] == 2

        sim_post(sim, "/clock", {"advance_seconds": 2 * 86400})      # a day without calls: back to none
        http.get("/api/Entities/CompanyClient")
        assert usage(sim)["delayed_calls"] == 0 and usage(sim)["carried_level"] == 0


def test_budget_is_per_user(make_sim):
    sim = make_sim(daily_call_budget=2, delay_unit_s=0.001)
    with client(sim) as salon, client(sim, (f"00{SALON}/{BOOKKEEPER}", BOOKKEEPER_PASSWORD)) as bookkeeper:
        for _ in range(3):
            salon.get("/api/Entities/CompanyClient")
        bookkeeper.get("/api/Entities/CompanyClient")
    assert usage(sim)["delayed_calls"] == 1 and usage(sim, BOOKKEEPER)["delayed_calls"] == 0


def test_budget_exhaustion_on_demand_and_the_default_5000(make_sim):
    sim = make_sim(delay_unit_s=0.001)
    with client(sim) as http:
        assert usage(sim)["budget"] == 5000
        answer = sim_post(sim, "/usage", {"user": USER, "calls": 4999}).json()
        assert answer["next_call_delay_s"] == 0
        http.get("/api/Entities/CompanyClient")                      # the 5,000th call is included
        assert usage(sim)["delayed_calls"] == 0
        http.get("/api/Entities/CompanyClient")                      # the 5,001st is delayed
        assert usage(sim)["delayed_calls"] == 1 and usage(sim)["delayed"] == 1

    # The budget_exhausted fault: the next call finds the day's budget spent.
    fresh = make_sim(delay_unit_s=0.001)
    SIM.post(f"{fresh.base_url}/_sim/faults", json={"kind": "budget_exhausted"})
    with client(fresh) as http:
        http.get("/api/Entities/CompanyClient")
        assert usage(fresh)["calls"] == 5001 and usage(fresh)["delayed_calls"] == 1
        http.get("/api/Entities/CompanyClient")
        assert usage(fresh)["delayed_calls"] == 2          # and it stays spent for the day


def test_extended_server_calls_delay_only_from_75000(make_sim):
    sim = make_sim(extended_server_calls=True, delay_unit_s=0.001)
    with client(sim) as http:
        sim_post(sim, "/usage", {"user": USER, "calls": 20000})
        http.get("/api/Entities/CompanyClient")
        assert usage(sim)["delayed"] == 4 and usage(sim)["delayed_calls"] == 0
        sim_post(sim, "/usage", {"user": USER, "calls": 75000})
        http.get("/api/Entities/CompanyClient")
        assert usage(sim)["delayed_calls"] == 1 and usage(sim)["delay_s_total"] == pytest.approx(0.001)


def test_over_budget_can_be_refused_for_chaos_runs(make_sim):
    sim = make_sim(daily_call_budget=1, over_budget="refuse")
    with client(sim) as http:
        assert http.get("/api/Entities/CompanyClient").status_code == 200
        assert error_of(http.get("/api/Entities/CompanyClient"), 429)["ErrorCode"] == "TooManyCalls"
        assert usage(sim)["refused_calls"] == 1


# ---------------------------------------------------------------------------------------------
# The modification URL
# ---------------------------------------------------------------------------------------------

def test_modification_url_is_called_on_every_debtor_change_through_the_api(sim, api, receiver):
    setting = register(sim, receiver.url, argument="s3cr3t&x=1")
    row = send(api, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("70001")).json()
    send(api, "PUT", "/api/Entities/Update/DebtorClientUser", {**row, "City": "Vejle"})
    send(api, "DELETE", "/api/Entities/Delete/DebtorClientUser", {"RowId": row["RowId"]})
    attempts = deliveries(sim)
    assert [d["operation"] for d in attempts] == ["Insert", "Update", "Delete"] and all(d["ok"] for d in attempts)

    assert [c["method"] for c in receiver.calls] == ["GET"] * 3
    assert all(c["path"] == "/uniconta/hook" for c in receiver.calls)
    assert [c["query"] for c in receiver.calls] == [
        {"CompanyId": str(SALON), "Table": "Debtor", "RowId": str(row["RowId"]), "Key": "70001",
         "Operation": operation, "Argument": "s3cr3t&x=1"} for operation in ("Insert", "Update", "Delete")]
    # The Argument is echoed URL-encoded, so a secret with & or = survives.
    assert "Argument=s3cr3t%26x%3D1" in receiver.calls[0]["raw_query"]

    # Where the API exposes the setting: TableChangeEventClient (read-only).
    events = api.get("/api/Entities/TableChangeEventClient").json()
    assert events[0]["RowId"] == setting["RowId"] and events[0]["HasError"] is False and events[0]["LastEvent"]
    assert error_of(send(api, "POST", "/api/Entities/Insert/TableChangeEventClient", {"Url": "http://x"}), 403)


def test_insert_list_and_bookkeeper_edits_are_notified_but_journal_lines_are_not(sim, api, receiver):
    register(sim, receiver.url)
    send(api, "POST", "/api/Entities/InsertList/DebtorClientUser", [debtor(f"7100{n}") for n in range(3)])
    send(api, "POST", "/api/Entities/InsertList/GLDailyJournalLineClient", lines("SALG", DAY_OF_SALES))
    edited = SIM.patch(f"{sim.base_url}/_sim/companies/{SALON}/debtors/71001",
                       content=to_json({"City": "Horsens", "Nyhedsbrev": True}))
    assert edited.status_code == 200 and edited.json()["City"] == "Horsens" and edited.json()["Nyhedsbrev"] is True
    created = sim_post(sim, f"/companies/{SALON}/debtors", debtor("71009", "Ny i Uniconta"))
    assert created.status_code == 201
    assert SIM.delete(f"{sim.base_url}/_sim/companies/{SALON}/debtors/71000").status_code == 200
    deliveries(sim)
    assert [(c["query"]["Key"], c["query"]["Operation"]) for c in receiver.calls] == [
        ("71000", "Insert"), ("71001", "Insert"), ("71002", "Insert"), ("71001", "Update"), ("71009", "Insert"),
        ("71000", "Delete")]
    # The bookkeeper's edit is visible through the API afterwards.
    row = api.get("/api/Entities/DebtorClientUser", params={"Name": "Account", "Value": "71001"}).json()[0]
    assert row["City"] == "Horsens" and row["Nyhedsbrev"] is True


def test_every_write_is_notified_even_one_that_changes_nothing(sim, api, receiver):
    # The hub's own writes come back too: echo suppression is the receiver's job.
    register(sim, receiver.url)
    row = send(api, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("70101")).json()
    assert send(api, "PUT", "/api/Entities/Update/DebtorClientUser", row).json() == row
    deliveries(sim)
    assert [c["query"]["Operation"] for c in receiver.calls] == ["Insert", "Update"]


def test_modification_url_with_post_sends_the_record_as_json(sim, api, receiver):
    register(sim, receiver.url, argument=None, Post=True)
    send(api, "POST", "/api/Entities/Insert/DebtorClientUser", debtor("72001", FastFrisoer="Sanne",
                                                                        Rabat=Decimal("10.00")))
    deliveries(sim)
    call = receiver.calls[0]
    assert call["method"] == "POST" and call["content_type"] == "application/json"
    assert "Argument" not in call["query"]                     # an empty Argument is not sent
    record = from_json(call["body"].decode())
    assert record["Account"] == "72001" and record["FastFrisoer"] == "Sanne" and record["Rabat"] == Decimal("10.00")


def test_other_companies_and_tables_do_not_reach_the_url(sim, receiver):
    register(sim, receiver.url, company=OTHER)
    with client(sim) as salon:
        send(salon, "POST", "/api/Entities/Insert/DebtorClient", debtor("73001"))
    assert deliveries(sim) == [] and receiver.calls == []
    with client(sim, (f"00{OTHER}/{BOOKKEEPER}", BOOKKEEPER_PASSWORD)) as other:
        send(other, "POST", "/api/Entities/Insert/DebtorClient", debtor("73002"))
    deliveries(sim)
    assert [c["query"]["CompanyId"] for c in receiver.calls] == [str(OTHER)]


def test_query_string_styles_and_parameter_names(make_sim, receiver):
    documented = make_sim(query_style="documented")
    register(documented, receiver.url, argument="abc")
    with client(documented) as http:
        send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor("74001"))
    deliveries(documented)
    raw = receiver.calls[-1]["raw_query"]
    assert raw.startswith(f"CompanyId={SALON}?Table=Debtor?RowId=") and raw.endswith("?Operation=Insert?Argument=abc")

    action = make_sim(operation_parameter="Action", operation_names={"insert": "Add", "update": "Update",
                                                                     "delete": "Delete"})
    register(action, receiver.url + "?connection=c-1", argument="abc")
    with client(action) as http:
        send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor("74002"))
    deliveries(action)
    query = receiver.calls[-1]["query"]
    assert query["connection"] == "c-1" and query["Action"] == "Add" and "Operation" not in query


def test_has_errors_after_repeated_failures_then_nothing_until_refresh(make_sim, receiver):
    sim = make_sim(has_error_after_failures=3)
    setting = register(sim, receiver.url)
    with client(sim) as http:
        receiver.status = 500
        for n in range(2):
            send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor(f"7500{n}"))
        deliveries(sim)
        receiver.status = 204                       # one success resets the count
        send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor("75002"))
        deliveries(sim)
        assert http.get("/api/Entities/TableChangeEventClient").json()[0]["HasError"] is False

        receiver.status = 503
        for n in range(3, 6):
            send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor(f"7500{n}"))
        deliveries(sim)
        event = http.get("/api/Entities/TableChangeEventClient").json()[0]
        assert event["HasError"] is True and "HTTP 503" in event["ErrorMessage"]

        receiver.status = 200
        calls_before = len(receiver.calls)
        send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor("75006"))      # missed for good
        attempts = deliveries(sim)
        assert len(receiver.calls) == calls_before
        assert not any(d["key"] == "75006" for d in attempts)     # not even queued: the setting has errors

        refreshed = sim_post(sim, f"/companies/{SALON}/modification-urls/{setting['RowId']}/refresh")
        assert refreshed.json()["HasError"] is False and refreshed.json()["ErrorMessage"] is None
        send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor("75007"))
        deliveries(sim)
        assert [c["query"]["Key"] for c in receiver.calls[calls_before:]] == ["75007"]   # 75006 is not replayed


def test_timeouts_and_refused_connections_count_as_failed_deliveries(make_sim, receiver):
    sim = make_sim(has_error_after_failures=2, delivery_timeout_s=0.2)
    register(sim, receiver.url)
    receiver.delay_s = 1.0
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed_url = f"http://127.0.0.1:{closed.server_port}/gone"
    closed.server_close()
    register(sim, closed_url)
    with client(sim) as http:
        for n in range(2):
            send(http, "POST", "/api/Entities/Insert/DebtorClient", debtor(f"7600{n}"))
        attempts = deliveries(sim)
        assert {d["error"] for d in attempts if d["url"].startswith(receiver.url)} == {"timeout"}
        assert all(d["error"] and d["error"] != "timeout" for d in attempts if d["url"].startswith(closed_url))
        assert all(e["HasError"] for e in http.get("/api/Entities/TableChangeEventClient").json())


# ---------------------------------------------------------------------------------------------
# Faults and control
# ---------------------------------------------------------------------------------------------

def test_status_fault_answers_without_doing_anything(sim, api, receiver):
    register(sim, receiver.url)
    SIM.post(f"{sim.base_url}/_sim/faults", json={"kind": "status", "status": 503, "method": "POST"})
    assert error_of(send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("80001")), 503)[
        "ErrorCode"] == "InjectedFault"
    assert api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "80001"}).json() == []
    assert deliveries(sim) == []
    assert send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("80001")).status_code == 200  # fired once


def test_timeout_fault_does_nothing_and_timeout_after_commit_does_everything(sim, api, receiver):
    register(sim, receiver.url)
    sim.add_fault(Fault("timeout", delay_s=0.05, method="POST"))
    assert send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("81001")).status_code == 504
    assert api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "81001"}).json() == []

    sim.add_fault(Fault("timeout_after_commit", delay_s=2, method="POST"))
    with pytest.raises(httpx.ReadTimeout):
        api.post("/api/Entities/Insert/DebtorClient", content=to_json(debtor("81002")), timeout=0.3)
    # The row exists (and was notified): a client must look before it inserts again.
    assert len(api.get("/api/Entities/DebtorClient", params={"Name": "Account", "Value": "81002"}).json()) == 1
    assert [d["key"] for d in deliveries(sim)] == ["81002"]

    sim.add_fault(Fault("status_after_commit", status=502, path_prefix="/api/Entities/InsertList"))
    response = send(api, "POST", "/api/Entities/InsertList/GLDailyJournalLineClient", lines("SALG", DAY_OF_SALES))
    assert response.status_code == 502
    assert len(api.get("/api/Entities/GLDailyJournalLineClient").json()) == 5


def test_faults_control_endpoints(sim, api):
    assert SIM.post(f"{sim.base_url}/_sim/faults", json={"kind": "nonsense"}).status_code == 400
    assert SIM.post(f"{sim.base_url}/_sim/faults", json={"kind": "status", "probability": 0}).status_code == 400
    SIM.post(f"{sim.base_url}/_sim/faults", json={"kind": "status", "status": 500, "times": -1,
                                                  "path_prefix": "/odata"})
    assert len(SIM.get(f"{sim.base_url}/_sim/faults").json()) == 1
    assert api.get(f"/odata/{SALON}/DebtorClient").status_code == 500
    assert api.get(f"/odata/{SALON}/DebtorClient").status_code == 500           # forever
    assert api.get("/api/Entities/DebtorClient").status_code == 200              # other paths untouched
    assert SIM.get(f"{sim.base_url}/_sim/companies").status_code == 200          # never /_sim
    assert SIM.delete(f"{sim.base_url}/_sim/faults").json() == {"cleared": 1}
    assert api.get(f"/odata/{SALON}/DebtorClient").status_code == 200


def test_latency_fault_delays_then_proceeds(sim, api):
    sim.add_fault(Fault("latency", delay_s=0.05))
    assert api.get("/api/Entities/CompanyClient").status_code == 200
    assert SIM.get(f"{sim.base_url}/_sim/faults").json() == []


def test_stats_and_reset(sim, api, receiver):
    register(sim, receiver.url)
    send(api, "POST", "/api/Entities/Insert/DebtorClient", debtor("90001"))
    deliveries(sim)
    stats = SIM.get(f"{sim.base_url}/_sim/stats").json()
    assert stats["request_counts"]["POST /api/Entities/Insert/{name}"] == 1
    assert stats["debtors"]["Salon Sakse ApS"] == 2 and stats["deliveries"] == 1
    companies = {c["CompanyId"]: c for c in SIM.get(f"{sim.base_url}/_sim/companies").json()}
    assert companies[SALON]["users"] == ["bogholder", "salon-api"] and companies[OTHER]["users"] == ["bogholder"]

    assert sim_post(sim, "/reset").json() == {"reset": True}
    assert [d["Account"] for d in api.get("/api/Entities/DebtorClient").json()] == ["1000"]
    assert SIM.get(f"{sim.base_url}/_sim/companies/{SALON}/modification-urls").json() == []
    assert usage(sim)["calls"] == 1


def test_decimals_round_trip_exactly():
    assert from_json(to_json({"Debit": Decimal("1250.00")})) == {"Debit": Decimal("1250.00")}
    assert json.loads(to_json({"Debit": Decimal("1250.00")})) == {"Debit": 1250.0}
