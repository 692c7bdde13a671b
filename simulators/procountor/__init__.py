"""Procountor REST API simulator (sign-in with company pick, OAuth, ledger receipts) for tests and local runs."""

from .config import SimulatorConfig
from .server import ProcountorSimulator
from .state import Fault

__all__ = ["Fault", "ProcountorSimulator", "SimulatorConfig"]
