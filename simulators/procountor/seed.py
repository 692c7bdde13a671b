"""Seed data of the Procountor simulator: two Finnish companies behind one demo user (plain data, extend freely).

"Palkkatoimisto Demo Oy" has every period of 2026 open; "Rakennus Esimerkki Oy" has January 2026 closed (a
payroll correction for January fails there with CLOSED_FISCAL_PERIOD until the period is reopened). Fiscal year
2025 is closed in both. Ids are fixed so fixtures and the local dev setup can name them.
"""

from __future__ import annotations

from typing import Any

# A payroll chart excerpt (Finnish "tilikartta"); 5990 exists but is inactive.
PAYROLL_ACCOUNTS: list[tuple[str, str, bool]] = [
    ("1700", "Myyntisaamiset", True),
    ("1910", "Pankkitili", True),
    ("2871", "Ostovelat", True),
    ("2931", "Ennakonpidätysvelka", True),
    ("2932", "TyEL-maksuvelka", True),
    ("2933", "Sosiaaliturvamaksuvelka", True),
    ("2934", "Työttömyysvakuutusmaksuvelka", True),
    ("2939", "Palkkavelka (nettopalkat)", True),
    ("2941", "Lomapalkkavelka", True),
    ("3000", "Myynti", True),
    ("5000", "Palkat ja palkkiot", True),
    ("5010", "Lisät ja ylityökorvaukset", True),
    ("5400", "Lomapalkat", True),
    ("5990", "Vanhat palkkatilit", False),
    ("6130", "TyEL-maksut", True),
    ("6300", "Muut henkilösivukulut", True),
    ("6410", "Sosiaaliturvamaksut", True),
    ("6420", "Työttömyysvakuutusmaksut", True),
]

# English names as the /coa "translations" list (present only where a translation exists).
ACCOUNT_TRANSLATIONS: dict[str, str] = {"1910": "Bank account", "5000": "Salaries and fees",
                                        "6130": "Pension insurance contributions"}

# VAT of a Finnish environment (/vats/default). Statuses are the numeric part of Procountor's "vat_N" codes; the
# numbers and descriptions here are the simulator's own (Procountor's list is per environment).
VAT_PERCENTAGES: list[dict[str, Any]] = [
    {"vatPercent": "25.5", "sales": True, "purchase": True},
    {"vatPercent": "14", "sales": True, "purchase": True},
    {"vatPercent": "10", "sales": True, "purchase": True},
    {"vatPercent": "0", "sales": True, "purchase": True},
]
VAT_STATUSES: list[dict[str, Any]] = [
    {"vatStatus": 1, "description": "Kotimaan arvonlisäverollinen myynti tai osto", "sales": True, "purchase": True},
    {"vatStatus": 2, "description": "Arvonlisäveroton (ei alv-käsittelyä)", "sales": True, "purchase": True},
    {"vatStatus": 6, "description": "Yhteisömyynti", "sales": True, "purchase": False},
]

COMPANIES: list[dict[str, Any]] = [
    {
        "id": 100201,
        "name": "Palkkatoimisto Demo Oy",
        "business_id": "3141592-6",
        "address": {"street": "Palkkakatu 1", "zip": "00100", "city": "Helsinki"},
        "fiscal_years": [
            {"id": 5101, "year": 2025, "open": False, "closed_months": list(range(1, 13))},
            {"id": 5102, "year": 2026, "open": True, "closed_months": []},
            {"id": 5103, "year": 2027, "open": True, "closed_months": []},
        ],
        "dimensions": [
            {"id": 301, "name": "Kustannuspaikka", "items": [
                {"id": 3011, "codeName": "100", "description": "Hallinto"},
                {"id": 3012, "codeName": "200", "description": "Myynti"},
                {"id": 3013, "codeName": "300", "description": "Tuotanto"},
                {"id": 3019, "codeName": "900", "description": "Lakkautettu yksikkö", "status": "P"},
            ]},
            {"id": 302, "name": "Projekti", "items": [
                {"id": 3021, "codeName": "P-1", "description": "Asiakasprojekti 1"},
                {"id": 3022, "codeName": "P-2", "description": "Asiakasprojekti 2"},
            ]},
        ],
        # Receipts that exist before any integration posts: the proof-of-absence search must not take them
        # for ours (one is a JOURNAL dated in June 2026 with a payroll-like name).
        "receipts": [
            {"type": "SALES_INVOICE", "status": "APPROVED", "name": "Myyntilasku 1001", "receiptDate": "2026-06-15",
             "vatType": "SALES", "vatStatus": 1,
             "transactions": [("1700", "124.00", "0"), ("3000", "-124.00", "0")]},
            {"type": "JOURNAL", "status": "APPROVED", "name": "Palkat 2026-06 (käsin)", "receiptDate": "2026-06-30",
             "vatType": "PURCHASE", "vatStatus": 2,
             "transactions": [("5000", "1000.00", "0"), ("2939", "-1000.00", "0")]},
        ],
    },
    {
        "id": 100202,
        "name": "Rakennus Esimerkki Oy",
        "business_id": "2718281-8",
        "address": {"street": "Rakentajantie 5", "zip": "33100", "city": "Tampere"},
        "fiscal_years": [
            {"id": 5201, "year": 2025, "open": False, "closed_months": list(range(1, 13))},
            {"id": 5202, "year": 2026, "open": True, "closed_months": [1]},
            {"id": 5203, "year": 2027, "open": True, "closed_months": []},
        ],
        "dimensions": [
            {"id": 401, "name": "Kustannuspaikka", "items": [
                {"id": 4011, "codeName": "10", "description": "Työmaa Hervanta"},
                {"id": 4012, "codeName": "20", "description": "Työmaa Kaleva"},
            ]},
            {"id": 402, "name": "Kustannusyksikkö", "items": [
                {"id": 4021, "codeName": "KU1", "description": "Konevuokrat"},
            ]},
        ],
        "receipts": [],
    },
]

# First ids handed out to objects created at run time (receipts, transactions, invoices, dimension items, ...).
FIRST_RUNTIME_ID = 900001
FIRST_RECEIPT_ID = 7000001
