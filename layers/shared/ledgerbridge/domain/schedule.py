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

from ..models.connection import Frequency, TransferSchedule


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
    """'Transfer now': everything waiting within the lookback, today included."""
    today = _local(now, schedule).date()
    start = today - timedelta(days=max(schedule.lookback_days, 1))
    return _clip(schedule, start, today)


def _clip(schedule: TransferSchedule, start: date, end: date) -> Window | None:
    if schedule.from_date and start < schedule.from_date:
        start = schedule.from_date
    if start > end:
        return None
    return Window(start, end)
