"""Documents table = the export log.

pk ``{tenant}#{connection}``, sk ``{document_id}#{version:06d}``; GSIs ``by_date`` (pk, date_key)
and ``by_state`` (state_pk, date_key) serve the log's filters and the scheduler's window
queries without scans. State changes are conditional writes fenced by the booking lease, so a
stale worker can never overwrite the outcome of a newer one.
"""
from __future__ import annotations

import base64
import json
import time
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import Conflict, NotFound, ValidationFailed
from ..models.common import utcnow
from ..models.documents import DocumentRecord, DocumentState, part_key
from ..settings import get_settings
from .dynamo import ddb, from_item, get_many, is_conditional_failure, query_all, to_item, values

if TYPE_CHECKING:  # pragma: no cover
    from ..models.connection import Connection


def partition(tenant_id: str, connection_id: str) -> str:
    return f"{tenant_id}#{connection_id}"


def _sort_key(document_id: str, version: int) -> str:
    return f"{document_id}#{version:06d}"


def _date_key(record: DocumentRecord) -> str:
    return f"{record.business_date.isoformat()}#{record.document_id}#{record.version:06d}"


def _state_pk(tenant_id: str, connection_id: str, state: DocumentState | str) -> str:
    return f"{tenant_id}#{connection_id}#{DocumentState(state).value}"


def _key(tenant_id: str, connection_id: str, document_id: str, version: int) -> dict:
    return values({"pk": partition(tenant_id, connection_id), "sk": _sort_key(document_id, version)})


def _to_item(record: DocumentRecord) -> dict:
    data = record.model_dump(mode="json")
    data.update(
        pk=partition(record.tenant_id, record.connection_id),
        sk=_sort_key(record.document_id, record.version),
        date_key=_date_key(record),
        state_pk=_state_pk(record.tenant_id, record.connection_id, record.state),
    )
    return to_item(data)


def _from_item(item: dict) -> DocumentRecord:
    return _from_data(from_item(item))


def _from_data(data: dict) -> DocumentRecord:
    for name in ("pk", "sk", "date_key", "state_pk", "expires_at"):
        data.pop(name, None)
    for name in ("version", "attempts", "queued_until_ms"):
        if name in data:
            data[name] = int(data[name])
    return DocumentRecord.model_validate(data)


def _table() -> str:
    return get_settings().documents_table


def create(record: DocumentRecord, *, supersedes: DocumentRecord | None = None) -> None:
    """Insert a new version; when it supersedes an unbooked one (waiting, failed without the vendor
    holding anything, or nothing to book), both change in one transaction."""
    put = {"Put": {"TableName": _table(), "Item": _to_item(record),
                   "ConditionExpression": "attribute_not_exists(sk)"}}
    if supersedes is None:
        try:
            ddb().put_item(TableName=_table(), Item=put["Put"]["Item"],
                           ConditionExpression="attribute_not_exists(sk)")
        except Exception as exc:
            if is_conditional_failure(exc):
                raise Conflict(f"document {record.document_id} version {record.version} already exists") from exc
            raise
        return
    old_key = _key(supersedes.tenant_id, supersedes.connection_id, supersedes.document_id, supersedes.version)
    untouched = [part_key(part, key) for part in supersedes.part_names for key in ("submitted", "vendor_document_id")]
    try:
        ddb().transact_write_items(TransactItems=[
            put,
            {"Update": {
                "TableName": _table(), "Key": old_key,
                "UpdateExpression": "SET #s = :sup, state_pk = :spk, reason = :r, updated_at = :now",
                # Never replace a version the vendor may already hold: that would book twice. A day
                # logged as nothing to book (closed) was never sent anywhere: a resend with sales replaces it.
                # Every part's checkpoints count: one receipt of a journal sent is enough to keep it.
                "ConditionExpression": "#s IN (:waiting, :failed, :nothing) AND " + " AND ".join(
                    f"attribute_not_exists(progress.#p{i})" for i in range(len(untouched))),
                "ExpressionAttributeNames": {"#s": "state", **{f"#p{i}": key for i, key in enumerate(untouched)}},
                "ExpressionAttributeValues": values({
                    ":sup": DocumentState.SUPERSEDED.value,
                    ":spk": _state_pk(supersedes.tenant_id, supersedes.connection_id, DocumentState.SUPERSEDED),
                    ":r": f"replaced by version {record.version}",
                    ":now": utcnow().isoformat(),
                    ":waiting": DocumentState.WAITING.value, ":failed": DocumentState.FAILED.value,
                    ":nothing": DocumentState.NOTHING_TO_BOOK.value,
                }),
            }},
        ])
    except Exception as exc:
        if is_conditional_failure(exc):
            raise Conflict(
                f"document {supersedes.document_id} changed state while being replaced; it may be booking now"
            ) from exc
        raise


