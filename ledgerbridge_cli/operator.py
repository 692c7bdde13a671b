"""``ledgerbridge operator …``: the hub's operator, straight against its AWS resources (never the API).

These run the shared layer's own functions (``ledgerbridge.repositories.tenants``, ``console_sessions``,
``services.transfers``) and boto3 with AWS credentials, pointed at the hub by the profile (``stack`` or
explicit table and queue names: see ``aws_env``). No tenant key is needed, and none is ever printed but
the one ``keys issue`` has just made.
"""
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.text import Text

from .aws_env import Target, operator_target
from .errors import CliError, ConfigError, OperatorError
from .output import styled
from .runtime import runtime

app = typer.Typer(no_args_is_help=True, help="Operator commands against the hub's AWS resources (tables, queues), "
                  "with AWS credentials and an operator profile (region, stack or table/queue names).")
keys_app = typer.Typer(no_args_is_help=True, help="Tenant API keys: issue (shown once), list, revoke.")
dlq_app = typer.Typer(invoke_without_command=True, help="The transfer dead-letter queue: its depth (no "
                      "subcommand), or move its jobs back to the transfer queue (redrive).")
app.add_typer(keys_app, name="keys")
app.add_typer(dlq_app, name="dlq")

Tenant = Annotated[str, typer.Argument(help="The tenant's id, e.g. local-shop.")]


@contextmanager
def hub_aws(ctx: typer.Context) -> Iterator[Target]:
    """The block runs against the profile's hub; AWS and layer errors become messages."""
    try:
        with operator_target(runtime(ctx).config) as target:
            yield target
    except CliError:
        raise
    except Exception as exc:
        raise _as_operator_error(exc) from None


def _as_operator_error(exc: Exception) -> Exception:
    from ledgerbridge.errors import LedgerbridgeError

    if isinstance(exc, LedgerbridgeError):
        return OperatorError(exc.message, details=exc.details)
    try:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    except ImportError:  # pragma: no cover - boto3 is checked first
        return exc
    if isinstance(exc, NoCredentialsError):
        return OperatorError("no AWS credentials: set aws_profile in the operator profile, or AWS_PROFILE / "
                             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return OperatorError(f"AWS refused {exc.operation_name}: {error.get('Code', '?')}: {error.get('Message', '')}")
    if isinstance(exc, BotoCoreError):
        return OperatorError(f"AWS: {exc}")
    return exc


# --- keys -----------------------------------------------------------------------------------------

@keys_app.command("issue")
def keys_issue(
    ctx: typer.Context,
    tenant: Tenant,
    label: Annotated[str, typer.Option(help="What the key is for, e.g. the POS back office.")] = "default",
) -> None:
    """Make a new API key for TENANT and print it, once (only its hash is stored: it cannot be shown again).

    Text output: the key alone on stdout (the note goes to stderr), so `KEY=$(ledgerbridge operator keys issue t)`
    works."""
    if not tenant.strip() or any(c.isspace() or c == "/" for c in tenant):
        raise ConfigError(f"{tenant!r} is not a tenant id (no spaces or slashes)")
    with hub_aws(ctx) as target:
        target.require("tenants_table")
        from ledgerbridge.repositories import tenants

        key = tenants.issue_key(tenant, label)
        key_id = hashlib.sha256(key.encode()).hexdigest()[:tenants.KEY_ID_LENGTH]
    rt = runtime(ctx)
    payload = {"tenant_id": tenant, "label": label, "key_id": key_id, "key": key}

    def render() -> None:
        rt.output.console.print(Text(key), soft_wrap=True)
        rt.output.note(f"key {key_id} for tenant {tenant} ({label}); shown this once: store it now", style="yellow")

    rt.output.result(payload, render)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.", show_default=False)] = None,
) -> None:
    """Every tenant API key by its id (the start of its hash), tenant, label and creation time."""
    with hub_aws(ctx) as target:
        target.require("tenants_table")
        from ledgerbridge.repositories import tenants

        found = [k for k in tenants.list_keys() if tenant is None or k["tenant_id"] == tenant]
    rt = runtime(ctx)
    rt.output.result(found, lambda: rt.output.table(
        ["key id", "tenant", "label", "created"],
        [[k["key_id"], k["tenant_id"], k["label"], k["created_at"]] for k in found])
        if found else rt.output.print("No keys."))


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_or_id: Annotated[str, typer.Argument(metavar="KEY_OR_ID", help="The key itself, or its key id (at least "
                                             "8 characters of it, as `keys list` shows).")],
) -> None:
    """Revoke a key: the hub refuses it from then on."""
    with hub_aws(ctx) as target:
        target.require("tenants_table")
        from ledgerbridge.repositories import tenants

        try:
            revoked = tenants.revoke_key(key_or_id)
        except ValueError as exc:
            raise OperatorError(str(exc)) from None
    if revoked is None:
        what = "that key" if key_or_id.startswith("lbk_") else f"key id {key_or_id}"
        raise OperatorError(f"no key matches {what} (already revoked?)")
    rt = runtime(ctx)
    rt.output.result({"revoked": revoked}, lambda: rt.output.print(
        f"Revoked key {revoked['key_id']} of tenant {revoked['tenant_id']} ({revoked.get('label', '')})."))


