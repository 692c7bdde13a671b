"""Words for states: a connection's status as its owner should read it, and the notices after an action."""
from __future__ import annotations

from dataclasses import dataclass

from ..models.connection import Connection, ConnectionStatus


@dataclass(frozen=True)
class StatusWords:
    label: str
    tone: str  # ok | warn | bad | idle: the badge's colour, always with the label beside it
    detail: str | None = None


def connection_status(connection: Connection) -> StatusWords:
    if connection.status == ConnectionStatus.NEEDS_REAUTH:
        return StatusWords("needs re-connection", "bad", connection.status_reason)
    if connection.status == ConnectionStatus.CREATED:
        return StatusWords("not connected", "idle", "connect it to the accounting system")
    if connection.status_reason and "blocked" in connection.status_reason.lower():
        return StatusWords("blocked", "bad", connection.status_reason)
    if connection.customer_sync is not None and connection.sync_health.state in ("stalled", "deferred"):
        words = {"stalled": "notifications stalled", "deferred": "customer sync waiting"}[connection.sync_health.state]
        return StatusWords(words, "warn", connection.sync_health.reason)
    if not connection.has_scheduled_work:
        return StatusWords("connected, setup missing", "warn", "save the account setup so documents can be booked")
    return StatusWords("connected", "ok", None)


NOTICES = {
    "created": "Connection created. Connect it to the accounting system next.",
    "schedule_saved": "Schedule saved.",
    "setup_saved": "Account setup checked against the accounting system and saved.",
    "payroll_setup_saved": "Payroll setup checked against the company's chart and dimensions and saved.",
    "customer_sync_saved": "Customer sync setup checked against the accounting system's fields and saved.",
    "settings_saved": "Picks saved.",
    "choices_read": "Lists read again from the accounting system.",
    "sync_check_queued": "Check queued: the health below updates when it has run.",
    "transfer": "Transfer started: {n} document(s) queued.",
    "replayed": "Queued again.",
    "replayed_all": "{n} failed document(s) queued again.",
    "import_started": "Company import started; its run is in the export log.",
    "refresh_started": "Balance refresh started; its run is in the export log.",
    "reconciliation_saved": "Accounts to reconcile checked against the company's chart and saved.",
    "deleted": "Connection deleted, with its stored credential.",
}


def notices(code: str, n: str) -> str | None:
    """The notice for a code from the query string; only known codes, so a link cannot put words in our mouth
    (``n`` is a count)."""
    template = NOTICES.get(code)
    if template is None:
        return None
    return template.format(n=int(n) if n.isdigit() and len(n) < 10 else 0)
