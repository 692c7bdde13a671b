"""Write docs/openapi.json: the hub's HTTP API as the handlers validate it (Powertools' OpenAPI).

`make openapi` regenerates it; tests/unit/test_openapi.py fails when it is stale.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.json"


def build() -> dict:
    sys.path[:0] = [str(ROOT / "layers" / "shared")]
    from ledgerbridge.api.openapi_document import build as build_document

    return build_document()


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}")
