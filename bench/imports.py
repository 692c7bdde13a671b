"""Benchmark 1: cold import time of each Lambda handler (functions/*/app.py) next to ``import boto3``.

Every sample is a fresh interpreter (``sys.executable -c ...``) with PYTHONPATH = the shared layer +
the function's folder, as in Lambda, so nothing is cached in-process. Targets are run round-robin
(one sample of each target per round) so that drift in machine load hits all of them alike.

A separate, untimed probe per handler wraps botocore's ``Session.create_client`` and
``httpx.Client.__init__`` before the import and records the clients built while importing.
ledgerbridge's own clients are built lazily (ledgerbridge.aws, vendor_http); a client seen here
comes from a dependency (e.g. the X-Ray SDK's sampler, pulled in by Powertools' Tracer).

``compare`` runs the same timed import against another checkout (a git worktree of an earlier
commit) next to this one, round-robin, for a before/after table; ``tfso_connector`` times the
24SevenOffice connector's first use (its import, which brings zeep and lxml, and the parse of
its four WSDLs into zeep clients).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"
HEAVY = ("boto3", "botocore", "httpx", "pydantic", "aws_xray_sdk", "zeep", "lxml")
# Only the 24SevenOffice connector may load these (through the connector registry, on first use).
SOAP_MODULES = ("zeep", "lxml")

_TIMED = """
import json, sys, time
t0 = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t0
print(json.dumps({{"ms": elapsed * 1000, "modules": [m for m in {heavy!r} if m in sys.modules],
                  "module_count": len(sys.modules),
                  "layer": getattr(sys.modules.get("ledgerbridge"), "__file__", None)}}))
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


def functions(root: Path = ROOT) -> list[Path]:
    return sorted(p.parent for p in (root / "functions").glob("*/app.py"))


def _env(function_dir: Path | None, layer: Path = LAYER) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON"))}
    paths = [str(layer)] + ([str(function_dir)] if function_dir else [])
    env.update(PYTHONPATH=os.pathsep.join(paths), POWERTOOLS_TRACE_DISABLED="1", AWS_REGION="eu-north-1",
               AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    return env


def _run(code: str, function_dir: Path | None, layer: Path = LAYER) -> dict:
    # `-c` puts the cwd first on sys.path: use a folder that is on PYTHONPATH anyway (not the repo
    # root), so that PYTHONPATH alone decides what is importable.
    done = subprocess.run([sys.executable, "-c", code], env=_env(function_dir, layer),
                          cwd=str(function_dir or layer), capture_output=True, text=True, timeout=120)
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


# --- before/after: the same measurement against an earlier commit ------------------------------------

BEFORE_PATH = Path("/tmp/lb-before")


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=str(cwd), check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def worktree(commit: str, path: Path = BEFORE_PATH) -> Iterator[tuple[Path, str]]:
    """A detached git worktree of ``commit`` at ``path`` (reused if it is already there), removed afterwards."""
    wanted = _git("rev-parse", "--verify", f"{commit}^{{commit}}")
    if path.exists():
        try:
            ours = _git("rev-parse", "--path-format=absolute", "--git-common-dir")
            theirs = _git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=path)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{path} exists but is not a git worktree; remove it and run again") from exc
        if Path(ours).resolve() != Path(theirs).resolve():
            raise RuntimeError(f"{path} is a worktree of another repository ({theirs}); remove it and run again")
        if _git("rev-parse", "HEAD", cwd=path) != wanted:
            _git("checkout", "--quiet", "--detach", wanted, cwd=path)
    else:
        _git("worktree", "prune")  # a worktree registered at this path but deleted by hand
        _git("worktree", "add", "--quiet", "--detach", str(path), wanted)
    try:
        yield path, wanted
    finally:
        _git("worktree", "remove", "--force", str(path))
        _git("worktree", "prune")


