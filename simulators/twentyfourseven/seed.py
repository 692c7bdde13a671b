"""Demo data of the 24SevenOffice simulator (plain data, extend freely).

Default seed (``SimulatorConfig.seed``):

* ApplicationId ``6f0b7a52-3c1e-4c8a-9a55-24502450aa01`` (config.DEFAULT_APPLICATION_ID).
* ``integration@regnskap.example`` / ``integration-password`` with identities on three companies:
  Fjordbakeriet AS (client 1100001, default identity), Nordlys Frisør AS (1100002), Havnekafeen AS (1100003).
* ``noaccess@regnskap.example`` / ``noaccess-password`` without any identity.

Each company has an NS 4102-style chart that differs a little (Fjordbakeriet also has 3010 "Salgsinntekt
mat, middels sats"; Havnekafeen has no 1510 but has 1930 "Bankinnskudd skattetrekk"), the five transaction
types below, and balanced vouchers for every month of the previous year and of the current year up to
``config.today`` (amounts differ per company; deterministic). Fiscal years: two years ago (locked), last year
and this year; next year does not exist.

The booking side (a shop booking its daily settlements, see booking.py), per company:

* **Havnekafeen AS (1100003) is the shop's company** - not the user's default identity, so the shop has to pick
  it ("Flere firma") - with two departments ("Flere avdelinger"): 201 "Solsiden" and 202 "Bakklandet". Its
  chart adds the shop's accounts (SHOP_ACCOUNTS: 1460 Varelager, 1570 Kortoppgjør til gode, 2702 Utgående mva
  lav sats, 2905 Gavekortgjeld, 3011 Salgsinntekt servering middels sats (VAT code 31), 3020 Salgsinntekt lav
  sats (33), 3090 Salgsinntekt kiosk (3), 4090 Beholdningsendring, 7795 Øreavrunding). Every sales account
  has a type group (sales type) **except 3090**, deliberately (SHOP_TYPE_GROUPS: 1 Varesalg høy sats -> 3000,
  2 Servering middels sats -> 3011, 3 Salg lav sats -> 3020, 4 Avgiftsfritt salg -> 3100; purchase types
  11 Varekjøp -> 4000, 12 Kontorrekvisita -> 6800). VAT code 33 (12 %) posts to 2702 here. Extra transaction
  types: Id 12 / No 9 "Dagsoppgjør" (turnover) and Id 13 / No 11 "Lagerendring" (Sort takes the No; ledger
  lines carry the Id). **Last year is locked** too (closed), this year open, next year absent. Products:
  GIFTCARD "Gavekort" and three others.
* Fjordbakeriet AS (1100001, the default identity): one department (101 "Bryggen"), a sales type on each of its
  sales accounts, products **without GIFTCARD**.
* Nordlys Frisør AS (1100002): no departments, a sales type on each sales account, one product (no GIFTCARD).

Tax codes (every company): 0 (none), 1 (input 25 %, 2710), 3 (output 25 %, 2700), 5 and 6 (0 %), 31 (output
15 %, 2701), 33 (output 12 %; no VAT account except in Havnekafeen: 2702).
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

SHOP_CLIENT_ID = 1100003

# The shop's accounts (AccountNo, AccountName, TaxNo), added to Havnekafeen's chart.
SHOP_ACCOUNTS: list[tuple[int, str, int]] = [
    (1460, "Varelager", 0),
    (1570, "Kortoppgjør til gode", 0),
    (2702, "Utgående mva, lav sats", 0),
    (2905, "Gavekortgjeld", 0),
    (3011, "Salgsinntekt servering, middels sats", 31),
    (3020, "Salgsinntekt, lav sats", 33),
    (3090, "Salgsinntekt kiosk", 3),          # deliberately without a type group (sales type)
    (4090, "Beholdningsendring", 0),
    (7795, "Øreavrunding", 0),
]
SHOP_ACCOUNT_WITHOUT_TYPE_GROUP = 3090

# (Id, Name, AccountNo, module) of the shop's type groups: every sales account but 3090.
SHOP_TYPE_GROUPS: list[tuple[int, str, int, str]] = [
    (1, "Varesalg høy sats", 3000, "Sale"),
    (2, "Servering middels sats", 3011, "Sale"),
    (3, "Salg lav sats", 3020, "Sale"),
    (4, "Avgiftsfritt salg", 3100, "Sale"),
    (11, "Varekjøp", 4000, "Purchase"),
    (12, "Kontorrekvisita", 6800, "Purchase"),
]

# (Id, No, Title, Turnover) added to the shop's transaction types.
SHOP_TRANSACTION_TYPES: list[tuple[int, int, str, bool]] = [
    (12, 9, "Dagsoppgjør", True),
    (13, 11, "Lagerendring", False),
]

# (Id, No, Name, Price, TaxRate, EAN1)
SHOP_PRODUCTS: list[tuple[int, str, str, str, str, str]] = [
    (103001, "GIFTCARD", "Gavekort", "0.00", "0", ""),
    (103002, "K-100", "Kaffe latte", "52.00", "15", ""),
    (103003, "M-200", "Fiskesuppe", "189.00", "15", ""),
    (103004, "V-300", "Kaffebønner 500 g", "149.00", "15", "7090012345003"),
]

DEMO_COMPANIES: list[dict] = [
    {
        "id": 1100001, "name": "Fjordbakeriet AS", "organization_number": "918273646",
        "address": {"Street": "Bryggen 12", "PostalCode": "5003", "City": "Bergen"},
        "add_accounts": [(3010, "Salgsinntekt mat, middels sats", 31)], "remove_accounts": [],
        "default": True,
        "departments": [(101, "Bryggen")],
        "products": [(101001, "1001", "Grovbrød", "59.00", "15", "7090012345001"),
                     (101002, "1002", "Kanelbolle", "39.00", "15", "7090012345002")],
    },
    {
        "id": 1100002, "name": "Nordlys Frisør AS", "organization_number": "927364557",
        "address": {"Street": "Storgata 45", "PostalCode": "9008", "City": "Tromsø"},
        "add_accounts": [], "remove_accounts": [], "default": False,
        "products": [(102001, "H-10", "Hårvoks", "189.00", "25", "")],
    },
    {
        "id": 1100003, "name": "Havnekafeen AS", "organization_number": "936455123",
        "address": {"Street": "Havnegata 3", "PostalCode": "7010", "City": "Trondheim"},
        "add_accounts": [(1930, "Bankinnskudd skattetrekk", 0)] + SHOP_ACCOUNTS, "remove_accounts": [1510],
        "default": False,
        "departments": [(201, "Solsiden"), (202, "Bakklandet")],
        "type_groups": SHOP_TYPE_GROUPS,
        "transaction_types": SHOP_TRANSACTION_TYPES,
        "tax_code_accounts": {"33": 2702},
        "products": SHOP_PRODUCTS,
        "locked_years_back": (2, 1),
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
    return [_transaction_type(id_, no, title, turnover) for id_, no, title, turnover in TRANSACTION_TYPES]


def _transaction_type(id_: int, no: int, title: str, turnover: bool) -> TransactionType:
    from .state import TransactionType
    return TransactionType(id_, no, title, turnover)


def default_type_groups(client: ClientCompany) -> list[tuple[int, str, str]]:
    """(AccountNo, Name, module): a sales type per sales account (3000-3999) and a purchase type per account
    whose default VAT code is input VAT (TaxNo 1)."""
    groups = []
    for account in client.accounts.values():
        if 3000 <= account.account_no <= 3999:
            groups.append((account.account_no, account.name, "Sale"))
        elif account.tax_no == 1:
            groups.append((account.account_no, account.name, "Purchase"))
    return groups


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
    from .state import Product, TypeGroup

    for spec in DEMO_COMPANIES:
        accounts = [a for a in standard_accounts() if a.account_no not in spec["remove_accounts"]]
        accounts += [(no, name, tax_no) for no, name, tax_no in spec["add_accounts"]]
        codes = tax_codes()
        for code in codes:
            code.account_no = spec.get("tax_code_accounts", {}).get(code.tax_no, code.account_no)
        types = transaction_types() + [_transaction_type(id_, no, title, turnover)
                                       for id_, no, title, turnover in spec.get("transaction_types", [])]
        groups = None
        if "type_groups" in spec:
            groups = [TypeGroup(id_, name, account_no, module) for id_, name, account_no, module in spec["type_groups"]]
        changed = datetime.combine(today - timedelta(days=30), time(9, 0))
        products = [Product(id_, no, name, Decimal(price), Decimal(rate), ean1=ean, date_changed=changed,
                            in_price=(Decimal(price) * Decimal("0.4")).quantize(CENT) if Decimal(price) else None)
                    for id_, no, name, price, rate, ean in spec.get("products", [])]
        client_id = state.add_client(spec["name"], spec["organization_number"], accounts, client_id=spec["id"],
                                     address=spec["address"], tax_codes=codes, transaction_types=types,
                                     fiscal_years=[today.year - 2, today.year - 1, today.year],
                                     locked_years=[today.year - back for back in spec.get("locked_years_back", (2,))],
                                     departments=spec.get("departments", []), type_groups=groups,
                                     products=products)
        client = state.client(client_id)
        for year, last_month in ((today.year - 1, 12), (today.year, today.month)):
            for month in range(1, last_month + 1):
                book_demo_month(state, client, year, month, today)
        state.grant(integration.username, client_id, default=spec["default"])
