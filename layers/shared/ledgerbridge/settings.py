"""Typed environment settings, read once per process on first use (never at import).

A plain dataclass read from ``os.environ``: every field ``x`` comes from ``LB_X`` (names are not
case-sensitive), except ``aws_region``, which is Lambda's own ``AWS_REGION``. ``int`` and ``float``
fields are parsed as numbers and ``dict`` fields as JSON objects of strings; a value that does not
parse stops the function with a ``SettingsError`` naming the variable. (pydantic-settings did the
same and cost about 100 ms and 4 MiB of every cold start, for reading twenty variables.)
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache

PREFIX = "LB_"
# Fields read from a variable of another name than PREFIX + the field's name.
ALIASES = {"aws_region": "AWS_REGION"}


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    aws_region: str = "eu-north-1"
    # Set only in the local runtime and tests: every boto3 client then talks to moto's server.
    aws_endpoint_url: str | None = None

    tenants_table: str = "ledgerbridge-tenants"
    connections_table: str = "ledgerbridge-connections"
    documents_table: str = "ledgerbridge-documents"
    oauth_states_table: str = "ledgerbridge-oauth-states"
    leases_table: str = "ledgerbridge-leases"
    idempotency_table: str = "ledgerbridge-idempotency"
    transfer_queue_url: str = ""
    # Where the worker puts a job it gave up on (the queue's redrive policy is the backstop for
    # workers that crash; a job that waited goes on as a new message, so SQS's count runs behind).
    transfer_dlq_url: str = ""
    attachments_bucket: str = "ledgerbridge-attachments"
    companies_table: str = "ledgerbridge-companies"
    # Master-data sync: the mapping (source id <-> vendor key, each side's last values) and the changes feed.
    sync_table: str = "ledgerbridge-sync"
    # The public base URL of the vendor notification receiver (…/hooks); a connection's modification
    # URL is <hooks_base_url>/<vendor>/<tenant>/<connection>.
    hooks_base_url: str = "http://127.0.0.1:8100/hooks"

    # One secret per connection lives under this prefix; vendor app credentials under apps/.
    secrets_prefix: str = "ledgerbridge"

    # The public URL of GET /oauth/callback, registered at each vendor as the redirect URI.
    oauth_redirect_uri: str = "http://127.0.0.1:8100/oauth/callback"
    oauth_state_ttl_seconds: int = 600

    # Vendor endpoint overrides (local runtime and tests point these at the simulators).
    # Keys are "<vendor>.<endpoint>", e.g. {"visma_eaccounting.api": "http://127.0.0.1:8101/v2"}.
    vendor_urls: dict[str, str] = field(default_factory=dict)
    vendor_timeout_seconds: float = 10.0
    # The hub's own application ids at vendors that identify an integration that way
    # (24SevenOffice's ApplicationId), e.g. {"24sevenoffice": "<guid>"}. Not secrets.
    application_ids: dict[str, str] = field(default_factory=dict)

    # Transfer worker: retries through SQS with exponential backoff, then the DLQ.
    max_delivery_attempts: int = 8
    backoff_base_seconds: int = 20
    backoff_max_seconds: int = 900
    # How many workers may run at once (SQS event source MaximumConcurrency); the per-process
    # share of a vendor's rate limit is the vendor limit divided by this.
    worker_concurrency: int = 5
    # A record is started only with this much of the invocation left (3 vendor calls at their
    # timeout plus in-process retries), so a booking is never cut off by the Lambda timeout.
    min_time_to_start_booking_ms: int = 40_000
    # A claim outlives its invocation by this much, against clock differences between containers.
    lease_margin_ms: int = 2_000
    # After an unanswered voucher post, wait this long before searching the vendor for it: a
    # search while the vendor is still committing could miss it and lead to a second post.
    submit_settle_seconds: int = 120
    # A queued job not taken up this long after it was due no longer keeps the document from being
    # queued again (a backlog or a lost send); until then a second "transfer now" queues nothing.
    queued_grace_seconds: int = 900
    # How long an API call waits for another container's token refresh (API Gateway stops at 29 s).
    token_lease_wait_seconds: float = 15.0

    default_timezone: str = "Europe/Oslo"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives; a field without its variable keeps its default."""
        variables = {k.upper(): v for k, v in (os.environ if environ is None else environ).items()}
        values = {}
        for spec in fields(cls):
            name = ALIASES.get(spec.name, PREFIX + spec.name.upper())
            if name in variables:
                values[spec.name] = _parse(name, spec.type, variables[name])
        return cls(**values)

    @property
    def oauth_start_uri(self) -> str:
        """GET /oauth/start beside the callback: where the user's browser begins a connect."""
        return self.oauth_redirect_uri.rsplit("/callback", 1)[0] + "/start"

    def secret_name(self, *parts: str) -> str:
        return "/".join([self.secrets_prefix, self.stage, *parts])


def _parse(name: str, kind: str, raw: str) -> object:
    # ``kind`` is the annotation as written (this module postpones annotations).
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind.startswith("dict["):
            parsed = json.loads(raw)
            if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
                raise ValueError("expected a JSON object of strings")
            return parsed
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        raise SettingsError(f"{name}={raw!r}: {exc}") from None
    if kind in ("str", "str | None"):
        return raw
    raise TypeError(f"no parser for a setting of type {kind}")  # a new field of a new type


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()


def reset_settings() -> None:
    """Tests and the local runtime change the environment; forget the cached settings."""
    get_settings.cache_clear()
