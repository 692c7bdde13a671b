"""Accepted documents (JSON with the PDF) in S3, so nothing accepted is ever lost."""
from __future__ import annotations

from .. import aws
from ..settings import get_settings


def key_for(tenant_id: str, connection_id: str, document_id: str, version: int, content_hash: str) -> str:
    # The content hash is part of the key: two first sends of one document racing each other write
    # to different objects, so the loser can never overwrite the payload of the version accepted.
    return (f"tenants/{tenant_id}/connections/{connection_id}/documents/{document_id}/"
            f"v{version:06d}-{content_hash[:16]}.json")


def put(key: str, body: bytes) -> None:
    aws.client("s3").put_object(
        Bucket=get_settings().attachments_bucket, Key=key, Body=body,
        ContentType="application/json", ServerSideEncryption="AES256",
    )


def delete(key: str) -> None:
    aws.client("s3").delete_object(Bucket=get_settings().attachments_bucket, Key=key)


def get(key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=get_settings().attachments_bucket, Key=key)["Body"].read()


# --- ledger entries read for reconciliation: one JSON Lines object per chunk read ------------------

def ledger_part_key(tenant_id: str, connection_id: str, company_id: str, read_id: str, account: str,
                    part: int) -> str:
    # Under ledger/: a bucket lifecycle rule expires these (they are a cache of the vendor's ledger).
    return (f"ledger/tenants/{tenant_id}/connections/{connection_id}/companies/{company_id}/{read_id}/"
            f"{account}/part-{part:05d}.jsonl")


def put_lines(key: str, body: bytes) -> None:
    aws.client("s3").put_object(
        Bucket=get_settings().attachments_bucket, Key=key, Body=body,
        ContentType="application/x-ndjson", ServerSideEncryption="AES256",
    )
