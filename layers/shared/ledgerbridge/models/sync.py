"""Master-data sync's vocabulary: records a source system keeps in step with an accounting system.

Vendor-neutral: a *record kind* (customers today; products next), the source's records as pushed
(id, tags, fields by name), the sync setup (which tag selects, which fields travel, which side is
master of each), the vendor's own description of the records (its fields and their types), a
vendor's change notification, and the changes feed the source reads.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from .common import Identifier, LazyModel, utcnow


class RecordKind(StrEnum):
    CUSTOMER = "customer"


class Master(StrEnum):
    """Which side's change of a field wins."""

    SOURCE = "source"  # the source system: a change made in the accounting system is put back
    VENDOR = "vendor"  # the accounting system: the source's value is used only to create the record
    BOTH = "both"  # whichever side changed it last (the seed's "kept in step both ways")


class FieldType(StrEnum):
    TEXT = "text"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"


FieldName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True)]
# A field's value as JSON carries it: text, true/false, a number, a date as "YYYY-MM-DD", or null (empty).
FieldValue = Annotated[str, StringConstraints(max_length=1000)] | bool | int | Decimal | None


class VendorField(LazyModel):
    """One field of a record kind as the vendor has it."""

    name: str
    type: FieldType
    max_length: int | None = None
    user_defined: bool = False


class RecordSchema(LazyModel):
    """The fields a vendor's records of one kind have (its standard fields and the company's own)."""

    kind: RecordKind
    key_field: str  # the vendor's key of a record (Uniconta: the debtor's Account)
    fields: dict[str, VendorField]


class SourceRecord(LazyModel):
    """A customer as the source system holds it: its id there, its tags and its fields by name."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier = Field(description="the source system's id of the customer; it becomes the debtor's key "
                                       "in the accounting system where the vendor takes it")
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=200,
                                                description="fields by the accounting system's names; dates "
                                                            "as YYYY-MM-DD; null or \"\" empties a field")


class RecordPush(LazyModel):
    model_config = ConfigDict(extra="forbid")

    customers: list[SourceRecord] = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _unique(self) -> "RecordPush":
        seen: set[str] = set()
        repeated = sorted({c.id for c in self.customers if c.id in seen or seen.add(c.id)})
        if repeated:
            raise ValueError(f"customers repeat in one push: {', '.join(repeated[:10])}; send each once")
        return self


PushOutcome = Literal["queued", "unchanged", "untagged", "not_tagged", "refused"]


class PushResult(LazyModel):
    id: str
    outcome: PushOutcome = Field(description="queued: will be written to the accounting system; unchanged: "
                                             "nothing to write (no vendor call); untagged: the tag was removed, "
                                             "syncing stops (nothing deleted); not_tagged: never synced; refused")
    reason: str | None = None


class PushAnswer(LazyModel):
    results: list[PushResult]
    counts: dict[str, int]


class SyncSetup(LazyModel):
    """A connection's customer sync: the selecting tag, the fields carried, who is master of each."""

    model_config = ConfigDict(extra="forbid")

    tag: Tag = Field(description="only customers with this tag are synced (the seed's \"Kundetag\")")
    fields: list[FieldName] = Field(min_length=1, max_length=100,
                                    description="the source's customer fields to carry; each name must be a field "
                                                "the accounting system's customer has (standard or user-defined)")
    master: dict[FieldName, Master] = Field(default_factory=dict, description="per field; unlisted fields: "
                                                                              "default_master")
    default_master: Master = Master.BOTH
    create_defaults: dict[FieldName, FieldValue] = Field(
        default_factory=dict, description="values a new record gets in the accounting system when the source "
                                          "has none (Uniconta: the debtor Group, which it requires)")
    webhook_url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None = Field(
        None, description="where changes made in the accounting system are POSTed, signed (see the changes feed)")
    # Filled in when validated against the vendor: each carried field's type there.
    field_types: dict[str, FieldType] = Field(default_factory=dict)
    validated_at: datetime | None = None

    @field_validator("fields")
    @classmethod
    def _distinct(cls, fields: list[str]) -> list[str]:
        if len({f.lower() for f in fields}) != len(fields):
            raise ValueError("a field is listed twice")
        return fields

    @field_validator("webhook_url")
    @classmethod
    def _public_https(cls, url: str | None) -> str | None:
        """Customer data travels to it: https, to a public host (plain http only to this machine, for
        trying it locally); never a private or link-local address inside the hub's network."""
        if url is None:
            return None
        import ipaddress
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        local = host in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not local:
            raise ValueError("the webhook must be https (plain http only to localhost, for trying it out)")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and not local and (address.is_private or address.is_link_local or
                                                  address.is_reserved or address.is_loopback):
            raise ValueError("the webhook's host must be a public address")
        return url

    @model_validator(mode="after")
    def _masters_of_carried(self) -> "SyncSetup":
        stray = sorted(set(self.master) - set(self.fields))
        if stray:
            raise ValueError(f"master names fields that are not carried: {', '.join(stray)}; add them to fields")
        return self

    def master_of(self, field: str) -> Master:
        return self.master.get(field, self.default_master)


