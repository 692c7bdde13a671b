"""Configuration of the Uniconta simulator.

Figures Uniconta does not publish for its REST/OData API (or that NOTES.md marks *unconfirmed*) are settings here, so
that being wrong about one is a configuration change: see README.md, "Where the sources are silent".
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_users() -> dict[str, dict]:
    # Login ids as a bookkeeper creates them under Company → Users. The API key is the .NET partner key the seed's
    # FlexyBox form asks for: the REST/OData API never checks it (unipedia: "no API key is required").
    return {
        "salon-api": {"password": "Sakse-2026!", "companies": [4415], "default_company": 4415,
                      "api_key": "5b0c7e1a-3f2d-4c8e-9a61-2d7f0e4b9c13", "name": "Salon Sakse integration"},
        "bogholder": {"password": "Bog-2026!", "companies": [4415, 5120], "default_company": 5120,
                      "api_key": "", "name": "Bogholder Bente"},
    }


@dataclass
class SimulatorConfig:
    users: dict[str, dict] = field(default_factory=_default_users)
    timezone: str = "Europe/Copenhagen"        # the call budget's day ends at midnight, Danish time

    # -- call budget (support.uniconta.com "Calling in Uniconta - Reduced Speed", uniconta.com/developers) ----------
    # 5,000 calls per user per day; every further 5,000 add one second of delay to every call, and the delay stays
    # for the next day too. extended_server_calls: the paid option, no delay until 75,000, then one second.
    daily_call_budget: int = 5000
    extended_server_calls: bool = False
    extended_budget: int = 75000
    # Seconds slept per delay level: 1.0 is Uniconta's; tests set it near 0 and read /_sim/usage instead of timing.
    delay_unit_s: float = 1.0
    # "delay" (Uniconta's documented behaviour) or "refuse" (answer 429 TooManyCalls instead: not Uniconta's, for
    # chaos runs that want a hard failure).
    over_budget: str = "delay"

    # -- REST api/Entities ------------------------------------------------------------------------------------------
    # Keys an entity does not have: a .NET JSON binder drops them silently ("ignore"); "reject" answers 400 instead.
    # Dropped keys are counted in /_sim/stats ("ignored_fields") so a test can assert that none were lost.
    unknown_fields: str = "ignore"
    # UpdateList / DeleteList exist in the .NET CrudAPI but are not documented for REST (only InsertList is): off.
    update_list_supported: bool = False
    # An Update through DebtorClient (which has no user-defined fields) writes the row without them: their values
    # are cleared. Use DebtorClientUser to keep them. False keeps them (the lenient reading).
    debtor_client_update_clears_user_fields: bool = True
    # A debtor needs an existing debtor group (Uniconta cannot invoice one without; integrators set a default group).
    debtor_group_required: bool = True
    # "Allow negative debit/credit" is a company setting (Company information); off by default in Denmark.
    allow_negative_debit_credit: bool = False

    # -- OData reads ------------------------------------------------------------------------------------------------
    # Server-driven paging with @odata.nextLink (not documented either way; a client must follow nextLink). None = off.
    odata_page_size: int | None = 1000

    # -- modification URL (Company → Maintenance → Modification URL) -------------------------------------------------
    # Query parameter carrying the operation, and the values sent. The unipedia example says Operation=Update; a
    # public receiver (a WooCommerce connector) reads Action with values add/update/delete: accept both.
    operation_parameter: str = "Operation"
    operation_names: dict[str, str] = field(default_factory=lambda: {"insert": "Insert", "update": "Update",
                                                                     "delete": "Delete"})
    # "standard": url?CompanyId=..&Table=..; "documented": the unipedia example's url?CompanyId=..?Table=..?RowId=..
    query_style: str = "standard"
    delivery_timeout_s: float = 5.0
    # Uniconta does not publish when it sets "Has errors": after this many consecutive failed deliveries (a non-2xx
    # answer, a refused connection or a timeout). Each change is attempted once; a failed one is not retried.
    has_error_after_failures: int = 3

    latency_ms: int = 0                        # added to every /api and /odata call
