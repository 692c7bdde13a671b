"""Runs over a connection's client companies: company import and balance refresh.

A run is one export-log entry (kind company_import / balance_refresh) and one SQS job. It goes
company by company and records each company's outcome in the entry as it goes, so:
- a transient vendor failure retries the job through SQS, and the retry skips companies done;
- a run that would outlast its invocation hands over to a new message with the same run id;
- a failure a user can act on (password changed, access to a client removed, an account gone)
  ends in that company's outcome, with the reason, and the run goes on with the next company.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from ..connectors import registry
from ..connectors.base import (
    COMPANIES,
    RECONCILIATION,
    AccountMissing,
    CompanyAccessLost,
    CompanyRef,
    LedgerEntry,
    LedgerMismatch,
    require,
)
from ..errors import CredentialRejected, NotConnected, PermanentVendorError, TransientVendorError, ValidationFailed
from ..models.common import utcnow
from ..models.companies import (
    AccountBalanceView,
    BalanceSnapshot,
    Company,
    CompanyStatus,
)
from ..models.connection import Connection, ConnectionStatus
from ..models.documents import DocumentKind, DocumentRecord, DocumentState, RunJob
from ..oauth.providers import provider
from ..repositories import companies as company_store
from ..repositories import connections as connection_store
from ..repositories import documents, payloads
from ..repositories.leases import LeaseBusy
from .booking import RetryLater
from .transfer_queue import enqueue

logger = Logger(child=True)

# Hand over to a new message when less than this is left of the invocation: one company's
# reads (a few calls at their timeout) must fit in what remains.
HANDOVER_MARGIN_MS = 30_000
# A company whose read was started this often in one run without finishing (the invocation was
# cut off, or the vendor kept failing for it) is given up with a reason, so it cannot hold up
# the companies after it.
MAX_COMPANY_ATTEMPTS = 3


def _ref(company: Company) -> CompanyRef:
    return CompanyRef(company_id=company.company_id, identity_id=company.identity_id, name=company.name)


def _require_connected(connection: Connection, capability: str) -> None:
    if connection.status != ConnectionStatus.CONNECTED:
        reason = f": {connection.status_reason}" if connection.status_reason else ""
        raise NotConnected(f"the connection is {connection.status.value}{reason}")
    # Building a connector contacts nobody; it only tells what the vendor can do.
    require(registry.connector_for(connection), capability, provider(connection.vendor).display_name)


# --- starting runs ----------------------------------------------------------------------------------

def _start(connection: Connection, kind: DocumentKind, run_id: str, business_date: date, trigger: str,
           **job_fields) -> str | None:
    now = utcnow()
    record = DocumentRecord(
        tenant_id=connection.tenant_id, connection_id=connection.connection_id, document_id=run_id,
        kind=kind.value, business_date=business_date, content_hash="", payload_key="",
        state=DocumentState.RUNNING, reason=f"queued ({trigger})", received_at=now, updated_at=now,
    )
    if not documents.create_run(record):
        return None  # this very run exists already
    try:
        enqueue([RunJob(kind=kind.value, tenant_id=connection.tenant_id, connection_id=connection.connection_id,
                        run_id=run_id, trigger=trigger, **job_fields)])
    except Exception:
        # Never leave a run "running" that no job will ever execute.
        documents.finish_run(record, DocumentState.FAILED, reason="could not be queued; start it again", summary={})
        raise
    return run_id


def start_import(tenant_id: str, connection_id: str) -> str:
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection, COMPANIES)
    today = utcnow().date()
    run_id = f"import-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    return _start(connection, DocumentKind.COMPANY_IMPORT, run_id, today, "manual")


def default_period(connection: Connection, now: datetime, *, closed_day: bool) -> tuple[date, date]:
    """As of today (or yesterday, the last closed day, for scheduled runs), from its month's first day."""
    local = now.astimezone(ZoneInfo(connection.schedule.timezone)).date()
    as_of = local - timedelta(days=1) if closed_day else local
    return as_of, as_of.replace(day=1)


