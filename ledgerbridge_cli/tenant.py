"""Tenant commands that are one call each: connections, the account setup as a file, a console link."""
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from . import jsonio
from .client import connection_path
from .errors import ConfigError, HubError, describe_detail
from .output import Output, styled
from .runtime import runtime

Connection = Annotated[str, typer.Argument(help="The connection's id (see `ledgerbridge connections`).")]

setup_app = typer.Typer(no_args_is_help=True, help="A connection's account setup (which account and VAT code "
                        "each sales category, payment method and VAT rate is booked to) as a JSON file.")

# Filled in by the hub when it checks a setup against the accounting system: left out of the file.
DERIVED_SETUP_FIELDS = ("validated_at",)
DERIVED_ROW_FIELDS = ("vat_code_id",)


def connections(ctx: typer.Context) -> None:
    """The tenant's connections: id, name, accounting system, status, company, next scheduled run."""
    rt = runtime(ctx)
    with rt.client() as hub:
        found = hub.call("GET", "/connections") or []

    def render() -> None:
        if not found:
            rt.output.print("No connections.")
            return
        rt.output.table(
            ["connection", "name", "vendor", "status", "company", "next run", "customer sync"],
            [[c.get("connection_id"), c.get("name"), c.get("vendor"), styled(c.get("status")),
              c.get("vendor_company"), c.get("next_run_at"),
              styled((c.get("sync_health") or {}).get("state")) if c.get("customer_sync") else ""]
             for c in found])
        for c in found:
            if c.get("status_reason"):
                rt.output.note(f"{c['connection_id']}: {c['status_reason']}", style="yellow")

    rt.output.result(found, render)


@setup_app.command("export")
def setup_export(
    ctx: typer.Context,
    connection: Connection,
    file: Annotated[Path | None, typer.Argument(help="Write it here (else to stdout).", dir_okay=False,
                                                show_default=False)] = None,
) -> None:
    """Save the account setup as JSON (amounts and rates exactly as stored), to FILE or stdout.

    Left out: what the hub fills in itself when it checks a setup (validated_at, each row's vat_code_id)."""
    rt = runtime(ctx)
    with rt.client() as hub:
        setup = hub.call("GET", f"{connection_path(connection)}/account-setup")
    if not setup:
        raise HubError(404, "not_found", f"connection {connection} has no account setup yet: "
                       f"write one and `ledgerbridge setup import {connection} FILE`")
    setup = {k: v for k, v in setup.items() if k not in DERIVED_SETUP_FIELDS}
    setup["rows"] = [{k: v for k, v in row.items() if k not in DERIVED_ROW_FIELDS} for row in setup.get("rows", [])]
    if file is None:
        rt.output.json(setup)
        return
    try:
        file.write_text(jsonio.dumps(setup, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {file}: {exc.strerror or exc}") from None
    payload = {"connection_id": connection, "file": str(file), "rows": len(setup["rows"])}
    rt.output.result(payload, lambda: rt.output.print(f"Wrote the account setup of {connection} "
                                                      f"({len(setup['rows'])} rows) to {file}."))


@setup_app.command("import")
def setup_import(
    ctx: typer.Context,
    connection: Connection,
    file: Annotated[Path, typer.Argument(help="A setup as `setup export` writes it.", exists=True, dir_okay=False)],
) -> None:
    """Save FILE as the account setup: the hub checks every row against the accounting system first
    (PUT /connections/{id}/account-setup); a refusal lists each offending row and why (exit 1)."""
    rt = runtime(ctx)
    try:
        setup = jsonio.load_file(file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {file} as JSON: {exc}") from None
    with rt.client() as hub:
        try:
            saved = hub.call("PUT", f"{connection_path(connection)}/account-setup", setup)
        except HubError as exc:
            if exc.details and not rt.output.json_mode:
                _print_refusal(rt.output, exc)
                raise typer.Exit(1) from None
            raise
    rows = len(((saved or {}).get("account_setup") or {}).get("rows") or [])
    payload = {"connection_id": connection, "saved": True, "rows": rows, "connection": saved}
    rt.output.result(payload, lambda: rt.output.print(Text(f"Account setup of {connection} checked and saved "
                                                           f"({rows} rows).", style="green")))


def _print_refusal(output: Output, exc: HubError) -> None:
    head = Text("The setup was refused: ", style="bold red")
    head.append(exc.message)
    head.append(f"  (HTTP {exc.status} {exc.code})", style="dim")
    output.err.print(head)
    output.table(["row / field", "problem"],
                 [[d.get("row") or d.get("field") or d.get("account") or "", d.get("message") or describe_detail(d)]
                  for d in exc.details], stderr=True)


def sign_in_link(ctx: typer.Context) -> None:
    """A one-time link into the web console for this key's tenant (POST /console/sign-in-links).

    It signs in once, within 15 minutes; hand it only to whoever should see the tenant's books."""
    rt = runtime(ctx)
    with rt.client() as hub:
        link = hub.call("POST", "/console/sign-in-links")

    def render() -> None:
        rt.output.console.print(Text(str(link.get("sign_in_url"))), soft_wrap=True)
        rt.output.note(f"opens once, until {link.get('expires_at')}")

    rt.output.result(link, render)
