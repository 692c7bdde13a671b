"""Master-data sync: customers kept in step between a source system and an accounting system.

The flow, vendor-neutral (the vendor's part is a ``RecordSync`` connector):

1. **Setup** (``save_setup``): the tag, the fields carried (validated against the fields the vendor's
   records really have), who is master of each field. Saving it makes the connection's notification
   secret (shown once) for the vendor's change notifications.
2. **Push** (``push``): the source sends customers; each one's carried values are hashed. A customer
   whose hash is unchanged costs nothing (no queue, no vendor call); an untagged one stops syncing;
   the rest are marked pending and one job is queued. The push itself never calls the vendor.
3. **Write** (a ``push`` job, in the worker, under the connection's sync lease): new customers in one
   batch create, changed ones as updates of the whole record as last seen, each side's values and
   hashes kept in the sync table.
4. **Vendor changes** (a ``vendor_change`` job, queued by the receiver): the changed record (posted
   with the notification, else read) is compared with what the hub last saw and what the source has;
   what differs from both goes to the changes feed (and the source's webhook), so the hub's own writes
   never bounce back. A source-mastered field changed in the vendor is put back.
5. **Check** (a ``check`` job, on the schedule or on demand): the vendor's view of its notification
   link, and a comparison of every synced record with what the hub last saw: what no notification
   brought is caught up, and the connection says when the link is broken and how to mend it.

Sync spends the smaller ``sync`` part of a vendor's daily call budget; what does not fit waits for the
next day (pending in the sync table, the reason in the sync health).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aws_lambda_powertools import Logger

from ..connectors import registry
from ..connectors.base import MASTER_DATA, NotificationHealth, RecordExists, RecordSync, require
from ..credentials import store_webhook_secret, webhook_secret
from ..domain.master_data import BadValue, carried, content_hash, from_source, from_vendor, unknown_fields
from ..errors import (
    BudgetExhausted,
    Conflict,
    CredentialRejected,
    NotConnected,
    NotFound,
    PermanentVendorError,
    ValidationFailed,
)
from ..models.common import utcnow
from ..models.connection import Connection, ConnectionStatus
from ..models.documents import DocumentKind, DocumentRecord, DocumentState
from ..models.sync import (
    ChangesPage,
    PushAnswer,
    RecordChange,
    PushResult,
    RecordKind,
    RecordPush,
    RecordSchema,
    SyncJob,
    SyncSetup,
    SyncView,
    VendorChange,
)
from ..oauth.providers import provider
from ..repositories import connections as connection_store
from ..repositories import documents
from ..repositories import leases
from ..repositories import sync_records as store
from ..repositories.leases import LeaseBusy
from ..repositories.sync_records import SyncRecord, format_cursor
from ..settings import get_settings
from . import notification_secrets
from .booking import RetryLater
from .transfer_queue import enqueue

logger = Logger(child=True)

KIND = RecordKind.CUSTOMER
CREATE_BATCH = 100  # rows per batch create (one call each)
LEASE_SECONDS = 120
# "Last notification at" is written at most this often: a burst of notifications is not a burst of
# connection writes (each one conditional, contending with the API's own).
NOTIFICATION_MARK_SECONDS = 60  # the sync lease: longer than any one step (a batch create, a page of a check)


# -- setup -------------------------------------------------------------------------------------------------


def _connected(connection: Connection) -> None:
    if connection.status == ConnectionStatus.CREATED:
        raise NotConnected(f"store the login first (PUT /connections/{connection.connection_id}/credential)")


def _connector(connection: Connection) -> RecordSync:
    connector = registry.connector_for(connection)
    require(connector, MASTER_DATA, provider(connection.vendor).display_name)
    return connector  # type: ignore[return-value]


def receiver_url(connection: Connection) -> str:
    return f"{get_settings().hooks_base_url.rstrip('/')}/{connection.vendor}/{connection.tenant_id}/" \
           f"{connection.connection_id}"


def save_setup(tenant_id: str, connection_id: str, setup: SyncSetup) -> SyncView:
    """Validate the setup against the fields the vendor's customers have, then store it."""
    connection = connection_store.get(tenant_id, connection_id)
    _connected(connection)
    connector = _connector(connection)
    try:
        schema = connector.record_schema(KIND)
    except CredentialRejected as exc:
        from .connections import mark_needs_reauth  # deferred: connections imports nothing of sync

        mark_needs_reauth(tenant_id, connection_id, exc.message, connection.credential_version)
        raise NotConnected(exc.message) from exc
    resolved = validate_setup(setup, schema, provider(connection.vendor).display_name)
    argument = notification_secrets.new_secret() if not connection.notification_secret_sha256 else None
    new_webhook_secret = None
    if resolved.webhook_url and webhook_secret(tenant_id, connection_id) is None:
        new_webhook_secret = "whsec_" + secrets.token_urlsafe(32)
        store_webhook_secret(tenant_id, connection_id, new_webhook_secret)

    from .connections import planned_next_run  # deferred: see above

    def change(current: Connection) -> None:
        current.customer_sync = resolved
        if argument and not current.notification_secret_sha256:
            current.notification_secret_sha256 = notification_secrets.digest(argument)
        # Customer sync alone gives the connection a schedule (its periodic check).
        current.next_run_at = current.next_run_at or planned_next_run(current, utcnow())

    updated = connection_store.update(tenant_id, connection_id, change)
    return view(updated, argument=argument, webhook_secret=new_webhook_secret)


