"""What can go wrong, as exceptions the command line turns into a message and an exit code.

Exit codes: 0 done; 1 the hub (or AWS) refused or failed something, or a command found a failure
(a refused document, a failed booking); 2 the command line or its configuration is wrong (Typer's
own usage errors are 2 as well); 130 interrupted.
"""
from __future__ import annotations

from typing import Any


class CliError(Exception):
    """A failure to report to the user: ``message`` says what is wrong and, where known, what to do."""

    exit_code = 1
    code = "error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ConfigError(CliError):
    """The command line or the profile file does not say enough (or says something impossible)."""

    exit_code = 2
    code = "configuration"


class HubError(CliError):
    """The hub answered with an error: its status and its ``{error, message, details}``."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message, details=details)
        self.status = status
        self.code = code

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, **super().as_json()}


class HubUnreachable(CliError):
    """No answer from the hub at all (DNS, refused connection, TLS, timeout)."""

    code = "unreachable"


class OperatorError(CliError):
    """An operator command failed against AWS or the shared layer refused it."""

    code = "operator"


def describe_detail(detail: dict[str, Any]) -> str:
    """One problem of a refusal as a line: where it is (row, field, account), then what."""
    where = detail.get("row") or detail.get("field") or detail.get("account")
    message = str(detail.get("message", detail))
    return f"{where}: {message}" if where else message