def latest(tenant_id: str, connection_id: str, document_id: str) -> DocumentRecord | None:
    page = ddb().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues=values({":pk": partition(tenant_id, connection_id), ":prefix": f"{document_id}#"}),
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
    )
    items = page.get("Items", [])
    return _from_item(items[0]) if items else None


def get_with_connection(tenant_id: str, connection_id: str, document_id: str,
                        version: int) -> tuple[DocumentRecord, Connection]:
    """The document and its connection, read together (one DynamoDB call: what a booking starts with)."""
    from . import connections

    document_item, connection_item = get_many([
        (_table(), _key(tenant_id, connection_id, document_id, version)),
        connections.locate(tenant_id, connection_id),
    ])
    if not document_item:
        raise NotFound(f"document {document_id} version {version} not found")
    if not connection_item:
        raise NotFound(f"connection {connection_id} not found")
    return _from_item(document_item), connections.parse(connection_item)


def get(tenant_id: str, connection_id: str, document_id: str, version: int) -> DocumentRecord:
    item = ddb().get_item(TableName=_table(), Key=_key(tenant_id, connection_id, document_id, version),
                          ConsistentRead=True).get("Item")
    if not item:
        raise NotFound(f"document {document_id} version {version} not found")
    return _from_item(item)


def in_window(tenant_id: str, connection_id: str, state: DocumentState, start: date, end: date, *,
              unqueued_at_ms: int | None = None) -> list[DocumentRecord]:
    """Documents in ``state`` with a business date in [start, end]; with ``unqueued_at_ms`` only
    those without a job queued at that moment (filtered by DynamoDB: repeated presses of
    "transfer now" then transfer only the few documents that still need a job)."""
    kwargs: dict[str, Any] = dict(
        TableName=_table(),
        IndexName="by_state",
        KeyConditionExpression="state_pk = :spk AND date_key BETWEEN :a AND :b",
        ExpressionAttributeValues=values({
            ":spk": _state_pk(tenant_id, connection_id, state),
            ":a": start.isoformat(),
            ":b": end.isoformat() + "#\uffff",
            **({":now_ms": unqueued_at_ms} if unqueued_at_ms is not None else {}),
        }),
    )
    if unqueued_at_ms is not None:
        kwargs["FilterExpression"] = "attribute_not_exists(queued_until_ms) OR queued_until_ms < :now_ms"
    return [_from_data(i) for i in query_all(**kwargs)]


def page(
    tenant_id: str,
    connection_id: str,
    *,
    state: DocumentState | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[DocumentRecord], str | None]:
    """One page of the export log, newest business date first."""
    low = (date_from.isoformat() if date_from else "0000-00-00")
    high = (date_to.isoformat() if date_to else "9999-99-99") + "#\uffff"
    if state is None:
        index, key_name, key_value = "by_date", "pk", partition(tenant_id, connection_id)
    else:
        index, key_name, key_value = "by_state", "state_pk", _state_pk(tenant_id, connection_id, state)
    kwargs: dict[str, Any] = dict(
        TableName=_table(), IndexName=index,
        KeyConditionExpression=f"{key_name} = :k AND date_key BETWEEN :a AND :b",
        ExpressionAttributeValues=values({":k": key_value, ":a": low, ":b": high}),
        ScanIndexForward=False, Limit=limit,
    )
    if cursor:
        kwargs["ExclusiveStartKey"] = _decode_cursor(cursor, key_name, key_value, index)
    response = ddb().query(**kwargs)
    records = [_from_item(i) for i in response.get("Items", [])]
    last = response.get("LastEvaluatedKey")
    next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
    return records, next_cursor


