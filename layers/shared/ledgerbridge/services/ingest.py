"""Document intake: validate at the door, store the payload, record it in the export log.

The same document id with the same content is a harmless resend; with different content it
is refused unless the sender explicitly supersedes an unbooked version. A version that is booked,
or that the vendor may already hold, cannot be replaced: the refusal says so and points to a
correction in the accounting system (never to ``?supersede=true``, which could not work).
A day with nothing to book (a closed day) is logged as such and never queued.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..domain.schedule import why_not_scheduled
from ..errors import Conflict, ValidationFailed
from ..models.common import utcnow
from ..models.documents import DocumentRecord, DocumentState
from ..models.settlement import NOTHING_TO_BOOK_REASON, Settlement
from ..repositories import connections as connection_store
from ..repositories import documents, payloads

_BOOKED_OR_BUSY = (DocumentState.BOOKED, DocumentState.BOOKING)


@dataclass
class IngestResult:
    record: DocumentRecord
    created: bool


def ingest_settlement(tenant_id: str, connection_id: str, settlement: Settlement, *,
                      supersede: bool = False) -> IngestResult:
    connection = connection_store.get(tenant_id, connection_id)
    if connection.vendor_currency and settlement.currency != connection.vendor_currency:
        raise ValidationFailed(
            f"settlement {settlement.document_id} is in {settlement.currency} but the accounting company books "
            f"in {connection.vendor_currency}; send it in {connection.vendor_currency}")
    content_hash = settlement.content_hash()
    existing = documents.latest(tenant_id, connection_id, settlement.document_id)
    if existing is not None:
        if existing.content_hash == content_hash:
            return IngestResult(existing, created=False)
        # Whether or not the sender asked to supersede: say what can actually be done.
        _refuse_if_irreplaceable(settlement.document_id, existing)
        if not supersede:
            raise Conflict(
                f"document {settlement.document_id} was already received with different content "
                f"(version {existing.version}, {existing.state.value}); send it with ?supersede=true "
                f"to replace it before it is booked"
            )
    version = existing.version + 1 if existing else 1
    key = payloads.key_for(tenant_id, connection_id, settlement.document_id, version, content_hash)
    # The payload is durable in S3 before the export log says "accepted". Its key carries the
    # content hash, so a concurrent send of other content cannot overwrite it (see below).
    payloads.put(key, settlement.model_dump_json().encode())
    if settlement.nothing_to_book:
        # A closed day: logged so the shop sees it arrived, never queued (no run looks at this state).
        state, reason = DocumentState.NOTHING_TO_BOOK, NOTHING_TO_BOOK_REASON
    else:
        state, reason = DocumentState.WAITING, why_not_scheduled(connection.schedule, settlement.business_date,
                                                                 utcnow())
    record = DocumentRecord(
        tenant_id=tenant_id, connection_id=connection_id, document_id=settlement.document_id, version=version,
        business_date=settlement.business_date, content_hash=content_hash, payload_key=key,
        gross_total=f"{settlement.totals.gross:.2f}", currency=settlement.currency, state=state, reason=reason,
    )
    try:
        documents.create(record, supersedes=existing if (existing and supersede) else None)
    except Conflict:
        # Another send of this document won the race. Same content: the same document, accepted
        # once. Other content: ours is refused, and its payload object (never referenced by the
        # export log) is removed; the winner's payload lies under its own key, untouched.
        winner = documents.latest(tenant_id, connection_id, settlement.document_id)
        if winner is not None and winner.content_hash == content_hash:
            return IngestResult(winner, created=False)
        if winner is None or winner.payload_key != key:
            payloads.delete(key)
        if winner is not None:
            # A supersede that lost to a booking that started meanwhile: say what can be done now.
            _refuse_if_irreplaceable(settlement.document_id, winner)
        raise Conflict(
            f"document {settlement.document_id} was received at the same moment with different content "
            f"(version {winner.version if winner else version}); this content was not accepted — send it with "
            f"?supersede=true to replace that version before it is booked"
        ) from None
    return IngestResult(record, created=True)


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
