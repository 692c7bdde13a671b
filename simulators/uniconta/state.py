"""In-memory state of the Uniconta simulator: users, companies and their tables, the call budget, modification URLs,
deliveries, faults.

Every mutation happens under ``SimulatorState.lock`` (the werkzeug server is threaded). A write's notification is
queued under the same lock, right after the commit, so deliveries follow the order of the changes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo
from ..faults import FaultQueue, FaultRules
from . import seed
from .config import SimulatorConfig
from .entities import ENTITIES, EntityDef, EntityError, Field, coerce, entity, out_value, user_field
from .notifier import Delivery, Notifier

ZERO = Decimal("0.00")


# ---------------------------------------------------------------------------------------------
# Tables and companies
# ---------------------------------------------------------------------------------------------

class Table:
    """Rows by RowId, and an index on the primary key (if the table has one)."""

    def __init__(self, key: str | None):
        self.key = key
        self.rows: dict[int, dict[str, Any]] = {}
        self.by_key: dict[str, int] = {}

    def add(self, record: dict[str, Any]) -> None:
        self.rows[record["RowId"]] = record
        if self.key:
            self.by_key[record[self.key]] = record["RowId"]

    def remove(self, row_id: int) -> dict[str, Any]:
        record = self.rows.pop(row_id)
        if self.key:
            self.by_key.pop(record[self.key], None)
        return record

    def find(self, key_value: Any) -> dict[str, Any] | None:
        row_id = self.by_key.get(key_value)
        return None if row_id is None else self.rows[row_id]


@dataclass
class Company:
    id: int
    name: str
    country: str
    currency: str
    user_fields: list[dict[str, Any]]                 # TableFieldsClient rows (TableId 50: Debtor)
    open_years: set[int]
    tables: dict[str, Table] = field(default_factory=dict)
    last_voucher: int = 0
    last_posted_id: int = 0

    def user_fields_of(self, table_id: int) -> dict[str, Field]:
        return {spec["Name"]: user_field(spec) for spec in self.user_fields if spec["TableId"] == table_id}


# ---------------------------------------------------------------------------------------------
# Call budget
# ---------------------------------------------------------------------------------------------

@dataclass
class Usage:
    """One user's calls today, and the delay level carried over from yesterday (it lasts 24 hours)."""

    day: date
    calls: int = 0
    carried_level: int = 0
    delayed_calls: int = 0
    refused_calls: int = 0
    delay_s_total: float = 0.0


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------

@dataclass
class Fault(FaultRules):
    """An injected misbehaviour of the API (never of /_sim). Matching faults fire in FIFO order, ``times`` times
    (-1 = forever).

    kinds: "status" (answer ``status``, do nothing), "timeout" (sleep ``delay_s``, then answer 504 without doing
    anything: the client has given up long before), "timeout_after_commit" (do the work, then sleep ``delay_s``
    before answering), "status_after_commit" (do the work, then answer ``status`` as a proxy in front would),
    "latency" (sleep ``delay_s``, then proceed), "budget_exhausted" (the caller's calls today jump to the daily
    budget before this call is counted, so it and every later call today is over budget).
    ``probability``: a matching request is hit with this chance, from the simulator's seeded generator.
    """

    kind: str
    method: str = "*"
    path_prefix: str = "/"
    times: int = 1
    status: int = 503
    delay_s: float = 5.0
    probability: float = 1.0

    KINDS = ("status", "timeout", "timeout_after_commit", "status_after_commit", "latency", "budget_exhausted")


# ---------------------------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------------------------