def start_refresh(tenant_id: str, connection_id: str, *, company_ids: list[str] | None = None,
                  as_of: date | None = None, period_from: date | None = None) -> str:
    connection = connection_store.get(tenant_id, connection_id)
    _require_connected(connection, RECONCILIATION)
    default_as_of, _ = default_period(connection, utcnow(), closed_day=False)
    as_of = as_of or default_as_of
    period_from = period_from or as_of.replace(day=1)
    if period_from > as_of:
        raise ValidationFailed("period_from must not be after as_of")
    if (as_of - period_from).days > 366:
        raise ValidationFailed("the period is at most one year")
    known = {c.company_id: c for c in company_store.list_for_connection(tenant_id, connection_id)}
    ready = [c for c in known.values() if c.status == CompanyStatus.READY]
    if company_ids is not None:
        for company_id in company_ids:
            if company_id not in known:
                raise ValidationFailed(f"company {company_id} is not imported")
            if known[company_id].status != CompanyStatus.READY:
                raise ValidationFailed(f"company {known[company_id].name} is {known[company_id].status.value}; "
                                       "set it up (choose accounts) first")
    elif not ready:
        raise ValidationFailed("no company is set up for reconciliation yet")
    run_id = f"refresh-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    return _start(connection, DocumentKind.BALANCE_REFRESH, run_id, as_of, "manual", company_ids=company_ids,
                  as_of=as_of, period_from=period_from)


# A run not heard from for this long is over: its job was lost (it reached the dead-letter queue
# without a final attempt, e.g. cut off by the Lambda timeout every time). SQS retries with
# backoff end long before (MaxDeliveryAttempts x at most 15 min).
STALE_RUN_AFTER = timedelta(hours=6)


def fail_stale_runs(connection: Connection) -> int:
    """End runs still "running" that nothing will ever finish, with a reason (the scheduler's sweep).
    Measured against the clock, not the schedule's due time: the records' times are clock times."""
    now = utcnow()
    stale = [r for r in documents.in_window(connection.tenant_id, connection.connection_id, DocumentState.RUNNING,
                                            date(2000, 1, 1), date(9999, 12, 31))
             if r.is_run and r.updated_at < now - STALE_RUN_AFTER]
    for record in stale:
        documents.finish_run(record, DocumentState.FAILED, summary=record.summary,
                             reason="stopped without finishing (its job was lost or kept being cut off); "
                                    "start it again")
    return len(stale)


def start_scheduled_refresh(connection: Connection, due_at: datetime) -> int:
    """The scheduler's refresh of every ready company; one run per due time, however often it fires."""
    as_of, period_from = default_period(connection, due_at, closed_day=True)
    run_id = f"refresh-{due_at:%Y%m%dT%H%M%S}-scheduled"
    started = _start(connection, DocumentKind.BALANCE_REFRESH, run_id, as_of, "schedule",
                     as_of=as_of, period_from=period_from)
    return 1 if started else 0


# --- executing runs (the worker) ----------------------------------------------------------------------

def execute(job: RunJob, *, deadline_ms: int, final_attempt: bool = False,
            retry_delay=lambda hint: int(hint or 0)) -> dict:
    record = documents.get(job.tenant_id, job.connection_id, job.run_id, 1)
    if record.state != DocumentState.RUNNING:
        return {"outcome": "skipped", "state": record.state.value}
    try:
        connection = connection_store.get(job.tenant_id, job.connection_id)
    except Exception as exc:  # deleted meanwhile
        documents.finish_run(record, DocumentState.FAILED, reason=f"connection gone: {exc}", summary={})
        return {"outcome": "failed"}
    run = _Run(job, record, connection, deadline_ms)
    try:
        if connection.status != ConnectionStatus.CONNECTED:
            raise NotConnected(connection.status_reason or f"the connection is {connection.status.value}")
        connector = registry.connector_for(connection)
        require(connector, COMPANIES if job.kind == DocumentKind.COMPANY_IMPORT else RECONCILIATION,
                provider(connection.vendor).display_name)
        if job.kind == DocumentKind.COMPANY_IMPORT:
            finished = run.import_companies(connector)
        else:
            finished = run.refresh_balances(connector)
    except CredentialRejected as exc:
        from . import connections

        connections.mark_needs_reauth(job.tenant_id, job.connection_id, exc.message, connection.credential_version)
        return run.end_failed(exc.message)
    except (NotConnected, ValidationFailed, PermanentVendorError) as exc:
        return run.end_failed(getattr(exc, "message", str(exc)))
    except (TransientVendorError, LeaseBusy) as exc:
        reason = getattr(exc, "message", str(exc))
        if final_attempt:
            return run.end_failed(f"gave up after repeated transient failures: {reason}", transient=True)
        raise RetryLater(reason, delay=retry_delay(getattr(exc, "retry_after", None))) from exc
    except Exception as exc:
        if not final_attempt:
            raise  # SQS tries again; the companies done so far are kept
        logger.exception("run stopped by an unexpected error")
        return run.end_failed(f"stopped by an unexpected error ({type(exc).__name__}); start it again")
    if not finished:
        enqueue([job.model_copy(update={"job_id": uuid.uuid4().hex, "trigger": "handover"})])
        return {"outcome": "handed_over", "run_id": job.run_id}
    return run.end()


