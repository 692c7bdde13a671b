"""When transfers run (Europe/Oslo, across DST) and which business dates a run picks up."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ledgerbridge.domain.schedule import (
    EARLIEST,
    Window,
    manual_window,
    next_run_after,
    scheduled_window,
    why_not_scheduled,
)
from ledgerbridge.models.connection import Frequency, TransferSchedule

OSLO = ZoneInfo("Europe/Oslo")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def sched(frequency="daily", **kw) -> TransferSchedule:
    return TransferSchedule(frequency=frequency, **kw)


# --- next_run_after ----------------------------------------------------------------------------

@pytest.mark.parametrize("after, expected", [
    (utc(2026, 3, 27, 12), utc(2026, 3, 28, 3)),   # 04:00 CET = 03:00 UTC
    (utc(2026, 3, 28, 12), utc(2026, 3, 29, 2)),   # DST starts on the 29th: 04:00 CEST = 02:00 UTC
    (utc(2026, 3, 29, 12), utc(2026, 3, 30, 2)),
    (utc(2026, 10, 24, 1), utc(2026, 10, 24, 2)),  # still CEST
    (utc(2026, 10, 24, 12), utc(2026, 10, 25, 3)),  # DST ends on the 25th: 04:00 CET = 03:00 UTC
    (utc(2026, 10, 25, 12), utc(2026, 10, 26, 3)),
])
def test_daily_run_is_at_four_local_time_across_dst(after, expected):
    result = next_run_after(sched(), after)
    assert result == expected
    assert result.tzinfo is not None and result.utcoffset() == timedelta(0)
    assert result.astimezone(OSLO).hour == 4


def test_next_run_is_strictly_after():
    run = utc(2026, 3, 28, 3)
    assert next_run_after(sched(), run) == utc(2026, 3, 29, 2)
    assert next_run_after(sched(), run - timedelta(microseconds=1)) == run


def test_run_hour_in_the_spring_gap_still_runs_that_day():
    # 02:00 does not exist in Oslo on 2026-03-29; the run happens once, at the instant the clock jumps
    result = next_run_after(sched(run_at_hour=2), utc(2026, 3, 28, 12))
    assert result == utc(2026, 3, 29, 1)
    assert result.astimezone(OSLO).date() == date(2026, 3, 29)
    assert next_run_after(sched(run_at_hour=2), result) == utc(2026, 3, 30, 0)


def test_run_hour_in_the_autumn_overlap_runs_once():
    # 02:00 happens twice in Oslo on 2026-10-25 (00:00 and 01:00 UTC); run at the first only
    first = next_run_after(sched(run_at_hour=2), utc(2026, 10, 24, 12))
    assert first == utc(2026, 10, 25, 0)
    second = next_run_after(sched(run_at_hour=2), first)
    assert second == utc(2026, 10, 26, 1)
    assert next_run_after(sched(run_at_hour=2), utc(2026, 10, 25, 0, 30)) == second


def test_midnight_run_uses_the_local_date():
    # 23:30 UTC on the 1st is already the 2nd in Oslo
    assert next_run_after(sched(run_at_hour=0), utc(2026, 6, 1, 23, 30)) == utc(2026, 6, 2, 22)


@pytest.mark.parametrize("after, expected", [
    (utc(2026, 3, 4, 12), utc(2026, 3, 9, 3)),    # Wednesday -> next Monday 04:00 CET
    (utc(2026, 3, 9, 2), utc(2026, 3, 9, 3)),     # Monday before four
    (utc(2026, 3, 9, 3), utc(2026, 3, 16, 3)),    # Monday at the run -> a week later
    (utc(2026, 3, 24, 12), utc(2026, 3, 30, 2)),  # across the DST change
])
def test_weekly_runs_on_monday(after, expected):
    assert next_run_after(sched("weekly"), after) == expected


@pytest.mark.parametrize("after, expected", [
    (utc(2026, 1, 31, 12), utc(2026, 2, 1, 3)),
    (utc(2026, 3, 1, 3), utc(2026, 4, 1, 2)),     # April 1st is in summer time
    (utc(2026, 12, 5), utc(2027, 1, 1, 3)),
    (utc(2026, 10, 2), utc(2026, 11, 1, 3)),
])
def test_monthly_runs_on_the_first(after, expected):
    assert next_run_after(sched("monthly"), after) == expected


def test_never_has_no_next_run():
    assert next_run_after(sched("never"), utc(2026, 3, 1)) is None


def test_other_time_zone():
    assert next_run_after(sched(timezone="America/New_York", run_at_hour=6), utc(2026, 3, 7, 12)) \
        == utc(2026, 3, 8, 10)  # US DST starts 2026-03-08: 06:00 EDT


def test_property_next_run_is_the_first_matching_local_instant():
    rng = random.Random(7)
    start = utc(2026, 1, 1)
    for _ in range(300):
        after = start + timedelta(seconds=rng.randint(0, 730 * 86400))
        frequency = rng.choice(["daily", "weekly", "monthly"])
        hour = rng.choice([0, 1, 3, 4, 6, 12, 23])  # hours that exist every day in Oslo
        result = next_run_after(sched(frequency, run_at_hour=hour), after)
        local = result.astimezone(OSLO)
        assert result > after
        assert (local.hour, local.minute, local.second) == (hour, 0, 0)
        if frequency == "weekly":
            assert local.weekday() == 0 and result - after <= timedelta(days=7, hours=1)
        elif frequency == "monthly":
            assert local.day == 1 and result - after <= timedelta(days=31, hours=1)
        else:
            assert result - after <= timedelta(hours=25)


# --- time zone validation ----------------------------------------------------------------------

@pytest.mark.parametrize("zone", ["Europe/Osloo", "Oslo", "", "../etc/passwd", "Europe"])
def test_unknown_time_zone_is_refused_by_name(zone):
    with pytest.raises(ValidationError, match="unknown time zone"):
        TransferSchedule(timezone=zone)


def test_schedule_defaults_and_limits():
    s = TransferSchedule()
    assert (s.frequency, s.lookback_days, s.run_at_hour, s.timezone) == (Frequency.DAILY, 7, 4, "Europe/Oslo")
    for bad in ({"run_at_hour": 24}, {"lookback_days": -1}, {"lookback_days": 367}, {"frequency": "hourly"}):
        with pytest.raises(ValidationError):
            TransferSchedule(**bad)


# --- windows -----------------------------------------------------------------------------------

def test_daily_window_is_yesterday_plus_lookback():
    run = utc(2026, 3, 10, 3)
    assert scheduled_window(sched(lookback_days=0), run) == Window(date(2026, 3, 9), date(2026, 3, 9))
    assert scheduled_window(sched(lookback_days=7), run) == Window(date(2026, 3, 2), date(2026, 3, 9))


def test_window_uses_the_local_date_of_the_run():
    # 23:30 UTC on the 9th is 00:30 on the 10th in Oslo: yesterday is the 9th
    assert scheduled_window(sched(lookback_days=0), utc(2026, 3, 9, 23, 30)) == Window(date(2026, 3, 9),
                                                                                      date(2026, 3, 9))


def test_weekly_window_is_previous_monday_to_sunday_plus_lookback():
    run = next_run_after(sched("weekly"), utc(2026, 3, 4))  # Monday 2026-03-09
    assert scheduled_window(sched("weekly", lookback_days=0), run) == Window(date(2026, 3, 2), date(2026, 3, 8))
    assert scheduled_window(sched("weekly", lookback_days=3), run) == Window(date(2026, 2, 27), date(2026, 3, 8))


def test_weekly_window_across_the_spring_dst_change():
    run = next_run_after(sched("weekly"), utc(2026, 3, 24))  # Monday 2026-03-30, first in summer time
    assert run == utc(2026, 3, 30, 2)
    assert scheduled_window(sched("weekly", lookback_days=0), run) == Window(date(2026, 3, 23), date(2026, 3, 29))


@pytest.mark.parametrize("run, lookback, expected", [
    (utc(2026, 3, 1, 3), 0, Window(date(2026, 2, 1), date(2026, 2, 28))),
    (utc(2026, 3, 1, 3), 2, Window(date(2026, 1, 30), date(2026, 2, 28))),
    (utc(2028, 3, 1, 3), 0, Window(date(2028, 2, 1), date(2028, 2, 29))),   # leap year
    (utc(2026, 12, 31, 23), 0, Window(date(2026, 12, 1), date(2026, 12, 31))),  # Jan 1st 00:00 local
    (utc(2026, 11, 1, 3), 0, Window(date(2026, 10, 1), date(2026, 10, 31))),  # month with the DST change
])
def test_monthly_window_is_previous_month_plus_lookback(run, lookback, expected):
    assert scheduled_window(sched("monthly", lookback_days=lookback), run) == expected


def test_from_date_clips_the_start_and_can_empty_the_window():
    run = utc(2026, 3, 10, 3)
    assert scheduled_window(sched(lookback_days=7, from_date=date(2026, 3, 5)), run) == Window(date(2026, 3, 5),
                                                                                             date(2026, 3, 9))
    assert scheduled_window(sched(lookback_days=7, from_date=date(2026, 3, 9)), run) == Window(date(2026, 3, 9),
                                                                                             date(2026, 3, 9))
    assert scheduled_window(sched(lookback_days=7, from_date=date(2026, 3, 10)), run) is None
    # a from-date before the window changes nothing
    assert scheduled_window(sched(lookback_days=7, from_date=date(2026, 1, 1)), run) == Window(date(2026, 3, 2),
                                                                                             date(2026, 3, 9))


def test_manual_window_takes_everything_waiting_whatever_the_lookback():
    now = utc(2026, 3, 10, 12)
    for lookback in (0, 7, 366):
        # From the beginning to tomorrow (a shop in a time zone ahead may close "tomorrow").
        assert manual_window(sched(lookback_days=lookback), now) == Window(EARLIEST, date(2026, 3, 11))
    # Oslo is already on the 10th at 23:30 UTC on the 9th.
    assert manual_window(sched(lookback_days=0), utc(2026, 3, 9, 23, 30)) == Window(EARLIEST, date(2026, 3, 11))


def test_manual_window_respects_from_date():
    now = utc(2026, 3, 10, 12)
    assert manual_window(sched(from_date=date(2026, 3, 8)), now) == Window(date(2026, 3, 8), date(2026, 3, 11))
    assert manual_window(sched(from_date=date(2026, 3, 11)), now) == Window(date(2026, 3, 11), date(2026, 3, 11))
    assert manual_window(sched(from_date=date(2026, 3, 12)), now) is None


def test_why_not_scheduled_names_the_reason_no_run_will_pick_a_date_up():
    now = utc(2026, 3, 10, 12)  # next daily run: 2026-03-11 04:00 Oslo, window 03-03 .. 03-10 with 7 days
    daily = sched(lookback_days=7)
    assert why_not_scheduled(daily, date(2026, 3, 3), now) is None
    assert why_not_scheduled(daily, date(2026, 3, 10), now) is None
    assert why_not_scheduled(daily, date(2026, 3, 12), now) is None  # a later run takes it
    assert "older than the 7 days" in why_not_scheduled(daily, date(2026, 3, 2), now)
    assert "from-date 2026-03-05" in why_not_scheduled(sched(from_date=date(2026, 3, 5)), date(2026, 3, 4), now)
    assert "frequency never" in why_not_scheduled(sched("never"), date(2026, 3, 9), now)
    # Weekly: the next run (Monday 03-16) covers 03-09 .. 03-15, minus 3 days of lookback.
    weekly = sched("weekly", lookback_days=3)
    assert why_not_scheduled(weekly, date(2026, 3, 6), now) is None
    assert why_not_scheduled(weekly, date(2026, 3, 5), now) is not None


def test_window_contains():
    w = Window(date(2026, 3, 2), date(2026, 3, 8))
    assert date(2026, 3, 2) in w and date(2026, 3, 8) in w
    assert date(2026, 3, 1) not in w and date(2026, 3, 9) not in w


def test_property_consecutive_scheduled_windows_leave_no_gap():
    """Whatever the frequency, run N+1's window (without lookback) starts the day after run N's ended."""
    rng = random.Random(99)
    for frequency in ("daily", "weekly", "monthly"):
        schedule = sched(frequency, lookback_days=0)
        run = next_run_after(schedule, utc(2025, 12, 28) + timedelta(hours=rng.randint(0, 72)))
        previous = scheduled_window(schedule, run)
        for _ in range(60 if frequency != "daily" else 400):
            run = next_run_after(schedule, run)
            window = scheduled_window(schedule, run)
            assert window.start == previous.end + timedelta(days=1), (frequency, run)
            assert window.end == run.astimezone(OSLO).date() - timedelta(days=1)
            previous = window