def _decode_cursor(cursor: str, key_name: str, key_value: str, index: str) -> dict:
    """A cursor is the last evaluated key; it must belong to this very query (tenant, connection, filter)."""
    expected = {"pk", "sk", "date_key"} | ({"state_pk"} if index == "by_state" else set())
    try:
        start_key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        valid = (isinstance(start_key, dict) and set(start_key) == expected
                 and all(isinstance(v, dict) and isinstance(v.get("S"), str) and len(v) == 1
                         for v in start_key.values())
                 and start_key[key_name]["S"] == key_value)
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValidationFailed("invalid cursor: pass next_cursor from the previous page unchanged, "
                               "with the same filters")
    return start_key


# --- state transitions ---------------------------------------------------------------------------

def claim(record: DocumentRecord, lease: str, lease_until_ms: int) -> DocumentRecord | None:
    """Take the document for booking until ``lease_until_ms``.

    Claimable: waiting; booking whose lease ran out (its worker is gone); failed only because
    retries ran out (a DLQ redrive). Returns None when the claim lost; read the record to see why.
    """
    now_ms = int(time.time() * 1000)
    try:
        response = ddb().update_item(
            TableName=_table(),
            Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="SET #s = :booking, state_pk = :spk, booking_lease = :lease, lease_until_ms = :until, "
                             "updated_at = :now REMOVE retry_not_before, queued_until_ms ADD attempts :one",
            ConditionExpression="#s = :w OR (#s = :b AND (attribute_not_exists(lease_until_ms) "
                                "OR lease_until_ms < :now_ms)) "
                                "OR (#s = :f AND failure_transient = :yes)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values({
                ":booking": DocumentState.BOOKING.value,
                ":spk": _state_pk(record.tenant_id, record.connection_id, DocumentState.BOOKING),
                ":lease": lease, ":until": lease_until_ms, ":now": utcnow().isoformat(), ":one": 1,
                ":now_ms": now_ms, ":w": DocumentState.WAITING.value, ":b": DocumentState.BOOKING.value,
                ":f": DocumentState.FAILED.value, ":yes": True,
            }),
            ReturnValues="ALL_NEW",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            return None
        raise
    return _from_item(response["Attributes"])


def _fenced_update(record: DocumentRecord, lease: str, expression: str, names: dict, vals: dict) -> None:
    kwargs: dict[str, Any] = dict(
        TableName=_table(),
        Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
        UpdateExpression=expression,
        ConditionExpression="booking_lease = :lease",
        ExpressionAttributeValues=values({**vals, ":lease": lease}),
    )
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        ddb().update_item(**kwargs)
    except Exception as exc:
        if is_conditional_failure(exc):
            raise LeaseLost(f"document {record.document_id} was taken over by another worker") from exc
        raise


class LeaseLost(Exception):
    """Another worker claimed the document after us; our writes must stop."""


def save_progress(record: DocumentRecord, lease: str, progress: Mapping[str, str]) -> None:
    """Checkpoints of this attempt, all in one write (fenced by the lease)."""
    if not progress:
        return
    items = list(progress.items())
    sets = ", ".join(f"progress.#k{i} = :v{i}" for i in range(len(items)))
    _fenced_update(record, lease, f"SET {sets}, updated_at = :now", {f"#k{i}": k for i, (k, _) in enumerate(items)},
                   {**{f":v{i}": v for i, (_, v) in enumerate(items)}, ":now": utcnow().isoformat()})


def clear_progress(record: DocumentRecord, lease: str, key: str) -> None:
    _fenced_update(record, lease, "REMOVE progress.#k SET updated_at = :now", {"#k": key},
                   {":now": utcnow().isoformat()})


def finish(record: DocumentRecord, lease: str, state: DocumentState, *, reason: str | None = None,
           vendor_document_id: str | None = None, vendor_document_number: str | None = None,
           failure_transient: bool = False, retry_not_before: datetime | None = None) -> None:
    """End this attempt. ``retry_not_before``: a job for the document stays queued until then."""
    now = utcnow().isoformat()
    sets = ["#s = :s", "state_pk = :spk", "updated_at = :now", "reason = :r", "failure_transient = :ft",
            "lease_until_ms = :zero", "retry_not_before = :rnb"]
    vals: dict[str, Any] = {
        ":s": state.value, ":spk": _state_pk(record.tenant_id, record.connection_id, state),
        ":now": now, ":r": reason, ":ft": failure_transient, ":zero": 0,
        ":rnb": retry_not_before.isoformat() if retry_not_before else None,
    }
    if state == DocumentState.BOOKED:
        sets += ["booked_at = :now", "vendor_document_id = :vid", "vendor_document_number = :vno"]
        vals[":vid"] = vendor_document_id
        vals[":vno"] = vendor_document_number
    expression = "SET " + ", ".join(sets)
    if retry_not_before is not None:
        # The job goes back to the queue until then: nothing needs to queue another meanwhile.
        expression += ", queued_until_ms = :queued"
        vals[":queued"] = _queued_until_ms(int(retry_not_before.timestamp() * 1000))
    else:
        expression += " REMOVE queued_until_ms"
    _fenced_update(record, lease, expression, {"#s": "state"}, vals)


