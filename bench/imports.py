"""Benchmark 1: cold start of each Lambda function (functions/*/app.py) against its floor.

The floor of a function is what any Python Lambda using the same AWS services pays: ``import boto3``,
then building the boto3 clients the function needs (read from its IAM policies in template.yaml) and
the first call of each. The function's figure is ``import app``, then the same clients built through
``ledgerbridge.aws`` and the same first calls. Both are measured in the same run, in the same
Lambda-like environment (``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_FUNCTION_NAME``, ``AWS_EXECUTION_ENV``,
credentials in the environment, template.yaml's variables), so Powertools and the X-Ray SDK take the
code paths they take inside Lambda (outside it Tracer disables itself and patches nothing).

Each sample is a fresh interpreter (``sys.executable -c ...``) with PYTHONPATH = the shared layer +
the function's folder, as in Lambda. Targets run round-robin (one sample of each per round) so that
drift in machine load hits all of them alike; figures are medians. The first calls never leave the
process: a ``before-send`` hook answers each request with an empty 200, after botocore has resolved
the endpoint, serialised and signed it (the costly part of a first call), and the answer is parsed.
Memory is the process's peak RSS (``ru_maxrss``) after the first calls.

A separate, untimed probe per handler wraps botocore's ``Session.create_client`` and
``httpx.Client.__init__`` before the import and records the clients built while importing (none:
ledgerbridge's clients are built lazily in ledgerbridge.aws and vendor_http).

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
TEMPLATE = ROOT / "template.yaml"
HEAVY = ("boto3", "botocore", "httpx", "pydantic", "pydantic_settings", "aws_xray_sdk", "requests", "zeep", "lxml")
# Only the 24SevenOffice connector may load these (through the connector registry, on first use).
SOAP_MODULES = ("zeep", "lxml")
# The goal (issue 9): every function within 1.2x its floor, in time (import + first use) and memory.
GOAL_RATIO = 1.2
FIGURES = ("import_ms", "first_use_ms", "import_cpu_ms", "first_use_cpu_ms", "rss_mib")
# Functions only: the CPU of the first request after import and first use (the floor has none).
FUNCTION_FIGURES = ("first_request_cpu_ms",)
GOAL_FIGURES = ("first_use_cpu_ms", "rss_mib")

# One representative first call per service (what the function's first request makes first).
FIRST_CALLS = {
    "dynamodb": 'c.get_item(TableName="ledgerbridge-connections", Key={"pk": {"S": "t"}, "sk": {"S": "c"}})',
    "s3": 'c.get_object(Bucket="ledgerbridge-attachments", Key="tenants/t/connections/c/documents/d/v1.json")',
    "secretsmanager": 'c.get_secret_value(SecretId="ledgerbridge/dev/connections/t/c")',
    "sqs": 'c.send_message(QueueUrl="https://sqs.eu-north-1.amazonaws.com/123456789012/transfers", '
           'MessageBody="{}")',
}
# SAM policy templates name their service in front: SQSSendMessagePolicy, DynamoDBCrudPolicy, ...
_POLICY_TEMPLATE_SERVICES = {"SQS": "sqs", "DynamoDB": "dynamodb", "S3": "s3", "SecretsManager": "secretsmanager",
                             "AWSSecretsManager": "secretsmanager"}

_COLD = """
import json, resource, sys, time
c0, t0 = time.process_time(), time.perf_counter()
import {module}
c1, t1 = time.process_time(), time.perf_counter()
{make_client}
from botocore.awsrequest import AWSResponse
from io import BytesIO
class _Raw(BytesIO):
    def stream(self, amt=65536, decode_content=None):
        while chunk := self.read(amt):
            yield chunk
def _answer(request, **kwargs):
    return AWSResponse(request.url, 200, {{}}, _Raw(b"" if "s3." in request.url else b"{{}}"))
for service in {services!r}:
    c = make_client(service)
    c.meta.events.register("before-send", _answer)
    {{{calls}}}[service](c)
c2, t2 = time.process_time(), time.perf_counter()
{first_request}
c3 = time.process_time()
print(json.dumps({{"import_ms": (t1 - t0) * 1000, "first_use_ms": (t2 - t0) * 1000,
                  "import_cpu_ms": (c1 - c0) * 1000, "first_use_cpu_ms": (c2 - c0) * 1000,
                  "first_request_cpu_ms": (c3 - c2) * 1000,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "modules": [m for m in {heavy!r} if m in sys.modules], "module_count": len(sys.modules),
                  "powertools": sorted(m for m in sys.modules if m.startswith("aws_lambda_powertools")),
                  "xray": "aws_xray_sdk" in sys.modules}}))