def validate_setup(setup: SyncSetup, schema: RecordSchema, vendor_name: str) -> SyncSetup:
    unknown = unknown_fields(setup, schema)
    if unknown:
        by_lower = {name.lower(): name for name in schema.fields}
        details = []
        for name in unknown:
            near = by_lower.get(name.lower())
            hint = f" (did you mean {near}? the names must be the same, case included)" if near else ""
            where = "fields" if name in setup.fields else "create_defaults"
            details.append({"field": f"{where}.{name}",
                            "message": f"{vendor_name}'s customers have no field {name}{hint}"})
        own = sorted(n for n, f in schema.fields.items() if f.user_defined)
        standard = [n for n, f in schema.fields.items() if not f.user_defined and n != schema.key_field]
        raise ValidationFailed(
            f"{len(unknown)} field name(s) match no field of {vendor_name}'s customers: {', '.join(unknown)}. The "
            f"names must be the same as in {vendor_name}: its standard fields ({', '.join(standard[:12])}"
            f"{', …' if len(standard) > 12 else ''})" + (f", or the company's own: {', '.join(own)}" if own else "")
            + ", or create the field there first", details=details)
    field_types = {name: schema.fields[name].type for name in setup.fields}
    typed = setup.model_copy(update={"field_types": field_types})
    problems = []
    for name, value in setup.create_defaults.items():
        try:
            carried({name: value}, typed.model_copy(update={"fields": [name], "field_types": {
                name: schema.fields[name].type}}), strict=True)
        except BadValue as exc:
            problems.append({"field": f"create_defaults.{name}", "message": str(exc)})
    if problems:
        raise ValidationFailed("; ".join(p["message"] for p in problems), details=problems)
    return typed.model_copy(update={"validated_at": utcnow()})


def rotate_notification_secret(tenant_id: str, connection_id: str) -> SyncView:
    """A new Argument secret (the old one stops working at once): for a leaked link."""
    argument = notification_secrets.new_secret()

    def change(current: Connection) -> None:
        if current.customer_sync is None:
            raise Conflict("set up customer sync first (PUT /connections/{id}/customer-sync)")
        current.notification_secret_sha256 = notification_secrets.digest(argument)

    return view(connection_store.update(tenant_id, connection_id, change), argument=argument)


def view(connection: Connection, *, argument: str | None = None, webhook_secret: str | None = None,
         counts: bool = False) -> SyncView:
    records: dict[str, int] = {}
    if counts and connection.customer_sync is not None:
        records = store.counts(connection.tenant_id, connection.connection_id, KIND)
    return SyncView(setup=connection.customer_sync, health=connection.sync_health,
                    notification_url=receiver_url(connection) if connection.customer_sync else None,
                    notification_argument=argument, webhook_secret=webhook_secret, records=records)


def get_view(tenant_id: str, connection_id: str) -> SyncView:
    return view(connection_store.get(tenant_id, connection_id), counts=True)


# -- the source pushes ---------------------------------------------------------------------------------------


