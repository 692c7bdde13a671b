"""Lambda's execution model on one machine: every function runs in containers of its own.

A container here is a child process that loads one function's handler (``python -m
devstack.container <LogicalId>``) and then serves invocations one at a time, keeping its
module state between them exactly as a warm Lambda container does (the batch processor, the
Powertools resolver's current event, cached clients and tokens). A function that is busy gets
another container, up to its concurrency; an invocation that outlives the function's timeout
kills its container, as Lambda does. So two invocations never share state they would not share
in AWS, and the local runtime uses every core instead of one interpreter's lock.

Tests that need moto in-process (``mock_aws``) call the handlers in-process instead
(``devstack.lambdas.invoke`` without a pool).
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

from . import template

ROOT = template.ROOT
# Extra seconds past the function's timeout before the container is killed: the handler's own
# deadline checks come first, this only catches a container that hangs.
KILL_MARGIN_SECONDS = 5.0


class InvocationError(RuntimeError):
    """The function raised, or its container died or timed out (API Gateway answers 502)."""


class Container:
    def __init__(self, logical_id: str, env: dict[str, str]):
        self.logical_id = logical_id
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack.container", logical_id],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, cwd=str(ROOT), env=env,
        )
        self.invocations = 0

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: dict, timeout_seconds: float) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(event).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise InvocationError(f"{self.logical_id}: container gone ({exc})") from exc
        deadline = time.monotonic() + timeout_seconds + KILL_MARGIN_SECONDS
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(left, 0))
            if not ready:
                self.kill()
                raise InvocationError(f"{self.logical_id}: task timed out after {timeout_seconds:g} s")
            chunk = self.process.stdout.readline()
            if not chunk:
                raise InvocationError(f"{self.logical_id}: container exited (code {self.process.poll()})")
            line += chunk
        self.invocations += 1
        answer = json.loads(line)
        if "error" in answer:
            raise InvocationError(f"{self.logical_id}: {answer['error']}")
        return answer["result"]

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait(timeout=10)

    def close(self) -> None:
        if self.alive:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()  # the container's loop ends at EOF
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()


class ContainerPool:
    """Warm containers per function, reused; a new one when all are busy (up to ``limits``)."""

    def __init__(self, env: dict[str, str], limits: dict[str, int] | None = None, default_limit: int = 4):
        self.env = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])}
        self.limits = limits or {}
        self.default_limit = default_limit
        self._idle: dict[str, list[Container]] = {}
        self._count: dict[str, int] = {}
        self._all: list[Container] = []
        self._retired: set[Container] = set()
        self._cond = threading.Condition()
        self._closed = False
        self.cold_starts = 0

    def _acquire(self, logical_id: str) -> Container:
        limit = self.limits.get(logical_id, self.default_limit)
        with self._cond:
            while True:
                if self._closed:
                    raise InvocationError("the local runtime is stopping")
                idle = self._idle.setdefault(logical_id, [])
                while idle:
                    container = idle.pop()
                    if container.alive:
                        return container
                    self._count[logical_id] -= 1
                if self._count.get(logical_id, 0) < limit:
                    self._count[logical_id] = self._count.get(logical_id, 0) + 1
                    break
                self._cond.wait()
        try:
            container = Container(logical_id, self.env)
        except Exception:
            with self._cond:
                self._count[logical_id] -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._all.append(container)
            self.cold_starts += 1
        return container

    def _release(self, container: Container) -> None:
        with self._cond:
            if container.alive and not self._closed and container not in self._retired:
                self._idle.setdefault(container.logical_id, []).append(container)
            else:
                self._count[container.logical_id] -= 1
                container.close()
            self._cond.notify_all()

    def invoke(self, logical_id: str, event: dict, timeout_seconds: float) -> Any:
        container = self._acquire(logical_id)
        try:
            return container.invoke(event, timeout_seconds)
        finally:
            self._release(container)

    def retire(self, logical_id: str, *, limit: int | None = None, env: dict[str, str] | None = None) -> None:
        """New settings for a function: its idle containers stop, busy ones stop when released,
        and the next invocation starts a container with ``env`` (as a Lambda configuration
        update does); ``limit`` is its new concurrency."""
        with self._cond:
            if env:
                self.env.update(env)
            if limit is not None:
                self.limits[logical_id] = limit
            idle = self._idle.pop(logical_id, [])
            self._count[logical_id] = self._count.get(logical_id, 0) - len(idle)
            self._retired.update(c for c in self._all if c.logical_id == logical_id)
            self._cond.notify_all()
        for container in idle:
            container.close()

    def warm(self, logical_ids: list[str]) -> None:
        """Start one container per function in the background (cold starts before the first call)."""
        def start(logical_id: str) -> None:
            try:
                self.invoke(logical_id, {"__warmup__": True}, 60)
            except InvocationError as exc:
                print(f"[containers] {exc}", file=sys.stderr)

        for logical_id in logical_ids:
            threading.Thread(target=start, args=(logical_id,), daemon=True, name=f"warm-{logical_id}").start()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            containers = list(self._all)
            self._cond.notify_all()
        for container in containers:
            container.close()
