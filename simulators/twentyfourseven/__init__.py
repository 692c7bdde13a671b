"""24SevenOffice SOAP web services simulator (Authenticate, Client, Account, Transaction, Attachment, Product) for
tests and local runs."""

from .config import SimulatorConfig
from .server import TwentyFourSevenSimulator
from .state import DraftRefused, Fault

__all__ = ["DraftRefused", "Fault", "SimulatorConfig", "TwentyFourSevenSimulator"]