@dataclass
class _Run:
    job: RunJob
    record: DocumentRecord
    connection: Connection
    deadline_ms: int
    summary: dict[str, int] = field(default_factory=dict)

    def time_left(self) -> bool:
        return self.deadline_ms - time.time() * 1000 > HANDOVER_MARGIN_MS

    def outcome(self, company: Company, state: str, reason: str | None = None, **extra: str) -> None:
        entry = {"state": state, "company": company.name, **extra}
        if reason:
            entry["reason"] = reason
        documents.run_outcome(self.record, company.company_id, entry)
        self.record.outcomes[company.company_id] = entry

    def end(self) -> dict:
        record = documents.get(self.job.tenant_id, self.job.connection_id, self.job.run_id, 1)
        failed = {cid: o for cid, o in record.outcomes.items() if o.get("state") != "ok"}
        summary = self.totals(record)
        if failed:
            first = next(iter(failed.values()))
            reason = (f"{len(failed)} of {summary.get('companies', len(record.outcomes))} companies need attention; "
                      f"e.g. {first.get('company')}: {first.get('reason')}")
            state = DocumentState.FAILED
        else:
            reason, state = None, DocumentState.DONE
        documents.finish_run(record, state, reason=reason, summary=summary)
        logger.info("run finished", extra={"run_id": self.job.run_id, "kind": self.job.kind, "state": state.value,
                                           **summary})
        return {"outcome": state.value, "run_id": self.job.run_id, **summary}

    def end_failed(self, reason: str, transient: bool = False) -> dict:
        documents.finish_run(self.record, DocumentState.FAILED, reason=reason, summary=self.totals(self.record),
                             failure_transient=transient)
        logger.warning("run failed", extra={"run_id": self.job.run_id, "reason": reason})
        return {"outcome": "failed", "run_id": self.job.run_id, "reason": reason}

    def totals(self, record: DocumentRecord) -> dict[str, int]:
        if self.job.kind == DocumentKind.COMPANY_IMPORT:
            companies = company_store.list_for_connection(self.job.tenant_id, self.job.connection_id)
            counts = {status.value: 0 for status in CompanyStatus}
            for company in companies:
                counts[company.status.value] += 1
            new = sum(1 for c in companies if c.imported_at >= record.received_at)
            return {"companies": len(companies), **counts, "new": new}
        states = [o.get("state") for o in record.outcomes.values()]
        return {"companies": len(states), "ok": states.count("ok"), "failed": len(states) - states.count("ok"),
                "entries": sum(int(o.get("entries", 0)) for o in record.outcomes.values())}

    # --- company import ------------------------------------------------------------------------
    def import_companies(self, connector) -> bool:
        tenant_id, connection_id = self.job.tenant_id, self.job.connection_id
        listed = {c.company_id: c for c in connector.list_companies() if c.accessible}
        known = {c.company_id: c for c in company_store.list_for_connection(tenant_id, connection_id)}
        if not listed and known:
            # Every client at once is far likelier a hiccup or a user change than access removed
            # from each: mark nothing, and say so.
            raise ValidationFailed("the integration user reaches no client companies in 24SevenOffice right now; "
                                   "nothing was changed — check its access, then import again")
        for company_id, found in listed.items():
            if company_id not in known:
                # Keyed by the vendor's client id: a second import (or a redelivery) cannot duplicate it.
                company_store.create(Company(tenant_id=tenant_id, connection_id=connection_id, company_id=company_id,
                                             identity_id=found.identity_id, name=found.name))
                continue

            def seen(company: Company, found=found) -> bool | None:
                restored = company.status == CompanyStatus.ACCESS_LOST
                if not restored and company.name == found.name and company.identity_id == found.identity_id:
                    return False
                company.name, company.identity_id = found.name, found.identity_id
                if restored:  # access granted again: the setup it had is kept
                    company.status = CompanyStatus.READY if company.set_up else CompanyStatus.NOT_SET_UP
                    company.status_reason = None
                return True

            company_store.update(tenant_id, connection_id, company_id, seen)
        for company_id, company in known.items():
            if company_id not in listed and company.status != CompanyStatus.ACCESS_LOST:
                self._lose_access(company)
        # Details (organisation number, currency) need the company's identity: one by one.
        # A company described before has its currency even when it has no organisation number
        # (not every client has one): it is not described again, so a run that hands over
        # never repeats such companies and always gets further.
        for company in company_store.list_for_connection(tenant_id, connection_id):
            if (company.organisation_number or company.currency or company.status == CompanyStatus.ACCESS_LOST
                    or company.company_id in self.record.outcomes):
                continue
            if not self.time_left():
                return False
            try:
                details = connector.describe_company(_ref(company))
            except CompanyAccessLost:
                self._lose_access(company)
                continue
            except PermanentVendorError as exc:
                if isinstance(exc, CredentialRejected):
                    raise
                self.outcome(company, "failed", f"24SevenOffice refused to describe it: {exc.message}")
                continue

            def detail(current: Company, details=details) -> None:
                current.organisation_number = details.organisation_number
                current.currency = details.currency
                current.name = details.name or current.name

            company_store.update(tenant_id, connection_id, company.company_id, detail)
        return True

    def _lose_access(self, company: Company) -> None:
        reason = ("the integration user no longer has access to this client in 24SevenOffice; give it access "
                  "again and re-import")

        def lose(current: Company) -> bool | None:
            if current.status == CompanyStatus.ACCESS_LOST:
                return False
            current.status = CompanyStatus.ACCESS_LOST
            current.status_reason = reason
            return True

        company_store.update(company.tenant_id, company.connection_id, company.company_id, lose)
        self.outcome(company, "access_lost", reason)

    # --- balance refresh -----------------------------------------------------------------------
    def refresh_balances(self, connector) -> bool:
        job = self.job
        wanted = set(job.company_ids) if job.company_ids is not None else None
        self._restore_access(connector)
        for company in company_store.list_for_connection(job.tenant_id, job.connection_id):
            previous = self.record.outcomes.get(company.company_id)
            if previous and previous.get("state") != "started":
                continue  # done earlier in this run
            if wanted is not None and company.company_id not in wanted:
                continue
            if company.status != CompanyStatus.READY:
                if wanted is not None:
                    self.outcome(company, "skipped", f"the company is {company.status.value}")
                continue
            attempts = int(previous.get("attempts", "0")) if previous else 0
            if attempts >= MAX_COMPANY_ATTEMPTS:
                self.outcome(company, "failed", f"its balances could not be read in {attempts} attempts "
                             f"({previous.get('last_error') or 'the read was cut off'}); refresh it again later")
                continue
            if not self.time_left():
                return False
            self.outcome(company, "started", attempts=str(attempts + 1))
            try:
                self._refresh_company(connector, company)
            except (TransientVendorError, LeaseBusy) as exc:
                self.outcome(company, "started", attempts=str(attempts + 1),
                             last_error=getattr(exc, "message", str(exc))[:300])
                raise
        return True

    def _restore_access(self, connector) -> None:
        """A company whose access came back is refreshed again without waiting for a re-import
        (one GetIdentities call). Losing access is noticed when its identity is refused."""
        lost = [c for c in company_store.list_for_connection(self.job.tenant_id, self.job.connection_id)
                if c.status == CompanyStatus.ACCESS_LOST]
        if not lost:
            return
        listed = {c.company_id: c for c in connector.list_companies() if c.accessible}
        for company in lost:
            found = listed.get(company.company_id)
            if found is None:
                continue

            def restore(current: Company, found=found) -> bool | None:
                if current.status != CompanyStatus.ACCESS_LOST:
                    return False
                current.identity_id, current.name = found.identity_id, found.name
                current.status = CompanyStatus.READY if current.set_up else CompanyStatus.NOT_SET_UP
                current.status_reason = None
                return True

            company_store.update(company.tenant_id, company.connection_id, company.company_id, restore)

    def _refresh_company(self, connector, company: Company) -> None:
        job = self.job
        accounts = [a.account for a in company.accounts]
        # Each read writes under its own id: two executions of one run (a duplicate delivery) never
        # mix their chunks, and the snapshot names the read whose chunks it counts.
        read_id = f"{job.run_id}-{uuid.uuid4().hex[:8]}"
        sink = LedgerSink(job.tenant_id, job.connection_id, company.company_id, read_id)
        try:
            balances = connector.read_ledger(_ref(company), accounts, job.period_from, job.as_of, sink)
        except CompanyAccessLost:
            self._lose_access(company)
            return
        except LedgerMismatch as exc:
            detail = "; ".join(f"account {a}: the entries give {ours}, 24SevenOffice's balance is {theirs}"
                               for a, ours, theirs in exc.differences)
            self.outcome(company, "failed", f"24SevenOffice's balances and entries do not agree ({detail}); "
                         "nothing was stored")
            return
        except PermanentVendorError as exc:
            if isinstance(exc, CredentialRejected):
                raise  # the whole connection: handled by execute()
            self.outcome(company, "failed", f"24SevenOffice refused to read it: {exc.message}")
            return
        except AccountMissing as exc:
            reason = (f"account{'s' if len(exc.accounts) > 1 else ''} {', '.join(exc.accounts)} no longer "
                      f"exist{'' if len(exc.accounts) > 1 else 's'} in the chart of accounts of {company.name}; "
                      "choose the accounts to reconcile again")

            def flag(current: Company) -> None:
                current.last_error = reason

            company_store.update(company.tenant_id, company.connection_id, company.company_id, flag)
            self.outcome(company, "failed", reason)
            return
        names = {a.account: a.name for a in company.accounts}
        snapshot = BalanceSnapshot(
            as_of=job.as_of, period_from=job.period_from, run_id=job.run_id, read_id=read_id, refreshed_at=utcnow(),
            currency=company.currency,
            accounts=[AccountBalanceView(account=b.account, name=names.get(b.account, ""), opening=b.opening,
                                         movement=b.movement, closing=b.closing, entries=b.entries,
                                         parts=sink.parts.get(b.account, 0)) for b in balances],
        )

        def store(current: Company) -> bool | None:
            if [a.account for a in current.accounts] != accounts:
                return False  # the setup changed while we read: these balances answer the old one
            current.balances = snapshot
            current.last_error = None
            return True

        stored = company_store.update(company.tenant_id, company.connection_id, company.company_id, store)
        if stored.balances is None or stored.balances.read_id != read_id:
            self.outcome(company, "skipped", "the accounts to reconcile changed during the refresh; refresh again")
            return
        self.outcome(company, "ok", accounts=str(len(balances)), entries=str(sum(b.entries for b in balances)))


class LedgerSink:
    """Writes each chunk of entries the connector reads as one S3 object: memory stays bounded."""

    def __init__(self, tenant_id: str, connection_id: str, company_id: str, read_id: str):
        self.args = (tenant_id, connection_id, company_id, read_id)
        self.parts: dict[str, int] = {}

    def write(self, account: str, entries: list[LedgerEntry]) -> None:
        part = self.parts.get(account, 0)
        body = "".join(json.dumps(e.model_dump(mode="json"), ensure_ascii=False) + "\n" for e in entries)
        payloads.put_lines(payloads.ledger_part_key(*self.args, account, part), body.encode())
        self.parts[account] = part + 1
