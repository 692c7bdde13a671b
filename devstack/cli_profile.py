"""The `ledgerbridge` command's profiles for the local stack (``make run``).

``write_profiles(stack, {"local-shop": key, …}, ROOT / ".ledgerbridge/profiles.toml")`` writes:

* ``local-operator``: the gateway's URL, moto's endpoint, the region, the stage, moto's dummy
  credentials and every table and queue of ``stack.env``: ``ledgerbridge --profile local-operator
  operator tenants``;
* one profile per tenant, named after it, with the URL and that tenant's key:
  ``ledgerbridge --profile local-shop connections``.

The file holds tenant keys: it is written for its owner only (0600), and belongs in .gitignore.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# stack.env's variable -> the profile's setting (ledgerbridge_cli/config.py PROFILE_KEYS)
_OPERATOR_SETTINGS = {
    "AWS_REGION": "region",
    "LB_AWS_ENDPOINT_URL": "aws_endpoint_url",
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",  # moto's dummy credentials, not AWS's
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "LB_STAGE": "stage",
    "LB_TENANTS_TABLE": "tenants_table",
    "LB_CONNECTIONS_TABLE": "connections_table",
    "LB_DOCUMENTS_TABLE": "documents_table",
    "LB_COMPANIES_TABLE": "companies_table",
    "LB_SYNC_TABLE": "sync_table",
    "LB_OAUTH_STATES_TABLE": "oauth_states_table",
    "LB_LEASES_TABLE": "leases_table",
    "LB_IDEMPOTENCY_TABLE": "idempotency_table",
    "LB_TRANSFER_QUEUE_URL": "transfer_queue_url",
    "LB_TRANSFER_DLQ_URL": "transfer_dlq_url",
    "LB_ATTACHMENTS_BUCKET": "attachments_bucket",
}
OPERATOR_PROFILE = "local-operator"


def write_profiles(stack: Any, tenants: Mapping[str, str], path: Path) -> Path:
    """Write the local stack's profiles file (see the module docstring); returns ``path``."""
    url = stack.url.rstrip("/")
    operator = {"url": url}
    operator.update({setting: stack.env[name] for name, setting in _OPERATOR_SETTINGS.items() if stack.env.get(name)})
    profiles: dict[str, dict[str, str]] = {OPERATOR_PROFILE: operator}
    for name, key in tenants.items():
        if name == OPERATOR_PROFILE:
            raise ValueError(f"a tenant may not be named {OPERATOR_PROFILE} here")
        profiles[name] = {"url": url, "key": key}
    lines = [
        "# The local stack's profiles (python -m devstack run); rewritten on every start. Holds tenant keys.",
        f"#   ledgerbridge --profile {OPERATOR_PROFILE} operator tenants",
        *(f"#   ledgerbridge --profile {name} connections" for name in list(tenants)[:1]),
        "",
    ]
    for name, settings in profiles.items():
        lines.append(f"[profiles.{_key(name)}]")
        lines += [f"{_key(setting)} = {_string(value)}" for setting, value in settings.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 before anything is written (the keys never sit in a file others may read).
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file keeps its mode through O_TRUNC
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines))
    return path


def _key(name: str) -> str:
    """A TOML key: bare where it may be, else quoted."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)


def _string(value: str) -> str:
    # A JSON string is a TOML basic string (the same escapes: \" \\ \n \t \uXXXX), but for DEL, which
    # JSON leaves as it is and TOML does not allow unescaped.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
