"""When transfers run and which business dates a run picks up.

A run at local time T books settlements of the period that closed before T's local date
(daily: yesterday; weekly: the previous Monday–Sunday; monthly: the previous month),
extended ``lookback_days`` further back to catch settlements that arrived late, and never
before ``from_date``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..models.schedule import Frequency, TransferSchedule


# Before any business date the door accepts: "from the beginning" for window queries.
EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class Window:
    start: date
    end: date

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def _local(moment: datetime, schedule: TransferSchedule) -> datetime:
    return moment.astimezone(ZoneInfo(schedule.timezone))


def next_run_after(schedule: TransferSchedule, after: datetime) -> datetime | None:
    """The first scheduled run strictly after ``after`` (UTC), or None for 'never'."""
    if schedule.frequency == Frequency.NEVER:
        return None
    zone = ZoneInfo(schedule.timezone)
    local_after = _local(after, schedule)
    run_time = time(schedule.run_at_hour)
    day = local_after.date()
    for _ in range(0, 400):
        if _is_run_day(schedule.frequency, day):
            candidate = datetime.combine(day, run_time, tzinfo=zone)
            if candidate > local_after:
                return candidate.astimezone(timezone.utc)
        day += timedelta(days=1)
    raise AssertionError("no run day within 400 days")  # unreachable for the known frequencies


def _is_run_day(frequency: Frequency, day: date) -> bool:
    if frequency == Frequency.DAILY:
        return True
    if frequency == Frequency.WEEKLY:
        return day.weekday() == 0  # Monday, after the week closed
    if frequency == Frequency.MONTHLY:
        return day.day == 1
    return False


def period_start(frequency: Frequency, run_day: date) -> date:
    """First business date of the period that closed before ``run_day``."""
    yesterday = run_day - timedelta(days=1)
    if frequency == Frequency.WEEKLY:
        return yesterday - timedelta(days=yesterday.weekday())
    if frequency == Frequency.MONTHLY:
        return yesterday.replace(day=1)
    return yesterday


def scheduled_window(schedule: TransferSchedule, run_at: datetime) -> Window | None:
    run_day = _local(run_at, schedule).date()
    end = run_day - timedelta(days=1)
    start = period_start(schedule.frequency, run_day) - timedelta(days=schedule.lookback_days)
    return _clip(schedule, start, end)


def manual_window(schedule: TransferSchedule, now: datetime) -> Window | None:
    """'Transfer now': everything still waiting from the from-date on, whatever the lookback.

    The lookback bounds what *scheduled* runs look at; a user pressing the button wants what is
    pending to go. The from-date stays a hard line (the days before it were booked another way):
    such documents go only when replayed one by one. Tomorrow is included, for a shop in a time
    zone ahead of the schedule's.
    """
    today = _local(now, schedule).date()
    return _clip(schedule, EARLIEST, today + timedelta(days=1))


def why_not_scheduled(schedule: TransferSchedule, business_date: date, now: datetime) -> str | None:
    """Why no scheduled run from ``now`` on will pick up a settlement of ``business_date``, or None.

    Runs only move forward, so a date before the next run's window start is never reached again.
    """
    if schedule.from_date and business_date < schedule.from_date:
        return (f"before the transfer from-date {schedule.from_date.isoformat()}: not transferred unless the "
                f"from-date moves or it is replayed")
    if schedule.frequency == Frequency.NEVER:
        return "scheduled transfers are off (frequency never): press transfer now, or replay it"
    window = scheduled_window(schedule, next_run_after(schedule, now))
    if window is None or business_date < window.start:
        return (f"older than the {schedule.lookback_days} days scheduled transfers look back: no scheduled run "
                f"will pick it up; press transfer now or replay it (or raise lookback_days)")
    return None


def _clip(schedule: TransferSchedule, start: date, end: date) -> Window | None:
    if schedule.from_date and start < schedule.from_date:
        start = schedule.from_date
    if start > end:
        return None
    return Window(start, end)
