"""Everything the command prints: Rich tables and progress bars for people, plain JSON for scripts.

With ``--output json`` the result goes to stdout as one JSON document (``log --follow``: one JSON
object per line), errors go to stderr as ``{"error", "message", "details"}`` and nothing else is
printed: no markup, no progress bars, no notes. Text from the hub (reasons, names) is never read as
Rich markup (a reason such as ``[LB-…]`` is shown as it is).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from . import jsonio
from .errors import CliError, HubError, describe_detail

STATE_STYLES = {
    "booked": "green", "nothing_to_book": "green", "done": "green", "created": "green", "queued": "green",
    "unchanged": "dim", "superseded": "dim", "untagged": "dim", "not_tagged": "dim",
    "waiting": "yellow", "booking": "cyan", "running": "cyan",
    "failed": "bold red", "rejected": "red", "refused": "bold red",
    "connected": "green", "needs_reauth": "bold red",
    "ok": "green", "stalled": "bold red", "deferred": "yellow", "not_checked": "dim",
}


def cell(value: Any) -> Text:
    """A table cell: the value as plain text (never markup); empty for None."""
    return Text("" if value is None else str(value))


def styled(value: Any) -> Text:
    """A state (booked, failed, …) in its colour."""
    text = "" if value is None else str(value)
    return Text(text, style=STATE_STYLES.get(text, ""))


class _Bar:
    def __init__(self, progress: Progress | None, task: Any):
        self._progress, self._task = progress, task

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def update(self, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **fields)


class Output:
    def __init__(self, json_mode: bool = False):
        self.json_mode = json_mode
        self.console = Console(highlight=False, soft_wrap=False)
        self.err = Console(stderr=True, highlight=False)

    # --- results ----------------------------------------------------------------------------
    def result(self, payload: Any, render: Callable[[], None] | None = None) -> None:
        """The command's result: ``payload`` as JSON, or ``render()`` for people."""
        if self.json_mode or render is None:
            self.json(payload)
        else:
            render()

    def json(self, payload: Any, *, indent: int | None = 2) -> None:
        sys.stdout.write(jsonio.dumps(payload, indent=indent) + "\n")
        sys.stdout.flush()

    def print(self, *parts: Any, **kwargs: Any) -> None:
        """For people only (nothing in JSON mode); strings as they are, never as Rich markup."""
        if not self.json_mode:
            self.console.print(*[Text(p) if isinstance(p, str) else p for p in parts], **kwargs)

    def note(self, message: str, style: str = "dim") -> None:
        """A remark beside the result, on stderr (nothing in JSON mode)."""
        if not self.json_mode:
            self.err.print(Text(message, style=style))

    def table(self, columns: list[str], rows: list[list[Any]], *, title: str | None = None,
              stderr: bool = False) -> None:
        table = Table(*columns, title=title, title_justify="left", header_style="bold")
        for row in rows:
            table.add_row(*[value if isinstance(value, Text) else cell(value) for value in row])
        (self.err if stderr else self.console).print(table)

    # --- progress ---------------------------------------------------------------------------
    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[_Bar]:
        """A Rich progress bar on stderr; nothing in JSON mode."""
        if self.json_mode:
            yield _Bar(None, None)
            return
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=self.err) as progress:
            yield _Bar(progress, progress.add_task(description, total=total))

    # --- errors -----------------------------------------------------------------------------
    def error(self, exc: CliError) -> None:
        if self.json_mode:
            sys.stderr.write(jsonio.dumps(exc.as_json(), indent=2) + "\n")
            sys.stderr.flush()
            return
        head = Text("Error: ", style="bold red")
        head.append(exc.message)
        if isinstance(exc, HubError):
            head.append(f"  (HTTP {exc.status} {exc.code})", style="dim")
        self.err.print(head)
        for detail in exc.details:
            self.err.print(Text("  - " + describe_detail(detail)))
