"""Credentials in Secrets Manager (one secret per connection), race-free OAuth token refresh, and
vendor sessions shared per credential (one secret per integration user and password).

Refresh tokens of rotating vendors are single-use: two workers refreshing with the same token
would leave one of them, and then the connection, locked out. So a refresh happens under a
per-connection DynamoDB lease, re-reads the secret inside the lease (someone may have refreshed
already), and writes the new pair back *before* the access token is used.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from pydantic import SecretStr

from . import aws
from .errors import CredentialRejected, NotConnected, TransientVendorError
from .models.common import utcnow
from .oauth.providers import Provider
from .repositories import leases
from .settings import get_settings
from .models.common import LazyModel


class OAuthTokens(LazyModel):
    kind: str = "oauth2"
    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime
    scope: str = ""

    def fresh(self, margin_seconds: int) -> bool:
        return self.expires_at - timedelta(seconds=margin_seconds) > utcnow()

    def dump_secret(self) -> str:
        return json.dumps({
            "kind": self.kind, "access_token": self.access_token.get_secret_value(),
            "refresh_token": self.refresh_token.get_secret_value(),
            "expires_at": self.expires_at.isoformat(), "scope": self.scope,
        })


class ApiKeyTokens(OAuthTokens):
    """A machine-to-machine API key (Procountor's, per company) and the access token last issued for it.

    There is no refresh token: each access token is asked for with ``client_credentials`` and the key,
    under the same lease as a refresh, and stored back so that every container shares it."""

    kind: str = "api_key"
    api_key: SecretStr
    access_token: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    expires_at: datetime = datetime(2000, 1, 1, tzinfo=timezone.utc)

    def fresh(self, margin_seconds: int) -> bool:
        return bool(self.access_token.get_secret_value()) and super().fresh(margin_seconds)

    def dump_secret(self) -> str:
        return json.dumps({
            "kind": self.kind, "api_key": self.api_key.get_secret_value(),
            "access_token": self.access_token.get_secret_value(), "expires_at": self.expires_at.isoformat(),
            "scope": self.scope,
        })


def api_key_token_form(api_key: str) -> dict[str, str]:
    """The token request for an API key (client_credentials; Procountor wants the redirect URI with it)."""
    return {"grant_type": "client_credentials", "api_key": api_key,
            "redirect_uri": get_settings().oauth_redirect_uri}


def store_api_key(tenant_id: str, connection_id: str, api_key: str, first_token: dict[str, Any] | None = None) -> None:
    """Store (or replace) a connection's API key, with the access token just issued for it, if any."""
    tokens = ApiKeyTokens(api_key=api_key)
    if first_token and first_token.get("access_token"):
        tokens = ApiKeyTokens(api_key=api_key, access_token=first_token["access_token"],
                              expires_at=utcnow() + timedelta(seconds=int(first_token.get("expires_in", 3600))))
    store_tokens(tenant_id, connection_id, tokens)


class AppCredentials(LazyModel):
    client_id: str
    client_secret: SecretStr


def connection_secret_name(tenant_id: str, connection_id: str) -> str:
    return get_settings().secret_name("connections", tenant_id, connection_id)


def app_secret_name(vendor: str) -> str:
    return get_settings().secret_name("apps", vendor)


def _read(name: str) -> dict[str, Any] | None:
    sm = aws.client("secretsmanager")
    try:
        return json.loads(sm.get_secret_value(SecretId=name)["SecretString"])
    except sm.exceptions.ResourceNotFoundException:
        return None


def write_secret(name: str, secret_string: str, *, tags: dict[str, str] | None = None) -> None:
    sm = aws.client("secretsmanager")
    try:
        sm.put_secret_value(SecretId=name, SecretString=secret_string)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=name, SecretString=secret_string,
                         Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])


def delete_connection_secret(tenant_id: str, connection_id: str) -> None:
    sm = aws.client("secretsmanager")
    for name in (connection_secret_name(tenant_id, connection_id), webhook_secret_name(tenant_id, connection_id)):
        try:
            sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
        except sm.exceptions.ResourceNotFoundException:
            pass


