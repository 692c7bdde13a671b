"""ledgerbridge shared layer: domain, services, data access and vendor connectors.

Nothing in this package creates AWS or HTTP clients at import time; every client is
built on first use (see ``aws.py``) so that cold starts stay cheap and tests can
swap endpoints.
"""
from . import log_policy

# First thing every function imports, before boto3, httpx or zeep load: library loggers must never
# write request or response content (tokens, passwords, session cookies), even when the function is
# switched to DEBUG. Stdlib logging only; see log_policy.py for what is quieted and why.
log_policy.apply()
