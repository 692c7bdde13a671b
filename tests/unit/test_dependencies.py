"""Dependencies are declared once, in pyproject.toml; requirements.lock (the venv) and
layers/shared/requirements.txt (the Lambda layer) are generated from it by `make lock`. These tests
fail when a generated file drifts from the declaration (a dependency added, removed or re-pinned in
one place only)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
# The CLI's extra is locked with dev (the venv has both) and stays out of the layer like it.
DEV = [Requirement(r) for extra in ("dev", "cli") for r in PYPROJECT["project"]["optional-dependencies"][extra]]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line (comments and options skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonicalize_name(match[1])] = match[2]
    return found


LOCK = pins(ROOT / "requirements.lock")
LAYER = pins(ROOT / "layers/shared/requirements.txt")


@pytest.mark.parametrize("requirement", RUNTIME + DEV, ids=str)
def test_every_declared_dependency_is_locked_at_a_version_it_allows(requirement):
    name = canonicalize_name(requirement.name)
    assert name in LOCK, f"{requirement} is declared in pyproject.toml but not locked: run `make lock`"
    assert requirement.specifier.contains(LOCK[name], prereleases=True), (
        f"requirements.lock has {name}=={LOCK[name]}, pyproject.toml asks {requirement}: run `make lock`")


@pytest.mark.parametrize("requirement", RUNTIME, ids=str)
def test_the_layer_ships_every_runtime_dependency(requirement):
    name = canonicalize_name(requirement.name)
    assert name in LAYER, f"{requirement} is a runtime dependency missing from the layer: run `make lock`"
    assert requirement.specifier.contains(LAYER[name], prereleases=True)


def test_the_layer_ships_what_the_tests_ran_with():
    """Every layer pin is the lock's pin: what is deployed is what was tested."""
    differing = {name: (version, LOCK.get(name)) for name, version in LAYER.items() if LOCK.get(name) != version}
    assert not differing, f"layer pins differ from requirements.lock (layer, lock): {differing}: run `make lock`"


def test_dev_tools_stay_out_of_the_layer():
    dev_only = {canonicalize_name(r.name) for r in DEV} - {canonicalize_name(r.name) for r in RUNTIME}
    assert not dev_only & set(LAYER), f"dev dependencies in the Lambda layer: {sorted(dev_only & set(LAYER))}"


def test_nothing_else_declares_dependencies():
    """Handlers ship nothing of their own (the layer has it all), and no hand-kept list remains."""
    for path in sorted((ROOT / "functions").glob("*/requirements.txt")):
        assert pins(path) == {} and not [
            line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
        ], f"{path.relative_to(ROOT)} declares packages: declare them in pyproject.toml"
    assert not (ROOT / "requirements-dev.txt").exists(), "requirements-dev.txt is gone: use pyproject.toml"


def test_lint_tools_are_pinned_in_their_groups():
    groups = PYPROJECT["dependency-groups"]
    for group in ("sam", "checkov"):
        [requirement] = [Requirement(r) for r in groups[group]]
        assert str(requirement.specifier).startswith("=="), f"the {group} tool is pinned exactly: {requirement}"
