"""TwentyFourSevenSimulator: runs the SOAP app on a threaded werkzeug server in a daemon thread."""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from ..serving import ServedSimulator
from .app import (ACCOUNT_PATH, ATTACHMENT_PATH, AUTH_PATH, CLIENT_PATH, PRODUCT_PATH, SERVICES, TRANSACTION_PATH,
                  create_app)
from .config import SimulatorConfig
from .state import Account, Entry, Fault, SimulatorState


class TwentyFourSevenSimulator(ServedSimulator):
    """In-process 24SevenOffice SOAP simulator.

    >>> with TwentyFourSevenSimulator() as sim:      # starts on 127.0.0.1 with a free port
    ...     auth = zeep.Client(wsdl_path).create_service("{http://24sevenOffice.com/webservices}AuthenticateSoap",
    ...                                                  sim.url("auth"))
    """

    SERVICE_PATHS = {"auth": AUTH_PATH, "client": CLIENT_PATH, "account": ACCOUNT_PATH,
                     "transaction": TRANSACTION_PATH, "attachment": ATTACHMENT_PATH, "product": PRODUCT_PATH}

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.state = SimulatorState(self.config)
        super().__init__()
        self.app = create_app(self.config, self.state, self._stop_event)

    thread_name = "twentyfourseven-simulator"

    # -- addresses -------------------------------------------------------------------------------

    def url(self, service: str) -> str:
        """Endpoint URL of "auth", "client", "account", "transaction", "attachment" or "product"."""
        if self.base_url is None:
            raise RuntimeError("simulator not started")
        return self.base_url + self.SERVICE_PATHS[service]

    def wsdl_path(self, service: str) -> Path:
        """Local WSDL file of "auth", "client", "account", "transaction", "attachment" or "product"."""
        path = self.SERVICE_PATHS[service]
        return Path(self.config.wsdl_dir) / next(s.wsdl_file for s in SERVICES if s.path == path)

    # -- test helpers: data ----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to seed data: drops added data, sessions, faults, counters, login history and clock offset."""
        self.state.reset()

    def add_user(self, username: str, password: str, name: str | None = None) -> None:
        self.state.add_user(username, password, name)

    def add_client(self, name: str, organization_number: str,
                   accounts: Iterable[Account | tuple] | None = None, **kwargs: Any) -> int:
        """Adds a company; accounts as Account or (account_no, name[, tax_no]); default the standard chart.
        Keyword options: tax_codes, transaction_types, client_id, default_currency, address, fiscal_years,
        locked_years, departments [(id, name)], type_groups [(account_no, name[, module])] (default: a sales
        type per 3xxx account, a purchase type per input-VAT account), products [Product]. Returns the id."""
        return self.state.add_client(name, organization_number, accounts, **kwargs)

    def client_id(self, name: str) -> int:
        with self.state.lock:
            return next(c.id for c in self.state.clients.values() if c.name == name)

    def grant(self, username: str, client_id: int, default: bool = False) -> str:
        """Gives the user access to the client; returns the identity id."""
        return self.state.grant(username, client_id, default)

    def revoke(self, username: str, client_id: int) -> None:
        self.state.revoke(username, client_id)

    def disable_identity(self, username: str, client_id: int, disabled: bool = True) -> None:
        self.state.set_identity_disabled(username, client_id, disabled)

    def identity_id(self, username: str, client_id: int) -> str:
        with self.state.lock:
            return next(i.id for i in self.state.user(username).identities if i.client_id == client_id)

    def add_account(self, client_id: int, account_no: int, name: str, tax_no: int = 0) -> None:
        self.state.add_account(client_id, account_no, name, tax_no)

    def remove_account(self, client_id: int, account_no: int) -> None:
        self.state.remove_account(client_id, account_no)

    def change_password(self, username: str, new_password: str) -> None:
        """Sets a new password; the user's sessions end."""
        self.state.change_password(username, new_password)

    def add_voucher(self, client_id: int, voucher_date: date, lines: Iterable[tuple],
                    transaction_type_id: int = 1, registered: datetime | None = None) -> int:
        """Books [(account_no, Decimal amount, comment)], debit positive; returns the TransactionNo.
        ValueError if unbalanced, an account is unknown or an amount has more than 2 decimals."""
        return self.state.add_voucher(client_id, voucher_date, lines, transaction_type_id, registered)

    def generate_transactions(self, client_id: int, account_no: int, contra_account_no: int, count: int,
                              start: date, end: date, seed: int = 0) -> list[int]:
        """``count`` deterministic two-line vouchers spread from start to end; returns their TransactionNos."""
        return self.state.generate_transactions(client_id, account_no, contra_account_no, count, start, end, seed)

    def populate(self, username: str, count: int, seed: int = 0) -> list[int]:
        """Adds ``count`` companies (standard chart, a few vouchers each) granted to the user; their ids."""
        return self.state.populate(username, count, seed)

    def transactions(self, client_id: int) -> list[Entry]:
        """The client's ledger lines (copies), in booking order."""
        with self.state.lock:
            return [copy.copy(e) for e in self.state.client(client_id).entries]

    def balance(self, client_id: int, account_no: int, before: date | None = None) -> Decimal:
        with self.state.lock:
            return sum((e.amount for e in self.state.client(client_id).entries
                        if e.account_no == account_no and (before is None or e.date < before)), Decimal("0.00"))

    # -- test helpers: the booking side (departments, type groups, products, fiscal years) ---------

    def add_department(self, client_id: int, department_id: int, name: str) -> None:
        self.state.add_department(client_id, department_id, name)

    def remove_department(self, client_id: int, department_id: int) -> None:
        self.state.remove_department(client_id, department_id)

    def set_type_group(self, client_id: int, account_no: int, name: str | None = None, module: str = "Sale") -> int:
        """Gives the account a type group (sales type; module "Purchase" for a purchase type), replacing the one
        it had in that module; returns the type group id."""
        return self.state.set_type_group(client_id, account_no, name, module)

    def remove_type_group(self, client_id: int, account_no: int, module: str = "Sale") -> None:
        self.state.remove_type_group(client_id, account_no, module)

    def add_transaction_type(self, client_id: int, type_id: int, no: int, title: str, turnover: bool = False) -> None:
        self.state.add_transaction_type(client_id, type_id, no, title, turnover)

    def remove_transaction_type(self, client_id: int, no: int) -> None:
        self.state.remove_transaction_type(client_id, no)

    def add_product(self, client_id: int, no: str, name: str, price: Any = "0.00", tax_rate: Any = "25",
                    **fields: Any) -> int:
        """Adds a product (e.g. no="GIFTCARD"); returns its Id."""
        return self.state.add_product(client_id, no, name, price, tax_rate, **fields)

    def remove_product(self, client_id: int, no: str) -> None:
        self.state.remove_product(client_id, no)

    def set_fiscal_year_locked(self, client_id: int, year: int, locked: bool = True) -> None:
        """Locks (closes) or opens the fiscal year, creating it if missing."""
        self.state.set_fiscal_year_locked(client_id, year, locked)

    def remove_fiscal_year(self, client_id: int, year: int) -> None:
        self.state.remove_fiscal_year(client_id, year)

    # -- test helpers: what a hub booked (ledger, voucher reception, attachments) -----------------
    # Amounts are Decimal, dates date/datetime; the /_sim endpoints give the same dicts as JSON (strings).

    def vouchers(self, client_id: int, text: str | None = None) -> list[dict[str, Any]]:
        """Ledger vouchers (lines grouped by TransactionNo), by number; with ``text`` only those with a line
        comment containing it. Keys: transaction_no, date, transaction_type_ids, origin ("helper",
        "SaveBundleList", "voucher reception"), registered, comments, department_ids, stamp_nos, files,
        balance, lines [{account_no, date, amount, tax_no, department_id, project_id, customer_id, comment,
        stamp_no}]."""
        return self.state.vouchers(client_id, text)

    def voucher_reception(self, client_id: int) -> list[dict[str, Any]]:
        """Drafts in voucher reception (SaveBundleList SaveOption=1), oldest first. Keys: draft_id, client_id,
        created, bundle_name, year_id, sort, transaction_type_id, transaction_no (0 = numbered at approval),
        allow_difference, direct_ledger, bundle_direct_accounting, balanced, difference, comments, stamp_nos,
        files, lines."""
        return self.state.voucher_reception(client_id)

    def approve_draft(self, client_id: int, draft_id: int) -> int:
        """Approves a draft into the ledger as a bookkeeper would; returns its TransactionNo. KeyError if there
        is no such draft; state.DraftRefused (``problems``) if it cannot be posted (unbalanced, closed year...)."""
        return self.state.approve_draft(client_id, draft_id)

    def delete_draft(self, client_id: int, draft_id: int) -> None:
        """Discards a draft from voucher reception (a bookkeeper deleting it)."""
        self.state.delete_draft(client_id, draft_id)

    def find_bookings(self, client_id: int, text: str) -> dict[str, list[dict[str, Any]]]:
        """{"ledger": vouchers whose line comments contain text, "voucher_reception": drafts whose line comments
        or bundle name contain it}: e.g. exactly one booking per "[LB-...]" reference."""
        return self.state.find_bookings(client_id, text)

    def attachments(self, client_id: int) -> list[dict[str, Any]]:
        """Every AttachmentService file of the company, saved or not. Keys: file_id, client_id, type, size,
        md5, created, saved (None = never saved), location, stamp_no, flags, vouchers (TransactionNos carrying
        its stamp number), drafts (draft ids carrying it), metadata."""
        return self.state.attachments(client_id)

    def orphan_attachments(self, client_id: int) -> list[dict[str, Any]]:
        """Saved files tied to no ledger voucher and no draft by stamp number."""
        return self.state.orphan_attachments(client_id)

    def voucher_files(self, client_id: int) -> dict[int, list[int]]:
        """TransactionNo -> ids of the saved files tied to that ledger voucher (vouchers with files only)."""
        return self.state.voucher_files(client_id)

    def file_content(self, client_id: int, file_id: int) -> bytes:
        return self.state.file_content(client_id, file_id)

    # -- test helpers: sessions, clock, counters, faults ------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        """Live sessions: session_id, username, identity_id, client_id, idle_seconds."""
        return self.state.session_list()

    def expire_sessions(self, username: str | None = None) -> int:
        """Ends every session (or the user's); returns how many."""
        return self.state.expire_sessions(username)

    def advance_clock(self, seconds: float) -> None:
        self.state.advance_clock(seconds)

    def login_count(self, username: str) -> int:
        """Login calls ever made for the username (successful or not, throttled included)."""
        with self.state.lock:
            return self.state.login_totals[username.lower()]

    def request_counts(self) -> dict[str, int]:
        """SOAP calls received per operation name, e.g. {"Login": 1, "GetTransactions": 3}."""
        with self.state.lock:
            return dict(self.state.request_counts)

    def reset_counts(self) -> None:
        with self.state.lock:
            self.state.request_counts.clear()
            self.state.transaction_page_sizes.clear()

    def add_fault(self, fault: Fault) -> None:
        self.state.add_fault(fault)

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()
