"""Rotating, single-use refresh tokens: refresh is serialized per connection and written back first."""
from __future__ import annotations

import json
import threading

import pytest

from conftest import Api, connect


def _secret(session, connection_id: str) -> dict:
    sm = session.client("secretsmanager")
    return json.loads(sm.get_secret_value(SecretId=f"ledgerbridge/test/connections/tenant-a/{connection_id}")["SecretString"])


def test_concurrent_workers_spend_the_refresh_token_once(aws, visma):
    from ledgerbridge.credentials import TokenSource
    from ledgerbridge.oauth.providers import provider

    connection_id = connect(Api("tenant-a"))
    before = _secret(aws, connection_id)
    visma.advance_clock(3600 + 60)  # the access token is now expired at the vendor
    # Make our copy look expired too, as a worker an hour later would see it.
    expired = dict(before, expires_at="2000-01-01T00:00:00+00:00")
    aws.client("secretsmanager").put_secret_value(
        SecretId=f"ledgerbridge/test/connections/tenant-a/{connection_id}", SecretString=json.dumps(expired))
    TokenSource.forget_all()
    visma.reset_counts()

    tokens: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            tokens.append(TokenSource(provider("visma_eaccounting"), "tenant-a", connection_id).access_token())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(tokens)) == 1, "every worker ends up with the one refreshed access token"
    assert visma.request_counts().get("POST /connect/token") == 1
    assert visma.state.refresh_token_reuse_attempts == 0
    after = _secret(aws, connection_id)
    assert after["refresh_token"] != before["refresh_token"], "the rotated refresh token was stored"
    assert after["access_token"] == tokens[0]


def test_revoked_authorization_marks_connection_for_reconnect(aws, visma):
    from ledgerbridge.credentials import TokenSource
    from ledgerbridge.errors import CredentialRejected
    from ledgerbridge.oauth.providers import provider

    api = Api("tenant-a")
    connection_id = connect(api)
    stored = _secret(aws, connection_id)
    # Someone else spends our refresh token (e.g. a restored backup): ours is now dead.
    import httpx

    spent = httpx.post(f"{visma.base_url}/connect/token", auth=("ledgerbridge-local", "local-secret"),
                       data={"grant_type": "refresh_token", "refresh_token": stored["refresh_token"]})
    assert spent.status_code == 200
    aws.client("secretsmanager").put_secret_value(
        SecretId=f"ledgerbridge/test/connections/tenant-a/{connection_id}",
        SecretString=json.dumps(dict(stored, expires_at="2000-01-01T00:00:00+00:00")))
    TokenSource.forget_all()
    with pytest.raises(CredentialRejected):
        TokenSource(provider("visma_eaccounting"), "tenant-a", connection_id).access_token()

    status, result = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and result["ok"] is False and "connect the account again" in result["message"]
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "needs_reauth"


def test_token_revoked_early_is_refreshed_once_and_the_call_succeeds(aws, visma):
    api = Api("tenant-a")
    connection_id = connect(api)
    with visma.state.lock:
        visma.state.access_tokens.clear()  # the vendor forgets the access token before its expiry
    visma.reset_counts()
    status, result = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and result["ok"] is True
    assert visma.request_counts().get("POST /connect/token") == 1
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "connected"


def test_fresh_token_refused_means_reconnect(aws, visma):
    from simulators.visma_eaccounting import Fault

    api = Api("tenant-a")
    connection_id = connect(api)
    visma.add_fault(Fault("status", method="GET", path_prefix="/v2/companysettings", times=2, status=401))
    status, result = api.call("POST", f"/connections/{connection_id}/check")
    assert status == 200 and result["ok"] is False and "connect the account again" in result["message"]
    assert api.call("GET", f"/connections/{connection_id}")[1]["status"] == "needs_reauth"
