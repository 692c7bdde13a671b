"""Load each function's handler from functions/<name>/app.py, as Lambda would, and invoke it."""
from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from . import template


@dataclass
class LocalContext:
    """The parts of the Lambda context object the handlers and Powertools read."""

    function_name: str
    timeout_seconds: int = 30
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.invoked_function_arn = f"arn:aws:lambda:eu-north-1:000000000000:function:{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


@lru_cache(maxsize=None)
def handler(logical_id: str) -> Callable[[dict, Any], Any]:
    props = template.functions()[logical_id]["Properties"]
    code_dir = template.ROOT / props["CodeUri"]
    module_file, function_name = props["Handler"].rsplit(".", 1)
    module_name = f"lambda_{logical_id}"
    spec = importlib.util.spec_from_file_location(module_name, code_dir / f"{module_file}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return getattr(module, function_name)


def timeout_of(logical_id: str) -> int:
    props = template.functions()[logical_id]["Properties"]
    return int(props.get("Timeout") or template.load()["Globals"]["Function"].get("Timeout", 30))


# Set by the local runtime (DevStack): invocations then run in containers of their own, one at a
# time each (devstack/containers.py). Without it (tests with moto in-process) they run here.
_pool = None


def use_pool(pool: Any) -> None:
    global _pool
    _pool = pool


def invoke(logical_id: str, event: dict) -> Any:
    if _pool is not None:
        return _pool.invoke(logical_id, event, timeout_of(logical_id))
    return call(logical_id, handler(logical_id), event, timeout_of(logical_id))


def call(logical_id: str, function: Callable[[dict, Any], Any], event: dict, timeout_seconds: int) -> Any:
    try:
        return function(event, LocalContext(function_name=logical_id, timeout_seconds=timeout_seconds))
    finally:
        # With POWERTOOLS_METRICS_DISABLED, Powertools skips the flush but keeps the metrics, and
        # prints them anyway once 100 pile up; locally we drop them after each invocation.
        metrics = getattr(sys.modules.get(f"lambda_{logical_id}"), "metrics", None)
        if metrics is not None:
            metrics.clear_metrics()
