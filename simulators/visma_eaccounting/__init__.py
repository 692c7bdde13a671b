"""Visma eAccounting API v2 simulator (identity server + API subset) for tests and local runs."""

from .config import SimulatorConfig
from .server import VismaSimulator
from .state import Fault

__all__ = ["Fault", "SimulatorConfig", "VismaSimulator"]