def _setup_of(connection: Connection) -> SyncSetup:
    if connection.customer_sync is None:
        raise Conflict(f"customer sync is not set up for this connection: PUT "
                       f"/connections/{connection.connection_id}/customer-sync first")
    return connection.customer_sync


def _has_tag(tags: Iterable[str], tag: str) -> bool:
    wanted = tag.casefold()
    return any(t.casefold() == wanted for t in tags)


def push(tenant_id: str, connection_id: str, batch: RecordPush) -> PushAnswer:
    """Take a batch of the source's customers: queue what changed, answer per customer. No vendor call."""
    connection = connection_store.get(tenant_id, connection_id)
    _connected(connection)
    setup = _setup_of(connection)
    connector = _connector(connection)
    existing = store.get_many(tenant_id, connection_id, KIND, [c.id for c in batch.customers])
    results: list[PushResult] = []
    changed: list[SyncRecord] = []
    for customer in batch.customers:
        record = existing.get(customer.id)
        if not _has_tag(customer.tags, setup.tag):
            if record is not None and record.tagged:
                # Syncing stops; nothing is deleted in the vendor. Tagged again later, it is synced in full.
                changed.append(record.model_copy(update={"tagged": False, "pending": False, "full": True,
                                                         "updated_at": utcnow()}))
                results.append(PushResult(id=customer.id, outcome="untagged",
                                          reason=f"the tag {setup.tag!r} was removed: no longer synced"))
            else:
                results.append(PushResult(id=customer.id, outcome="not_tagged"))
            continue
        try:
            vendor_key = record.vendor_key if record and record.vendor_key else connector.vendor_key(KIND, customer.id)
            values = carried(customer.fields, setup, strict=True)
        except ValueError as exc:  # BadValue is one
            results.append(PushResult(id=customer.id, outcome="refused", reason=str(exc)))
            continue
        digest = content_hash(True, values)
        if record is not None and record.tagged and record.source_hash == digest and not record.last_error:
            results.append(PushResult(id=customer.id, outcome="queued" if record.pending else "unchanged"))
            continue
        if (record is not None and record.tagged and not record.full and not record.pending
                and record.vendor_fields is not None
                and from_source(setup, values, record.source_synced, record.vendor_fields, full=False).write is None):
            # The source took a change made in the vendor (from the feed) and sends it back: the vendor
            # has these values already. Recorded, not written: no call.
            changed.append(record.model_copy(update={"source_fields": values, "source_hash": digest,
                                                     "source_synced": dict(values), "last_error": None,
                                                     "updated_at": utcnow()}))
            results.append(PushResult(id=customer.id, outcome="unchanged"))
            continue
        base = record or SyncRecord(source_id=customer.id, vendor_key=vendor_key, full=True)
        changed.append(base.model_copy(update={
            "tagged": True, "source_fields": values, "source_hash": digest, "pending": True, "last_error": None,
            "full": base.full or not base.tagged, "vendor_key": vendor_key, "updated_at": utcnow()}))
        results.append(PushResult(id=customer.id, outcome="queued"))
    store.put_many(tenant_id, connection_id, KIND, changed)
    queued = [r.source_id for r in changed if r.pending and r.tagged]
    if queued:
        enqueue([SyncJob(action="push", tenant_id=tenant_id, connection_id=connection_id, source_ids=queued,
                         run_id=_run_id("push"))])
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return PushAnswer(results=results, counts=counts)


def changes(tenant_id: str, connection_id: str, cursor: str | None, limit: int) -> ChangesPage:
    connection = connection_store.get(tenant_id, connection_id)
    _setup_of(connection)
    after = format_cursor(int(cursor)) if cursor else format_cursor(0)
    entries, more = store.read_changes(tenant_id, connection_id, KIND, after, limit)
    return ChangesPage(changes=entries, cursor=entries[-1].cursor if entries else after, more=more)


def latest_changes(connection: Connection, limit: int = 20) -> list[RecordChange]:
    """The newest changes of the feed, newest first (the console's view; readers page with ``changes``)."""
    return store.latest_changes(connection.tenant_id, connection.connection_id, KIND, limit)


