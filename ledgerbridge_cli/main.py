import typer

app = typer.Typer(help="ledgerbridge: operate the hub and push data to it.")
