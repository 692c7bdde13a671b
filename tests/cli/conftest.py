"""Every CLI test runs isolated: no profiles file, variable or working directory of the machine leaks in."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in ("URL", "KEY", "PROFILE", "CONFIG", "OUTPUT"):
        monkeypatch.delenv(f"LEDGERBRIDGE_{name}", raising=False)
