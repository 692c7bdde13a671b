"""``ledgerbridge push …``: documents and customers from JSON files to a connection.

Documents (settlements, payroll journals, stock registrations) go one per request: 201 created,
200 unchanged (an identical resend), any other 4xx refused with the hub's reason. Customers go in
batches of at most 500 (the API's limit), each answered per customer. A refusal of the key or the
connection (401, 403, 404), throttling that did not pass, or a failure of the hub stops the push:
what was not sent is counted as ``not_sent`` (pushing again is safe: resends are "unchanged").
Exit code 1 when anything was refused or not sent.
"""
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from . import files
from .client import Answer, HubClient, connection_path
from .errors import CliError, HubUnreachable, describe_detail
from .output import Output, styled
from .runtime import runtime

app = typer.Typer(no_args_is_help=True, help="Push documents or customers from JSON files to a connection.\n\n"
                  "Each PATH is a .json file (one document, or a list of them) or a folder of *.json files.")

CUSTOMER_BATCH = 500
# Answers that say nothing about one document but about the key, the connection or the hub: stop.
STOPPING = (401, 403, 404, 429)
# Customers: 409 means customer sync is not set up (or no login), true of every batch alike.
STOPPING_CUSTOMERS = STOPPING + (409,)

Connection = Annotated[str, typer.Argument(help="The connection's id (see `ledgerbridge connections`).")]
Paths = Annotated[list[Path], typer.Argument(help="JSON files, or folders of *.json files.", exists=True,
                                             show_default=False)]
Supersede = Annotated[bool, typer.Option("--supersede", help="Replace a changed document that was not sent to "
                                         "the accounting system yet (else a changed resend is refused, 409).")]


@app.command("settlements")
def push_settlements(ctx: typer.Context, connection: Connection, paths: Paths, supersede: Supersede = False) -> None:
    """Push daily settlements (Z-reports): POST /connections/{id}/settlements, one per document."""
    _push_documents(ctx, connection, paths, "settlements", "settlements", supersede)


@app.command("payroll")
def push_payroll(ctx: typer.Context, connection: Connection, paths: Paths, supersede: Supersede = False) -> None:
    """Push payroll journals: POST /connections/{id}/payroll-journals, one per document."""
    _push_documents(ctx, connection, paths, "payroll journals", "payroll-journals", supersede)


@app.command("stock")
def push_stock(ctx: typer.Context, connection: Connection, paths: Paths, supersede: Supersede = False) -> None:
    """Push stock registrations: POST /connections/{id}/stock-registrations, one per document."""
    _push_documents(ctx, connection, paths, "stock registrations", "stock-registrations", supersede)


@app.command("customers")
def push_customers(ctx: typer.Context, connection: Connection, paths: Paths) -> None:
    """Push customers for customer sync: POST /connections/{id}/customers in batches of at most 500.

    A file holds one customer, a list of them, or {"customers": [...]}. Each customer is answered:
    queued, unchanged, untagged, not_tagged or refused (with the reason)."""
    rt = runtime(ctx)
    items = files.customers(paths)
    results: list[dict[str, Any]] = []
    sendable: list[files.Item] = []
    for item in items:
        if item.problem:
            results.append(_result(item, "refused", reason=item.problem))
        else:
            sendable.append(item)
    stopped: CliError | None = None
    with rt.client() as hub, rt.output.progress("Pushing customers", len(items)) as bar:
        bar.advance(len(results))
        for start in range(0, len(sendable), CUSTOMER_BATCH):
            batch = sendable[start:start + CUSTOMER_BATCH]
            if stopped is None:
                try:
                    answer = hub.send("POST", f"{connection_path(connection)}/customers",
                                      {"customers": [item.body for item in batch]})
                    if answer.status in STOPPING_CUSTOMERS or answer.status >= 500:
                        stopped = answer.error()
                except HubUnreachable as exc:
                    stopped = exc
            if stopped is not None:
                results += [_result(item, "not_sent", reason="not sent: the push stopped") for item in batch]
            else:
                results += _customer_results(batch, answer)
            bar.advance(len(batch))
    _report(rt.output, "customers", connection, results, stopped)


