"""README's "Trying it by hand" works as written: docs/examples/try_it.sh (curl and sed only, the
OAuth sign-in done without a browser) against `python -m devstack run` books the example Z-report."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.ports import stack_free_ports

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough is written for curl")
def test_the_readme_walkthrough_books_the_example_z_report(tmp_path):
    port = stack_free_ports()
    log = tmp_path / "run.log"
    env = dict(os.environ, LB_LOCAL_PORT=str(port), RUN_SECONDS="240", LOG_LEVEL="WARNING")
    with log.open("w") as out:
        stack = subprocess.Popen([sys.executable, "-m", "devstack", "run"], cwd=ROOT, stdout=out,
                                 stderr=subprocess.STDOUT, env=env)
    try:
        key = _wait_for_key(log, stack)
        walked = subprocess.run(["sh", "docs/examples/try_it.sh"], cwd=ROOT, capture_output=True, text=True,
                                timeout=150, env=dict(env, LB_KEY=key))
        output = walked.stdout + walked.stderr
        assert walked.returncode == 0, output[-3000:]
        assert "Visma eAccounting account connected" in output
        assert '"ok":true' in output and '"company_name":"Demo Bakery AS"' in output
        assert '"enqueued":1' in output
        assert "booked as voucher A" in output, output[-2000:]
    finally:
        stack.terminate()
        stack.wait(timeout=30)


def _wait_for_key(log: Path, stack: subprocess.Popen, timeout: float = 150) -> str:
    """The tenant key `make run` prints once the stack is up (the first `export LB_KEY=`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.strip().startswith("export LB_KEY=lbk_"):
                return line.strip().removeprefix("export LB_KEY=")
        if stack.poll() is not None:
            pytest.fail(f"make run stopped before it was up:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    pytest.fail(f"make run did not come up in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
