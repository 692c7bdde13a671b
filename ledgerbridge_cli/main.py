"""The ``ledgerbridge`` command: global options, the command tree, and errors turned into exit codes."""
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import __version__, config, export_log, operator, push, tenant
from .errors import CliError
from .output import Output
from .runtime import Runtime, runtime


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class HubGroup(TyperGroup):
    """The root command: a CliError anywhere below is printed (as JSON with --output json) and exits
    with its code; Ctrl-C exits 130 without a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            obj = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
            obj.output.error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            obj = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
            obj.output.note("interrupted (what the hub was asked to do goes on there)", style="yellow")
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=HubGroup,
    name="ledgerbridge",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold a key
    rich_markup_mode="markdown",  # help paragraphs reflow; [brackets] are text, not Rich markup
    help="ledgerbridge: push documents to the hub, follow their bookings, and operate the hub.\n\n"
         "Tenant commands use the hub's API with a tenant key; `operator` commands use the hub's AWS "
         "resources directly. Settings come from flags, then LEDGERBRIDGE_* variables, then a profile "
         "(see `ledgerbridge config --help`).",
)


def _setting(ctx: typer.Context, name: str, value: str | None, flag: str, env: str) -> config.Setting | None:
    if value is None:
        return None
    source = ctx.get_parameter_source(name)
    return config.Setting(value, env if source is not None and source.name == "ENVIRONMENT" else flag)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ledgerbridge {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option(envvar=config.URL_ENV, show_default=False,
                                            help="The hub's API base URL.")] = None,
    key: Annotated[str | None, typer.Option(envvar=config.KEY_ENV, show_default=False, show_envvar=True,
                                            help="A tenant API key (lbk_…). Prefer the variable or a profile: "
                                                 "a flag is visible to other users of the machine.")] = None,
    profile: Annotated[str | None, typer.Option(envvar=config.PROFILE_ENV, show_default=False,
                                                help="A profile of the profiles file.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", envvar=config.CONFIG_ENV, show_default=False,
                                                     dir_okay=False,
                                                     help="The profiles file (TOML). Default: "
                                                          "./.ledgerbridge/profiles.toml if there is one, else "
                                                          "~/.config/ledgerbridge/profiles.toml.")] = None,
    output: Annotated[OutputFormat, typer.Option("--output", "-o", envvar="LEDGERBRIDGE_OUTPUT",
                                                 case_sensitive=False,
                                                 help="text: tables and progress bars; json: machine-readable "
                                                      "JSON on stdout (errors as JSON on stderr), for scripts.")
                      ] = OutputFormat.text,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    rt = ctx.obj if isinstance(ctx.obj, Runtime) else Runtime()
    rt.output = Output(json_mode=output == OutputFormat.json)
    ctx.obj = rt
    given = dict(
        url=_setting(ctx, "url", url, "--url", config.URL_ENV),
        key=_setting(ctx, "key", key, "--key", config.KEY_ENV),
        profile=_setting(ctx, "profile", profile, "--profile", config.PROFILE_ENV),
        config_file=_setting(ctx, "config_file", str(config_file) if config_file else None, "--config",
                             config.CONFIG_ENV),
    )
    rt.resolve = lambda: config.resolve(**given)
    rt._config = None


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Show the settings in force and where each comes from (flag, variable, profile); keys only as "(set)".

    Profiles file (TOML): `default_profile = "NAME"` and one `[profiles.NAME]` table per profile, holding
    url and key (tenant commands) and, for operator commands, region, aws_profile, aws_endpoint_url, stack
    (the hub's CloudFormation stack) or table and queue names (tenants_table, connections_table,
    documents_table, transfer_queue_url, transfer_dlq_url, …)."""
    rt = runtime(ctx)
    described = rt.config.describe()

    def render() -> None:
        rt.output.print(f"profiles file: {described['profiles_file'] or '(none found)'}")
        rt.output.print(f"profile:       {described['profile'] or '(none)'}"
                        + (f"   (available: {', '.join(described['profiles'])})" if described["profiles"] else ""))
        rows = [[name, s["value"], s["from"]] for name, s in described["settings"].items()]
        if rows:
            rt.output.table(["setting", "value", "from"], rows)
        else:
            rt.output.print("No settings.")

    rt.output.result(described, render)


app.command("connections")(tenant.connections)
app.add_typer(push.app, name="push")
app.command("transfer")(export_log.transfer)
app.command("log")(export_log.log)
app.add_typer(tenant.setup_app, name="setup")
app.command("sign-in-link")(tenant.sign_in_link)
app.add_typer(operator.app, name="operator")


if __name__ == "__main__":
    app()