def _push_documents(ctx: typer.Context, connection: str, paths: list[Path], kind: str, endpoint: str,
                    supersede: bool) -> None:
    rt = runtime(ctx)
    items = files.documents(paths)
    results: list[dict[str, Any]] = []
    stopped: CliError | None = None
    with rt.client() as hub, rt.output.progress(f"Pushing {kind}", len(items)) as bar:
        for item in items:
            if stopped is None:
                stopped = _push_one(hub, f"{connection_path(connection)}/{endpoint}", item, supersede, results)
            if stopped is not None:  # this one (it met the stop) and every one after it
                results.append(_result(item, "not_sent", reason="not sent: the push stopped"))
            bar.advance()
    _report(rt.output, kind, connection, results, stopped)


def _push_one(hub: HubClient, path: str, item: files.Item, supersede: bool,
              results: list[dict[str, Any]]) -> CliError | None:
    """Send one document and record its outcome; the error that stops the push, if any."""
    if item.problem:
        results.append(_result(item, "refused", reason=item.problem))
        return None
    try:
        answer = hub.send("POST", path, item.body, params={"supersede": "true"} if supersede else None)
    except HubUnreachable as exc:
        return exc
    if answer.status == 201:
        results.append(_result(item, "created", status=201))
    elif answer.status == 200:
        results.append(_result(item, "unchanged", status=200))
    elif answer.status in STOPPING or answer.status >= 500:
        return answer.error()
    else:
        error = answer.error()
        results.append(_result(item, "refused", status=answer.status, reason=error.message, details=error.details,
                               error=error.code))
    return None


def _customer_results(batch: list[files.Item], answer: Answer) -> list[dict[str, Any]]:
    if answer.ok and isinstance(answer.body, dict):
        answered = answer.body.get("results") or []
        if len(answered) == len(batch):
            pairs = zip(batch, answered, strict=True)
        else:  # matched by id when the hub did not answer one result per customer in order
            by_id = {str(r.get("id")): r for r in answered}
            pairs = ((item, by_id.get(item.document_id or "", {})) for item in batch)
        return [_result(item, str(r.get("outcome", "unknown")), status=answer.status, reason=r.get("reason"))
                for item, r in pairs]
    # The whole batch was refused (400/413/415/422): each customer's own problems where the details
    # name it (customers.<n>.…), the others were only not taken.
    error = answer.error()
    own: dict[int, list[dict]] = {}
    for detail in error.details:
        found = re.match(r"customers\.(\d+)(?:\.|$)", str(detail.get("field") or ""))
        if found:
            own.setdefault(int(found.group(1)), []).append(detail)
    results = []
    for index, item in enumerate(batch):
        if index in own:
            reason = "; ".join(describe_detail(d) for d in own[index])
            results.append(_result(item, "refused", status=answer.status, reason=reason, details=own[index],
                                   error=error.code))
        else:
            results.append(_result(item, "refused", status=answer.status, error=error.code,
                                   reason=f"not taken: its batch was refused ({error.message})"))
    return results


def _result(item: files.Item, outcome: str, *, status: int | None = None, reason: str | None = None,
            details: list[dict] | None = None, error: str | None = None) -> dict[str, Any]:
    return {"source": item.source, "id": item.document_id, "outcome": outcome, "status": status, "error": error,
            "reason": reason, "details": details or []}


def _report(output: Output, kind: str, connection: str, results: list[dict[str, Any]],
            stopped: CliError | None) -> None:
    counts = Counter(r["outcome"] for r in results)
    trouble = [r for r in results if r["outcome"] == "refused"]
    payload = {"kind": kind, "connection_id": connection, "counts": dict(counts), "results": results,
               "stopped": stopped.as_json() if stopped else None}

    def render() -> None:
        summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "nothing to push"
        output.print(f"{kind} → {connection}: {summary}")
        if trouble:
            rows = []
            for r in trouble:
                lines = [r["reason"] or ""] + [f"  - {describe_detail(d)}" for d in r["details"]
                                               if describe_detail(d) not in (r["reason"] or "")]
                rows.append([r["source"], r["id"], styled("refused"), "\n".join(lines)])
            output.table(["file", "id", "outcome", "reason"], rows, title="Refused")
        if stopped is not None:
            output.error(stopped)
            output.note(f"stopped: {counts.get('not_sent', 0)} not sent; pushing the same files again is safe "
                        "(what was taken is answered unchanged)", style="yellow")

    output.result(payload, render)
    if trouble or stopped is not None:
        raise typer.Exit(1)
