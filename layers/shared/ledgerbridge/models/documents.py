"""Export-log records: one per document version, with its state and what happened to it."""
from __future__ import annotations

from datetime import date, datetime, timezone
import uuid
from enum import StrEnum
from typing import Literal

from pydantic import Field

from .common import utcnow
from .common import LazyModel


class DocumentState(StrEnum):
    WAITING = "waiting"  # accepted, not yet booked (not due, or retrying)
    BOOKING = "booking"  # a worker holds it; the vendor may have been contacted
    BOOKED = "booked"
    FAILED = "failed"  # stopped with a reason a bookkeeper can act on; replayable
    SUPERSEDED = "superseded"  # replaced by a newer version before it was booked
    REJECTED = "rejected"  # refused at the door (invalid input); nothing to book
    # Accepted, but every amount is zero (a closed day): logged, never queued; a resend with sales
    # supersedes it like a waiting version.
    NOTHING_TO_BOOK = "nothing_to_book"
    # Runs (company import, balance refresh) are logged beside documents:
    RUNNING = "running"
    DONE = "done"  # every company went through; a run with failed companies ends FAILED


class DocumentKind(StrEnum):
    DAILY_SETTLEMENT = "daily_settlement"
    # Goods received, a write-off or a count adjustment (models/stock.py), booked as inventory change.
    STOCK_REGISTRATION = "stock_registration"
    # The journal of a payroll run (models/payroll.py), booked as one receipt per period it concerns.
    PAYROLL_JOURNAL = "payroll_journal"
    COMPANY_IMPORT = "company_import"
    BALANCE_REFRESH = "balance_refresh"
    # A batch of customers written to the accounting system, or a comparison with it (master-data sync).
    CUSTOMER_SYNC = "customer_sync"


# Runs over companies (and sync runs), logged beside the documents that are booked; never replayed.
RUN_KINDS = frozenset({DocumentKind.COMPANY_IMPORT, DocumentKind.BALANCE_REFRESH, DocumentKind.CUSTOMER_SYNC})


class DocumentRecord(LazyModel):
    tenant_id: str
    connection_id: str
    document_id: str
    version: int = 1
    kind: str = "daily_settlement"
    business_date: date
    content_hash: str
    state: DocumentState = DocumentState.WAITING
    reason: str | None = None
    gross_total: str | None = None
    currency: str = "NOK"
    vendor_document_id: str | None = None
    vendor_document_number: str | None = None
    attempts: int = 0
    # Failed only because retries ran out (vendor down): a DLQ redrive may take it up again.
    failure_transient: bool = False
    # Vendor-specific checkpoints of a booking in progress (attachment id, voucher id, ...). A
    # document booked as several vendor documents keeps each part's under "<part>/<key>".
    progress: dict[str, str] = Field(default_factory=dict)
    # The parts a document books as, in booking order (a payroll journal: its periods); empty: one voucher.
    parts: list[str] = Field(default_factory=list)
    payload_key: str
    received_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    booked_at: datetime | None = None
    booking_lease: str | None = None
    # A BOOKING document belongs to its worker until this moment (epoch ms): the end of that
    # worker's invocation. After it, the worker is provably gone and another may take over.
    lease_until_ms: int | None = None
    # When the pending retry is due (shown in the export log).
    retry_not_before: datetime | None = None
    # A job for this document is in the queue until about then (epoch ms): schedule runs and
    # "transfer now" do not queue a second one meanwhile (repositories.documents.mark_queued).
    queued_until_ms: int | None = None
    # Runs: what happened to each company ({company_id: {"state", "reason", ...}}) and totals.
    outcomes: dict[str, dict[str, str]] = Field(default_factory=dict)
    summary: dict[str, int] = Field(default_factory=dict)

    @property
    def is_run(self) -> bool:
        return self.kind in RUN_KINDS

    def queued(self, now_ms: int) -> bool:
        return (self.queued_until_ms or 0) > now_ms

    def lease_alive(self, now_ms: int) -> bool:
        return self.state == DocumentState.BOOKING and (self.lease_until_ms or 0) > now_ms

    @property
    def vendor_contacted(self) -> bool:
        """The vendor may hold a document of this version (we sent it, or it answered with an id)."""
        return any(self.progress.get(part_key(part, key)) for part in self.part_names
                   for key in ("submitted", "vendor_document_id"))

    @property
    def in_doubt(self) -> list[str | None]:
        """The parts sent without a clear answer (None: the document's one voucher)."""
        return [part for part in self.part_names if self.progress.get(part_key(part, "submitted"))
                and not self.progress.get(part_key(part, "vendor_document_id"))]

    @property
    def part_names(self) -> list[str | None]:
        return list(self.parts) or [None]

    @property
    def reference(self) -> str:
        """Our reference, written into the vendor document so a retry can find what we booked."""
        import hashlib

        digest = hashlib.sha256(
            f"{self.tenant_id}/{self.connection_id}/{self.document_id}/{self.version}".encode()
        ).hexdigest()
        return f"LB-{digest[:16]}"


