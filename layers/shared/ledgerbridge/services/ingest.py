"""Document intake: validate at the door, store the payload, record it in the export log.

The same document id with the same content is a harmless resend; with different content it
is refused unless the sender explicitly supersedes an unbooked version.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..domain.schedule import why_not_scheduled
from ..errors import Conflict, ValidationFailed
from ..models.common import utcnow
from ..models.documents import DocumentRecord, DocumentState
from ..models.settlement import Settlement
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
        if not supersede:
            raise Conflict(
                f"document {settlement.document_id} was already received with different content "
                f"(version {existing.version}, {existing.state.value}); send it with ?supersede=true "
                f"to replace it before it is booked"
            )
        if existing.state in _BOOKED_OR_BUSY or existing.vendor_contacted:
            voucher = (existing.vendor_document_number or existing.vendor_document_id
                       or existing.progress.get("vendor_document_number") or existing.progress.get("vendor_document_id"))
            where = f" as voucher {voucher}" if voucher else " (it may already be in the accounting system)"
            raise Conflict(
                f"document {settlement.document_id} version {existing.version} was sent for booking{where}; "
                f"it cannot be replaced — book a correction in the accounting system instead"
            )
    version = existing.version + 1 if existing else 1
    key = payloads.key_for(tenant_id, connection_id, settlement.document_id, version, content_hash)
    # The payload is durable in S3 before the export log says "accepted". Its key carries the
    # content hash, so a concurrent send of other content cannot overwrite it (see below).
    payloads.put(key, settlement.model_dump_json().encode())
    record = DocumentRecord(
        tenant_id=tenant_id, connection_id=connection_id, document_id=settlement.document_id, version=version,
        business_date=settlement.business_date, content_hash=content_hash, payload_key=key,
        gross_total=f"{settlement.totals.gross:.2f}", currency=settlement.currency,
        reason=why_not_scheduled(connection.schedule, settlement.business_date, utcnow()),
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
        raise Conflict(
            f"document {settlement.document_id} was received at the same moment with different content "
            f"(version {winner.version if winner else version}); this content was not accepted — send it with "
            f"?supersede=true to replace that version before it is booked"
        ) from None
    return IngestResult(record, created=True)
