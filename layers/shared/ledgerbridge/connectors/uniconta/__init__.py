"""Uniconta (REST/OData with HTTP Basic per call): the stored login and "Test integration" so far."""
from .connector import UnicontaConnector, build_connector

__all__ = ["UnicontaConnector", "build_connector"]
