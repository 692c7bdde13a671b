"""ledgerbridge shared layer: domain, services, data access and vendor connectors.

Nothing in this package creates AWS or HTTP clients at import time; every client is
built on first use (see ``aws.py``) so that cold starts stay cheap and tests can
swap endpoints.
"""
