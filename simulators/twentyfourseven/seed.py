"""Demo data of the 24SevenOffice simulator (plain data, extend freely).

Default seed (``SimulatorConfig.seed``):

* ApplicationId ``6f0b7a52-3c1e-4c8a-9a55-24502450aa01`` (config.DEFAULT_APPLICATION_ID).
* ``integration@regnskap.example`` / ``integration-password`` with identities on three companies:
  Fjordbakeriet AS (client 1100001, default identity), Nordlys Frisør AS (1100002), Havnekafeen AS (1100003).
* ``noaccess@regnskap.example`` / ``noaccess-password`` without any identity.

Each company has an NS 4102-style chart that differs a little (Fjordbakeriet also has 3010 "Salgsinntekt
mat, middels sats"; Havnekafeen has no 1510 but has 1930 "Bankinnskudd skattetrekk"), the five transaction
types below, and balanced vouchers for every month of the previous year and of the current year up to
``config.today`` (amounts differ per company; deterministic).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .state import Account, ClientCompany, SimulatorState, TaxCode, TransactionType

CENT = Decimal("0.01")

INTEGRATION_USER = "integration@regnskap.example"
INTEGRATION_PASSWORD = "integration-password"
NOACCESS_USER = "noaccess@regnskap.example"
NOACCESS_PASSWORD = "noaccess-password"

# (AccountNo, AccountName, TaxNo = the account's default VAT code)
STANDARD_ACCOUNTS: list[tuple[int, str, int]] = [
    (1500, "Kundefordringer", 0),
    (1510, "Andre kundefordringer", 0),
    (1900, "Kontanter", 0),
    (1920, "Bankinnskudd", 0),
    (2400, "Leverandørgjeld", 0),
    (2700, "Utgående mva, høy sats", 0),
    (2701, "Utgående mva, middels sats", 0),
    (2710, "Inngående mva, høy sats", 0),
    (2740, "Oppgjørskonto mva", 0),
    (3000, "Salgsinntekt, avgiftspliktig", 3),
    (3100, "Salgsinntekt, avgiftsfri", 5),
    (4000, "Varekjøp", 1),
    (5000, "Lønn til ansatte", 0),
    (6300, "Leie lokale", 0),
    (6800, "Kontorrekvisita", 1),
    (7770, "Bank- og kortgebyrer", 0),
]

# (TaxId, TaxNo, TaxName, TaxRate in percent, AccountNo)
TAX_CODES: list[tuple[int, str, str, str, int | None]] = [
    (1, "0", "Ingen mva-behandling", "0", None),
    (2, "1", "Fradrag inngående mva, høy sats", "25", 2710),
    (3, "3", "Utgående mva, høy sats", "25", 2700),
    (4, "5", "Innenlands omsetning fritatt for mva", "0", None),
    (5, "6", "Omsetning utenfor mva-loven", "0", None),
    (6, "31", "Utgående mva, middels sats", "15", 2701),
    (7, "33", "Utgående mva, lav sats", "12", None),
]

# (Id, No, Title, Turnover)
TRANSACTION_TYPES: list[tuple[int, int, str, bool]] = [
    (1, 1, "Generelt bilag", False),
    (2, 2, "Utgående faktura", True),
    (3, 3, "Inngående faktura", False),
    (4, 4, "Bank", False),
    (5, 5, "Kassesalg", True),
]

DEMO_COMPANIES: list[dict] = [
    {
        "id": 1100001, "name": "Fjordbakeriet AS", "organization_number": "918273646",
        "address": {"Street": "Bryggen 12", "PostalCode": "5003", "City": "Bergen"},
        "add_accounts": [(3010, "Salgsinntekt mat, middels sats", 31)], "remove_accounts": [],
        "default": True,
    },
    {
        "id": 1100002, "name": "Nordlys Frisør AS", "organization_number": "927364557",
        "address": {"Street": "Storgata 45", "PostalCode": "9008", "City": "Tromsø"},
        "add_accounts": [], "remove_accounts": [], "default": False,
    },
    {
        "id": 1100003, "name": "Havnekafeen AS", "organization_number": "936455123",
        "address": {"Street": "Havnegata 3", "PostalCode": "7010", "City": "Trondheim"},
        "add_accounts": [(1930, "Bankinnskudd skattetrekk", 0)], "remove_accounts": [1510], "default": False,
    },
]

_NAME_FIRST = ["Fjell", "Vik", "Sol", "Nord", "Øst", "Berg", "Strand", "Skog", "Elve", "Lyng", "Bølge", "Mo",
               "Kyst", "Dal", "Fonn", "Holm"]
_NAME_SECOND = ["bakeri", "frisør", "kafé", "blomster", "sykkel", "snekkeri", "regnskap", "kiosk", "optikk",
                "bryggeri", "bokhandel", "elektro", "maling", "rørlegger"]
_STREETS = ["Kirkegata", "Storgata", "Torggata", "Sjøgata", "Skolegata", "Parkveien", "Fjordveien"]
_CITIES = [("0150", "Oslo"), ("5003", "Bergen"), ("7010", "Trondheim"), ("4006", "Stavanger"),
           ("9008", "Tromsø"), ("8006", "Bodø"), ("3015", "Drammen")]


def standard_accounts() -> list[Account]:
    from .state import Account
    return [Account(no, name, tax_no) for no, name, tax_no in STANDARD_ACCOUNTS]


def tax_codes() -> list[TaxCode]:
    from .state import TaxCode
    return [TaxCode(tax_id, tax_no, name, Decimal(rate), account_no)
            for tax_id, tax_no, name, rate, account_no in TAX_CODES]


def transaction_types() -> list[TransactionType]:
    from .state import TransactionType
    return [TransactionType(id_, no, title, turnover) for id_, no, title, turnover in TRANSACTION_TYPES]


def organization_number(rng: random.Random, taken: set[str] = frozenset()) -> str:
    """A random Norwegian organisation number (9 digits, valid MOD11 check digit), not in ``taken``."""
    weights = (3, 2, 7, 6, 5, 4, 3, 2)
    while True:
        base = str(rng.randrange(80_000_000, 99_999_999))
        remainder = 11 - sum(int(d) * w for d, w in zip(base, weights, strict=True)) % 11
        if remainder == 10:
            continue
        number = base + str(0 if remainder == 11 else remainder)
        if number not in taken:
            return number


def company_name(rng: random.Random, taken: set[str] = frozenset()) -> str:
    for attempt in range(1000):
        name = f"{rng.choice(_NAME_FIRST)}{rng.choice(_NAME_SECOND)}{'' if attempt < 50 else f' {attempt}'} AS"
        if name not in taken:
            return name
    raise RuntimeError("ran out of company names")


def address(rng: random.Random) -> dict[str, str]:
    postal_code, city = rng.choice(_CITIES)
    return {"Street": f"{rng.choice(_STREETS)} {rng.randrange(1, 120)}", "PostalCode": postal_code, "City": city}


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return (Decimal(rng.randrange(low * 100, high * 100)) / 100).quantize(CENT)


def _split_vat(gross: Decimal, rate: str) -> tuple[Decimal, Decimal]:
    net = (gross / (1 + Decimal(rate) / 100)).quantize(CENT)
    return net, gross - net


def book_demo_month(state: SimulatorState, client: ClientCompany, year: int, month: int, today: date,
                    rng_key: str | None = None) -> list[int]:
    """Books the month's demo vouchers of a company (only those dated on or before ``today``)."""
    rng = random.Random(f"{rng_key or client.name}/{year}-{month:02d}")
    accounts = client.accounts
    plan: list[tuple[int, int, list[tuple[int, Decimal, str]]]] = []   # (day, type, lines)

    gross = _money(rng, 8_000, 40_000)
    net, vat = _split_vat(gross, "25")
    card = (gross * Decimal("0.8")).quantize(CENT)
    plan.append((3, 5, [(1900, gross - card, "Dagsoppgjør kontant"), (1920, card, "Dagsoppgjør kort"),
                        (3000, -net, "Kassesalg"), (2700, -vat, "Utgående mva")]))

    gross = _money(rng, 2_000, 25_000)      # drawn every month so the other amounts do not shift
    net, vat = _split_vat(gross, "25")
    if month % 2 == 0:
        plan.append((9, 2, [(1500, gross, f"Faktura {month:02d}01"), (3000, -net, "Salg på faktura"),
                            (2700, -vat, "Utgående mva")]))

    if 3010 in accounts and 2701 in accounts and month % 2 == 1:
        gross = _money(rng, 5_000, 30_000)
        net, vat = _split_vat(gross, "15")
        plan.append((11, 5, [(1900, gross, "Dagsoppgjør mat"), (3010, -net, "Salg mat"),
                             (2701, -vat, "Utgående mva middels sats")]))

    gross = _money(rng, 1_500, 18_000)
    net, vat = _split_vat(gross, "25")
    plan.append((14, 3, [(4000, net, "Varekjøp"), (2710, vat, "Inngående mva"),
                         (2400, -gross, "Leverandørfaktura")]))

    rent = Decimal(rng.choice((12_500, 15_000, 18_750, 21_000))).quantize(CENT)
    plan.append((20, 4, [(6300, rent, "Husleie"), (1920, -rent, "Husleie")]))

    if 1930 in accounts and month % 3 == 0:
        withheld = _money(rng, 3_000, 9_000)
        plan.append((22, 4, [(1930, withheld, "Overføring skattetrekk"), (1920, -withheld, "Overføring skattetrekk")]))

    received = _money(rng, 1_000, 20_000)
    if month % 2 == 0:
        plan.append((26, 4, [(1920, received, "Innbetaling kunde"), (1500, -received, "Innbetaling kunde")]))

    paid = _money(rng, 1_000, 15_000)
    if month % 2 == 1:
        plan.append((28, 4, [(2400, paid, "Betaling leverandør"), (1920, -paid, "Betaling leverandør")]))

    numbers = []
    for day, type_id, lines in plan:
        voucher_date = date(year, month, day)
        if voucher_date > today:
            continue
        if any(no not in accounts for no, _, _ in lines):
            continue
        registered = datetime.combine(voucher_date, time(10, 15)) + timedelta(minutes=rng.randrange(0, 400))
        numbers.append(state.add_voucher(client.id, voucher_date, lines, transaction_type_id=type_id,
                                         registered=registered))
    return numbers


def load_demo_data(state: SimulatorState) -> None:
    """Creates the demo users and companies of the module docstring."""
    today = state.config.today
    integration = state.add_user(INTEGRATION_USER, INTEGRATION_PASSWORD, name="Integrasjon Ledgerbridge")
    state.add_user(NOACCESS_USER, NOACCESS_PASSWORD, name="Uten Tilgang")
    for spec in DEMO_COMPANIES:
        accounts = [a for a in standard_accounts() if a.account_no not in spec["remove_accounts"]]
        accounts += [(no, name, tax_no) for no, name, tax_no in spec["add_accounts"]]
        client_id = state.add_client(spec["name"], spec["organization_number"], accounts, client_id=spec["id"],
                                     address=spec["address"],
                                     fiscal_years=[today.year - 2, today.year - 1, today.year],
                                     locked_years=[today.year - 2])
        client = state.client(client_id)
        for year, last_month in ((today.year - 1, 12), (today.year, today.month)):
            for month in range(1, last_month + 1):
                book_demo_month(state, client, year, month, today)
        state.grant(integration.username, client_id, default=spec["default"])
