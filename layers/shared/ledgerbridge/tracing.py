"""Powertools' Tracer for the functions that call vendors, without its cold-start cost.

``Tracer()`` patches every library the X-Ray SDK supports (``patch_all``). Inside Lambda that
imports them all at cold start: httpx and requests among them, ~130 ms of CPU before the first
request (outside Lambda Tracer disables itself, which is why it does not show locally). The hub
talks to AWS through botocore and to every vendor through httpx (24SevenOffice's SOAP too, see
connectors/twentyfourseven/soap.py), and to nothing else. So ``function_tracer`` patches botocore
at once (boto3 is loaded for the first AWS call anyway) and httpx the moment the function first
imports it, which only a vendor call does: every AWS and vendor call still gets its subsegment,
and a function that serves a request without a vendor never loads httpx at all.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Tracer

# Patched at once: the first AWS call loads botocore anyway.
EAGER = ("botocore",)
# Patched when first imported.
ON_IMPORT = ("httpx",)


def function_tracer() -> Tracer:
    """The handler's Tracer (service from POWERTOOLS_SERVICE_NAME; disabled outside Lambda)."""
    tracer = Tracer(patch_modules=EAGER)
    if not tracer.disabled:
        for module in ON_IMPORT:
            patch_on_import(module, lambda module=module: tracer.patch([module]))
    return tracer


def patch_on_import(module: str, patch: Callable[[], Any]) -> None:
    """Run ``patch`` right after ``module`` is first imported (now, if it already is)."""
    if module in sys.modules:
        patch()
        return
    if not any(isinstance(f, _AfterImport) and f.module == module for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(module, patch))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands the real spec back with its loader running ``patch`` after the
    module's code (so ``import httpx`` anywhere returns the patched module), then steps aside."""

    def __init__(self, module: str, patch: Callable[[], Any]) -> None:
        self.module, self.patch = module, patch

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)  # once; the finders after us find the module itself
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module  # a loader instance of this one file: safe to wrap

        def exec_module(module_object: Any) -> None:
            run_module(module_object)
            self.patch()

        spec.loader.exec_module = exec_module
        return spec
