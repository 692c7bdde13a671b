"""Procountor (REST, OAuth 2 authorization code with the company pick, or a per-company API key):
payroll journals booked as JOURNAL ledger receipts, one per period."""
from .connector import ProcountorConnector, access_token_for_api_key, build_connector, identify

__all__ = ["ProcountorConnector", "access_token_for_api_key", "build_connector", "identify"]
