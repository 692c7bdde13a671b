"""``ledgerbridge transfer`` and ``ledgerbridge log``: transfer now, and the export log.

``transfer --follow`` watches the documents that were waiting or being booked in the transfer's window
right after "transfer now" until none of them is any more, then counts how they ended. ``log --follow``
polls the log and prints each entry that is new or changed since the last poll, until Ctrl-C.
"""
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from .client import HubClient, connection_path
from .errors import CliError
from .output import Output, styled
from .runtime import Runtime, runtime

IN_FLIGHT = ("waiting", "booking")


class DocState(StrEnum):
    waiting = "waiting"
    booking = "booking"
    booked = "booked"
    failed = "failed"
    superseded = "superseded"
    rejected = "rejected"
    nothing_to_book = "nothing_to_book"
    running = "running"
    done = "done"


Connection = Annotated[str, typer.Argument(help="The connection's id (see `ledgerbridge connections`).")]


def transfer(
    ctx: typer.Context,
    connection: Connection,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Wait until the queued documents are booked "
                                         "(or failed), with a progress bar; exit 1 if any failed.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between two looks at the export log.", min=0.0)] = 2.0,
    timeout: Annotated[float, typer.Option(help="With --follow: give up after this many seconds (0: never).",
                                           min=0.0)] = 0.0,
) -> None:
    """Transfer now: queue every waiting document from the from-date on (POST /connections/{id}/transfers)."""
    rt = runtime(ctx)
    with rt.client() as hub:
        started = hub.call("POST", f"{connection_path(connection)}/transfers")
        if not follow:
            rt.output.result(started, lambda: _print_started(rt.output, started))
            return
        _print_started(rt.output, started)
        outcome = _follow_transfer(rt, hub, connection, started, interval, timeout)
    payload = {**started, **outcome}
    rt.output.result(payload, lambda: _print_outcome(rt.output, outcome))
    if outcome["failed"]:
        raise typer.Exit(1)


def log(
    ctx: typer.Context,
    connection: Connection,
    state: Annotated[DocState | None, typer.Option(help="Only documents in this state.", show_default=False)] = None,
    date_from: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], show_default=False,
                                                       help="First business date, YYYY-MM-DD.")] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], show_default=False,
                                                     help="Last business date, YYYY-MM-DD.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries, newest business date first (0: all).",
                                       min=0)] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep polling; print entries that are new or "
                                         "changed (JSON: one object per line) until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option(help="With --follow: seconds between polls.", min=0.0)] = 5.0,
) -> None:
    """The export log: each document's date, state, reason and voucher (GET /connections/{id}/documents)."""
    rt = runtime(ctx)
    params: dict[str, Any] = {"state": state.value if state else None,
                              "from": date_from.date().isoformat() if date_from else None,
                              "to": date_to.date().isoformat() if date_to else None}
    path = f"{connection_path(connection)}/documents"
    with rt.client() as hub:
        if follow:
            _follow_log(rt, hub, path, params, limit or None, interval)
            return
        documents = hub.pages(path, params, limit=limit or None)
    rt.output.result({"documents": documents}, lambda: _print_log(rt.output, documents))


# --- transfer --follow --------------------------------------------------------------------------

def _in_flight(hub: HubClient, connection: str, window: dict) -> dict[str, dict]:
    path = f"{connection_path(connection)}/documents"
    return {d["document_id"]: d for state in IN_FLIGHT
            for d in hub.pages(path, {"state": state, "from": window["from"], "to": window["to"]})}