def webhook_secret_name(tenant_id: str, connection_id: str) -> str:
    """The key that signs the connection's outbound webhook (master-data changes for the source)."""
    return connection_secret_name(tenant_id, connection_id) + "/webhook"


def store_webhook_secret(tenant_id: str, connection_id: str, secret: str) -> None:
    write_secret(webhook_secret_name(tenant_id, connection_id), json.dumps({"kind": "webhook", "secret": secret}),
                 tags={"tenant": tenant_id, "connection": connection_id})


def webhook_secret(tenant_id: str, connection_id: str) -> str | None:
    stored = _read(webhook_secret_name(tenant_id, connection_id))
    return str(stored["secret"]) if stored and stored.get("secret") else None


_app_cache: dict[str, AppCredentials] = {}


def app_credentials(vendor: str) -> AppCredentials:
    cached = _app_cache.get(vendor)
    if cached is None:
        raw = _read(app_secret_name(vendor))
        if raw is None:
            raise NotConnected(f"the hub has no application credentials for {vendor}; see README (deploy)")
        cached = _app_cache[vendor] = AppCredentials.model_validate(raw)
    return cached


def refresh_lease_id(tenant_id: str, connection_id: str) -> str:
    """The one lease under which a connection's tokens are written (refresh or reconnect)."""
    return f"token-refresh#{connection_secret_name(tenant_id, connection_id)}"


def store_tokens(tenant_id: str, connection_id: str, tokens: OAuthTokens) -> None:
    write_secret(connection_secret_name(tenant_id, connection_id), tokens.dump_secret(),
                 tags={"tenant_id": tenant_id, "connection_id": connection_id})


def tokens_from_response(body: dict[str, Any], previous_refresh: str | None = None) -> OAuthTokens:
    refresh = body.get("refresh_token") or previous_refresh
    if not body.get("access_token") or not refresh:
        raise CredentialRejected("the vendor's token response lacked an access or refresh token")
    return OAuthTokens(
        access_token=body["access_token"], refresh_token=refresh,
        expires_at=utcnow() + timedelta(seconds=int(body.get("expires_in", 3600))),
        scope=body.get("scope", ""),
    )


