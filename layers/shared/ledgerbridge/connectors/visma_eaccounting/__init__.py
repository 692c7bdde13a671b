"""Visma eAccounting (REST v2, OAuth 2 authorization code with rotating refresh tokens)."""
from .connector import VismaEAccountingConnector, build_connector

__all__ = ["VismaEAccountingConnector", "build_connector"]
