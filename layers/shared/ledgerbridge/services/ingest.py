"""Document intake: validate at the door, store the payload, record it in the export log.

Daily settlements and stock registrations go through one path (``ingest``): the payload stored
in S3 under a key with its content hash, the conditional insert, the currency check and the
reason when no scheduled run will reach it. The same document id with the same content is a
harmless resend; with different content it is refused unless the sender explicitly supersedes an
unbooked version. A version that is booked, or that the vendor may already hold, cannot be
replaced: the refusal says so and points to a correction in the accounting system (never to
``?supersede=true``, which could not work). A document with nothing to book (a closed day, stock
registrations adding up to zero) is logged as such and never queued. A document id belongs to one
kind of document: a stock registration never replaces a settlement, nor the other way round.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..domain.schedule import why_not_scheduled
from ..errors import Conflict, ValidationFailed
from ..models.common import utcnow
from ..models.documents import DocumentKind, DocumentRecord, DocumentState
from ..models.payroll import PAYROLL_NOTHING_TO_BOOK_REASON, PayrollJournal
from ..models.settlement import NOTHING_TO_BOOK_REASON, Settlement
from ..models.stock import STOCK_NOTHING_TO_BOOK_REASON, StockRegistration
from ..repositories import connections as connection_store
from ..repositories import documents, payloads

_BOOKED_OR_BUSY = (DocumentState.BOOKED, DocumentState.BOOKING)

# How a refusal names each kind of document.
_NOUNS = {DocumentKind.DAILY_SETTLEMENT: "settlement", DocumentKind.STOCK_REGISTRATION: "stock registration",
          DocumentKind.PAYROLL_JOURNAL: "payroll journal"}


@dataclass
class IngestResult:
    record: DocumentRecord
    created: bool


@dataclass(frozen=True)
class IncomingDocument:
    """What intake needs of a validated document, whatever its kind."""

    kind: DocumentKind
    document_id: str
    business_date: date
    currency: str
    content_hash: str
    payload: bytes
    # Shown in the export log as the document's total: a settlement's gross, a stock change's net.
    total: Decimal
    # Why it books nothing (logged, never queued), or None when there is something to book.
    nothing_to_book_reason: str | None
    # The parts it books as, where several (a payroll journal's periods); empty: one voucher.
    parts: tuple[str, ...] = ()

    @property
    def noun(self) -> str:
        return _NOUNS.get(self.kind, self.kind.value.replace("_", " "))

    @classmethod
    def of_settlement(cls, settlement: Settlement) -> "IncomingDocument":
        return cls(kind=DocumentKind.DAILY_SETTLEMENT, document_id=settlement.document_id,
                   business_date=settlement.business_date, currency=settlement.currency,
                   content_hash=settlement.content_hash(), payload=settlement.model_dump_json().encode(),
                   total=settlement.totals.gross,
                   nothing_to_book_reason=NOTHING_TO_BOOK_REASON if settlement.nothing_to_book else None)

    @classmethod
    def of_stock_registration(cls, registration: StockRegistration) -> "IncomingDocument":
        return cls(kind=DocumentKind.STOCK_REGISTRATION, document_id=registration.document_id,
                   business_date=registration.business_date, currency=registration.currency,
                   content_hash=registration.content_hash(), payload=registration.model_dump_json().encode(),
                   total=registration.net_change,
                   nothing_to_book_reason=STOCK_NOTHING_TO_BOOK_REASON if registration.nothing_to_book else None)


    @classmethod
    def of_payroll_journal(cls, journal: PayrollJournal) -> "IncomingDocument":
        return cls(kind=DocumentKind.PAYROLL_JOURNAL, document_id=journal.document_id,
                   business_date=journal.run_date, currency=journal.currency,
                   content_hash=journal.content_hash(), payload=journal.model_dump_json().encode(),
                   total=journal.total, parts=tuple(journal.periods),
                   nothing_to_book_reason=PAYROLL_NOTHING_TO_BOOK_REASON if journal.nothing_to_book else None)


def ingest_settlement(tenant_id: str, connection_id: str, settlement: Settlement, *,
                      supersede: bool = False) -> IngestResult:
    return ingest(tenant_id, connection_id, IncomingDocument.of_settlement(settlement), supersede=supersede)


def ingest_stock_registration(tenant_id: str, connection_id: str, registration: StockRegistration, *,
                              supersede: bool = False) -> IngestResult:
    return ingest(tenant_id, connection_id, IncomingDocument.of_stock_registration(registration),
                  supersede=supersede)


def ingest_payroll_journal(tenant_id: str, connection_id: str, journal: PayrollJournal, *,
                           supersede: bool = False) -> IngestResult:
    """A payroll run's journal. The payroll system's own stops apply at the door (seed 002: "journals
    cannot be sent when the company is marked as a test company or its group is blocked")."""
    company = journal.source_company
    if company.test_company:
        raise ValidationFailed(f"payroll journal {journal.document_id} comes from {company.name} ({company.id}), "
                               f"which is marked as a test company: its journals cannot be sent to the accounting "
                               f"system; send it from the live company")
    if company.group_blocked:
        raise ValidationFailed(f"payroll journal {journal.document_id} comes from {company.name} ({company.id}), "
                               f"whose group is blocked: its journals cannot be sent until the group is unblocked")
    return ingest(tenant_id, connection_id, IncomingDocument.of_payroll_journal(journal), supersede=supersede)


def ingest(tenant_id: str, connection_id: str, incoming: IncomingDocument, *, supersede: bool = False) -> IngestResult:
    connection = connection_store.get(tenant_id, connection_id)
    document_id = incoming.document_id
    if connection.vendor_currency and incoming.currency != connection.vendor_currency:
        raise ValidationFailed(
            f"{incoming.noun} {document_id} is in {incoming.currency} but the accounting company books "
            f"in {connection.vendor_currency}; send it in {connection.vendor_currency}")
    content_hash = incoming.content_hash
    existing = documents.latest(tenant_id, connection_id, document_id)
    if existing is not None:
        _refuse_another_kind(incoming, existing)
        if existing.content_hash == content_hash:
            return IngestResult(existing, created=False)
        # Whether or not the sender asked to supersede: say what can actually be done.
        _refuse_if_irreplaceable(document_id, existing)
        if not supersede:
            raise Conflict(
                f"document {document_id} was already received with different content "
                f"(version {existing.version}, {existing.state.value}); send it with ?supersede=true "
                f"to replace it before it is booked"
            )
    version = existing.version + 1 if existing else 1
    key = payloads.key_for(tenant_id, connection_id, document_id, version, content_hash)
    # The payload is durable in S3 before the export log says "accepted". Its key carries the
    # content hash, so a concurrent send of other content cannot overwrite it (see below).
    payloads.put(key, incoming.payload)
    if incoming.nothing_to_book_reason:
        # A closed day, a stock change of zero: logged so the shop sees it arrived, never queued
        # (no run looks at this state).
        state, reason = DocumentState.NOTHING_TO_BOOK, incoming.nothing_to_book_reason
    else:
        state, reason = DocumentState.WAITING, why_not_scheduled(connection.schedule, incoming.business_date,
                                                                 utcnow())
    record = DocumentRecord(
        tenant_id=tenant_id, connection_id=connection_id, document_id=document_id, version=version,
        kind=incoming.kind.value, business_date=incoming.business_date, content_hash=content_hash,
        payload_key=key, gross_total=f"{incoming.total:.2f}", currency=incoming.currency, state=state, reason=reason,
        parts=list(incoming.parts),
    )
    try:
        documents.create(record, supersedes=existing if (existing and supersede) else None)
    except Conflict:
        # Another send of this document won the race. Same content: the same document, accepted
        # once. Other content: ours is refused, and its payload object (never referenced by the
        # export log) is removed; the winner's payload lies under its own key, untouched.
        winner = documents.latest(tenant_id, connection_id, document_id)
        if winner is not None and winner.content_hash == content_hash and winner.kind == incoming.kind:
            return IngestResult(winner, created=False)
        if winner is None or winner.payload_key != key:
            payloads.delete(key)
        if winner is not None:
            _refuse_another_kind(incoming, winner)
            # A supersede that lost to a booking that started meanwhile: say what can be done now.
            _refuse_if_irreplaceable(document_id, winner)
        raise Conflict(
            f"document {document_id} was received at the same moment with different content "
            f"(version {winner.version if winner else version}); this content was not accepted — send it with "
            f"?supersede=true to replace that version before it is booked"
        ) from None
    return IngestResult(record, created=True)


def _refuse_another_kind(incoming: IncomingDocument, existing: DocumentRecord) -> None:
    """409 when the id is taken by another kind of document: one never supersedes the other."""
    if existing.kind == incoming.kind:
        return
    try:
        theirs = _NOUNS.get(DocumentKind(existing.kind), existing.kind.replace("_", " "))
    except ValueError:
        theirs = existing.kind.replace("_", " ")
    raise Conflict(
        f"document {incoming.document_id} was already received as a {theirs} (version {existing.version}, "
        f"{existing.state.value}); a {incoming.noun} cannot replace it — send the {incoming.noun} under a "
        f"document_id of its own")


def _refuse_if_irreplaceable(document_id: str, existing: DocumentRecord) -> None:
    """409 when ``existing`` can never be superseded, saying what can be done instead.

    A booked version, or one sent to the vendor (it may be there even if we never heard back),
    stays: replacing it would book the day twice. The fix is a correction voucher in the
    accounting system. A version being booked right now may still fail; only then can it be
    replaced, so the answer says to look at the export log first.
    """
    voucher = (existing.vendor_document_number or existing.vendor_document_id
               or existing.progress.get("vendor_document_number") or existing.progress.get("vendor_document_id"))
    version = f"document {document_id} version {existing.version}"
    correction = "book a correction in the accounting system instead"
    if existing.state == DocumentState.BOOKED:
        if voucher:
            raise Conflict(f"{version} is already booked as voucher {voucher}; it cannot be replaced — {correction} "
                           f"(e.g. reverse voucher {voucher} and book the corrected amounts)")
        raise Conflict(f"{version} is already booked; it cannot be replaced — {correction}")
    if existing.vendor_contacted:
        if voucher:
            raise Conflict(f"{version} is in the accounting system as voucher {voucher} (its booking did not "
                           f"complete); it cannot be replaced — {correction}")
        raise Conflict(f"{version} was sent to the accounting system and may already be there; it cannot be "
                       f"replaced — check the accounting system for it and {correction}")
    if existing.state in _BOOKED_OR_BUSY:
        raise Conflict(
            f"{version} is being booked right now, so it cannot be replaced; look at the export log: once it has "
            f"failed it can be replaced with ?supersede=true, once booked only a correction in the accounting "
            f"system can change it"
        )