def _queued_until_ms(due_ms: int) -> int:
    return due_ms + get_settings().queued_grace_seconds * 1000


def mark_queued(record: DocumentRecord, now_ms: int, *, due_ms: int | None = None, force: bool = False) -> bool:
    """Note that a job for this document is about to be queued; False if one is queued already.

    Pressing "transfer now" twice, or a schedule run meeting a press, must not queue a document
    twice (each extra job costs SQS calls and a worker invocation that only finds it busy). The
    mark lasts until the job is due plus a grace period: a job not taken up by then (a backlog, a
    lost send) no longer blocks a new one. The claim removes it. ``force``: an explicit replay.
    """
    condition = "#s IN (:w, :b)"
    if not force:
        condition += " AND (attribute_not_exists(queued_until_ms) OR queued_until_ms < :now_ms)"
    try:
        ddb().update_item(
            TableName=_table(),
            Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="SET queued_until_ms = :until",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values({
                ":until": _queued_until_ms(due_ms if due_ms is not None else now_ms),
                ":w": DocumentState.WAITING.value, ":b": DocumentState.BOOKING.value,
                **({} if force else {":now_ms": now_ms}),
            }),
        )
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def unmark_queued(record: DocumentRecord) -> None:
    """The job could not be queued after all: let the next run or press queue it."""
    ddb().update_item(
        TableName=_table(),
        Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
        UpdateExpression="REMOVE queued_until_ms",
        ConditionExpression="attribute_exists(sk)",
    )