def _follow_transfer(rt: Runtime, hub: HubClient, connection: str, started: dict, interval: float,
                     timeout: float) -> dict[str, Any]:
    window = started.get("window")
    tracked = _in_flight(hub, connection, window) if window else {}
    waited = 0.0
    with rt.output.progress("Booking", total=len(tracked)) as bar:
        remaining = set(tracked)
        while remaining:
            if timeout and waited >= timeout:
                raise CliError(f"{len(remaining)} of {len(tracked)} documents still waiting or being booked after "
                               f"{timeout:g} s; the transfer goes on: see `ledgerbridge log {connection}`")
            rt.sleep(interval)
            waited += interval
            remaining &= set(_in_flight(hub, connection, window))
            bar.update(completed=len(tracked) - len(remaining))
    states: dict[str, int] = {}
    failed: list[dict] = []
    if tracked:
        dates = sorted(d["business_date"] for d in tracked.values())
        final = {d["document_id"]: d for d in hub.pages(f"{connection_path(connection)}/documents",
                                                        {"from": dates[0], "to": dates[-1]})}
        for document_id in tracked:
            document = final.get(document_id, tracked[document_id])
            states[document["state"]] = states.get(document["state"], 0) + 1
            if document["state"] == "failed":
                failed.append({"document_id": document_id, "business_date": document["business_date"],
                               "reason": document.get("reason")})
    return {"followed": len(tracked), "states": states, "booked": states.get("booked", 0),
            "failed": len(failed), "failed_documents": failed}


def _print_started(output: Output, started: dict) -> None:
    window = started.get("window")
    span = f" ({window['from']} … {window['to']})" if window else ""
    output.print(f"Queued {started.get('enqueued', 0)} document(s){span}.")
    if started.get("message"):
        output.note(str(started["message"]), style="yellow")


def _print_outcome(output: Output, outcome: dict) -> None:
    others = {s: n for s, n in outcome["states"].items() if s not in ("booked", "failed")}
    line = Text(f"booked {outcome['booked']}, ", style="green")
    line.append(f"failed {outcome['failed']}", style="bold red" if outcome["failed"] else "")
    if others:
        line.append(", " + ", ".join(f"{s} {n}" for s, n in sorted(others.items())))
    output.print(line)
    if outcome["failed_documents"]:
        output.table(["document", "date", "reason"],
                     [[d["document_id"], d["business_date"], d["reason"]] for d in outcome["failed_documents"]],
                     title="Failed")


# --- log ------------------------------------------------------------------------------------------

def voucher(document: dict) -> str:
    """The accounting system's number (or id) of what was booked; a payroll journal's per period."""
    parts = document.get("parts") or []
    if parts:
        return ", ".join(f"{p.get('part')}: {p.get('vendor_document_number') or p.get('vendor_document_id') or p.get('state')}"
                         for p in parts)
    return str(document.get("vendor_document_number") or document.get("vendor_document_id") or "")


def _print_log(output: Output, documents: list[dict]) -> None:
    if not documents:
        output.print("No documents.")
        return
    output.table(["document", "date", "state", "reason", "voucher"],
                 [[d.get("document_id"), d.get("business_date"), styled(d.get("state")), d.get("reason"), voucher(d)]
                  for d in documents])


def _signature(document: dict) -> tuple:
    return tuple(document.get(k) for k in ("version", "state", "updated_at", "reason", "vendor_document_number",
                                           "vendor_document_id"))


def _follow_log(rt: Runtime, hub: HubClient, path: str, params: dict, limit: int | None, interval: float) -> None:
    seen: dict[str, tuple] = {}
    try:
        while True:
            documents = hub.pages(path, params, limit=limit)
            for document in reversed(documents):  # oldest first, as a tail would
                key = str(document.get("document_id"))
                if seen.get(key) == _signature(document):
                    continue
                seen[key] = _signature(document)
                if rt.output.json_mode:
                    rt.output.json(document, indent=None)
                else:
                    line = Text(f"{document.get('business_date', ''):<10}  {key}  ")
                    line.append_text(styled(document.get("state")))
                    number = voucher(document)
                    if number:
                        line.append(f"  voucher {number}")
                    if document.get("reason"):
                        line.append(f"  {document['reason']}", style="dim")
                    rt.output.console.print(line)
            rt.sleep(interval)
    except KeyboardInterrupt:
        rt.output.note("stopped following")
