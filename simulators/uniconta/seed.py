"""Seed data: a hair salon (the seed article's FlexyBox customer) and a second company of the bookkeeper.

Account numbers and names follow a small Danish chart; the VAT codes are Danish-style (U25 output VAT, I25 input
VAT), not verified against Uniconta's standard company. None of this is Uniconta's own data: it is what a salon's
company could hold.
"""

from __future__ import annotations

FIRST_ROW_ID = 10_000

# TableId of the Debtor table in Uniconta (TableFieldsClient.TableId, TableChangeEvent): 50, as public connectors use.
DEBTOR_TABLE_ID = 50

# (Account, Name, AccountType, Vat, Blocked). Header and Sum accounts cannot be posted to.
CHART = [
    ("1000", "Omsætning", "Header", None, False),
    ("1010", "Salg af behandlinger", "Revenue", "U25", False),
    ("1020", "Salg af produkter", "Revenue", "U25", False),
    ("1030", "Momsfrit salg", "Revenue", "U0", False),
    ("1099", "Omsætning i alt", "Sum", None, False),
    ("2010", "Varekøb", "Expense", "I25", False),
    ("3600", "Kassedifferencer", "Expense", None, False),
    ("3610", "Gebyrer betalingskort", "Expense", None, False),
    ("5800", "Kasse", "Bank", None, False),
    ("5810", "Bank", "Bank", None, False),
    ("5820", "Tilgodehavende betalingskort", "Asset", None, False),
    ("5830", "Tilgodehavende MobilePay", "Asset", None, False),
    ("6850", "Solgte gavekort (skyldig)", "Liability", None, False),
    ("6900", "Salgsmoms", "Liability", None, False),
    ("6910", "Købsmoms", "Asset", None, False),
    ("9999", "Gammel kassekonto (spærret)", "Bank", None, True),
]

VAT_CODES = [
    # (Vat, Name, Rate, Account, VatType)
    ("U25", "Salgsmoms 25%", "25.00", "6900", "Sales"),
    ("U0", "Momsfrit salg", "0.00", "6900", "Sales"),
    ("I25", "Købsmoms 25%", "25.00", "6910", "Purchase"),
]

DEBTOR_GROUPS = [("Privat", "Privatkunder"), ("Erhverv", "Erhvervskunder")]

COMPANIES = [
    {
        "CompanyId": 4415,
        "Name": "Salon Sakse ApS",
        "Country": "Denmark",
        "Currency": "DKK",
        # Kundedata felter the salon created in Uniconta (the seed's "names must be the same as in Uniconta").
        "user_fields": [
            {"Name": "Foedselsdag", "Prompt": "Fødselsdag", "FieldType": "Date"},
            {"Name": "Nyhedsbrev", "Prompt": "Nyhedsbrev", "FieldType": "Boolean"},
            {"Name": "FastFrisoer", "Prompt": "Fast frisør", "FieldType": "String", "Length": 30},
            {"Name": "Besoeg", "Prompt": "Antal besøg", "FieldType": "Integer"},
            {"Name": "Rabat", "Prompt": "Rabat %", "FieldType": "Double"},
        ],
        "debtors": [
            {"Account": "1000", "Name": "Kontantkunde", "Group": "Privat", "Country": "Denmark"},
        ],
        "journals": [("SALG", "Dagens salg fra kassen"), ("DIV", "Diverse")],
        "open_years": [2026, 2027],
    },
    {
        "CompanyId": 5120,
        "Name": "Frisør Nord ApS",
        "Country": "Denmark",
        "Currency": "DKK",
        "user_fields": [],
        "debtors": [],
        "journals": [("SALG", "Dagens salg")],
        "open_years": [2026],
    },
]