def request_check(tenant_id: str, connection_id: str) -> dict:
    connection = connection_store.get(tenant_id, connection_id)
    _connected(connection)
    _setup_of(connection)
    job = SyncJob(action="check", tenant_id=tenant_id, connection_id=connection_id, trigger="manual",
                  run_id=_run_id("check"))
    enqueue([job])
    return {"queued": True, "job_id": job.job_id}


def queue_scheduled_check(connection: Connection) -> int:
    """The schedule's comparison (called when the connection's run is planned)."""
    if connection.customer_sync is None or connection.status != ConnectionStatus.CONNECTED:
        return 0
    return enqueue([SyncJob(action="check", tenant_id=connection.tenant_id,
                            connection_id=connection.connection_id, trigger="schedule", run_id=_run_id("check"))])


# -- the worker's side ---------------------------------------------------------------------------------------


def lease_id(tenant_id: str, connection_id: str) -> str:
    return f"sync#{tenant_id}#{connection_id}"


def execute(job: SyncJob) -> dict:
    """Run a sync job under the connection's sync lease (one writer per connection: the changes feed's
    numbers are taken in order, and a debtor is never written by two workers at once)."""
    try:
        connection = connection_store.get(job.tenant_id, job.connection_id)
    except NotFound:
        return {"outcome": "skipped", "reason": "connection deleted"}
    if connection.customer_sync is None:
        return {"outcome": "skipped", "reason": "customer sync is no longer set up"}
    if connection.status != ConnectionStatus.CONNECTED:
        return {"outcome": "skipped", "reason": f"connection is {connection.status.value}: {connection.status_reason}"}
    run = _open_run(job)
    try:
        with leases.held(lease_id(job.tenant_id, job.connection_id), seconds=LEASE_SECONDS, wait=10):
            worker = _SyncWork(connection, _connector(connection))
            try:
                if job.action == "push":
                    outcome = worker.write_pending(job.source_ids)
                elif job.action == "vendor_change":
                    assert job.change is not None
                    return worker.take_change(job.change)
                else:
                    outcome = worker.check()
            except BudgetExhausted as exc:
                _set_health(connection, state="deferred", reason=exc.message)
                if run is not None:
                    documents.run_reason(run, f"waiting for tomorrow: {exc.message}")
                raise RetryLater(exc.message, delay=exc.retry_after, counts=False) from exc
            except CredentialRejected as exc:
                from .connections import mark_needs_reauth

                mark_needs_reauth(job.tenant_id, job.connection_id, exc.message, connection.credential_version)
                _close_run(run, DocumentState.FAILED, exc.message, {})
                return {"outcome": "failed", "reason": exc.message}
            except PermanentVendorError as exc:
                _close_run(run, DocumentState.FAILED, exc.message, {})
                raise
    except LeaseBusy as exc:
        # A sync job holds the lease for seconds, not its full term: come back soon, not when it would expire.
        raise RetryLater("another worker is syncing this connection", delay=min(exc.retry_after or 3, 5),
                         counts=False) from exc
    summary = {k: v for k, v in outcome.items() if isinstance(v, int)}
    failed = outcome.get("records_failed", 0)
    _close_run(run, DocumentState.FAILED if failed and failed == sum(summary.values()) else DocumentState.DONE,
               outcome.get("reason") or (f"{failed} customer(s) refused by the accounting system: see outcomes"
                                         if failed else None), summary, outcome.get("failures") or {})
    return {k: v for k, v in outcome.items() if k != "failures"}


def _run_id(action: str) -> str:
    return f"sync-{action}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def _open_run(job: SyncJob) -> DocumentRecord | None:
    """The export log's entry for a push or check (a continuation finds its own entry there already)."""
    if job.action == "vendor_change" or not job.run_id:
        return None  # one per notification would drown the log; the feed and health tell of those
    now = utcnow()
    record = DocumentRecord(tenant_id=job.tenant_id, connection_id=job.connection_id, document_id=job.run_id,
                            kind=DocumentKind.CUSTOMER_SYNC.value, business_date=now.date(), content_hash="",
                            payload_key="", state=DocumentState.RUNNING,
                            reason=f"{len(job.source_ids)} customer(s) to write" if job.action == "push"
                            else "comparing every customer with the accounting system",
                            received_at=now, updated_at=now)
    documents.create_run(record)
    return record


