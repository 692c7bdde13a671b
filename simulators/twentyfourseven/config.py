"""Configuration of the 24SevenOffice SOAP simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# The application id 24SevenOffice issued to ledgerbridge (any other ApplicationId gets "Invalid ApplicationId").
DEFAULT_APPLICATION_ID = "6f0b7a52-3c1e-4c8a-9a55-24502450aa01"

# The WSDLs the connector is generated from; the simulator serves them on GET <path>?wsdl.
DEFAULT_WSDL_DIR = (Path(__file__).resolve().parents[2]
                    / "layers" / "shared" / "ledgerbridge" / "connectors" / "twentyfourseven" / "wsdl")


@dataclass
class SimulatorConfig:
    application_ids: list[str] = field(default_factory=lambda: [DEFAULT_APPLICATION_ID])
    seed: bool = True            # load the demo users and companies of seed.py
    # Extra users (username -> password) created without any identity; add access with grant().
    users: dict[str, str] = field(default_factory=dict)
    latency_ms: int = 0          # added to every SOAP call
    login_limit: int = 5         # Login calls per username allowed within login_window_seconds
    login_window_seconds: float = 60.0
    session_idle_seconds: float = 1200.0   # ASP.NET session timeout (20 minutes), sliding
    today: date = field(default_factory=date.today)   # seed vouchers are dated relative to this day
    wsdl_dir: Path = DEFAULT_WSDL_DIR
