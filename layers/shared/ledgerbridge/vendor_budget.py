"""A vendor's daily call budget per user, spent by every container of the hub together.

Uniconta includes 5,000 calls per user and day and slows every call past that by a second for 24 hours
(support.uniconta.com): a hub that overspends slows the customer's own work too. So each call is
counted before it is made (``repositories.usage``: one conditional ADD per call, across all workers),
and the hub keeps to ``budget_share`` of the budget (providers.toml), leaving the rest to the customer's
other tools. A call past the share is not made: ``BudgetExhausted`` says until when, and the booking
waits for the vendor's next day without using an attempt.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .errors import BudgetExhausted
from .oauth.providers import Provider
from .repositories import usage


class CallBudget:
    """``purpose``: "booking" may spend up to the hub's share; "sync" (master data) stops earlier, at
    ``sync_budget_share``, so that the day's bookkeeping is never the work left without calls."""

    def __init__(self, provider: Provider, username: str, purpose: str = "booking"):
        self.provider = provider
        self.purpose = purpose
        self.budget = int(provider.daily_call_budget or 0)
        share = provider.sync_budget_share if purpose == "sync" else provider.budget_share
        self.limit = int(self.budget * min(share, provider.budget_share))
        # The user's counter, named by a digest (no login id in a key or a log line).
        self.user_key = hashlib.sha256(f"{provider.vendor}/{username}".encode()).hexdigest()[:24]
        self.zone = ZoneInfo(provider.budget_timezone)

    def _today(self) -> tuple[str, float]:
        now = datetime.now(self.zone)
        midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return now.date().isoformat(), (midnight - now).total_seconds()

    def spend(self, calls: int = 1) -> None:
        if not self.budget:
            return
        day, until_midnight = self._today()
        if usage.spend(usage.counter_id(self.provider.vendor, self.user_key, day), calls, self.limit) is None:
            what = "customer sync's part" if self.purpose == "sync" else "the hub's share"
            raise BudgetExhausted(
                f"{what} of {self.provider.display_name}'s daily call budget for this user is used up "
                f"({self.limit:,} of {self.budget:,} calls today); it goes on after midnight "
                f"({self.provider.budget_timezone})", retry_after=until_midnight + 60)

    def today(self) -> dict[str, int | str]:
        day, _ = self._today()
        return {"date": day, "calls": usage.used(usage.counter_id(self.provider.vendor, self.user_key, day)),
                "hub_share": self.limit, "budget": self.budget}