class SimulatorState(FaultQueue):
    """All mutable simulator data. Tests may read and modify it directly (take ``lock`` if the server runs)."""

    def __init__(self, config: SimulatorConfig, stop_event: threading.Event | None = None):
        self.lock = threading.RLock()
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.clock_offset_s = 0.0
        self.notifier = Notifier(self, stop_event or threading.Event())
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.notifier.clear()
            self.clock_offset_s = 0.0
            self.rng = random.Random(20261126)
            self._next_row_id = seed.FIRST_ROW_ID
            self.companies: dict[int, Company] = {}
            for spec in seed.COMPANIES:
                self._seed_company(spec)
            self.usage: dict[str, Usage] = {}
            self.faults: deque[Fault] = deque()
            self.request_counts: Counter = Counter()
            self.ignored_fields: Counter = Counter()
            self.deliveries: list[dict[str, Any]] = []

    def _seed_company(self, spec: dict[str, Any]) -> None:
        company = Company(spec["CompanyId"], spec["Name"], spec["Country"], spec["Currency"], [],
                          set(spec["open_years"]))
        for definition in ENTITIES.values():
            company.tables.setdefault(definition.table, Table(definition.key))
        self.companies[company.id] = company
        for udf in spec["user_fields"]:
            company.user_fields.append({"RowId": self.next_row_id(), "TableId": seed.DEBTOR_TABLE_ID, **udf})
        for account, name, account_type, vat, blocked in seed.CHART:
            company.tables["GLAccount"].add({"RowId": self.next_row_id(), "Account": account, "Name": name,
                                             "AccountType": account_type, "Vat": vat, "Blocked": blocked})
        for vat, name, rate, account, vat_type in seed.VAT_CODES:
            company.tables["GLVat"].add({"RowId": self.next_row_id(), "Vat": vat, "Name": name,
                                         "Rate": Decimal(rate), "Account": account, "VatType": vat_type})
        for group, name in seed.DEBTOR_GROUPS:
            company.tables["DebtorGroup"].add({"RowId": self.next_row_id(), "Group": group, "Name": name})
        for journal, name in spec["journals"]:
            company.tables["GLDailyJournal"].add({"RowId": self.next_row_id(), "Journal": journal, "Name": name})
        debtor = entity("DebtorClientUser")
        for values in spec["debtors"]:
            record = self.build_record(company, debtor, values)
            record["RowId"] = self.next_row_id()
            company.tables["Debtor"].add(record)

    def next_row_id(self) -> int:
        with self.lock:
            self._next_row_id += 1
            return self._next_row_id

    # -- clock -----------------------------------------------------------------------------------

    def clock(self) -> float:
        return time.time() + self.clock_offset_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc)

    def today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def local_now(self) -> str:
        return self.now().astimezone(self.zone).strftime("%Y-%m-%dT%H:%M:%S")

    def advance_clock(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset_s += seconds

    # -- lookups ---------------------------------------------------------------------------------

    def company(self, key: int | str) -> Company:
        """By id (int or digits) or by name; KeyError if none."""
        with self.lock:
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                return self.companies[int(key)]
            for company in self.companies.values():
                if company.name == key:
                    return company
            raise KeyError(key)

    def find_user(self, login_id: str) -> tuple[str, dict[str, Any]] | None:
        """Login ids are matched without regard to case."""
        for name, user in self.config.users.items():
            if name.lower() == login_id.lower():
                return name, user
        return None

    # -- authentication --------------------------------------------------------------------------

    def authenticate(self, login: str, password: str, path_company: int | None) -> tuple[str, Company]:
        """(user, company) for a Basic login "00<CompanyId>/<user>" or "<user>" and its password.

        The company is the one in the OData path, else the one in the login, else the user's standard company.
        Uniconta does not say whether the user or the password is wrong (ErrorCodes.UserOrPasswordIsWrong);
        a company that does not exist and one the user has no rights to get the same answer.
        """
        login_company: int | None = None
        login_id = login
        if login.startswith("00") and "/" in login:
            digits, _, rest = login.partition("/")
            if digits.isdigit() and rest:
                login_company, login_id = int(digits), rest
        found = self.find_user(login_id)
        if found is None or not _constant_time_equal(found[1]["password"], password):
            raise EntityError(401, "UserOrPasswordIsWrong", "The login id or the password is wrong")
        username, user = found
        company_id = path_company if path_company is not None else login_company
        if company_id is None:
            company_id = user["default_company"]
        if company_id not in self.companies or company_id not in user["companies"]:
            raise EntityError(403, "NoAccessToCompany",
                              f"The user has no access to a company with id {company_id}")
        return username, self.companies[company_id]

    # -- call budget -----------------------------------------------------------------------------

    def usage_of(self, username: str) -> Usage:
        """The user's usage, rolled over to today (caller holds the lock)."""
        today = self.today()
        usage = self.usage.get(username)
        if usage is None:
            usage = self.usage[username] = Usage(today)
        elif usage.day != today:
            # The delay lasts 24 hours: yesterday's level carries over into today; a day without calls resets it.
            usage.carried_level = self.level(usage.calls) if (today - usage.day).days == 1 else 0
            usage.day, usage.calls, usage.delayed_calls, usage.refused_calls = today, 0, 0, 0
            usage.delay_s_total = 0.0
        return usage

    def level(self, calls: int) -> int:
        """The "Delayed" figure of Uniconta's user list: one per full budget of calls."""
        return calls // self.config.daily_call_budget

    def delay_levels(self, usage: Usage) -> int:
        """Seconds (in delay units) the next call of this user waits."""
        shown = max(self.level(usage.calls), usage.carried_level)
        if self.config.extended_server_calls:
            return 1 if shown >= self.config.extended_budget // self.config.daily_call_budget else 0
        return shown

    def count_call(self, username: str) -> int:
        """Counts one call and answers its delay in delay units (0: none)."""
        with self.lock:
            usage = self.usage_of(username)
            levels = self.delay_levels(usage)
            usage.calls += 1
            return levels

    def set_calls(self, username: str, calls: int, carried_level: int | None = None) -> Usage:
        with self.lock:
            usage = self.usage_of(username)
            usage.calls = calls
            if carried_level is not None:
                usage.carried_level = carried_level
            return usage

    def usage_view(self, username: str) -> dict[str, Any]:
        with self.lock:
            usage = self.usage_of(username)
            return {**asdict(usage), "day": usage.day.isoformat(), "budget": self.config.daily_call_budget,
                    "delayed": max(self.level(usage.calls), usage.carried_level),
                    "next_call_delay_s": self.delay_levels(usage) * self.config.delay_unit_s}

    # -- reading ---------------------------------------------------------------------------------

    def fields_of(self, company: Company, definition: EntityDef) -> dict[str, Field]:
        if definition.with_user_fields and definition.table_id is not None:
            return {**definition.fields, **company.user_fields_of(definition.table_id)}
        return definition.fields

    def view(self, company: Company, definition: EntityDef, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the entity shows it: its fields only, nulls left out (unipedia: "all properties with null
        will be omitted")."""
        return {name: out_value(record[name]) for name in self.fields_of(company, definition)
                if record.get(name) is not None}

    def view_for_post(self, company: Company, table: str, record: dict[str, Any]) -> dict[str, Any]:
        """The record sent by a modification URL with "Post" ticked: the full row, user-defined fields included."""
        definition = next(e for e in ENTITIES.values() if e.table == table and (e.with_user_fields or
                                                                               e.table != "Debtor"))
        return self.view(company, definition, record)

    def rows(self, company: Company, definition: EntityDef) -> list[dict[str, Any]]:
        """Every row of the entity as views, in RowId order (caller holds the lock)."""
        if definition.table == "Company":
            return self.records(company, definition)
        return [self.view(company, definition, record) for record in self.records(company, definition)]

    def records(self, company: Company, definition: EntityDef) -> list[dict[str, Any]]:
        """The stored rows behind the entity (not copies: caller holds the lock and does not change them), in RowId
        order; ``view`` turns one into what the API shows."""
        if definition.table == "Company":
            return [{"CompanyId": company.id, "Name": company.name, "Country": company.country,
                     "Currency": company.currency}]
        if definition.table == "TableFields":
            return list(company.user_fields)
        table = company.tables[definition.table]
        return [table.rows[row_id] for row_id in sorted(table.rows)]

    # -- writing ---------------------------------------------------------------------------------

    def build_record(self, company: Company, definition: EntityDef, body: Any,
                     existing: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new stored row from a request body (every writable field from the body: PUT replaces the row)."""
        if not isinstance(body, dict):
            raise EntityError(400, "InvalidBody", f"The body must be a {definition.name} object")
        fields = self.fields_of(company, definition)
        unknown = sorted(k for k in body if k not in fields)
        if unknown:
            if self.config.unknown_fields == "reject":
                raise EntityError(400, "UnknownField", f"{definition.name} has no field {', '.join(unknown)}",
                                  [{"Field": name, "ErrorCode": "UnknownField", "Message": "No such field"}
                                   for name in unknown])
            self.ignored_fields.update(f"{definition.name}.{name}" for name in unknown)
        record: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for name, spec in fields.items():
            if spec.read_only:
                continue
            try:
                value = coerce(spec, body.get(name))
            except EntityError as error:
                problems.extend(error.problems)
                continue
            if value is None and spec.type == "bool":
                value = False
            if value is None and spec.money:
                value = ZERO
            if isinstance(value, str) and name in definition.required:
                value = value.strip() or None
            record[name] = value
        for name in definition.required:
            if record.get(name) is None and not any(p["Field"] == name for p in problems):
                problems.append({"Field": name, "ErrorCode": "Required", "Message": f"{name} is required"})
        if definition.table_id is not None and not definition.with_user_fields:
            # The entity cannot carry the user-defined fields: the row gets their empty values, or on an update
            # keeps them where configured so.
            keep = existing is not None and not self.config.debtor_client_update_clears_user_fields
            for name, spec in company.user_fields_of(definition.table_id).items():
                record[name] = existing.get(name) if keep else (False if spec.type == "bool" else None)
        if not problems:
            problems.extend(self._table_rules(company, definition, record))
        if problems:
            raise EntityError(400, "FieldValueNotValid", "; ".join(p["Message"] for p in problems), problems)
        return record

    def _table_rules(self, company: Company, definition: EntityDef, record: dict[str, Any]) -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = []

        def refuse(field_name: str, code: str, message: str) -> None:
            problems.append({"Field": field_name, "ErrorCode": code, "Message": message})

        if definition.table == "Debtor":
            group = record.get("Group")
            if group is None and self.config.debtor_group_required:
                refuse("Group", "Required", "Group is required (a debtor group of the company)")
            elif group is not None and company.tables["DebtorGroup"].find(group) is None:
                refuse("Group", "NotFound", f"There is no debtor group {group}")
        elif definition.table == "GLDailyJournalLine":
            if company.tables["GLDailyJournal"].find(record["Journal"]) is None:
                refuse("Journal", "NotFound", f"There is no journal {record['Journal']}")
            for type_field, account_field in (("AccountType", "Account"), ("OffsetAccountType", "OffsetAccount")):
                account_type = record.get(type_field) or "Finans"
                record[type_field] = account_type if record.get(account_field) else record.get(type_field)
                if account_type not in ("Finans", "Debtor"):
                    refuse(type_field, "WrongValue", f"{type_field} must be Finans or Debtor")
                elif record.get(account_field):
                    problem = self._account_problem(company, account_type, record[account_field])
                    if problem:
                        refuse(account_field, *problem)
            if record.get("Vat"):
                if company.tables["GLVat"].find(record["Vat"]) is None:
                    refuse("Vat", "NotFound", f"There is no VAT code {record['Vat']}")
                elif record.get("AccountType") != "Finans":
                    refuse("Vat", "WrongValue", "A VAT code needs a ledger (Finans) account")
            debit, credit = record["Debit"], record["Credit"]
            if not self.config.allow_negative_debit_credit:
                for name, amount in (("Debit", debit), ("Credit", credit)):
                    if amount < 0:
                        refuse(name, "NegativeNotAllowed", f"{name} is negative (the company does not allow it)")
            if debit != 0 and credit != 0:
                refuse("Credit", "DebitAndCredit", "A line has either a debit or a credit amount, not both")
        return problems

    def _account_problem(self, company: Company, account_type: str, account: str) -> tuple[str, str] | None:
        if account_type == "Debtor":
            return None if company.tables["Debtor"].find(account) else ("NotFound", f"There is no debtor {account}")
        ledger = company.tables["GLAccount"].find(account)
        if ledger is None:
            return "NotFound", f"There is no account {account} in the chart of accounts"
        if ledger["AccountType"] in ("Header", "Sum"):
            return "NotPostable", f"Account {account} is a {ledger['AccountType']} account"
        if ledger["Blocked"]:
            return "Blocked", f"Account {account} is blocked"
        return None

    def _target(self, company: Company, definition: EntityDef, body: Any) -> dict[str, Any]:
        """The stored row an Update/Delete body names: by RowId if it has one, else by the primary key."""
        if not isinstance(body, dict):
            raise EntityError(400, "InvalidBody", f"The body must be a {definition.name} object")
        table = company.tables[definition.table]
        row_id = body.get("RowId")
        if isinstance(row_id, int) and not isinstance(row_id, bool) and row_id > 0:
            record = table.rows.get(row_id)
        elif definition.key and isinstance(body.get(definition.key), str):
            record = table.find(body[definition.key].strip())
        else:
            raise EntityError(400, "FieldValueNotValid", f"The body must carry RowId or {definition.key or 'RowId'}")
        if record is None:
            raise EntityError(404, "CouldNotFind", f"No such {definition.name}")
        return record

    def _writable(self, definition: EntityDef) -> None:
        if not definition.writable:
            raise EntityError(403, "NoRights", f"{definition.name} cannot be changed through the API")

    def insert(self, company: Company, definition: EntityDef, bodies: list[Any]) -> list[dict[str, Any]]:
        """Inserts all rows or none (a list is one transaction); returns their views."""
        self._writable(definition)
        with self.lock:
            table = company.tables[definition.table]
            records, problems, keys = [], [], set()
            for index, body in enumerate(bodies):
                try:
                    record = self.build_record(company, definition, body)
                    if definition.key:
                        key_value = record[definition.key]
                        if table.find(key_value) is not None or key_value in keys:
                            raise EntityError(409, "KeyExists", f"{definition.key} {key_value} exists already",
                                              [{"Field": definition.key, "ErrorCode": "KeyExists",
                                                "Message": f"{key_value} exists already"}])
                        keys.add(key_value)
                    records.append(record)
                except EntityError as error:
                    problems.append((index, error))
            if problems:
                if len(bodies) == 1 and problems[0][0] == 0:
                    raise problems[0][1]
                status = max(error.status for _, error in problems)
                raise EntityError(status, "ListNotInserted", f"{len(problems)} of {len(bodies)} rows refused; "
                                  "nothing was inserted",
                                  [{"Index": index, **problem} for index, error in problems
                                   for problem in (error.problems or [{"ErrorCode": error.code,
                                                                       "Message": error.message}])])
            for record in records:
                record["RowId"] = self.next_row_id()
                table.add(record)
                self.changed(company, definition, "insert", record)
            return [self.view(company, definition, record) for record in records]

    def update(self, company: Company, definition: EntityDef, bodies: list[Any]) -> list[dict[str, Any]]:
        self._writable(definition)
        with self.lock:
            table = company.tables[definition.table]
            planned = []
            for body in bodies:
                existing = self._target(company, definition, body)
                record = self.build_record(company, definition, body, existing)
                if definition.key and record[definition.key] != existing[definition.key]:
                    raise EntityError(400, "KeyCannotChange", f"{definition.key} cannot be changed by an update")
                record["RowId"] = existing["RowId"]
                planned.append(record)
            for record in planned:
                table.rows[record["RowId"]] = record
                self.changed(company, definition, "update", record)
            return [self.view(company, definition, record) for record in planned]

    def delete(self, company: Company, definition: EntityDef, bodies: list[Any]) -> list[dict[str, Any]]:
        self._writable(definition)
        with self.lock:
            table = company.tables[definition.table]
            targets = [self._target(company, definition, body) for body in bodies]
            for record in targets:
                if definition.table == "GLDailyJournal" and any(
                        line["Journal"] == record["Journal"]
                        for line in company.tables["GLDailyJournalLine"].rows.values()):
                    raise EntityError(400, "JournalHasLines", f"Journal {record['Journal']} has lines")
            views = []
            for record in targets:
                views.append(self.view(company, definition, record))
                table.remove(record["RowId"])
                self.changed(company, definition, "delete", record)
            return views

    def changed(self, company: Company, definition: EntityDef, operation: str, record: dict[str, Any]) -> None:
        if definition.master_data:
            self.notifier.changed(company.id, definition.table, operation, dict(record))

    # -- the bookkeeper in Uniconta's own client (/_sim) -------------------------------------------

    def bookkeeper_edit_debtor(self, company: Company, account: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Changes the named fields of a debtor (standard or user-defined), as editing it in Uniconta does."""
        definition = entity("DebtorClientUser")
        with self.lock:
            existing = company.tables["Debtor"].find(account)
            if existing is None:
                raise EntityError(404, "CouldNotFind", f"No debtor {account}")
            body = {name: out_value(value) for name, value in existing.items() if name != "RowId"}
            body.update(changes)
            body["RowId"] = existing["RowId"]
            return self.update(company, definition, [body])[0]

    # -- modification URLs (Company → Maintenance → Modification URL) -------------------------------

    def add_modification_url(self, company: Company, url: str, table: str | None = "Debtor",
                             argument: str | None = None, post: bool = False) -> dict[str, Any]:
        with self.lock:
            record = {"RowId": self.next_row_id(), "Table": table, "Url": url, "Argument": argument, "Post": post,
                      "HasError": False, "ErrorMessage": None, "LastEvent": None, "_failures": 0}
            company.tables["TableChangeEvent"].add(record)
            return self.modification_url_view(record)

    @staticmethod
    def modification_url_view(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def refresh_modification_url(self, company: Company, row_id: int) -> dict[str, Any]:
        """The Refresh button: clears Has errors, so changes are sent again (missed ones are not)."""
        with self.lock:
            record = company.tables["TableChangeEvent"].rows[row_id]
            record.update(HasError=False, ErrorMessage=None, _failures=0)
            return self.modification_url_view(record)

    def record_delivery(self, delivery: Delivery, ok: bool, status: int | None, error: str | None,
                        sent: bool = True) -> dict[str, Any]:
        with self.lock:
            entry = {"id": len(self.deliveries) + 1, "company_id": delivery.company_id,
                     "setting_row_id": delivery.event_row_id, "method": delivery.method, "url": delivery.url,
                     "table": delivery.table, "row_id": delivery.row_id, "key": delivery.key,
                     "operation": delivery.operation, "sent": sent, "ok": ok, "status": status, "error": error,
                     "at": self.local_now()}
            self.deliveries.append(entry)
            return entry

    def delivery_result(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        with self.lock:
            self.record_delivery(delivery, ok=error is None, status=status, error=error)
            company = self.companies.get(delivery.company_id)
            record = company.tables["TableChangeEvent"].rows.get(delivery.event_row_id) if company else None
            if record is None:
                return
            record["LastEvent"] = self.local_now()
            if error is None:
                record["_failures"] = 0
                return
            record["_failures"] += 1
            if record["_failures"] >= self.config.has_error_after_failures:
                record["HasError"] = True
                record["ErrorMessage"] = f"{error} from {delivery.url.split('?')[0]}"


def _constant_time_equal(expected: str, presented: str) -> bool:
    import hmac
    return hmac.compare_digest(expected.encode(), presented.encode())


__all__ = ["Company", "Fault", "SimulatorState", "Table", "Usage"]
