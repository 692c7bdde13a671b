"""ledgerbridge.tracing: inside Lambda, botocore is traced at once and httpx from its first import;
no handler loads httpx or requests at cold start; outside Lambda nothing is patched."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ledgerbridge.tracing import patch_on_import

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))

_PROBE = """
import json, sys
import app
at_import = sorted(m for m in ("httpx", "requests", "aws_xray_sdk") if m in sys.modules)
from aws_xray_sdk.core import patcher
patched_at_import = sorted(patcher._PATCHED_MODULES)
import httpx
print(json.dumps({"at_import": at_import, "patched_at_import": patched_at_import,
                  "patched": sorted(patcher._PATCHED_MODULES), "client": httpx.Client.__name__}))
"""


def _probe(function: str, *, in_lambda: bool) -> dict:
    directory = ROOT / "functions" / function
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON", "LAMBDA_", "_X_AMZN"))}
    env.update(PYTHONPATH=os.pathsep.join([str(LAYER), str(directory)]), AWS_REGION="eu-north-1",
               POWERTOOLS_SERVICE_NAME="ledgerbridge", AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
               AWS_XRAY_CONTEXT_MISSING="LOG_ERROR")
    if in_lambda:
        env.update(LAMBDA_TASK_ROOT=str(directory), AWS_LAMBDA_FUNCTION_NAME=function,
                   AWS_EXECUTION_ENV="AWS_Lambda_python3.11")
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=str(directory), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_inside_lambda_no_handler_loads_httpx_or_requests_at_import(function):
    seen = _probe(function, in_lambda=True)
    assert "httpx" not in seen["at_import"] and "requests" not in seen["at_import"]


@pytest.mark.parametrize("function", ["management_api", "oauth_callback", "transfer_worker"])
def test_inside_lambda_aws_calls_are_traced_at_once_and_vendor_calls_from_httpxs_import(function):
    seen = _probe(function, in_lambda=True)
    assert seen["patched_at_import"] == ["botocore"]
    assert seen["patched"] == ["botocore", "httpx"]
    assert seen["client"] == "_InstrumentedClient"


def test_outside_lambda_nothing_is_patched():
    seen = _probe("transfer_worker", in_lambda=False)
    assert seen["patched"] == [] and seen["client"] == "Client"


def test_patch_on_import_runs_once_right_after_the_module_loads(tmp_path, monkeypatch):
    (tmp_path / "lb_probe_module.py").write_text(textwrap.dedent("""
        VALUE = "loaded"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[str] = []

    def patch() -> None:
        calls.append(sys.modules["lb_probe_module"].VALUE)

    patch_on_import("lb_probe_module", patch)
    patch_on_import("lb_probe_module", patch)  # asked twice before the import: still once
    assert calls == []
    try:
        import lb_probe_module  # noqa: F401

        assert calls == ["loaded"]
        import importlib

        importlib.reload(lb_probe_module)
        assert calls == ["loaded"]
        patch_on_import("lb_probe_module", patch)  # already imported: at once
        assert calls == ["loaded", "loaded"]
    finally:
        sys.modules.pop("lb_probe_module", None)


def test_a_module_that_does_not_exist_still_fails_to_import_and_leaves_no_hook():
    before = list(sys.meta_path)
    patch_on_import("lb_no_such_module_xyz", lambda: None)
    with pytest.raises(ModuleNotFoundError):
        import lb_no_such_module_xyz  # noqa: F401
    assert sys.meta_path == before
