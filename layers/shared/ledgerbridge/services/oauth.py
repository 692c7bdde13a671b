"""'Connect': the authorization-code flow, driven by the provider definitions in providers.toml."""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from ..connectors import registry
from ..credentials import (
    TokenSource,
    app_credentials,
    refresh_lease_id,
    store_api_key,
    store_tokens,
    token_request,
    tokens_from_response,
)
from ..errors import CredentialRejected, ValidationFailed, VendorError
from ..oauth.providers import provider
from ..repositories import connections as connection_store
from ..repositories import leases, oauth_states
from ..settings import get_settings
from . import connections


TICKET_PREFIX = "ticket#"




def start(tenant_id: str, connection_id: str, credential: str = "oauth") -> str:
    """'Connect': a one-time URL to open in the user's browser (GET /oauth/start).

    The flow is bound to that browser: /oauth/start sets a cookie with a nonce that the callback
    must present, so a sign-in link sent to someone else cannot attach their account to ours.
    ``credential="api_key"``: the vendor's machine-to-machine sign-in (Procountor's /keylogin), which
    ends in a per-company API key the hub keeps instead of a refresh token.
    """
    connection = connection_store.get(tenant_id, connection_id)
    spec = provider(connection.vendor)
    if not spec.auth_mode.startswith("oauth2"):
        raise ValidationFailed(f"{spec.display_name} does not use OAuth; store its credential instead")
    if credential == "api_key" and connections.API_KEY_HOST not in spec.hosts:
        raise ValidationFailed(f"{spec.display_name} issues no API keys; connect with credential=oauth")
    settings = get_settings()
    if not spec.redirect_uri_query_allowed and "?" in settings.oauth_redirect_uri:
        # The vendor registers one redirect URI without a query: the connection travels in state only.
        raise ValidationFailed(f"{spec.display_name} takes no query string in the redirect URI; deploy with "
                               f"a plain OAuthRedirectUri")
    state = secrets.token_urlsafe(32)
    browser_nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if spec.pkce else None
    params = {
        "client_id": app_credentials(connection.vendor).client_id,
        "redirect_uri": settings.oauth_redirect_uri,
        "response_type": "code",
        "state": state,
        **spec.authorize_params,
    }
    if spec.scopes:
        params["scope"] = spec.scope_separator.join(spec.scopes)
    authorize_url = spec.hosts[connections.API_KEY_HOST] if credential == "api_key" else spec.authorize_url
    if verifier:
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params.update(code_challenge=challenge, code_challenge_method="S256")
    ttl = settings.oauth_state_ttl_seconds
    oauth_states.put(state, {"tenant_id": tenant_id, "connection_id": connection_id, "vendor": connection.vendor,
                             "code_verifier": verifier, "browser_nonce": browser_nonce, "credential": credential},
                     ttl_seconds=ttl)
    ticket = secrets.token_urlsafe(32)
    oauth_states.put(TICKET_PREFIX + ticket, {
        "authorize_url": f"{authorize_url}?{urlencode(params)}", "oauth_state": state,
        "browser_nonce": browser_nonce, "tenant_id": tenant_id, "connection_name": connection.name,
        "vendor_name": spec.display_name}, ttl_seconds=ttl)
    return f"{settings.oauth_start_uri}?{urlencode({'ticket': ticket})}"


@dataclass
class BrowserStart:
    authorize_url: str
    cookie_name: str
    browser_nonce: str


@dataclass
class TicketView:
    """What the confirmation page shows before anything is consumed."""

    tenant_id: str
    connection_name: str
    vendor_name: str


def cookie_name(state: str) -> str:
    # One cookie per flow, so two connects started in one browser do not clobber each other.
    return "lb_oauth_" + hashlib.sha256(state.encode()).hexdigest()[:16]


def peek_ticket(ticket: str) -> TicketView | None:
    """Read a connect ticket without using it up: link scanners that GET it change nothing."""
    record = oauth_states.peek(TICKET_PREFIX + ticket) if ticket else None
    if record is None:
        return None
    return TicketView(record["tenant_id"], record["connection_name"], record["vendor_name"])


def open_ticket(ticket: str) -> BrowserStart | None:
    """The user confirmed: use the ticket up and start the vendor sign-in in this browser."""
    record = oauth_states.consume(TICKET_PREFIX + ticket) if ticket else None
    if record is None:
        return None
    return BrowserStart(record["authorize_url"], cookie_name(record["oauth_state"]), record["browser_nonce"])


@dataclass
class CallbackOutcome:
    ok: bool
    title: str
    message: str
    connection_name: str | None = None
    status_code: int = 200


