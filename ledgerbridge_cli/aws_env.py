"""Point the shared layer (``ledgerbridge.*``) at a hub's AWS resources for the operator commands.

The layer reads its tables and queues from ``LB_*`` variables and its region and endpoint from
``AWS_REGION`` / ``LB_AWS_ENDPOINT_URL`` (``ledgerbridge.settings``). The operator profile gives them:

* ``region``, ``aws_profile`` (credentials), ``aws_endpoint_url`` (+ dummy ``aws_access_key_id`` /
  ``aws_secret_access_key`` for a local emulator such as the local stack's moto server);
* ``stack``: the CloudFormation stack; its resources' physical ids (TenantsTable, ConnectionsTable, …,
  TransferQueue, TransferDeadLetterQueue) and outputs (ApiUrl, TransferQueueUrl, …) are looked up;
* explicit names (``tenants_table``, ``transfer_dlq_url``, …), which win over the stack's.

What neither gives is left as the environment has it (``LB_TENANTS_TABLE`` … set by hand still work).
The variables are set for the command's duration only and the layer's cached settings and clients
are reset on the way in and out.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from .config import RESOURCE_KEYS, Config
from .errors import ConfigError, OperatorError

# template.yaml's logical ids -> the layer's setting names.
STACK_RESOURCES = {
    "TenantsTable": "tenants_table", "ConnectionsTable": "connections_table", "DocumentsTable": "documents_table",
    "CompaniesTable": "companies_table", "SyncTable": "sync_table", "OAuthStatesTable": "oauth_states_table",
    "LeasesTable": "leases_table", "IdempotencyTable": "idempotency_table",
    "TransferQueue": "transfer_queue_url", "TransferDeadLetterQueue": "transfer_dlq_url",
    "AttachmentsBucket": "attachments_bucket",
}
STACK_OUTPUTS = {"TransferQueueUrl": "transfer_queue_url", "TransferDeadLetterQueueUrl": "transfer_dlq_url"}


def env_name(setting: str) -> str:
    return f"LB_{setting.upper()}"


@dataclass
class Target:
    """The hub's resources in force, and where each came from (for messages)."""

    url: str | None = None  # the hub's API URL (console links)
    origins: dict[str, str] = field(default_factory=dict)

    def require(self, *settings: str) -> dict[str, str]:
        """The named resources (table names, queue URLs), or a ConfigError naming what to add."""
        found, missing = {}, []
        for setting in settings:
            value = os.environ.get(env_name(setting), "")
            if value:
                found[setting] = value
            else:
                missing.append(setting)
        if missing:
            raise ConfigError(f"the hub's {', '.join(m.replace('_', ' ') for m in missing)} unknown: add "
                              f"{' and '.join(missing)} (or stack) to the operator profile, or set "
                              f"{', '.join(env_name(m) for m in missing)}")
        return found


def _reset_layer() -> None:
    from ledgerbridge import aws
    from ledgerbridge.settings import reset_settings

    reset_settings()
    aws.reset_clients()


@contextmanager
def environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (None: unset) environment variables for the block; the layer's caches reset around it."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_layer()
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_layer()


def aws_environment(config: Config) -> dict[str, str | None]:
    """Region, endpoint and credentials the profile gives, as the variables boto3 and the layer read."""
    changes: dict[str, str | None] = {}
    region = config.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        changes["AWS_REGION"] = changes["AWS_DEFAULT_REGION"] = region
    if config.get("aws_endpoint_url"):
        changes["LB_AWS_ENDPOINT_URL"] = config.get("aws_endpoint_url")
    if config.get("aws_profile"):
        changes["AWS_PROFILE"] = config.get("aws_profile")
    if config.get("aws_access_key_id") or config.get("aws_secret_access_key"):
        if not (config.get("aws_access_key_id") and config.get("aws_secret_access_key")):
            raise ConfigError("the profile gives only one of aws_access_key_id and aws_secret_access_key")
        changes["AWS_ACCESS_KEY_ID"] = config.get("aws_access_key_id")
        changes["AWS_SECRET_ACCESS_KEY"] = config.get("aws_secret_access_key")
        changes["AWS_SESSION_TOKEN"] = None  # one from elsewhere would not belong to these keys
    if config.get("stage"):
        changes["LB_STAGE"] = config.get("stage")
    return changes


def stack_settings(stack: str) -> tuple[dict[str, str], str | None]:
    """The layer's settings from a CloudFormation stack's resources and outputs, and its ApiUrl."""
    from ledgerbridge import aws

    cloudformation = aws.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in described.get("Outputs") or []}
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters") or []}
    found: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page.get("StackResourceSummaries", []):
            setting = STACK_RESOURCES.get(resource["LogicalResourceId"])
            if setting and resource.get("PhysicalResourceId"):
                found[setting] = resource["PhysicalResourceId"]
    for output, setting in STACK_OUTPUTS.items():
        if outputs.get(output):
            found[setting] = outputs[output]
    if parameters.get("Stage"):
        found["stage"] = parameters["Stage"]
    return found, outputs.get("ApiUrl") or None


@contextmanager
def operator_target(config: Config) -> Iterator[Target]:
    """The block runs with the shared layer pointed at the profile's hub (see the module docstring)."""
    try:
        import boto3  # noqa: F401  (the layer's AWS clients; not a dependency of the tenant commands)
    except ImportError:
        raise OperatorError("operator commands need boto3: pip install boto3") from None
    with environment(aws_environment(config)):
        target = Target(url=config.url)
        settings: dict[str, str] = {}
        stack = config.get("stack")
        if stack:
            from_stack, api_url = stack_settings(stack)
            settings.update(from_stack)
            target.origins.update({k: f"stack {stack}" for k in from_stack})
            target.url = target.url or (api_url.rstrip("/") if api_url else None)
        for setting in (*RESOURCE_KEYS, "stage"):
            if config.get(setting):
                settings[setting] = config.get(setting)
                target.origins[setting] = config.settings[setting].origin
        with environment({env_name(k): v for k, v in settings.items()}):
            yield target
