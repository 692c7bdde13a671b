"""Vendor name -> connector package, imported only when a connection of that vendor is used,
so a function never pays the import cost of vendors it does not talk to."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import ValidationFailed
from ..oauth.providers import known_vendors, provider
from .base import Connector

if TYPE_CHECKING:
    from ..models.connection import Connection

_PACKAGES = {
    "visma_eaccounting": "ledgerbridge.connectors.visma_eaccounting",
    "24sevenoffice": "ledgerbridge.connectors.twentyfourseven",
    "procountor": "ledgerbridge.connectors.procountor",
    "uniconta": "ledgerbridge.connectors.uniconta",
}


def supported_vendors() -> list[str]:
    return [v for v in known_vendors() if v in _PACKAGES]


def require_supported(vendor: str) -> None:
    if vendor not in _PACKAGES:
        raise ValidationFailed(f"vendor {vendor!r} is not supported; supported: {', '.join(supported_vendors())}")


def connector_for(connection: "Connection") -> Connector:
    require_supported(connection.vendor)
    module = importlib.import_module(_PACKAGES[connection.vendor])
    return module.build_connector(provider(connection.vendor), connection)


def connector_module(vendor: str):  # noqa: ANN201 - a module
    """The vendor's connector package, for its module-level hooks (``identify``: the company a new
    access token acts for; ``access_token_for_api_key``)."""
    require_supported(vendor)
    return importlib.import_module(_PACKAGES[vendor])