def token_request(provider: Provider, form: dict[str, str], timeout: float) -> dict[str, Any]:
    """POST to the vendor's token endpoint with the hub's client credentials."""
    app = app_credentials(provider.vendor)
    auth = None
    form = dict(form)
    if provider.client_auth == "basic":
        auth = (app.client_id, app.client_secret.get_secret_value())
    else:
        form.update(client_id=app.client_id, client_secret=app.client_secret.get_secret_value())
    import httpx  # deferred: only functions that talk to vendors pay for it

    try:
        response = httpx.post(provider.token_url, data=form, auth=auth, timeout=timeout,
                              headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TransientVendorError(f"{provider.display_name} identity server unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientVendorError(f"{provider.display_name} identity server error {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 400:
        error = body.get("error", f"http {response.status_code}")
        raise CredentialRejected(
            f"{provider.display_name} refused the authorization ({error}); connect the account again"
        )
    return body


class TokenSource:
    """Hands out a valid access token for one connection, refreshing under a lease when needed."""

    # secret name -> (credential version, tokens): a reconnect bumps the version, so a warm
    # container never keeps using the tokens of the account that was connected before.
    _cache: dict[str, tuple[int, OAuthTokens]] = {}
    _cache_lock = threading.Lock()

    def __init__(self, provider: Provider, tenant_id: str, connection_id: str, credential_version: int = 0):
        self.provider = provider
        self.tenant_id = tenant_id
        self.connection_id = connection_id
        self.credential_version = credential_version
        self.secret_name = connection_secret_name(tenant_id, connection_id)
        self.refreshes = 0

    def _load(self) -> OAuthTokens:
        raw = _read(self.secret_name)
        if raw is None:
            raise NotConnected("the connection is not connected; press connect first")
        if raw.get("kind") == "api_key":
            return ApiKeyTokens.model_validate(raw)
        return OAuthTokens.model_validate(raw)

    def access_token(self, *, rejected: str | None = None) -> str:
        """A valid access token; ``rejected`` is one the vendor just refused (401): never hand it out again."""
        margin = self.provider.refresh_margin_seconds
        version, cached = self._cache.get(self.secret_name, (None, None))
        if (cached and version == self.credential_version and cached.fresh(margin)
                and cached.access_token.get_secret_value() != rejected):
            return cached.access_token.get_secret_value()
        tokens = self._load()
        if tokens.fresh(margin) and tokens.access_token.get_secret_value() != rejected:
            self._remember(tokens)
            return tokens.access_token.get_secret_value()
        # The lease outlasts a whole refresh (token call at its timeout + the secret write).
        settings = get_settings()
        hold = settings.vendor_timeout_seconds * 2 + 15
        with leases.held(refresh_lease_id(self.tenant_id, self.connection_id), seconds=hold,
                         wait=settings.token_lease_wait_seconds):
            # Inside the lease: whoever held it before us may have refreshed already.
            tokens = self._load()
            if tokens.fresh(margin) and tokens.access_token.get_secret_value() != rejected:
                self._remember(tokens)
                return tokens.access_token.get_secret_value()
            if isinstance(tokens, ApiKeyTokens):
                # No refresh token: a new access token for the key (a revoked key is CredentialRejected).
                body = token_request(self.provider, api_key_token_form(tokens.api_key.get_secret_value()),
                                     timeout=get_settings().vendor_timeout_seconds)
                new_tokens: OAuthTokens = tokens.model_copy(update={
                    "access_token": SecretStr(str(body.get("access_token") or "")),
                    "expires_at": utcnow() + timedelta(seconds=int(body.get("expires_in", 3600)))})
                if not new_tokens.access_token.get_secret_value():
                    raise CredentialRejected(f"{self.provider.display_name} issued no access token for the API key")
                store_tokens(self.tenant_id, self.connection_id, new_tokens)
                self.refreshes += 1
                self._remember(new_tokens)
                return new_tokens.access_token.get_secret_value()
            spent = tokens.refresh_token.get_secret_value()
            try:
                body = token_request(self.provider, {"grant_type": "refresh_token", "refresh_token": spent},
                                     timeout=get_settings().vendor_timeout_seconds)
            except CredentialRejected:
                # If our lease ran out mid-refresh, another worker may have rotated the token and
                # stored the new pair: that is not a lost authorization.
                latest = self._load()
                if latest.refresh_token.get_secret_value() != spent and latest.fresh(0):
                    self._remember(latest)
                    return latest.access_token.get_secret_value()
                raise
            new_tokens = tokens_from_response(body, previous_refresh=(
                None if self.provider.refresh_token_rotates else tokens.refresh_token.get_secret_value()))
            # Written back before use: if we died after this, the next worker has the live token.
            store_tokens(self.tenant_id, self.connection_id, new_tokens)
            self.refreshes += 1
        self._remember(new_tokens)
        return new_tokens.access_token.get_secret_value()

    def _remember(self, tokens: OAuthTokens) -> None:
        with self._cache_lock:
            self._cache[self.secret_name] = (self.credential_version, tokens)

    @classmethod
    def forget(cls, tenant_id: str, connection_id: str) -> None:
        with cls._cache_lock:
            cls._cache.pop(connection_secret_name(tenant_id, connection_id), None)

    @classmethod
    def forget_all(cls) -> None:
        with cls._cache_lock:
            cls._cache.clear()
        _app_cache.clear()




# --- password credentials, and vendor sessions shared per credential (24SevenOffice) --------------

class PasswordCredential(LazyModel):
    """An integration user as stored in the connection's secret (the vendor session lives apart,
    per credential: see ``SessionSource``)."""

    kind: str = "password"
    username: str
    password: SecretStr
    # credential_fingerprint(vendor, username, password), written with them: a slow hash, paid once
    # when the user is stored rather than in every container that books or reads for it.
    fingerprint: str | None = None
    # Uniconta: the integration's API key and the company (Firma ID) the user logs in to.
    api_key: SecretStr | None = None
    company_id: str | None = None

    def dump_secret(self) -> str:
        return json.dumps({"kind": self.kind, "username": self.username,
                           "password": self.password.get_secret_value(), "fingerprint": self.fingerprint,
                           "api_key": self.api_key.get_secret_value() if self.api_key else None,
                           "company_id": self.company_id})


class VendorSession(LazyModel):
    """The session last obtained with one credential, in a secret of its own."""

    kind: str = "session"
    session_id: SecretStr | None = None
    obtained_at: datetime | None = None

    def dump_secret(self) -> str:
        return json.dumps({"kind": self.kind,
                           "session_id": self.session_id.get_secret_value() if self.session_id else None,
                           "obtained_at": self.obtained_at.isoformat() if self.obtained_at else None})


def store_password(tenant_id: str, connection_id: str, username: str, password: str,
                   vendor: str = "24sevenoffice", *, api_key: str | None = None, company_id: str | None = None) -> None:
    """Store (or replace) the integration user. A different password is a different credential
    fingerprint, so the old user's session is never used for it."""
    credential = PasswordCredential(username=username, password=password,
                                    fingerprint=credential_fingerprint(vendor, username, password),
                                    api_key=api_key, company_id=company_id)
    write_secret(connection_secret_name(tenant_id, connection_id), credential.dump_secret(),
                 tags={"tenant_id": tenant_id, "connection_id": connection_id})


# Fixed, public salt: the fingerprint must be the same in every container and for every connection
# of one integration user (that is what it is for). It appears in secret names and lease ids, so it
# is a slow hash: recovering a password from it costs a PBKDF2 run per guess.
_FINGERPRINT_SALT = b"ledgerbridge/vendor-session/v1"
FINGERPRINT_ITERATIONS = 100_000


def credential_fingerprint(vendor: str, username: str, password: str) -> str:
    """A non-reversible key for one integration user and password at one vendor (40 hex digits)."""
    import hashlib

    material = json.dumps([vendor, username, password], ensure_ascii=False).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", material, _FINGERPRINT_SALT, FINGERPRINT_ITERATIONS, dklen=20).hex()


def stored_password(tenant_id: str, connection_id: str) -> PasswordCredential:
    """The connection's stored login (NotConnected when there is none)."""
    raw = _read(connection_secret_name(tenant_id, connection_id))
    if raw is None or raw.get("kind") != "password":
        raise NotConnected("no login is stored for this connection; store one first (PUT credential)")
    return PasswordCredential.model_validate(raw)


def session_secret_name(vendor: str, fingerprint: str) -> str:
    return get_settings().secret_name("sessions", vendor, fingerprint)


class SessionSource:
    """Hands out a live vendor session for a connection's integration user, logging in only when
    it is gone.

    The session belongs to the credential, not to the connection: connections storing the same
    user and password (an accounting office's reconciliation and a shop's booking) share it. It is
    kept in a secret of its own named by the credential's fingerprint
    (``ledgerbridge/{stage}/sessions/{vendor}/{fingerprint}``), so every container and connection
    shares it (the vendor throttles repeated logins). A session that worked within
    ``trust_seconds`` is used as is; an older one is checked with ``has_session``; a dead one is
    renewed by ``login`` under the credential's login lease, after re-reading the session secret
    (someone may have logged in already). A changed password is a new fingerprint: a new session.
    """

    # (connection secret name, credential version) -> (the stored user, its fingerprint)
    _credentials: dict[tuple[str, int], tuple[PasswordCredential, str]] = {}
    # fingerprint -> (session id, monotonic time it last worked): shared by the connections of one user
    _cache: dict[str, tuple[str, float]] = {}
    _cache_lock = threading.Lock()

    def __init__(self, tenant_id: str, connection_id: str, credential_version: int, *,
                 login: Callable[[str, str], str], has_session: Callable[[str], bool], trust_seconds: float,
                 vendor: str = "24sevenoffice"):
        self.tenant_id = tenant_id
        self.connection_id = connection_id
        self.credential_version = credential_version
        self.vendor = vendor
        self.secret_name = connection_secret_name(tenant_id, connection_id)
        self._login = login
        self._has_session = has_session
        self.trust_seconds = trust_seconds
        self.logins = 0

    def _credential(self) -> tuple[PasswordCredential, str]:
        key = (self.secret_name, self.credential_version)
        known = self._credentials.get(key)
        if known is None:
            raw = _read(self.secret_name)
            if raw is None or raw.get("kind") != "password":
                raise NotConnected("no integration user is stored for this connection; store one first")
            credential = PasswordCredential.model_validate(raw)
            # Stored before fingerprints were: computed here (once per container and version).
            fingerprint = credential.fingerprint or credential_fingerprint(
                self.vendor, credential.username, credential.password.get_secret_value())
            known = (credential, fingerprint)
            with self._cache_lock:
                self._credentials[key] = known
        return known

    def username(self) -> str:
        return self._credential()[0].username

    def fingerprint(self) -> str:
        return self._credential()[1]

    def session_lease_id(self) -> str:
        """The lease every holder of this credential's session takes for work that relies on the
        session's state (24SevenOffice: its selected identity)."""
        return f"session#{self.vendor}#{self.fingerprint()}"

    def login_lease_id(self) -> str:
        return f"session-login#{self.vendor}#{self.fingerprint()}"

    @property
    def session_secret_name(self) -> str:
        return session_secret_name(self.vendor, self.fingerprint())

    def _stored_session(self) -> str | None:
        raw = _read(self.session_secret_name)
        if raw is None or raw.get("kind") != "session":
            return None
        stored = VendorSession.model_validate(raw)
        return stored.session_id.get_secret_value() if stored.session_id else None

    def session_id(self, *, rejected: str | None = None) -> str:
        """A live session id; ``rejected`` is one the vendor just refused: never hand it out again."""
        import time

        credential, fingerprint = self._credential()
        cached, worked_at = self._cache.get(fingerprint, (None, 0.0))
        if cached and cached != rejected and time.monotonic() - worked_at < self.trust_seconds:
            return cached
        candidate = self._stored_session()
        if candidate and candidate != rejected and self._has_session(candidate):
            self.worked(candidate)
            return candidate
        settings = get_settings()
        hold = settings.vendor_timeout_seconds * 3 + 15
        with leases.held(self.login_lease_id(), seconds=hold, wait=settings.token_lease_wait_seconds):
            latest = self._stored_session()
            if latest and latest not in (candidate, rejected) and self._has_session(latest):
                self.worked(latest)  # another container (or connection of this user) logged in meanwhile
                return latest
            session = self._login(credential.username, credential.password.get_secret_value())
            # Written back before use: the next container, or the user's other connections, reuse it.
            # The name is the fingerprint of the credential just used, so it can never be stored
            # under another user's or password's name.
            write_secret(self.session_secret_name,
                         VendorSession(session_id=session, obtained_at=utcnow()).dump_secret(),
                         tags={"vendor": self.vendor, "kind": "session"})
            self.logins += 1
        self.worked(session)
        return session

    def worked(self, session_id: str) -> None:
        """The vendor just accepted this session: trust it for a while without checking."""
        import time

        with self._cache_lock:
            self._cache[self.fingerprint()] = (session_id, time.monotonic())

    def forget(self) -> None:
        with self._cache_lock:
            self._cache.pop(self.fingerprint(), None)

    @classmethod
    def forget_all(cls) -> None:
        with cls._cache_lock:
            cls._cache.clear()
            cls._credentials.clear()
