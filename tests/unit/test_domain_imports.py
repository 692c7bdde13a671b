"""The house rule: the ledger's vocabulary (voucher, account, catalog) lives in models/, so domain/
depends on nothing but models (plus the pure leaf helpers money.py and text.py, and errors.py for
the one error the API maps to 422); no import cycles, no vendor plumbing in pure code."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"
PACKAGE = LAYER / "ledgerbridge"
DOMAIN_MODULES = sorted(f"ledgerbridge.domain.{p.stem}" for p in (PACKAGE / "domain").glob("*.py")
                        if p.stem != "__init__")
FORBIDDEN = ("ledgerbridge.connectors", "ledgerbridge.services", "ledgerbridge.repositories", "ledgerbridge.api")
# Leaf modules the domain may use besides models/: none of them imports anything of ledgerbridge.
LEAVES = ("ledgerbridge.money", "ledgerbridge.text", "ledgerbridge.errors")


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the ledgerbridge modules ``path`` imports (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("ledgerbridge")}


def test_there_are_domain_modules_to_check():
    assert {"ledgerbridge.domain.vouchers", "ledgerbridge.domain.setup_validation"} <= set(DOMAIN_MODULES)


@pytest.mark.parametrize("module", DOMAIN_MODULES)
def test_domain_imports_only_models_and_leaf_helpers(module):
    imported = _imports(PACKAGE / "domain" / f"{module.rsplit('.', 1)[1]}.py", "ledgerbridge.domain")
    strays = sorted(m for m in imported if not (m.startswith("ledgerbridge.models") or m in LEAVES))
    assert not strays, f"{module} imports {strays}; move what it needs into models/"


def test_the_vouchers_builder_raises_a_domain_error_of_its_own():
    assert "ledgerbridge.errors" not in _imports(PACKAGE / "domain" / "vouchers.py", "ledgerbridge.domain")


@pytest.mark.parametrize("leaf", LEAVES)
def test_the_leaf_helpers_import_nothing_of_ledgerbridge(leaf):
    path = PACKAGE / f"{leaf.rsplit('.', 1)[1]}.py"
    assert _imports(path, "ledgerbridge") == set()


def test_models_import_nothing_but_models_and_leaves():
    for path in sorted((PACKAGE / "models").glob("*.py")):
        imported = _imports(path, "ledgerbridge.models")
        strays = sorted(m for m in imported if not (m.startswith("ledgerbridge.models") or m in LEAVES))
        assert not strays, f"models/{path.name} imports {strays}"


def test_importing_the_domain_loads_no_connector_service_repository_or_api_module():
    # In a fresh interpreter: sys.modules after importing every domain module shows what came
    # along transitively, whatever this test process has imported already.
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(LAYER)!r})\n"
        "before = set(sys.modules)\n"
        f"for name in {DOMAIN_MODULES!r}:\n"
        "    __import__(name)\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.startswith('ledgerbridge'))))\n"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert set(DOMAIN_MODULES) <= set(loaded)
    pulled_in = [m for m in loaded if m.startswith(FORBIDDEN)]
    assert not pulled_in, f"importing domain/ loads {pulled_in}"
