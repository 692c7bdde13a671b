"""What every command gets from the root: the settings in force, the output, and the hub client.

Tests hand in a :class:`Runtime` of their own (``CliRunner().invoke(app, args, obj=Runtime(...))``)
with an httpx transport (e.g. the local gateway called in process) and a ``sleep`` that, say, works
the transfer queue between two polls.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import typer

from .client import HubClient
from .config import Config
from .output import Output


@dataclass
class Runtime:
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    output: Output = field(default_factory=Output)
    # How to find the settings; called on first use, so a broken profiles file does not stop --help.
    resolve: Callable[[], Config] = Config
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = self.resolve()
        return self._config

    def client(self) -> HubClient:
        """A client for the hub with the tenant key in force (ConfigError if either is missing)."""
        url, key = self.config.tenant()
        return HubClient(url, key, transport=self.transport, sleep=self.sleep)


def runtime(ctx: typer.Context) -> Runtime:
    """The Runtime the root command set up."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Runtime):  # a command invoked without the root's callback (never from the CLI)
        raise RuntimeError("ledgerbridge: the root command did not run")
    return obj
