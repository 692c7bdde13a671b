"""The JSON bodies under docs/examples/ are what the API takes: each one validates against its model."""
from __future__ import annotations

from pathlib import Path

import pytest

from ledgerbridge.models.connection import AccountSetup, ConnectionCreate, TransferSchedule
from ledgerbridge.models.payroll import PayrollJournal, PayrollSetup
from ledgerbridge.models.settlement import Settlement

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
MODEL_OF = {"bakery_connection.json": ConnectionCreate, "bakery_account_setup.json": AccountSetup,
            "bakery_schedule.json": TransferSchedule, "z_report_bakery.json": Settlement,
            "z_report_havnekafeen.json": Settlement, "payroll_journal_2026_06.json": PayrollJournal,
            "payroll_setup.json": PayrollSetup}


def test_every_example_has_its_model():
    assert {p.name for p in EXAMPLES.glob("*.json")} == set(MODEL_OF)


@pytest.mark.parametrize("name", sorted(MODEL_OF))
def test_the_example_validates(name):
    MODEL_OF[name].model_validate_json((EXAMPLES / name).read_text())


def test_the_payroll_example_books_six_periods():
    journal = PayrollJournal.model_validate_json((EXAMPLES / "payroll_journal_2026_06.json").read_text())
    assert journal.periods == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