"""
# The function's first request: its sample event (events/<function>/, the first file) through the
# handler, every AWS call answered in process as above. What the handler builds lazily (models whose
# schema is built on first use, clients of other services) is paid here, so it is measured too.
_FIRST_REQUEST = """
import botocore.httpsession
botocore.httpsession.URLLib3Session.send = lambda self, request: _answer(request)
class _Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:eu-north-1:123456789012:function:bench"
    def get_remaining_time_in_millis(self):
        return 30000
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    try:
        {module}.lambda_handler(json.load(open({event!r})), _Context())
    except Exception:
        pass  # empty answers make some handlers fail: the work up to there is what is measured
"""
_FLOOR_CLIENT = "make_client = boto3.client"
_FUNCTION_CLIENT = "from ledgerbridge.aws import client as make_client"

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


def _template() -> dict:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # CloudFormation's short forms (!Ref, !GetAtt, !Sub) do not matter here.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader subclass


def function_services(template: dict | None = None) -> dict[str, tuple[str, ...]]:
    """{function folder: the AWS services its IAM policies allow}, from template.yaml."""
    template = template or _template()
    found: dict[str, tuple[str, ...]] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        services: set[str] = set()
        for policy in props.get("Policies") or []:
            if not isinstance(policy, dict):
                continue
            for key, value in policy.items():
                if key == "Statement":
                    for statement in value:
                        actions = statement.get("Action")
                        for action in [actions] if isinstance(actions, str) else actions or []:
                            services.add(action.split(":")[0].lower())
                else:
                    service = next((s for p, s in _POLICY_TEMPLATE_SERVICES.items() if key.startswith(p)), None)
                    if service is None:
                        raise ValueError(f"policy template {key}: which service? add it to "
                                         "_POLICY_TEMPLATE_SERVICES")
                    services.add(service)
        unknown = services - set(FIRST_CALLS) - {"xray"}
        if unknown:
            raise ValueError(f"{props['CodeUri']}: no first call for {sorted(unknown)}; add one to FIRST_CALLS")
        found[Path(props["CodeUri"]).name] = tuple(sorted(services & set(FIRST_CALLS)))
    return found


def lambda_environment(template: dict | None = None) -> dict[str, str]:
    """The variables Lambda and template.yaml give every function (placeholder values for !Ref)."""
    template = template or _template()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    env = {k: (v if isinstance(v, str) else f"ledgerbridge-{k[3:].lower().replace('_', '-')}")
           for k, v in variables.items()}
    env.update(LB_VENDOR_URLS="{}", LB_APPLICATION_IDS="{}", LB_WORKER_CONCURRENCY="5",
               LB_MAX_DELIVERY_ATTEMPTS="8", LB_OAUTH_REDIRECT_URI="https://example.invalid/oauth/callback",
               LB_STAGE="dev", LB_TRANSFER_QUEUE_URL="https://sqs.eu-north-1.amazonaws.com/123456789012/transfers")
    return env


def _env(function_dir: Path | None, layer: Path = LAYER) -> dict[str, str]:
    """A Lambda-like environment: Powertools' Tracer and the X-Ray SDK behave as inside Lambda."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON", "LAMBDA_", "_X_AMZN", "_AWS_XRAY"))}
    paths = [str(layer)] + ([str(function_dir)] if function_dir else [])
    name = function_dir.name if function_dir else "floor"
    env.update(lambda_environment())
    env.update(
        PYTHONPATH=os.pathsep.join(paths), LAMBDA_TASK_ROOT=str(function_dir or layer),
        AWS_LAMBDA_FUNCTION_NAME=name, AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.11", AWS_REGION="eu-north-1", AWS_DEFAULT_REGION="eu-north-1",
        AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_SESSION_TOKEN="x",
        # Nothing is sent to it (no invocation runs), but should anything be: loopback only.
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000", AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
    )
    return env