def _close_run(run: DocumentRecord | None, state: DocumentState, reason: str | None, summary: dict[str, int],
               outcomes: dict[str, dict[str, str]] | None = None) -> None:
    if run is None:
        return
    for source_id, outcome in list((outcomes or {}).items())[:100]:  # the first hundred are enough to act on
        documents.run_outcome(run, source_id, outcome)
    documents.finish_run(run, state, reason=reason, summary=summary)


def _set_health(connection: Connection, **changes: Any) -> None:
    def change(current: Connection) -> None:
        current.sync_health = current.sync_health.model_copy(update=changes)

    connection_store.update(connection.tenant_id, connection.connection_id, change)


class _SyncWork:
    def __init__(self, connection: Connection, connector: RecordSync):
        self.connection = connection
        self.connector = connector
        self.setup: SyncSetup = connection.customer_sync  # type: ignore[assignment]
        self.tenant_id = connection.tenant_id
        self.connection_id = connection.connection_id
        self.feed: list[dict[str, Any]] = []

    # writing the source's changes

    def write_pending(self, source_ids: list[str]) -> dict:
        records = [r for r in store.get_many(self.tenant_id, self.connection_id, KIND, source_ids).values()
                   if r.tagged and r.pending]
        created = updated = unchanged = failed = 0
        failures: dict[str, dict[str, str]] = {}
        new = [r for r in records if r.vendor_row is None]
        for start in range(0, len(new), CREATE_BATCH):
            chunk = new[start:start + CREATE_BATCH]
            outcomes = self.connector.create_records(KIND, [(r.vendor_key or r.source_id, self._new_row(r))
                                                            for r in chunk])
            adopt = []
            for record, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, dict):
                    self._seen(record, outcome, synced=True)
                    created += 1
                elif isinstance(outcome, RecordExists):
                    adopt.append(record)  # our own create whose answer was lost, or a debtor made there
                else:
                    record.last_error = _reason(outcome)
                    record.pending = False
                    failed += 1
                    failures[record.source_id] = {"state": "failed", "reason": record.last_error}
            store.put_many(self.tenant_id, self.connection_id, KIND, [r for r in chunk if r not in adopt])
            for record in adopt:
                row = self.connector.read_record(KIND, record.vendor_key or record.source_id)
                if row is None:
                    record.last_error = "the debtor number is taken but the debtor cannot be read"
                    record.pending = False
                    failed += 1
                    store.put(self.tenant_id, self.connection_id, KIND, record)
                    continue
                self._seen(record, row, synced=False)
                record.full = True
                records.append(record)  # updated below with the source's values
        to_update = [r for r in records if r.vendor_row is not None and r.pending]
        # Read before replacing (an update replaces the whole record): a change made in the vendor since
        # the hub last saw the record (its notification may still be on the way) is never overwritten.
        current = self.connector.read_records_by_key(KIND, [r.vendor_key or r.source_id for r in to_update]) \
            if to_update else {}
        for record in to_update:
            fresh = current.get(record.vendor_key or record.source_id)
            if fresh is None:
                record.vendor_row = record.vendor_fields = None  # deleted there: made again from the source's values
                record.full = True
            else:
                self._take_vendor_row(record, fresh)
            outcome = self._write(record)
            created, updated, unchanged, failed = (created, updated + (outcome == "updated"),
                                                   unchanged + (outcome == "unchanged"), failed + (outcome == "failed"))
            if outcome == "failed":
                failures[record.source_id] = {"state": "failed", "reason": record.last_error or ""}
        self._publish()
        if self.connection.sync_health.state == "deferred":  # the budget's wait is over
            _set_health(self.connection, state="ok" if self.connection.sync_health.last_check_at else "not_checked",
                        reason=None)
        # (Not "created": the worker logs this dict, and LogRecord has an attribute of that name.)
        return {"outcome": "synced", "records_created": created, "records_updated": updated,
                "records_unchanged": unchanged, "records_failed": failed, "failures": failures}

    def _new_row(self, record: SyncRecord) -> dict[str, Any]:
        defaults = carried(self.setup.create_defaults, self.setup.model_copy(update={
            "fields": list(self.setup.create_defaults)}), strict=False) if self.setup.create_defaults else {}
        row = {k: v for k, v in defaults.items() if v is not None}
        row.update({k: v for k, v in record.source_fields.items() if v is not None})
        return row

    def _write(self, record: SyncRecord) -> str:
        merge = from_source(self.setup, record.source_fields, None if record.full else record.source_synced,
                            record.vendor_fields, full=record.full)
        if merge.write is None:
            record.pending, record.full, record.synced_at = False, False, utcnow()
            record.source_synced = dict(record.source_fields)
            store.put(self.tenant_id, self.connection_id, KIND, record)
            return "unchanged"
        if record.vendor_row is None:
            outcome = self.connector.create_records(KIND, [(record.vendor_key or record.source_id,
                                                            self._new_row(record))])[0]
            if isinstance(outcome, dict):
                self._seen(record, outcome, synced=True)
                store.put(self.tenant_id, self.connection_id, KIND, record)
                return "updated"
            record.last_error, record.pending = _reason(outcome), False
            store.put(self.tenant_id, self.connection_id, KIND, record)
            return "failed"
        row = {**record.vendor_row, **merge.write}
        try:
            stored = self.connector.update_record(KIND, row)
        except PermanentVendorError as exc:
            record.last_error, record.pending = _reason(exc), False
            store.put(self.tenant_id, self.connection_id, KIND, record)
            return "failed"
        self._seen(record, stored if isinstance(stored, dict) else row, synced=True)
        store.put(self.tenant_id, self.connection_id, KIND, record)
        return "updated"

    def _seen(self, record: SyncRecord, row: dict[str, Any], *, synced: bool) -> None:
        self._take_vendor_row(record, row)
        if synced:
            record.pending, record.full, record.last_error, record.synced_at = False, False, None, utcnow()
            record.source_synced = dict(record.source_fields)
        record.updated_at = utcnow()

    def _take_vendor_row(self, record: SyncRecord, row: dict[str, Any]) -> None:
        record.vendor_row = dict(row)
        record.vendor_fields = carried(row, self.setup, strict=False)

    # taking in the vendor's changes

    def take_change(self, change: VendorChange) -> dict:
        last = self.connection.sync_health.last_notification_at
        if last is None or (change.received_at - last).total_seconds() > NOTIFICATION_MARK_SECONDS:
            _set_health(self.connection, last_notification_at=change.received_at)
        record = store.by_vendor_key(self.tenant_id, self.connection_id, KIND, change.vendor_key)
        if record is not None and not record.tagged:
            return {"outcome": "ignored", "reason": "the customer is no longer tagged"}
        row = change.row
        if change.operation != "delete" and row is None:
            row = self.connector.read_record(KIND, change.vendor_key)
        outcome = self._apply_vendor_row(record, change.vendor_key, None if change.operation == "delete" else row,
                                         created=change.operation == "insert")
        self._publish()
        return {"outcome": outcome}

    def _apply_vendor_row(self, record: SyncRecord | None, vendor_key: str, row: dict[str, Any] | None,
                          *, created: bool = False) -> str:
        if row is None:
            if record is None or record.vendor_row is None:
                return "ignored"
            self.feed.append(self._entry(record.source_id, vendor_key, "deleted", [], {}))
            record.vendor_row = record.vendor_fields = None
            record.full = True
            store.put(self.tenant_id, self.connection_id, KIND, record)
            return "deleted"
        now = carried(row, self.setup, strict=False)
        if record is None:
            # A customer made in the vendor (or one the source never tagged): the source decides.
            if not created:
                return "ignored"
            self.feed.append(self._entry(None, vendor_key, "created",
                                         [k for k, v in now.items() if v is not None], now))
            return "forwarded"
        merge = from_vendor(self.setup, now, record.vendor_fields, record.source_fields)
        self._take_vendor_row(record, row)
        if merge.forward:
            self.feed.append(self._entry(record.source_id, vendor_key, "updated", merge.forward, now))
        if merge.restore is not None:
            # The source is master of these fields: its values go back.
            record.pending = True
            store.put(self.tenant_id, self.connection_id, KIND, record)
            self._write(record)
            return "restored"
        store.put(self.tenant_id, self.connection_id, KIND, record)
        return "forwarded" if merge.forward else "echo"

    def _entry(self, source_id: str | None, vendor_key: str, operation: str, changed: list[str],
               fields: dict[str, Any]) -> dict[str, Any]:
        return {"source_id": source_id, "vendor_key": vendor_key, "operation": operation, "changed": changed,
                "fields": fields, "changed_at": utcnow()}

    # the periodic comparison

    def check(self) -> dict:
        health = self.connector.notification_health(KIND, receiver_url(self.connection))
        synced = {r.vendor_key: r for r in store.scan_partition(self.tenant_id, self.connection_id, KIND)
                  if r.tagged and r.vendor_key and r.vendor_row is not None}
        missed = 0
        for row in self.connector.read_records(KIND, self.setup.fields):
            record = synced.pop(self.connector.key_of(KIND, row), None)
            if record is None:
                continue
            if carried(row, self.setup, strict=False) != record.vendor_fields:
                if self._apply_vendor_row(record, record.vendor_key or "", row) != "echo":
                    missed += 1
        for record in synced.values():  # gone from the vendor since the hub last saw them
            self._apply_vendor_row(record, record.vendor_key or "", None)
            missed += 1
        self._publish()
        state, reason = _judge(health, missed, receiver_url(self.connection),
                               provider(self.connection.vendor).display_name)
        _set_health(self.connection, state=state, reason=reason, last_check_at=utcnow(), caught_up=missed,
                    notifications_configured=health.configured, posts_records=health.posts_records)
        return {"outcome": "checked", "state": state, "caught_up": missed, "reason": reason}

    # the changes feed and the source's webhook

    def _publish(self) -> None:
        if not self.feed:
            return
        entries = store.append_changes(self.tenant_id, self.connection_id, KIND, self.feed)
        self.feed = []
        if self.setup.webhook_url:
            error = deliver_webhook(self.connection, self.setup.webhook_url, entries)
            if error != self.connection.sync_health.webhook_error:
                _set_health(self.connection, webhook_error=error)