SyncState = Literal["ok", "stalled", "deferred", "not_checked"]


class SyncHealth(LazyModel):
    """How the connection's customer sync is doing, as the last check and the last jobs found it."""

    state: SyncState = "not_checked"
    reason: str | None = None
    notifications_configured: bool | None = None
    last_notification_at: datetime | None = None
    last_check_at: datetime | None = None
    caught_up: int = Field(0, description="changes the last check found that no notification had brought")
    posts_records: bool | None = Field(None, description="the vendor sends the changed record with each "
                                                         "notification (Uniconta: \"Post\" ticked): no read needed")
    webhook_error: str | None = Field(None, description="why the last webhook delivery failed (the changes "
                                                        "feed still has every change)")


class SyncView(LazyModel):
    setup: SyncSetup | None
    health: SyncHealth
    notification_url: str | None = Field(None, description="the receiver for the accounting system's change "
                                                           "notifications (Uniconta: Company > Maintenance > "
                                                           "Modification URL, table Debtor, \"Post\" ticked)")
    notification_argument: str | None = Field(None, description="shown once, when made: the secret to put in "
                                                                 "the modification URL's Argument field")
    webhook_secret: str | None = Field(None, description="shown once, when made: the key of the webhook's "
                                                        "signature (X-Ledgerbridge-Signature)")
    records: dict[str, int] = Field(default_factory=dict, description="customers by sync state: synced, "
                                                                      "pending, failed, untagged")


class VendorChange(LazyModel):
    """A vendor's notification that one of its records changed, as the receiver queued it."""

    kind: RecordKind
    vendor_key: str
    operation: Literal["insert", "update", "delete"]
    row: dict[str, Any] | None = None  # the record itself where the vendor posted it
    received_at: datetime = Field(default_factory=utcnow)


class SyncJob(LazyModel):
    """The SQS message body of sync work: source records to write (``push``), a vendor notification to
    take in (``vendor_change``), or a comparison with the vendor (``check``)."""

    type: Literal["record_sync"] = "record_sync"
    job_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    action: Literal["push", "vendor_change", "check"]
    tenant_id: str
    connection_id: str
    kind: RecordKind = RecordKind.CUSTOMER
    source_ids: list[str] = Field(default_factory=list, max_length=500)
    change: VendorChange | None = None
    # The export log's entry of a push or check (kept by the job's continuations after a wait).
    run_id: str | None = None
    trigger: str = "push"
    requested_at: datetime = Field(default_factory=utcnow)
    prior_attempts: int = Field(default=0, ge=0)


class RecordChange(LazyModel):
    """One entry of the changes feed: a record changed in the accounting system, for the source."""

    cursor: str
    kind: RecordKind
    source_id: str | None = Field(description="the source's id; null for a record created in the accounting "
                                              "system that the source does not have yet")
    vendor_key: str
    operation: Literal["created", "updated", "deleted"]
    changed: list[str] = Field(description="the fields whose values changed")
    fields: dict[str, FieldValue] = Field(description="every carried field's current value")
    changed_at: datetime


class ChangesPage(LazyModel):
    changes: list[RecordChange]
    cursor: str = Field(description="pass it as ?cursor= next time: changes after it")
    more: bool = False
