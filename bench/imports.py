"""Benchmark 1: cold import time of each Lambda handler (functions/*/app.py) next to ``import boto3``.

Every sample is a fresh interpreter (``sys.executable -c ...``) with PYTHONPATH = the shared layer +
the function's folder, as in Lambda, so nothing is cached in-process. Targets are run round-robin
(one sample of each target per round) so that drift in machine load hits all of them alike.

A separate, untimed probe per handler wraps botocore's ``Session.create_client`` and
``httpx.Client.__init__`` before the import and records the clients built while importing.
ledgerbridge's own clients are built lazily (ledgerbridge.aws, vendor_http); a client seen here
comes from a dependency (e.g. the X-Ray SDK's sampler, pulled in by Powertools' Tracer).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
HEAVY = ("boto3", "botocore", "httpx", "pydantic", "aws_xray_sdk")

_TIMED = """
import json, sys, time
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
print(json.dumps({{"ms": elapsed * 1000, "modules": [m for m in {heavy!r} if m in sys.modules]}}))
"""

_PROBE = """
import json, sys
import botocore.session, httpx
built = {"boto": [], "httpx": 0}
_create = botocore.session.Session.create_client
_init, _ainit = httpx.Client.__init__, httpx.AsyncClient.__init__
def create_client(self, *a, **k):
    built["boto"].append(a[0] if a else k.get("service_name"))
    return _create(self, *a, **k)
def client_init(self, *a, **k):
    built["httpx"] += 1
    return _init(self, *a, **k)
def aclient_init(self, *a, **k):
    built["httpx"] += 1
    return _ainit(self, *a, **k)
botocore.session.Session.create_client = create_client
httpx.Client.__init__ = client_init
httpx.AsyncClient.__init__ = aclient_init
import app
print(json.dumps(built))
"""


def functions() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))


def _env(function_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON"))}
    paths = [str(LAYER)] + ([str(function_dir)] if function_dir else [])
    env.update(PYTHONPATH=os.pathsep.join(paths), POWERTOOLS_TRACE_DISABLED="1", AWS_REGION="eu-north-1",
               AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    return env


def _run(code: str, function_dir: Path | None) -> dict:
    # `-c` puts the cwd first on sys.path: use a folder that is on PYTHONPATH anyway (not the repo
    # root), so that PYTHONPATH alone decides what is importable.
    done = subprocess.run([sys.executable, "-c", code], env=_env(function_dir),
                          cwd=str(function_dir or LAYER), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"import failed in {function_dir}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 7) -> dict:
    targets: list[tuple[str, Path | None, str]] = [("import boto3 (baseline)", None, "boto3")]
    targets += [(f"{d.name}/app.py", d, "app") for d in functions()]
    samples: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    modules: dict[str, list[str]] = {}
    for _ in range(repeats):
        for name, directory, module in targets:
            result = _run(_TIMED.format(module=module, heavy=HEAVY), directory)
            samples[name].append(result["ms"])
            modules[name] = result["modules"]
    rows = []
    for name, directory, _ in targets:
        built = _run(_PROBE, directory) if directory else None
        rows.append({
            "target": name, "repeats": repeats,
            "median_ms": round(statistics.median(samples[name]), 1), "min_ms": round(min(samples[name]), 1),
            "samples_ms": [round(s, 1) for s in samples[name]],
            "heavy_modules": {m: m in modules[name] for m in HEAVY},
            "clients_built_at_import": built,
        })
    baseline = rows[0]["median_ms"]
    for row in rows:
        row["vs_boto3_median"] = round(row["median_ms"] / baseline, 2) if baseline else None
    return {"python": sys.version.split()[0], "rows": rows}
