"""24SevenOffice SOAP web services simulator (Authenticate, Client, Account, Transaction) for tests and local runs."""

from .config import SimulatorConfig
from .server import TwentyFourSevenSimulator
from .state import Fault

__all__ = ["Fault", "SimulatorConfig", "TwentyFourSevenSimulator"]
