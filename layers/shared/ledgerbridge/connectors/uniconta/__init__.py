"""Uniconta (REST/OData with HTTP Basic per call): the stored login, the day's sales in a daily journal,
debtors kept in step with the source's customers, and the modification URL's notifications."""
from .connector import UnicontaConnector, build_connector
from .records import parse_notification

__all__ = ["UnicontaConnector", "build_connector", "parse_notification"]
