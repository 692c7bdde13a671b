"""24SevenOffice (SOAP): integration user, client companies, balances and transactions.

Imported only through the connector registry, so functions that never talk to 24SevenOffice
do not load zeep and lxml."""
from .connector import TwentyFourSevenConnector, build_connector

__all__ = ["TwentyFourSevenConnector", "build_connector"]
