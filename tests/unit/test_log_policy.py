"""The log policy of the shared layer: library loggers write no request or response content at DEBUG.

tests/integration/test_secrets_not_logged.py runs the real flows; these pin down the mechanism:
the level that holds when the function is switched to DEBUG, the filter that holds when someone
raises a library logger's level again, and that importing the layer applies both, cheaply.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledgerbridge import log_policy

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"
SECRET = "rt-7Qx2-never-in-a-log"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def root_at_debug():
    """The root logger at DEBUG with a handler, as Lambda's log-level setting leaves it; every
    logger touched here is put back as it was."""
    names = ("",) + log_policy.NAMESPACES + log_policy.CONTENT_LOGGERS + ("botocore.hooks", "ledgerbridge.probe")
    saved = {name: (lg.level, list(lg.filters), list(lg.handlers), lg.propagate)
             for name in names for lg in [logging.getLogger(name)]}
    collect = Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        yield collect
    finally:
        for name, (level, filters, handlers, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.filters[:] = filters
            lg.handlers[:] = handlers
            lg.propagate = propagate


def _write_secrets(names) -> None:
    for name in names:
        logging.getLogger(name).debug("body %s", SECRET)
        logging.getLogger(name).info("request %s", SECRET)


def test_library_loggers_stay_quiet_when_the_root_logger_is_at_debug(root_at_debug):
    # Listed or not (botocore.hooks, a module a later release adds): every module logger under a
    # quieted namespace follows its WARNING.
    names = log_policy.NAMESPACES + log_policy.CONTENT_LOGGERS + ("botocore.hooks", "zeep.some_future_module")
    for name in names:
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
    _write_secrets(names)
    assert not [line for line in root_at_debug.lines if SECRET in line]


def test_warnings_and_errors_of_libraries_still_get_through(root_at_debug):
    logging.getLogger("botocore.endpoint").warning("endpoint unreachable")
    logging.getLogger("urllib3.connectionpool").error("connection pool is full")
    assert root_at_debug.lines == ["botocore.endpoint WARNING endpoint unreachable",
                                   "urllib3.connectionpool ERROR connection pool is full"]


def test_raising_a_library_level_again_brings_no_content_back(root_at_debug, capsys):
    import boto3

    # What a developer chasing a problem does: botocore's wire trace to stderr (sets 'botocore' to
    # DEBUG, adds a handler to it); then the module loggers themselves.
    boto3.set_stream_logger("botocore", logging.DEBUG)
    for name in log_policy.CONTENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    _write_secrets(log_policy.CONTENT_LOGGERS + log_policy.NAMESPACES)
    captured = capsys.readouterr()
    assert SECRET not in captured.err + captured.out
    assert not [line for line in root_at_debug.lines if SECRET in line]


def test_our_own_loggers_are_untouched(root_at_debug):
    # Our loggers (Powertools, service "ledgerbridge") keep the level Lambda or POWERTOOLS_LOG_LEVEL gives them.
    assert not [f for f in logging.getLogger("ledgerbridge").filters if isinstance(f, log_policy.WarningsOnly)]
    probe = logging.getLogger("ledgerbridge.probe")
    probe.setLevel(logging.DEBUG)
    probe.debug("booking %s", "Z-1")
    assert root_at_debug.lines == ["ledgerbridge.probe DEBUG booking Z-1"]


def test_applying_again_adds_nothing_and_never_lowers_a_level(root_at_debug):
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    log_policy.apply()
    log_policy.apply()
    assert logging.getLogger("urllib3").level == logging.ERROR
    for name in log_policy.NAMESPACES + log_policy.CONTENT_LOGGERS:
        policy_filters = [f for f in logging.getLogger(name).filters if isinstance(f, log_policy.WarningsOnly)]
        assert len(policy_filters) == 1, name


_PROBE = """
import json, logging, sys
root = logging.getLogger()
root.setLevel(logging.DEBUG)            # as Lambda leaves it with AWS_LAMBDA_LOG_LEVEL=DEBUG
import ledgerbridge
print(json.dumps({
    "levels": {name: logging.getLogger(name).getEffectiveLevel() for name in %(names)r},
    "filtered": [name for name in %(names)r if logging.getLogger(name).filters],
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in
                    ("boto3", "botocore", "httpx", "httpcore", "zeep", "lxml", "pydantic", "aws_lambda_powertools")),
}))
"""


def test_importing_the_layer_applies_the_policy_first_and_cheaply():
    """In a fresh interpreter, as a Lambda cold start: the package import alone sets it, loading nothing heavy."""
    names = ["botocore", "botocore.endpoint", "botocore.parsers", "httpcore.http11", "httpx", "zeep.transports"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LB_", "POWERTOOLS_", "PYTHON"))}
    env["PYTHONPATH"] = str(LAYER)
    out = subprocess.run([sys.executable, "-c", _PROBE % {"names": names}], env=env, cwd=str(LAYER),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    probe = json.loads(out.strip().splitlines()[-1])
    assert probe["levels"] == {name: logging.WARNING for name in names}
    assert probe["filtered"] == names
    assert probe["heavy"] == []
