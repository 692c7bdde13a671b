"""End to end through the local runtime: moto's standalone server, the simulator, the local API
gateway dispatching to the real handlers, the scheduler and the SQS-driven worker.

Runs in a subprocess: the local runtime owns process-wide environment (endpoints, table names)
that must not leak into the in-process moto tests.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.ports import stack_free_ports

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_demo_flow_books_a_week_exactly_once():
    completed = subprocess.run([sys.executable, "-m", "devstack", "demo"], cwd=ROOT, capture_output=True,
                               text=True, timeout=300)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "status: connected, company: Demo Bakery AS" in output
    assert "account 3010 does not exist in fiscal year 2026" in output
    assert "identical resend -> 200" in output and "changed resend   -> 409" in output
    assert "booked in the log: 8; vouchers in eAccounting: 8" in output
    # Issue 8: a closed day, gift cards on their liability account (never VAT), a booked day corrected.
    assert "closed day       -> 201 nothing_to_book: no sales: nothing to book (closed day)" in output
    assert "gift card row with VAT code -> 422" in output
    assert "gift cards on 2900: Gavekort solgt debit 0.00 credit 500.00, Gavekort innløst debit 200.00" in output
    assert "changed resend of a booked day -> 409" in output and "book a correction in the accounting system" in output
    # 24SevenOffice: three companies imported, set up, refreshed; failures end with their reasons.
    assert "import run: done {'companies': 3" in output
    assert "not in the chart of accounts of Havnekafeen AS: 1510" in output
    assert "refresh run: done {'companies': 3, 'ok': 3" in output
    assert "account 1500 no longer exists in the chart of accounts of Fjordbakeriet AS" in output
    assert "connection: needs_reauth (24SevenOffice refused the integration user's e-mail or password" in output
    # 24SevenOffice for a shop: picks from its lists, a sales type missing, a week booked once each.
    assert "departments (\"Flere avdelinger\"): 201 Solsiden, 202 Bakklandet" in output
    assert "account 3090 has no sales type" in output
    assert "booked in the log: 7; vouchers from the hub in 24SevenOffice's ledger: 7" in output
    assert "gift cards on 2905 (liability, no VAT): -500.00, 200.00" in output
    # Procountor for a payroll bureau: the company pick, a June run with corrections as six receipts,
    # a second client's closed January failing its run, which a replay books once January is open.
    assert "status: connected, company: Palkkatoimisto Demo Oy" in output
    assert "reconnect picking Rakennus Esimerkki Oy -> 409" in output
    assert "dimension 'Kustannusyksikkö' does not exist" in output
    assert "test company     -> 422" in output
    assert "2026-01  2026-01-31" in output and "2026-06  2026-06-25" in output
    assert "run-2026-06: failed: period 2026-01 is closed in Procountor" in output
    assert "Palkkatoimisto Demo Oy: 6 receipts from the hub (6 distinct names)" in output
    assert "Rakennus Esimerkki Oy: 6 receipts from the hub (6 distinct names)" in output
    assert "left UNFINISHED for the bookkeeper; 0 refused with 429" in output
    # Uniconta for a salon: a wrong password named, an unknown account refused, a week as one InsertList a
    # day in journal SALG, the ledger's VAT and revenue equal to the Z-reports after the bookkeeper posts.
    assert "wrong password -> ok=False: Uniconta refused the user name or the password" in output
    assert "account 5821 does not exist in the chart of accounts" in output
    assert "7 InsertList calls for 7 days; every batch balanced to the cent, each day once" in output
    assert "VAT (6900) and revenue (1010, 1020) equal the sums of the Z-reports to the cent" in output
    assert "vendor_usage: " in output and "the hub's share 4,000 of Uniconta's 5,000" in output
    assert "demo OK" in output


@pytest.mark.e2e
def test_make_run_serves_and_stops(tmp_path):
    """`python -m devstack run` comes up, prints its URLs and a tenant key, answers, and stops."""
    import os

    port = stack_free_ports()
    env = dict(os.environ, RUN_SECONDS="6", LOG_LEVEL="WARNING")
    completed = subprocess.run([sys.executable, "-m", "devstack", "run", "--port", str(port)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120, env=env)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert f"http://127.0.0.1:{port}" in output and "export LB_KEY=lbk_" in output
    # The accounting office's 24SevenOffice connection is set up and its companies imported.
    assert "export LB_KEY2=lbk_" in output and f"http://127.0.0.1:{port + 3}" in output
    # A café books into one of the office's client companies through the same integration user.
    assert "export LB_KEY3=lbk_" in output and "Havnekafeen AS, department 201 Solsiden" in output
    # A payroll bureau's Procountor connection, signed in with the company picked, its setup saved.
    assert "export LB_KEY4=lbk_" in output and "into Palkkatoimisto Demo Oy" in output
    assert f"Procountor simulator          http://127.0.0.1:{port + 4}" in output
    # A hair salon's Uniconta connection: login stored, journal SALG picked, account setup saved.
    assert "export LB_KEY5=lbk_" in output and "into Salon Sakse ApS" in output
    assert f"Uniconta simulator            http://127.0.0.1:{port + 5}" in output
    assert f"http://127.0.0.1:{port + 5}/_sim/companies/4415/journals/SALG/lines" in output
    assert "stopped" in output
