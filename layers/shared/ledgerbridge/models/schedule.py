"""A connection's transfer schedule: how often its transfers run, from when, at what local hour.

Its own module (not models/connection.py): the scheduler needs only this of a connection, and the
connection's other models (account setup, payroll and sync setups) cost its cold start for nothing.
"""
from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import ConfigDict, Field, field_validator

from .common import LazyModel, check_date, utcnow


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    NEVER = "never"


class TransferSchedule(LazyModel):
    model_config = ConfigDict(extra="forbid")

    frequency: Frequency = Frequency.DAILY
    lookback_days: int = Field(default=7, ge=0, le=366)
    from_date: date | None = Field(default=None, description="no business date before it is transferred; "
                                                        "from 2000-01-01 to a year ahead")
    # Local hour at which a due transfer runs (the POS closes its day before that).
    run_at_hour: int = Field(default=4, ge=0, le=23)
    timezone: str = "Europe/Oslo"

    @field_validator("from_date")
    @classmethod
    def _plausible_from_date(cls, value: date | None) -> date | None:
        # Transfer windows and look-backs are computed from it: keep it where dates make sense.
        return check_date(value, utcnow().date() + timedelta(days=366), "at most a year ahead")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a key the file system refuses
            raise ValueError(f"unknown time zone {value[:64]!r}; use an IANA name such as Europe/Oslo") from exc
        return value
