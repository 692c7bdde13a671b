"""Typed environment settings, read once per process on first use (never at import)."""
from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LB_", extra="ignore")

    stage: str = "dev"
    aws_region: str = Field(default="eu-north-1", validation_alias="AWS_REGION")
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

    # One secret per connection lives under this prefix; vendor app credentials under apps/.
    secrets_prefix: str = "ledgerbridge"

    # The public URL of GET /oauth/callback, registered at each vendor as the redirect URI.
    oauth_redirect_uri: str = "http://127.0.0.1:8100/oauth/callback"
    oauth_state_ttl_seconds: int = 600

    # Vendor endpoint overrides (local runtime and tests point these at the simulators).
    # Keys are "<vendor>.<endpoint>", e.g. {"visma_eaccounting.api": "http://127.0.0.1:8101/v2"}.
    vendor_urls: dict[str, str] = Field(default_factory=dict)
    vendor_timeout_seconds: float = 10.0
    # The hub's own application ids at vendors that identify an integration that way
    # (24SevenOffice's ApplicationId), e.g. {"24sevenoffice": "<guid>"}. Not secrets.
    application_ids: dict[str, str] = Field(default_factory=dict)

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

    @property
    def oauth_start_uri(self) -> str:
        """GET /oauth/start beside the callback: where the user's browser begins a connect."""
        return self.oauth_redirect_uri.rsplit("/callback", 1)[0] + "/start"

    def secret_name(self, *parts: str) -> str:
        return "/".join([self.secrets_prefix, self.stage, *parts])


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Tests and the local runtime change the environment; forget the cached settings."""
    get_settings.cache_clear()