def _expired() -> CallbackOutcome:
    return CallbackOutcome(False, "Link expired",
                           "This sign-in link has expired or was already used. Start again from the hub.",
                           status_code=400)


def _other_browser() -> CallbackOutcome:
    return CallbackOutcome(False, "Not connected",
                           "This sign-in was not started in this browser. Start again from the hub.", status_code=400)


def _started_in_this_browser(record: dict, state: str, cookies: dict[str, str]) -> bool:
    expected = str(record.get("browser_nonce") or "")
    presented = cookies.get(cookie_name(state), "")
    # A record without a nonce binds no browser: refuse it rather than match an absent cookie.
    return bool(expected) and secrets.compare_digest(presented.encode(), expected.encode())


def callback(params: dict[str, str], cookies: dict[str, str]) -> CallbackOutcome:
    state = params.get("state") or ""
    if state.startswith(TICKET_PREFIX):
        state = ""
    # The browser binding is checked on a read before the state is used up: a callback without
    # the flow's cookie (someone who opened the link first, a link scanner, a forged callback)
    # must not burn the state the user's own browser is about to bring back.
    pending = oauth_states.peek(state) if state else None
    if pending is None:
        return _expired()
    if not _started_in_this_browser(pending, state, cookies):
        return _other_browser()
    # Only now used up, by the conditional delete: of two callbacks with the right cookie, one
    # gets the record, the other None (nothing is exchanged twice).
    record = oauth_states.consume(state)
    if record is None:
        return _expired()
    if not _started_in_this_browser(record, state, cookies):  # records are never rewritten; checked anyway
        return _other_browser()
    tenant_id, connection_id = record["tenant_id"], record["connection_id"]
    connection = connection_store.get(tenant_id, connection_id)
    spec = provider(connection.vendor)
    if params.get("error"):
        reason = f"{spec.display_name} sign-in was not completed ({params['error']})"
        return CallbackOutcome(False, "Not connected", reason, connection.name, status_code=400)
    code = params.get("code")
    if not code:
        return CallbackOutcome(False, "Not connected", "The sign-in answer carried no code.", connection.name, 400)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": get_settings().oauth_redirect_uri}
    if record.get("code_verifier"):
        form["code_verifier"] = record["code_verifier"]
    api_key = None
    try:
        answer = token_request(spec, form, timeout=get_settings().vendor_timeout_seconds)
        if record.get("credential") == "api_key":
            # The machine-to-machine sign-in answers an API key; its first access token proves it.
            api_key = str(answer.get("api_key") or "")
            if not api_key:
                raise CredentialRejected(f"{spec.display_name} issued no API key; start again")
            answer = registry.connector_module(connection.vendor).access_token_for_api_key(spec, api_key)
            access_token = str(answer.get("access_token") or "")
        else:
            tokens = tokens_from_response(answer)
            access_token = tokens.access_token.get_secret_value()
        refusal = connections.bound_elsewhere(connection, access_token)
    except CredentialRejected as exc:
        return CallbackOutcome(False, "Not connected", exc.message, connection.name, status_code=400)
    except VendorError as exc:
        return CallbackOutcome(False, "Not connected",
                               f"{spec.display_name} could not be reached ({exc.message}); try again.",
                               connection.name, status_code=502)
    if refusal:
        # Nothing stored: the connection keeps the company (and the credential) it had.
        return CallbackOutcome(False, "Not connected", refusal, connection.name, status_code=409)
    # Under the refresh lease: a worker refreshing the previous account's tokens cannot write
    # them back over these.
    with leases.held(refresh_lease_id(tenant_id, connection_id), seconds=30,
                     wait=get_settings().token_lease_wait_seconds):
        if api_key is not None:
            store_api_key(tenant_id, connection_id, api_key, answer)
        else:
            store_tokens(tenant_id, connection_id, tokens)
    TokenSource.forget(tenant_id, connection_id)  # this container may hold the previous account's tokens
    try:
        checked = registry.connector_for(connection).check()
    except VendorError as exc:
        # New tokens are stored but the account behind them is unverified: book nothing until it is.
        reason = f"{spec.display_name} could not confirm the account ({exc.message}); connect again"
        connections.mark_needs_reauth(tenant_id, connection_id, reason, new_credential=True)
        return CallbackOutcome(False, "Not connected", reason, connection.name, status_code=502)
    connections.mark_connected(tenant_id, connection_id, checked.company_name, checked.currency,
                               company_id=checked.company_id)
    company = checked.company_name
    return CallbackOutcome(True, f"{spec.display_name} account connected",
                           f"{spec.display_name} account connected" + (f": {company}" if company else "") + ".",
                           connection.name)