# --- sign-in link ---------------------------------------------------------------------------------

@app.command("sign-in-link")
def operator_sign_in_link(
    ctx: typer.Context,
    tenant: Tenant,
    force: Annotated[bool, typer.Option("--force", help="Make the link even for a tenant with no key and no "
                                        "connection (a new tenant's first visit).")] = False,
) -> None:
    """A one-time link into the web console for TENANT (signs in once, within 15 minutes)."""
    with hub_aws(ctx) as target:
        target.require("tenants_table")
        if not target.url:
            raise ConfigError("no hub URL for the link: pass --url, or add url (or stack) to the operator profile")
        from ledgerbridge.repositories import console_sessions, tenants

        if not force:
            target.require("connections_table")
            from ledgerbridge.repositories import connections

            if not any(k["tenant_id"] == tenant for k in tenants.list_keys()) \
                    and not connections.list_for_tenant(tenant):
                raise OperatorError(f"tenant {tenant} has no key and no connection: is the name right? "
                                    "(--force makes the link anyway)")
        issued = console_sessions.create_sign_in_link(tenant)
    from datetime import datetime, timezone

    expires = datetime.fromtimestamp(issued.expires_at, tz=timezone.utc).isoformat()
    link = {"tenant_id": tenant, "sign_in_url": f"{target.url}/console/sign-in?token={issued.token}",
            "expires_at": expires}
    rt = runtime(ctx)

    def render() -> None:
        rt.output.console.print(Text(link["sign_in_url"]), soft_wrap=True)
        rt.output.note(f"for tenant {tenant}; opens once, until {expires}")

    rt.output.result(link, render)


# --- tenants --------------------------------------------------------------------------------------

@app.command("tenants")
def operator_tenants(ctx: typer.Context) -> None:
    """Every tenant (from its keys and connections) with its connections: vendor, status, next scheduled run,
    and the customer sync's health where it is set up."""
    with hub_aws(ctx) as target:
        target.require("tenants_table", "connections_table")
        from ledgerbridge.repositories import tenants

        keys = tenants.list_keys()
        connections = _all_connections()
    by_tenant: dict[str, dict[str, Any]] = {}
    for key in keys:
        by_tenant.setdefault(key["tenant_id"], {"tenant_id": key["tenant_id"], "keys": 0, "connections": []})
        by_tenant[key["tenant_id"]]["keys"] += 1
    for c in connections:
        entry = by_tenant.setdefault(c.tenant_id, {"tenant_id": c.tenant_id, "keys": 0, "connections": []})
        entry["connections"].append({
            "connection_id": c.connection_id, "name": c.name, "vendor": c.vendor, "status": c.status.value,
            "status_reason": c.status_reason, "vendor_company": c.vendor_company,
            "next_run_at": c.next_run_at.isoformat() if c.next_run_at else None,
            "customer_sync": ({"state": c.sync_health.state, "reason": c.sync_health.reason}
                              if c.customer_sync is not None else None),
        })
    found = [by_tenant[t] for t in sorted(by_tenant)]
    for entry in found:
        entry["connections"].sort(key=lambda c: (c["name"], c["connection_id"]))
    rt = runtime(ctx)

    def render() -> None:
        if not found:
            rt.output.print("No tenants.")
            return
        rows = []
        for entry in found:
            tenant = f"{entry['tenant_id']} ({entry['keys']} key{'s' if entry['keys'] != 1 else ''})"
            for i, c in enumerate(entry["connections"] or [None]):
                if c is None:
                    rows.append([tenant, "", "", "", "", "", ""])
                    continue
                sync = c["customer_sync"]
                sync_text = styled(sync["state"]) if sync else Text("")
                if sync and sync.get("reason"):
                    sync_text.append(f": {sync['reason']}")
                rows.append([tenant if i == 0 else "", c["connection_id"], c["name"], c["vendor"],
                             styled(c["status"]), c["next_run_at"], sync_text])
        rt.output.table(["tenant", "connection", "name", "vendor", "status", "next run", "customer sync"], rows)

    rt.output.result(found, render)


def _all_connections() -> list:
    """Every connection of every tenant (a scan: an operator's view, a few rows per tenant)."""
    from ledgerbridge.repositories import connections

    return list(connections.scan_all())


# --- dead-letter queue ----------------------------------------------------------------------------

def _sqs() -> Any:
    from ledgerbridge import aws

    return aws.client("sqs")


