"""Create the template's tables, queues and bucket in moto, and the LB_* environment naming them."""
from __future__ import annotations

import json
from typing import Any

import boto3

from . import template

# template resource -> the LB_* variable the Globals section binds it to
_ENV_OF = {
    "TenantsTable": "LB_TENANTS_TABLE",
    "ConnectionsTable": "LB_CONNECTIONS_TABLE",
    "DocumentsTable": "LB_DOCUMENTS_TABLE",
    "CompaniesTable": "LB_COMPANIES_TABLE",
    "SyncTable": "LB_SYNC_TABLE",
    "OAuthStatesTable": "LB_OAUTH_STATES_TABLE",
    "LeasesTable": "LB_LEASES_TABLE",
    "IdempotencyTable": "LB_IDEMPOTENCY_TABLE",
    "TransferQueue": "LB_TRANSFER_QUEUE_URL",
    "AttachmentsBucket": "LB_ATTACHMENTS_BUCKET",
}


def create_all(session: boto3.session.Session, endpoint_url: str | None, prefix: str = "ledgerbridge-local",
               max_delivery_attempts: int = 8) -> dict[str, str]:
    """Create every stateful resource of template.yaml; return the environment naming them."""
    kw: dict[str, Any] = {"endpoint_url": endpoint_url} if endpoint_url else {}
    ddb = session.client("dynamodb", **kw)
    sqs = session.client("sqs", **kw)
    s3 = session.client("s3", **kw)
    env: dict[str, str] = {}

    for name, resource in template.resources("AWS::DynamoDB::Table").items():
        props = resource["Properties"]
        table = f"{prefix}-{name}"
        args: dict[str, Any] = {
            "TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": props["AttributeDefinitions"], "KeySchema": props["KeySchema"],
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
        env[_ENV_OF[name]] = table

    queues = template.resources("AWS::SQS::Queue")
    dlq_url = sqs.create_queue(QueueName=f"{prefix}-TransferDeadLetterQueue")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    visibility = str(queues["TransferQueue"]["Properties"]["VisibilityTimeout"])
    queue_url = sqs.create_queue(QueueName=f"{prefix}-TransferQueue", Attributes={
        "VisibilityTimeout": visibility,
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_delivery_attempts}),
    })["QueueUrl"]
    env["LB_TRANSFER_QUEUE_URL"] = queue_url
    env["LB_TRANSFER_DLQ_URL"] = dlq_url

    bucket = f"{prefix}-attachments".lower()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": session.region_name})
    env["LB_ATTACHMENTS_BUCKET"] = bucket
    env["LB_MAX_DELIVERY_ATTEMPTS"] = str(max_delivery_attempts)
    return env
