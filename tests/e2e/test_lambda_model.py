"""The local runtime runs each function as Lambda does: concurrent invocations in containers of
their own, never sharing the batch processor's results or the API resolver's current request."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_concurrent_invocations_share_nothing_a_lambda_container_would_not():
    completed = subprocess.run([sys.executable, "-m", "tests.e2e.lambda_model_check"], cwd=ROOT,
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen["worker_invocations"] == 24 and seen["api_requests"] == 60
    assert seen["worker_mismatches"] == 0, "a failed record was reported by (or as) another invocation"
    assert seen["api_mismatches"] == 0, "a request saw another tenant's data"
    assert seen["containers"] >= 3, "concurrent invocations ran in containers of their own"