def _depth(sqs: Any, queue_url: str) -> dict[str, Any]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    visible = int(attributes.get("ApproximateNumberOfMessages", 0))
    in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
    return {"queue_url": queue_url, "visible": visible, "in_flight": in_flight, "depth": visible + in_flight}


@dlq_app.callback()
def dlq(ctx: typer.Context) -> None:
    """How many jobs the transfer dead-letter queue holds (visible + in flight)."""
    if ctx.invoked_subcommand is not None:
        return
    with hub_aws(ctx) as target:
        queue_url = target.require("transfer_dlq_url")["transfer_dlq_url"]
        depth = _depth(_sqs(), queue_url)
    rt = runtime(ctx)

    def render() -> None:
        rt.output.print(f"Dead-letter queue: {depth['depth']} job(s) ({depth['visible']} visible, "
                        f"{depth['in_flight']} in flight)")
        if depth["depth"]:
            rt.output.note("`ledgerbridge operator dlq redrive` moves them back to the transfer queue")

    rt.output.result(depth, render)


@dlq_app.command("redrive")
def dlq_redrive(
    ctx: typer.Context,
    max_jobs: Annotated[int | None, typer.Option("--max", min=1, show_default=False,
                                                 help="Move at most this many jobs (default: all).")] = None,
    wait: Annotated[int, typer.Option(min=0, max=20, help="Long-poll the dead-letter queue this many seconds "
                                      "for each batch (SQS's short polls may miss messages).")] = 1,
) -> None:
    """Move jobs from the dead-letter queue back to the transfer queue (receive, send, delete), in batches
    of 10; a job is deleted only once it was sent. Exit 1 if a send failed."""
    with hub_aws(ctx) as target:
        urls = target.require("transfer_dlq_url", "transfer_queue_url")
        sqs = _sqs()
        before = _depth(sqs, urls["transfer_dlq_url"])
        rt = runtime(ctx)
        total = before["visible"] if max_jobs is None else min(before["visible"], max_jobs)
        moved, failures = 0, []
        with rt.output.progress("Redriving", total=total) as bar:
            while max_jobs is None or moved < max_jobs:
                want = 10 if max_jobs is None else min(10, max_jobs - moved)
                messages = sqs.receive_message(QueueUrl=urls["transfer_dlq_url"], MaxNumberOfMessages=want,
                                               WaitTimeSeconds=wait, VisibilityTimeout=60,
                                               MessageAttributeNames=["All"]).get("Messages", [])
                if not messages:
                    break
                entries = [{"Id": str(i), "MessageBody": m["Body"], **_attributes(m)} for i, m in enumerate(messages)]
                sent = sqs.send_message_batch(QueueUrl=urls["transfer_queue_url"], Entries=entries)
                ok = {s["Id"] for s in sent.get("Successful", [])}
                failures += [{"message_id": messages[int(f["Id"])]["MessageId"], "code": f.get("Code"),
                              "message": f.get("Message")} for f in sent.get("Failed", [])]
                handles = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                           for i, m in enumerate(messages) if str(i) in ok]
                if handles:
                    # A delete that fails leaves a copy that comes back in 60 s: a job run twice is
                    # harmless (bookings are exactly once), a job lost is not.
                    sqs.delete_message_batch(QueueUrl=urls["transfer_dlq_url"], Entries=handles)
                moved += len(ok)
                bar.advance(len(messages))
                if failures:
                    break  # the transfer queue refuses: stop rather than cycle through every job
        after = _depth(sqs, urls["transfer_dlq_url"])
    payload = {"moved": moved, "failed": failures, "left": after["depth"], "to": urls["transfer_queue_url"]}

    def render() -> None:
        rt.output.print(f"Moved {moved} job(s) back to the transfer queue; {after['depth']} left in the "
                        "dead-letter queue.")
        for failure in failures:
            rt.output.note(f"not sent: {failure['message_id']}: {failure['code']} {failure['message']}",
                           style="red")

    rt.output.result(payload, render)
    if failures:
        raise typer.Exit(1)


def _attributes(message: dict) -> dict:
    attributes = {name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
                  for name, value in (message.get("MessageAttributes") or {}).items()}
    return {"MessageAttributes": attributes} if attributes else {}


# --- replay ---------------------------------------------------------------------------------------

@app.command("replay-failed")
def operator_replay_failed(
    ctx: typer.Context,
    tenant: Tenant,
    connection: Annotated[str, typer.Argument(help="The connection's id.")],
) -> None:
    """Reopen every failed document of a tenant's connection and queue it again."""
    with hub_aws(ctx) as target:
        target.require("connections_table", "documents_table", "transfer_queue_url")
        from ledgerbridge.services import transfers

        result = transfers.replay_failed(tenant, connection)
    rt = runtime(ctx)
    rt.output.result({"tenant_id": tenant, "connection_id": connection, **result}, lambda: rt.output.print(
        f"Queued {result.get('replayed', 0)} failed document(s) of {connection} again."))