def leave_reason(record: DocumentRecord, reason: str) -> bool:
    """Say why a waiting document is not being transferred; False if it changed meanwhile."""
    try:
        ddb().update_item(
            TableName=_table(),
            Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="SET reason = :r, updated_at = :now",
            ConditionExpression="#s = :w AND (attribute_not_exists(queued_until_ms) OR queued_until_ms < :now_ms)",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values({":r": reason, ":now": utcnow().isoformat(),
                                              ":w": DocumentState.WAITING.value,
                                              ":now_ms": int(time.time() * 1000)}),
        )
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def clear_doubt(record: DocumentRecord) -> DocumentRecord:
    """A person confirmed the unanswered post never arrived: forget that it was sent (failed only).
    Every part sent without an answer is cleared; a part the vendor answered stays as it is."""
    doubtful = record.in_doubt or record.part_names[:1]
    try:
        response = ddb().update_item(
            TableName=_table(),
            Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="REMOVE " + ", ".join(f"progress.#s{i}" for i in range(len(doubtful)))
                             + " SET updated_at = :now",
            ConditionExpression="#s = :failed AND " + " AND ".join(
                f"attribute_not_exists(progress.#v{i})" for i in range(len(doubtful))),
            ExpressionAttributeNames={"#s": "state",
                                      **{f"#s{i}": part_key(part, "submitted") for i, part in enumerate(doubtful)},
                                      **{f"#v{i}": part_key(part, "vendor_document_id")
                                         for i, part in enumerate(doubtful)}},
            ExpressionAttributeValues=values({":now": utcnow().isoformat(), ":failed": DocumentState.FAILED.value}),
            ReturnValues="ALL_NEW",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            raise Conflict(f"document {record.document_id} changed meanwhile; look at it again") from exc
        raise
    return _from_item(response["Attributes"])


def reopen_failed(record: DocumentRecord) -> DocumentRecord:
    """Replay: a failed document goes back to waiting (its checkpoints stay, so no double booking)."""
    try:
        response = ddb().update_item(
            TableName=_table(),
            Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="SET #s = :w, state_pk = :spk, reason = :r, updated_at = :now, failure_transient = :no",
            ConditionExpression="#s = :failed",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values({
                ":w": DocumentState.WAITING.value,
                ":spk": _state_pk(record.tenant_id, record.connection_id, DocumentState.WAITING),
                ":r": "replay requested", ":now": utcnow().isoformat(),
                ":failed": DocumentState.FAILED.value, ":no": False,
            }),
            ReturnValues="ALL_NEW",
        )
    except Exception as exc:
        if is_conditional_failure(exc):
            raise Conflict(f"document {record.document_id} is not failed; only failed documents can be replayed") from exc
        raise
    return _from_item(response["Attributes"])



REJECTED_TTL_SECONDS = 90 * 24 * 3600


def record_rejection(tenant_id: str, connection_id: str, *, document_id: str | None, business_date: date,
                     reason: str, kind: str = "daily_settlement") -> None:
    """Export-log entry for input refused at the door (kept 90 days)."""
    import time
    import uuid

    now = utcnow()
    entry_id = f"~rejected#{now.isoformat()}#{uuid.uuid4().hex[:8]}"
    ddb().put_item(TableName=_table(), Item=to_item({
        "pk": partition(tenant_id, connection_id),
        "sk": entry_id,
        "date_key": f"{business_date.isoformat()}#{entry_id}",
        "state_pk": _state_pk(tenant_id, connection_id, DocumentState.REJECTED),
        "tenant_id": tenant_id, "connection_id": connection_id,
        "document_id": document_id or "(unreadable)", "version": 0, "kind": kind,
        "business_date": business_date.isoformat(), "content_hash": "", "state": DocumentState.REJECTED.value,
        "reason": reason[:2000], "payload_key": "", "received_at": now.isoformat(), "updated_at": now.isoformat(),
        "progress": {}, "expires_at": int(time.time()) + REJECTED_TTL_SECONDS,
    }))


# --- runs (company import, balance refresh) --------------------------------------------------------

def create_run(record: DocumentRecord) -> bool:
    """Log a new run; False if a run with this id exists already (a scheduler firing twice)."""
    try:
        ddb().put_item(TableName=_table(), Item=_to_item(record), ConditionExpression="attribute_not_exists(sk)")
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def run_outcome(record: DocumentRecord, company_id: str, outcome: dict[str, str]) -> None:
    """Record what happened to one company in the run (the run's progress, too)."""
    ddb().update_item(
        TableName=_table(), Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
        UpdateExpression="SET outcomes.#c = :o, updated_at = :now",
        ExpressionAttributeNames={"#c": company_id},
        ExpressionAttributeValues=values({":o": outcome, ":now": utcnow().isoformat()}),
    )


def run_reason(record: DocumentRecord, reason: str) -> None:
    """Say why a running run waits (a vendor's call budget spent for the day)."""
    try:
        ddb().update_item(
            TableName=_table(), Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
            UpdateExpression="SET reason = :r, updated_at = :now", ConditionExpression="#s = :running",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues=values({":r": reason, ":now": utcnow().isoformat(),
                                              ":running": DocumentState.RUNNING.value}))
    except Exception as exc:
        if not is_conditional_failure(exc):
            raise


def finish_run(record: DocumentRecord, state: DocumentState, *, reason: str | None,
               summary: dict[str, int], failure_transient: bool = False) -> bool:
    """End a running run; False if it had ended already (a duplicate delivery finished it)."""
    try:
        _finish_run(record, state, reason, summary, failure_transient)
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def _finish_run(record: DocumentRecord, state: DocumentState, reason: str | None, summary: dict[str, int],
                failure_transient: bool) -> None:
    ddb().update_item(
        TableName=_table(), Key=_key(record.tenant_id, record.connection_id, record.document_id, record.version),
        UpdateExpression="SET #s = :s, state_pk = :spk, reason = :r, summary = :sum, updated_at = :now, "
                         "failure_transient = :ft, attempts = attempts + :one",
        ConditionExpression="#s = :running",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues=values({
            ":s": state.value, ":spk": _state_pk(record.tenant_id, record.connection_id, state),
            ":r": reason, ":sum": summary, ":now": utcnow().isoformat(), ":ft": failure_transient,
            ":running": DocumentState.RUNNING.value, ":one": 1,
        }),
    )