def compare(repeats: int, before_root: Path, names: list[str]) -> dict:
    """Cold import of functions/<name>/app.py in ``before_root`` and in this checkout, round-robin.

    One untimed import of each target first: a fresh worktree has no .pyc files yet, and the
    comparison is of imports, not of byte-compiling.
    """
    before_layer = before_root / "layers" / "shared"
    targets: list[tuple[str, str, Path, Path]] = []
    missing = []
    for name in names:
        before_dir, after_dir = before_root / "functions" / name, ROOT / "functions" / name
        if not (before_dir / "app.py").exists() or not (after_dir / "app.py").exists():
            missing.append(name)
            continue
        targets += [(name, "before", before_dir, before_layer), (name, "after", after_dir, LAYER)]
    code = _TIMED.format(module="app", heavy=HEAVY)
    for _, _, directory, layer in targets:
        _run(code, directory, layer)
    samples: dict[tuple[str, str], list[float]] = {(n, s): [] for n, s, _, _ in targets}
    modules: dict[tuple[str, str], list[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for _ in range(repeats):
        for name, side, directory, layer in targets:
            result = _run(code, directory, layer)
            if not str(result["layer"] or "").startswith(str(layer)):  # PYTHONPATH alone must decide
                raise RuntimeError(f"{name} ({side}) imported ledgerbridge from {result['layer']}, not {layer}")
            samples[(name, side)].append(result["ms"])
            modules[(name, side)] = result["modules"]
            counts[(name, side)] = result["module_count"]
    rows = []
    for name in dict.fromkeys(n for n, _, _, _ in targets):
        sides = {side: {"median_ms": round(statistics.median(samples[(name, side)]), 1),
                        "min_ms": round(min(samples[(name, side)]), 1),
                        "samples_ms": [round(s, 1) for s in samples[(name, side)]],
                        "heavy_modules": modules[(name, side)],
                        "modules_after_import": counts[(name, side)]} for side in ("before", "after")}
        change = sides["after"]["median_ms"] - sides["before"]["median_ms"]
        rows.append({"function": name, **sides, "change_ms": round(change, 1),
                     "change_pct": round(100 * change / sides["before"]["median_ms"], 1)})
    return {"repeats": repeats, "rows": rows, "missing": missing}


# --- the 24SevenOffice connector's first use --------------------------------------------------------

_TFSO_FIRST_USE = """
import json, sys, time
host_ms = None
if {host!r}:
    t0 = time.perf_counter()
    import app
    host_ms = (time.perf_counter() - t0) * 1000
soap_after_host = [m for m in {soap!r} if m in sys.modules]
t0 = time.perf_counter()
import ledgerbridge.connectors.twentyfourseven
import_ms = (time.perf_counter() - t0) * 1000
from ledgerbridge.connectors.twentyfourseven import soap
clients = {{}}
for service, spec in soap.SERVICES.items():
    t0 = time.perf_counter()
    soap._zeep_client(spec.wsdl)
    clients[service] = (time.perf_counter() - t0) * 1000
print(json.dumps({{"host_ms": host_ms, "soap_after_host": soap_after_host, "import_ms": import_ms,
                  "clients_ms": clients, "soap_after_import": [m for m in {soap!r} if m in sys.modules]}}))
"""

_ZEEP_ALONE = """
import json, time
t0 = time.perf_counter()
import zeep
print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))
"""

# Functions that use the 24SevenOffice connector: the worker (runs) and the management API (setup).
TFSO_HOSTS = ("transfer_worker", "management_api")


def tfso_connector(repeats: int = 7) -> dict:
    """First use of the 24SevenOffice connector: ``import ledgerbridge.connectors.twentyfourseven`` (zeep,
    lxml, the connector) then one zeep client per WSDL (``soap._zeep_client``), each timed; in a bare
    interpreter (layer only) and in each function that uses it, after that function's ``import app``
    (what a cold start of that function pays on its first 24SevenOffice call, on top of its import)."""
    contexts: list[tuple[str, Path | None]] = [("fresh interpreter (layer only)", None)]
    contexts += [(f"{h}, after its import app", ROOT / "functions" / h) for h in TFSO_HOSTS
                 if (ROOT / "functions" / h / "app.py").exists()]
    zeep_samples: list[float] = []
    raw: dict[str, list[dict]] = {label: [] for label, _ in contexts}
    for _ in range(repeats):
        zeep_samples.append(_run(_ZEEP_ALONE, None)["ms"])
        for label, directory in contexts:
            host = directory.name if directory else ""
            raw[label].append(_run(_TFSO_FIRST_USE.format(host=host, soap=SOAP_MODULES), directory))
    med = lambda values: round(statistics.median(values), 1)  # noqa: E731
    rows = []
    for label, directory in contexts:
        samples = raw[label]
        services = list(samples[0]["clients_ms"])
        clients = {s: med([x["clients_ms"][s] for x in samples]) for s in services}
        rows.append({
            "context": label, "host": directory.name if directory else None,
            "host_import_ms": med([x["host_ms"] for x in samples]) if directory else None,
            "soap_loaded_by_host": sorted({m for x in samples for m in x["soap_after_host"]}),
            "import_ms": med([x["import_ms"] for x in samples]),
            "import_min_ms": round(min(x["import_ms"] for x in samples), 1),
            "clients_ms": clients,
            "first_use_ms": med([x["import_ms"] + sum(x["clients_ms"].values()) for x in samples]),
            "soap_loaded_by_import": sorted({m for x in samples for m in x["soap_after_import"]}),
        })
    return {"repeats": repeats, "import_zeep_alone_ms": med(zeep_samples),
            "import_zeep_alone_min_ms": round(min(zeep_samples), 1), "rows": rows}


def soap_probe() -> list[dict]:
    """Untimed: for every handler, which of zeep and lxml are in sys.modules after ``import app``."""
    code = _TIMED.format(module="app", heavy=SOAP_MODULES)
    return [{"function": d.name, "loaded": _run(code, d)["modules"]} for d in functions()]