def _judge(health: NotificationHealth, missed: int, url: str, vendor_name: str) -> tuple[str, str | None]:
    caught = f"; the check caught up on {missed} change(s) meanwhile" if missed else ""
    if health.has_error:
        return "stalled", (f"{vendor_name} marked the notification link 'Has errors'"
                           + (f" ({health.message})" if health.message else "")
                           + " and sends nothing more: open Company > Maintenance > Modification URL in "
                             f"{vendor_name} and press Refresh" + caught)
    if not health.configured:
        return "stalled", (f"no modification URL in {vendor_name} points at this connection: add {url} for table "
                           "Debtor with the Argument shown when the sync was set up (POST "
                           "…/customer-sync/notification-secret makes a new one), and tick Post" + caught)
    if missed:
        return "ok", f"notifications work, but {missed} change(s) reached the hub only through the check"
    return "ok", None


def deliver_webhook(connection: Connection, url: str, entries: list) -> str | None:
    """POST the new changes to the source, signed; the error text, or None. Best effort: the feed keeps them."""
    import httpx

    from ..money import exact_json

    body = exact_json({"connection_id": connection.connection_id, "changes": [
        e.model_dump(mode="python") | {"changed_at": e.changed_at.isoformat()} for e in entries]}, money=False)
    try:
        secret = webhook_secret(connection.tenant_id, connection.connection_id) or ""
    except Exception:  # noqa: BLE001 - the webhook is an extra; the feed has the changes
        return "the webhook secret cannot be read"
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    try:
        response = httpx.post(url, content=body, timeout=5.0, headers={
            "Content-Type": "application/json", "X-Ledgerbridge-Signature": f"t={timestamp},v1={signature}"})
    except httpx.HTTPError as exc:
        logger.warning("webhook delivery failed", extra={"error": type(exc).__name__})
        return f"{type(exc).__name__} at {utcnow().isoformat(timespec='seconds')}"
    if response.status_code >= 300:
        logger.warning("webhook delivery refused", extra={"status": response.status_code})
        return f"HTTP {response.status_code} at {utcnow().isoformat(timespec='seconds')}"
    return None


def signature_matches(secret: str, header: str, body: bytes, *, tolerance_s: int = 300,
                      now: float | None = None) -> bool:
    """How a source checks a webhook call (documented in the README; used by the tests)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "message", None) or str(exc) or type(exc).__name__


def delete_all(tenant_id: str, connection_id: str) -> None:
    store.delete_partition(tenant_id, connection_id)

