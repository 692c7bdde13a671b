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
    # Request size limits of the ASMX services (every service, AttachmentService included):
    # ASP.NET's httpRuntime maxRequestLength (default 4096 KB; GetMaxRequestLength answers this number, in KB)
    # answered with a SOAP fault, and IIS request filtering's maxAllowedContentLength (default 30,000,000
    # bytes) answered with IIS's 404.13 page. See app.py, "Request size".
    max_request_kb: int = 4096
    iis_max_content_length: int = 30_000_000
    # AttachmentService.Create(Pdf): the WSDL's ImageType has Pdf and DUELL attaches its Z-report as PDF,
    # while developer.24sevenoffice.com says "PDF files are not supported". True accepts PDF; False answers
    # Create(Pdf) with a soap:Client fault, to test a hub against the documented restriction.
    pdf_attachments: bool = True
    # Longest Entry.Comment SaveBundleList accepts, in UTF-16 code units (how .NET counts); None = no limit.
    # 75 is the limit 24SevenOffice's REST API documents for the same field (transaction comment); the SOAP
    # documentation names none. A longer comment is refused (NotSaved), never cut.
    comment_max_length: int | None = 75