def _run(code: str, function_dir: Path | None, layer: Path = LAYER) -> dict:
    # `-c` puts the cwd first on sys.path: use a folder that is on PYTHONPATH anyway (not the repo
    # root), so that PYTHONPATH alone decides what is importable.
    done = subprocess.run([sys.executable, "-c", code], env=_env(function_dir, layer),
                          cwd=str(function_dir or layer), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"import failed in {function_dir}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _cold_code(module: str, services: tuple[str, ...], event: Path | None = None) -> str:
    calls = ", ".join(f"{s!r}: lambda c: {FIRST_CALLS[s]}" for s in services)
    first_request = _FIRST_REQUEST.format(module=module, event=str(event)) if event else ""
    return _COLD.format(module=module, make_client=_FUNCTION_CLIENT if module == "app" else _FLOOR_CLIENT,
                        services=services, calls=calls, heavy=HEAVY, first_request=first_request)


# The stack floor of a function: the floor plus what the brief prescribes, as far as the function
# loads it: pydantic, and every Powertools module the function had loaded after its first request
# (Logger, Metrics, the event handler with OpenAPI validation, BatchProcessor, Idempotency...),
# and Tracer patching botocore where the function traces. What is left between it and the
# function is the hub's own code: its modules, models and first-use work.
_STACK_FLOOR = """
import importlib
import boto3, pydantic
for module in {powertools!r}:
    try:
        importlib.import_module(module)
    except Exception:
        pass  # an optional submodule that only imports under conditions the function met
if {xray!r}:
    from aws_lambda_powertools import Tracer
    Tracer(patch_modules=("botocore",))
"""


def _stack_floor_code(services: tuple[str, ...], probe: dict) -> str:
    stack = _STACK_FLOOR.format(powertools=probe["powertools"], xray=probe["xray"])
    code = _cold_code("boto3", services)
    return code.replace("import boto3\n", stack, 1)


def sample_event(function_dir: Path) -> Path:
    """The function's first sample event (events/<function>/*.json, sorted)."""
    return sorted((ROOT / "events" / function_dir.name).glob("*.json"))[0]


def run(repeats: int = 7) -> dict:
    """Per function: import, import + first use of its clients, peak RSS, each beside its floor."""
    services = function_services()
    dirs = {d.name: d for d in functions()}
    missing = sorted(set(dirs) - set(services))
    if missing:
        raise RuntimeError(f"not in template.yaml: {missing}")
    floors = sorted({services[name] for name in dirs})
    targets: list[tuple[tuple, Path | None, str]] = [(("floor", s), None, _cold_code("boto3", s)) for s in floors]
    targets += [(("function", name), d, _cold_code("app", services[name], sample_event(d)))
                for name, d in dirs.items()]
    # One untimed probe per function: the Powertools modules its stack floor is to import.
    probes = {name: _run(_cold_code("app", services[name], sample_event(d)), d) for name, d in dirs.items()}
    targets += [(("stack", name), None, _stack_floor_code(services[name], probes[name])) for name in dirs]
    samples: dict[tuple, list[dict]] = {key: [] for key, _, _ in targets}
    for _ in range(repeats):
        for key, directory, code in targets:
            samples[key].append(_run(code, directory))
    med = lambda key, field: round(statistics.median(x[field] for x in samples[key]), 1)  # noqa: E731

    def figures(key: tuple) -> dict:
        return {**{field: med(key, field) for field in FIGURES + (FUNCTION_FIGURES if key[0] == "function" else ())},
                "samples_first_use_cpu_ms": [round(x["first_use_cpu_ms"], 1) for x in samples[key]],
                "samples_first_use_ms": [round(x["first_use_ms"], 1) for x in samples[key]],
                "modules": samples[key][-1]["modules"], "module_count": samples[key][-1]["module_count"]}

    rows = []
    for name, directory in dirs.items():
        fn, floor = figures(("function", name)), figures(("floor", services[name]))
        stack = figures(("stack", name))
        ratio = {field: round(fn[field] / floor[field], 2) for field in FIGURES}
        stack_ratio = {field: round(fn[field] / stack[field], 2) for field in FIGURES}
        rows.append({
            "function": name, "services": list(services[name]), "repeats": repeats, "function_figures": fn,
            "floor": floor, "ratio": ratio, "stack_floor": stack, "stack_ratio": stack_ratio,
            "stack_floor_imports": {"powertools_modules": len(probes[name]["powertools"]), "tracer": probes[name]["xray"]},
            # CPU time, not wall time: on a shared machine the wall clock also counts the wait for a
            # core, which has nothing to do with the code (a Lambda's init phase has its own CPU).
            "goal_met": all(ratio[field] <= GOAL_RATIO for field in GOAL_FIGURES),
            "heavy_modules": {m: m in fn["modules"] for m in HEAVY},
            "clients_built_at_import": _run(_PROBE, directory),
        })
    return {"python": sys.version.split()[0], "goal_ratio": GOAL_RATIO, "rows": rows,
            "goal_met": all(r["goal_met"] for r in rows)}


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