def part_key(part: str | None, key: str) -> str:
    """The progress key of ``key`` for one part of a document (the plain key for a one-voucher document)."""
    return f"{part}/{key}" if part else key


class PartView(LazyModel):
    """One vendor document of a document booked as several (a payroll journal's receipt for a period)."""

    part: str = Field(description="e.g. the period 2026-01")
    state: Literal["pending", "sent", "booked"] = Field(
        description="pending: not sent yet; sent: sent, its answer not yet known (looked up before anything is "
                    "sent again); booked: at the vendor")
    vendor_document_id: str | None = None
    vendor_document_number: str | None = None
    vendor_status: str | None = Field(None, description="the vendor's state of it, e.g. UNFINISHED or APPROVED")


class DocumentView(LazyModel):
    document_id: str
    version: int
    kind: str
    business_date: date
    state: DocumentState
    reason: str | None
    gross_total: str | None
    currency: str
    vendor_document_id: str | None
    vendor_document_number: str | None
    attempts: int
    reference: str
    retry_not_before: datetime | None = None
    received_at: datetime
    updated_at: datetime
    booked_at: datetime | None
    outcomes: dict[str, dict[str, str]] = Field(default_factory=dict)
    summary: dict[str, int] = Field(default_factory=dict)
    parts: list[PartView] = Field(default_factory=list, description="a document booked as several vendor "
                                  "documents (a payroll journal: one receipt per period): each one's state")

    @classmethod
    def of(cls, record: DocumentRecord) -> "DocumentView":
        data = record.model_dump()
        # A voucher that exists at the vendor is shown even before the booking completed.
        data["vendor_document_id"] = data["vendor_document_id"] or record.progress.get("vendor_document_id")
        data["vendor_document_number"] = (data["vendor_document_number"]
                                          or record.progress.get("vendor_document_number"))
        progress = record.progress
        data["parts"] = [PartView(
            part=part, vendor_document_id=progress.get(part_key(part, "vendor_document_id")),
            vendor_document_number=progress.get(part_key(part, "vendor_document_number")),
            vendor_status=progress.get(part_key(part, "vendor_status")),
            state=("booked" if progress.get(part_key(part, "vendor_document_id")) else
                   "sent" if progress.get(part_key(part, "submitted")) else "pending"),
        ) for part in record.parts]
        return cls(**data, reference=record.reference)


class TransferJob(LazyModel):
    """The SQS message body: book one document version. ``job_id`` keys idempotency per message."""

    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    tenant_id: str
    connection_id: str
    document_id: str
    version: int
    trigger: str = "schedule"  # schedule | manual | replay | wait
    requested_at: datetime = Field(default_factory=utcnow)
    # Deliveries of earlier messages of this job that ended in a fault: a job that waited (for the
    # vendor to settle a post, for another worker) goes on as a new message and keeps its count.
    prior_attempts: int = Field(default=0, ge=0)


class RunJob(LazyModel):
    """The SQS message body of a run over a connection's companies (import or balance refresh).

    A run that cannot finish within one invocation hands over to a new message with the same
    ``run_id``; companies already done in the run are skipped, so a redelivery resumes too.
    """

    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    kind: Literal["company_import", "balance_refresh"]
    tenant_id: str
    connection_id: str
    run_id: str
    company_ids: list[str] | None = None  # None: every ready company
    as_of: date | None = None
    period_from: date | None = None
    trigger: str = "schedule"
    requested_at: datetime = Field(default_factory=utcnow)
    prior_attempts: int = Field(default=0, ge=0)  # as for TransferJob


class ConnectionDueJob(LazyModel):
    """The SQS message body the scheduler sends per due connection: "plan this connection's run
    for ``due_at``". A worker expands it into the connection's document jobs or its run
    (services.transfers.plan_due); the scheduler itself only pages the ``due`` index.

    ``job_id`` is derived from (tenant, connection, due time), not random: a scheduler cut off
    before it advanced the connection, or two invocations racing, send the same job again, and
    the worker's idempotency (keyed on ``job_id``) expands it once.
    """

    type: Literal["connection_due"] = "connection_due"
    job_id: str = ""
    tenant_id: str
    connection_id: str
    due_at: datetime
    # When the scheduler planned it (its EventBridge event time): the clock the run's window,
    # its queued marks and its "left behind" reasons are judged by, as if planned then.
    planned_at: datetime
    trigger: str = "schedule"
    prior_attempts: int = Field(default=0, ge=0)  # as for TransferJob (never waits, but read by the worker)

    def model_post_init(self, __context: object) -> None:
        if not self.job_id:
            self.job_id = due_job_id(self.tenant_id, self.connection_id, self.due_at)


def due_job_id(tenant_id: str, connection_id: str, due_at: datetime) -> str:
    """One id per (connection, due time): the worker's idempotency key for its expansion."""
    import hashlib

    moment = due_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(f"{tenant_id}/{connection_id}".encode()).hexdigest()[:24]
    return f"due-{digest}-{moment}"
