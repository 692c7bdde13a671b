"""The transfer worker's core: book one document exactly once.

Exactly-once rests on three things:
1. a claim with a fresh lease (conditional write) fences every later write of this attempt;
2. checkpoints persisted around each vendor step, SUBMITTED written before the creating call;
3. after SUBMITTED without a recorded vendor id, the vendor is searched for our reference and
   the post is repeated only when the search proves absence. A failed search is a transient
   error: we would rather wait than risk a second voucher.
"""
from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from ..connectors import registry
from ..connectors.base import (
    SUBMITTED,
    VENDOR_DOCUMENT_ID,
    AttachmentFile,
    BookingConnector,
    Checkpoints,
    PreflightCheck,
    receipt_checkpoints,
)
from ..domain.payroll import build_payroll_vouchers
from ..domain.vouchers import SetupIncomplete, build_settlement_voucher, build_stock_voucher
from ..errors import (
    BudgetExhausted,
    CredentialRejected,
    NotConnected,
    NotFound,
    PermanentVendorError,
    TransientVendorError,
)
from ..models.common import utcnow
from ..models.connection import AccountSetup, Connection, ConnectionStatus
from ..models.documents import DocumentKind, DocumentRecord, DocumentState, TransferJob, part_key
from ..models.ledger import Voucher
from ..models.payroll import PAYROLL_NOTHING_TO_BOOK_REASON, PayrollJournal, PayrollSetup
from ..models.settlement import Attachment, Settlement
from ..models.stock import STOCK_NOTHING_TO_BOOK_REASON, StockRegistration
from ..oauth.providers import provider
from ..repositories import documents, payloads
from ..repositories.documents import LeaseLost
from ..repositories.leases import LeaseBusy
from ..settings import get_settings
from . import connections

logger = Logger(child=True)



