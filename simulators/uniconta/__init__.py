"""Uniconta REST/OData API simulator (Basic auth, debtors with user-defined fields, daily journals, the daily call
budget, the modification URL) for tests and local runs."""

from .config import SimulatorConfig
from .server import UnicontaSimulator
from .state import Fault

__all__ = ["Fault", "SimulatorConfig", "UnicontaSimulator"]
