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
    assert "demo OK" in output


@pytest.mark.e2e
def test_make_run_serves_and_stops(tmp_path):
    """`python -m devstack run` comes up, prints its URLs and a tenant key, answers, and stops."""
    import os
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Ports port..port+2 must be free; take a high random base and hope for the best on CI.
    env = dict(os.environ, RUN_SECONDS="6", LOG_LEVEL="WARNING")
    completed = subprocess.run([sys.executable, "-m", "devstack", "run", "--port", str(port)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120, env=env)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    assert f"http://127.0.0.1:{port}" in output and "export LB_KEY=lbk_" in output
    assert "stopped" in output
