"""Uniconta connector: the stored login and "Test integration" (issue 11's first step).

Every REST call carries HTTP Basic with the user as ``00<CompanyId>/<login id>`` and the password
(unipedia, "OData REST API testing with Postman"): there is no session and no token, so a check is
one call. Uniconta does not say whether the user or the password is wrong (``UserOrPasswordIsWrong``),
and a company that does not exist answers like one the user may not open (``NoAccessToCompany``):
"Test integration" names exactly what can be told apart. The API key the seed's form asks for is the
integration's partner key for Uniconta's .NET API; REST never checks it, so it is stored and checked
for its form (a GUID) only — said in the answer, never pretended to be verified.

Booking (a day's sales into a named journal) and the customer sync come next; until then the
connector declares no capability, and the core refuses what it cannot do.
"""
from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from ...credentials import PasswordCredential, stored_password
from ...errors import CredentialRejected, PermanentVendorError
from ...models.connection import Choice, Connection
from ...oauth.providers import Provider
from ...settings import get_settings
from ...vendor_http import ErrorDescription, Unauthenticated, VendorHttp
from ..base import ConnectionCheck


def describe_error(response: httpx.Response) -> ErrorDescription:
    """``api/Entities`` answers ``{ErrorCode, Message, Errors[]}``, OData ``{"error": {code, message}}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code, message = body["error"].get("code"), body["error"].get("message")
    elif isinstance(body, dict):
        code, message = body.get("ErrorCode"), body.get("Message")
        details = [f"{e.get('Field')}: {e.get('ErrorCode')}" for e in body.get("Errors") or [] if isinstance(e, dict)]
        if details:
            message = f"{message} ({'; '.join(details[:10])})"
    else:
        code, message = None, None
    text = message or response.reason_phrase or f"HTTP {response.status_code}"
    return ErrorDescription(message=f"Uniconta: {text}", vendor_code=code)


_http_by_url: dict[str, VendorHttp] = {}


def vendor_http(provider: Provider) -> VendorHttp:
    http = _http_by_url.get(provider.api_url)
    if http is None:
        http = _http_by_url[provider.api_url] = VendorHttp(
            vendor="Uniconta", base_url=provider.api_url.rstrip("/") + "/",
            timeout=get_settings().vendor_timeout_seconds, describe_error=describe_error)
    return http


_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def basic_login(credential: PasswordCredential) -> str:
    """The Basic header of a stored login: ``00<CompanyId>/<login id>`` and the password."""
    user = f"00{credential.company_id}/{credential.username}" if credential.company_id else credential.username
    token = base64.b64encode(f"{user}:{credential.password.get_secret_value()}".encode()).decode()
    return f"Basic {token}"


class UnicontaConnector:
    vendor = "uniconta"
    capabilities: frozenset[str] = frozenset()

    def __init__(self, http: VendorHttp, connection: Connection):
        self.http = http
        self.connection = connection

    def _credential(self) -> PasswordCredential:
        return stored_password(self.connection.tenant_id, self.connection.connection_id)

    def _get(self, entity: str, credential: PasswordCredential) -> Any:
        try:
            response = self.http.request("GET", f"api/Entities/{entity}",
                                         headers={"Authorization": basic_login(credential)})
        except Unauthenticated as exc:
            raise CredentialRejected(
                "Uniconta refused the user name or the password (it does not say which); check both, as you "
                "log in to Uniconta with them") from exc
        except PermanentVendorError as exc:
            if exc.status == 403 and exc.vendor_code == "NoAccessToCompany":
                raise CredentialRejected(
                    f"company id {credential.company_id} does not exist in Uniconta, or user {credential.username} "
                    f"has no access to it; check the Firma ID (Company > Companies in Uniconta)") from exc
            raise
        return response.json() if response.content else None

    def check(self) -> ConnectionCheck:
        credential = self._credential()
        key = credential.api_key.get_secret_value() if credential.api_key else ""
        if not _GUID.match(key.strip()):
            # Refused before any call: a mistyped key would otherwise pass unnoticed (REST never checks it).
            raise CredentialRejected("the API key is not a Uniconta API key (a GUID such as "
                                     "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13); paste it again")
        companies = self._get("CompanyClient", credential) or []
        company = companies[0] if isinstance(companies, list) and companies else {}
        journals = self._get("GLDailyJournalClient", credential) or []
        choices = {"journal": [Choice(id=str(j.get("Journal")), name=str(j.get("Name") or j.get("Journal")))
                               for j in journals if isinstance(j, dict) and j.get("Journal")]}
        name = company.get("Name")
        return ConnectionCheck(
            ok=True, company_name=name, currency=company.get("Currency") or None,
            company_id=str(company.get("CompanyId") or credential.company_id or "") or None, choices=choices,
            message=(f"connected to {name} ({credential.company_id}) as {credential.username}; the API key has the "
                     f"form of a Uniconta key (Uniconta's REST API does not check it)"),
            warnings=[] if choices["journal"] else ["the company has no daily journal (kassekladde) yet: create one "
                                                    "in Uniconta for the day's sales, then refresh the lists"])


def build_connector(provider: Provider, connection: Connection) -> UnicontaConnector:
    return UnicontaConnector(vendor_http(provider), connection)