class RetryLater(Exception):
    """Put the job back on the queue; ``delay`` is the vendor's hint, if any.

    ``counts=False`` marks a wait that is no fault (the vendor still settling a post, another
    worker holding the document): it must not use up the attempts that faults are allowed.
    """

    def __init__(self, reason: str, delay: float | None = None, *, counts: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.counts = counts


@dataclass
class DocumentCheckpoints:
    record: DocumentRecord
    lease: str

    def get(self, key: str) -> str | None:
        return self.record.progress.get(key)

    def save(self, key: str, value: str) -> None:
        self.save_all({key: value})

    def save_all(self, values: Mapping[str, str]) -> None:
        documents.save_progress(self.record, self.lease, values)
        self.record.progress.update(values)

    def clear(self, key: str) -> None:
        documents.clear_progress(self.record, self.lease, key)
        self.record.progress.pop(key, None)


@dataclass
class PartCheckpoints:
    """One part's checkpoints inside its document's (keys "<part>/<key>"): the same claim fences them."""

    document: DocumentCheckpoints
    part: str

    def get(self, key: str) -> str | None:
        return self.document.get(part_key(self.part, key))

    def save(self, key: str, value: str) -> None:
        self.document.save(part_key(self.part, key), value)

    def save_all(self, values: Mapping[str, str]) -> None:
        self.document.save_all({part_key(self.part, key): value for key, value in values.items()})

    def clear(self, key: str) -> None:
        self.document.clear(part_key(self.part, key))


def _settle_doubt(connector: BookingConnector, voucher: Voucher, checkpoints: Checkpoints, claimed: DocumentRecord,
                  lease: str, settle_seconds: int) -> None:
    """A voucher sent earlier without a clear answer: wait until the vendor has surely saved it, then
    find it by our reference (recorded, never sent again) or prove it absent (sent again)."""
    if not checkpoints.get(SUBMITTED) or checkpoints.get(VENDOR_DOCUMENT_ID):
        return
    # Give the vendor time to finish committing it first: a search too soon could miss it and re-post.
    unsettled = _seconds_until_settled(checkpoints.get(SUBMITTED), settle_seconds)
    if unsettled > 0:
        # No fault, and no attempt used: the vendor gets its time, then we look before posting.
        delay = math.ceil(unsettled)
        what = f"the voucher for {voucher.part}" if voucher.part else "the voucher"
        documents.finish(claimed, lease, DocumentState.WAITING, retry_not_before=utcnow() + timedelta(
            seconds=delay), reason=(
            f"{what} sent at {checkpoints.get(SUBMITTED)} got no clear answer; waiting until the "
            f"vendor has surely saved it, then it is looked up there before anything is sent again"))
        raise RetryLater("waiting for the vendor to settle an unanswered post", delay=delay, counts=False)
    found = connector.find_booking(voucher, checkpoints)
    if found is not None:
        logger.info("found earlier booking at vendor", extra={"document_id": claimed.document_id, "part": voucher.part,
                                                               "vendor_document_id": found.vendor_document_id})
        checkpoints.save_all(receipt_checkpoints(found))
    else:
        checkpoints.clear(SUBMITTED)


def book_document(job: TransferJob, *, deadline_ms: int, final_attempt: bool = False, attempt: int = 1,
                  retry_delay: Callable[[float | None], int] = lambda hint: int(hint or 0)) -> dict:
    """Book the job's document. Returns the outcome; raises RetryLater for transient failures.

    ``deadline_ms`` (epoch ms) is when this invocation ends at the latest: the claim on the
    document lasts until then, so a worker that died can be told from one still working.
    ``retry_delay`` turns the vendor's hint into the delay SQS will apply, so that the export log
    and the schedule know when the retry is due. ``attempt`` counts the deliveries that ended in a
    fault so far, this one included (waits do not count).
    """
    settings = get_settings()
    try:
        record, connection = documents.get_with_connection(job.tenant_id, job.connection_id, job.document_id,
                                                           job.version)
    except NotFound as exc:
        return {"outcome": "skipped", "reason": exc.message}  # deleted meanwhile: nothing left to book
    if record.state in (DocumentState.BOOKED, DocumentState.SUPERSEDED, DocumentState.REJECTED,
                        DocumentState.NOTHING_TO_BOOK) or (
        record.state == DocumentState.FAILED and not record.failure_transient
    ):
        return {"outcome": "skipped", "state": record.state.value}

    if connection.status != ConnectionStatus.CONNECTED or not connection.has_booking_setup:
        # Not the document's fault: it stays waiting and the next run after the fix picks it up.
        return {"outcome": "deferred", "reason": connection.status_reason or "connection not ready"}

    lease = uuid.uuid4().hex
    claimed = documents.claim(record, lease, deadline_ms + settings.lease_margin_ms)
    if claimed is None:
        current = documents.get(job.tenant_id, job.connection_id, job.document_id, job.version)
        now_ms = int(time.time() * 1000)
        if current.lease_alive(now_ms):
            # Another worker is booking it right now; look again once its invocation is over.
            raise RetryLater("another worker is booking this document",
                             delay=math.ceil(((current.lease_until_ms or now_ms) - now_ms) / 1000 + 1), counts=False)
        return {"outcome": "skipped", "state": current.state.value}
    checkpoints = DocumentCheckpoints(claimed, lease)

    try:
        document = _read_document(claimed)
        if connection.vendor_currency and document.currency != connection.vendor_currency:
            # Accepted before the account was connected; booking it would misstate every amount.
            raise PermanentVendorError(f"the {document.noun} is in {document.currency} but the company books in "
                                       f"{connection.vendor_currency}; resend it in {connection.vendor_currency}")
        try:
            vouchers = document.vouchers(connection, claimed.reference)
        except SetupIncomplete as exc:
            # A gap in the setup (a domain fact): permanent like a vendor refusal, same reason.
            raise PermanentVendorError(exc.message) from exc
        vouchers = [voucher for voucher in vouchers if voucher.lines]
        if not vouchers:
            # Only amounts the setup does not book (costs with inventory change off), or stock changes
            # adding up to zero: a voucher without lines is refused by every vendor, and there is
            # nothing to book anyway.
            documents.finish(claimed, lease, DocumentState.NOTHING_TO_BOOK, reason=document.nothing_to_book_reason)
            return {"outcome": "nothing_to_book"}
        attachment = None
        if document.attachment is not None:
            attachment = AttachmentFile(document.attachment.file_name, document.attachment.content_type,
                                        document.attachment.content(),
                                        owner=f"{job.tenant_id}/{job.connection_id}/{job.document_id}")
        connector = registry.connector_for(connection)
        # One voucher per part, each with its own checkpoints; a one-voucher document uses the plain keys.
        parts = [(voucher, PartCheckpoints(checkpoints, voucher.part) if voucher.part else checkpoints)
                 for voucher in vouchers]

        # 1. Every part sent earlier without a clear answer is settled first: found, or proven absent.
        for voucher, part_checkpoints in parts:
            _settle_doubt(connector, voucher, part_checkpoints, claimed, lease, settings.submit_settle_seconds)
        # 2. What can be checked before anything is sent is checked for every part still to send (a closed
        #    period, an unknown dimension item): a journal fails whole rather than half booked.
        pending = [voucher for voucher, part_checkpoints in parts if not part_checkpoints.get(VENDOR_DOCUMENT_ID)]
        if pending and isinstance(connector, PreflightCheck):
            connector.check_bookable(pending)
        # 3. Each part booked in turn; one that is already booked only finishes its remaining steps.
        receipts = [connector.book(voucher, attachment, part_checkpoints) for voucher, part_checkpoints in parts]
        if len(receipts) == 1 and vouchers[0].part is None:
            vendor_id, vendor_number = receipts[0].vendor_document_id, receipts[0].vendor_document_number
        else:
            vendor_id = ", ".join(r.vendor_document_id for r in receipts)
            vendor_number = ", ".join(r.vendor_document_number or r.vendor_document_id for r in receipts)
        documents.finish(claimed, lease, DocumentState.BOOKED, vendor_document_id=vendor_id,
                         vendor_document_number=vendor_number)
        return {"outcome": "booked", "vendor_document_id": vendor_id, "vendor_document_number": vendor_number}
    except LeaseLost:
        return {"outcome": "skipped", "state": "taken over"}
    except (CredentialRejected, NotConnected) as exc:
        connections.mark_needs_reauth(job.tenant_id, job.connection_id, exc.message, connection.credential_version)
        documents.finish(claimed, lease, DocumentState.WAITING,
                         reason=f"waiting for the connection: {exc.message}")
        return {"outcome": "deferred", "reason": exc.message}
    except PermanentVendorError as exc:
        documents.finish(claimed, lease, DocumentState.FAILED, reason=exc.message)
        return {"outcome": "failed", "reason": exc.message}
    except BudgetExhausted as exc:
        # The hub's share of the vendor's daily calls is spent: a wait for the vendor's next day, no fault
        # (it goes on as delayed messages of at most 15 min each, spending no vendor call meanwhile).
        delay = math.ceil(exc.retry_after or 3600)
        documents.finish(claimed, lease, DocumentState.WAITING, retry_not_before=utcnow() + timedelta(seconds=delay),
                         reason=f"waiting: {exc.message}")
        raise RetryLater(exc.message, delay=delay, counts=False) from exc
    except LeaseBusy as exc:
        # Another worker holds the vendor session (or left it to expire after a call that got no
        # answer): a wait, no fault of this document's.
        delay = math.ceil((exc.retry_after or 0) + 1)
        documents.finish(claimed, lease, DocumentState.WAITING, retry_not_before=utcnow() + timedelta(seconds=delay),
                         reason="waiting for the vendor session, which another booking or read is using")
        raise RetryLater("the vendor session is busy", delay=delay, counts=False) from exc
    except TransientVendorError as exc:
        message = getattr(exc, "message", str(exc))
        delay = retry_delay(getattr(exc, "retry_after", None))
        _give_back(claimed, lease, final_attempt, attempt, message, delay)
        raise RetryLater(message, delay=delay) from exc
    except RetryLater:
        raise
    except Exception as exc:
        # A bug or an unknown failure: keep the checkpoints, let SQS retry and in the end
        # dead-letter the job; the export log says what happened either way.
        _give_back(claimed, lease, final_attempt, attempt, f"internal error: {type(exc).__name__}", retry_delay(None))
        raise


@dataclass
class _BookableDocument:
    """What the state machine needs of a document, whatever its kind: the rest is one path."""

    noun: str
    currency: str
    attachment: Attachment | None
    # The vouchers the document books as, built with its kind's setup on the connection: one for a
    # settlement, one per period for a payroll journal. Raises SetupIncomplete for a missing setup.
    vouchers: Callable[[Connection, str], list[Voucher]]
    nothing_to_book_reason: str


def _account_setup(connection: Connection) -> AccountSetup:
    if connection.account_setup is None:
        raise SetupIncomplete("no account setup is saved for this connection; save it "
                              f"(PUT /connections/{connection.connection_id}/account-setup), then replay")
    return connection.account_setup


def _payroll_setup(connection: Connection) -> PayrollSetup:
    if connection.payroll_setup is None:
        raise SetupIncomplete("no payroll setup is saved for this connection; save it "
                              f"(PUT /connections/{connection.connection_id}/payroll-setup), then replay")
    return connection.payroll_setup


def _read_document(record: DocumentRecord) -> _BookableDocument:
    """The stored payload of ``record``, read as its kind says, with the voucher builder of that kind."""
    payload = payloads.get(record.payload_key)
    if record.kind == DocumentKind.STOCK_REGISTRATION:
        registration = StockRegistration.model_validate_json(payload)
        return _BookableDocument(
            noun="stock registration", currency=registration.currency, attachment=registration.attachment,
            vouchers=lambda connection, reference: [build_stock_voucher(registration, _account_setup(connection),
                                                                        reference)],
            nothing_to_book_reason=STOCK_NOTHING_TO_BOOK_REASON)
    if record.kind == DocumentKind.PAYROLL_JOURNAL:
        journal = PayrollJournal.model_validate_json(payload)
        return _BookableDocument(
            noun="payroll journal", currency=journal.currency, attachment=None,
            vouchers=lambda connection, reference: build_payroll_vouchers(journal, _payroll_setup(connection),
                                                                          reference),
            nothing_to_book_reason=PAYROLL_NOTHING_TO_BOOK_REASON)
    settlement = Settlement.model_validate_json(payload)
    return _BookableDocument(
        noun="settlement", currency=settlement.currency, attachment=settlement.attachment,
        vouchers=lambda connection, reference: [build_settlement_voucher(
            settlement, _account_setup(connection), reference=reference,
            vat_included=provider(connection.vendor).vat_in_line_amounts)],
        nothing_to_book_reason=("nothing to book: every amount the account setup books is zero (costs of goods "
                                "are booked only with inventory_change on)"))


def vouchers_of(record: DocumentRecord, connection: Connection) -> list[Voucher]:
    """The vouchers ``record`` books as, built as the worker builds them: from its stored payload with the
    connection's setup as saved now (the console shows these lines beside the vendor's voucher number)."""
    return [v for v in _read_document(record).vouchers(connection, record.reference) if v.lines]


def _seconds_until_settled(submitted_at: str | None, settle_seconds: int) -> float:
    try:
        sent = datetime.fromisoformat(submitted_at or "")
    except ValueError:
        return 0.0  # no readable time: treat as long ago
    return max(0.0, settle_seconds - (utcnow() - sent).total_seconds())


def _give_back(claimed: DocumentRecord, lease: str, final_attempt: bool, attempt: int, message: str,
               delay: int) -> None:
    if final_attempt:
        doubt = ""
        if claimed.in_doubt:
            doubt = ("; the voucher may already be in the accounting system (a post got no clear answer): "
                     "a redrive or replay looks it up there before sending anything")
        documents.finish(claimed, lease, DocumentState.FAILED, failure_transient=True, reason=(
            f"gave up after {attempt} attempts: {message}{doubt}; it is in the dead-letter queue — "
            f"redrive it, or replay it, once the cause is fixed"))
    else:
        documents.finish(claimed, lease, DocumentState.WAITING,
                         reason=f"retrying (attempt {attempt}): {message}",
                         retry_not_before=utcnow() + timedelta(seconds=delay))
