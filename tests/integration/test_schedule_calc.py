"""calculate_next_schedule, local_to_instant and next_occurrence_v1 against real Postgres.

Every expected instant is written in UTC; the comment gives the local wall time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.integration.sql_support import FRIDAY_6


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def next_schedule(db: psycopg.Connection, ftype: str, config: dict, from_time: datetime):
    row = db.execute(
        "SELECT calculate_next_schedule(%s, %s, %s) AS t", (ftype, Jsonb(config), from_time)
    ).fetchone()
    return row["t"]


NY = "America/New_York"

CASES = [
    # id, frequency, config, scheduler_config.timezone, from (UTC), expected (UTC)
    ("weekly from Monday", "weekly", FRIDAY_6, "UTC", "2026-01-05 10:00", "2026-01-09 06:00"),
    (
        "weekly already past this week",
        "weekly",
        FRIDAY_6,
        "UTC",
        "2026-01-09 07:00",
        "2026-01-16 06:00",
    ),
    ("weekly from Saturday", "weekly", FRIDAY_6, "UTC", "2026-01-10 00:00", "2026-01-16 06:00"),
    (
        "weekly exactly at the time -> next week",
        "weekly",
        FRIDAY_6,
        "UTC",
        "2026-01-09 06:00",
        "2026-01-16 06:00",
    ),
    (
        "weekly Sunday is day 0",
        "weekly",
        {"day": 0, "hour": 9, "minute": 15},
        "UTC",
        "2026-01-05 00:00",
        "2026-01-11 09:15",
    ),
    (
        "daily later today",
        "daily",
        {"hour": 20, "minute": 0},
        "UTC",
        "2026-01-05 19:59",
        "2026-01-05 20:00",
    ),
    (
        "daily exactly at the time -> tomorrow",
        "daily",
        {"hour": 20, "minute": 0},
        "UTC",
        "2026-01-05 20:00",
        "2026-01-06 20:00",
    ),
    (
        "every_n_hours",
        "every_n_hours",
        {"hours": 2},
        "UTC",
        "2026-01-05 06:00:30",
        "2026-01-05 08:00:30",
    ),
    (
        "every_n_hours max 168",
        "every_n_hours",
        {"hours": 168},
        "UTC",
        "2026-01-05 06:00",
        "2026-01-12 06:00",
    ),
    # 08:00 JST = 23:00Z the day before; from 09:00 JST Jan 5 -> 08:00 JST Jan 6
    (
        "Asia/Tokyo via config key",
        "daily",
        {"hour": 8, "minute": 0, "timezone": "Asia/Tokyo"},
        "UTC",
        "2026-01-05 00:00",
        "2026-01-05 23:00",
    ),
    # spring forward: 02:30 does not exist on 2026-03-08 in New York -> 03:30 EDT
    (
        "spring-forward gap shifts by the gap",
        "daily",
        {"hour": 2, "minute": 30, "timezone": NY},
        "UTC",
        "2026-03-07 12:00",
        "2026-03-08 07:30",
    ),
    # fall back: 01:30 happens twice on 2026-11-01 -> the first (EDT, 05:30Z)
    (
        "fall-back overlap picks the first",
        "daily",
        {"hour": 1, "minute": 30, "timezone": NY},
        "UTC",
        "2026-10-31 12:00",
        "2026-11-01 05:30",
    ),
    # ...and only once: from the first 01:30 the next run is the next day (01:30 EST)
    (
        "fall-back overlap runs once",
        "daily",
        {"hour": 1, "minute": 30, "timezone": NY},
        "UTC",
        "2026-11-01 05:30",
        "2026-11-02 06:30",
    ),
    # Friday 06:00 New York: 11:00Z in EST (Mar 6), 10:00Z in EDT (Mar 13)
    (
        "weekly before DST change",
        "weekly",
        {**FRIDAY_6, "timezone": NY},
        "UTC",
        "2026-03-02 00:00",
        "2026-03-06 11:00",
    ),
    (
        "weekly across DST keeps 06:00 local",
        "weekly",
        {**FRIDAY_6, "timezone": NY},
        "UTC",
        "2026-03-06 11:00",
        "2026-03-13 10:00",
    ),
    (
        "weekly across fall-back keeps 06:00 local",
        "weekly",
        {**FRIDAY_6, "timezone": NY},
        "UTC",
        "2026-10-30 10:00",
        "2026-11-06 11:00",
    ),
    # the scheduler-wide zone applies when the job names none ...
    (
        "scheduler_config.timezone applies",
        "daily",
        {"hour": 6, "minute": 0},
        "Asia/Tokyo",
        "2026-01-05 00:00",
        "2026-01-05 21:00",
    ),
    # ... and a per-job zone overrides it
    (
        "per-job timezone overrides scheduler_config",
        "daily",
        {"hour": 6, "minute": 0, "timezone": "UTC"},
        "Asia/Tokyo",
        "2026-01-05 00:00",
        "2026-01-05 06:00",
    ),
    # local date differs from the UTC date: Thursday 20:00Z is already Friday 05:00 in Tokyo
    (
        "weekly uses the local weekday",
        "weekly",
        {"day": 5, "hour": 6, "minute": 0, "timezone": "Asia/Tokyo"},
        "UTC",
        "2026-01-08 20:00",
        "2026-01-08 21:00",
    ),
]


@pytest.mark.parametrize(
    ("ftype", "config", "config_zone", "from_time", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_calculate_next_schedule(shared_db, ftype, config, config_zone, from_time, expected):
    db = shared_db
    db.execute("UPDATE scheduler_config SET timezone = %s", (config_zone,))
    assert next_schedule(db, ftype, config, utc(from_time)) == utc(expected)


def test_once_gives_null(db):
    assert next_schedule(db, "once", {}, utc("2026-01-05 10:00")) is None


@pytest.mark.parametrize(
    ("local", "zone", "expected"),
    [
        ("2026-03-08 02:30", NY, "2026-03-08 07:30"),  # gap: +1 h
        ("2026-03-08 03:30", NY, "2026-03-08 07:30"),  # first valid time after the gap
        ("2026-11-01 01:30", NY, "2026-11-01 05:30"),  # overlap: first occurrence
        ("2026-11-01 00:59", NY, "2026-11-01 04:59"),
        ("2026-11-01 02:00", NY, "2026-11-01 07:00"),
        ("2026-07-01 12:00", "Asia/Tokyo", "2026-07-01 03:00"),
        ("2026-03-29 02:30", "Europe/Berlin", "2026-03-29 01:30"),  # EU gap
        ("2026-10-25 02:30", "Europe/Berlin", "2026-10-25 00:30"),  # EU overlap: CEST first
        ("2026-10-04 02:30", "Australia/Sydney", "2026-10-03 16:30"),  # southern gap
        ("2026-01-01 00:00", "UTC", "2026-01-01 00:00"),
    ],
)
def test_local_to_instant(shared_db, local, zone, expected):
    row = shared_db.execute(
        "SELECT local_to_instant(%s::timestamp, %s) AS t", (local, zone)
    ).fetchone()
    assert row["t"] == utc(expected)


def next_occurrence(db, ftype, config, occurrence_at, now):
    return db.execute(
        "SELECT next_occurrence_v1(%s::frequency_type, %s, %s, %s) AS t",
        (ftype, Jsonb(config), occurrence_at, now),
    ).fetchone()["t"]


def test_next_occurrence_collapses_missed_runs(db):
    # Down from Friday Jan 9 until Wednesday Jan 28: three Fridays were
    # missed; the next run is the next Friday, once.
    got = next_occurrence(db, "weekly", FRIDAY_6, utc("2026-01-09 06:00"), utc("2026-01-28 12:00"))
    assert got == utc("2026-01-30 06:00")


def test_next_occurrence_every_n_hours_keeps_grid(db):
    # 2-hour grid anchored at 06:00; a run finishing at 11:15 resumes at 12:00,
    # not 13:15.
    got = next_occurrence(
        db, "every_n_hours", {"hours": 2}, utc("2026-01-05 06:00"), utc("2026-01-05 11:15")
    )
    assert got == utc("2026-01-05 12:00")
    # exactly on a grid point -> the next one (strictly after now)
    got = next_occurrence(
        db, "every_n_hours", {"hours": 2}, utc("2026-01-05 06:00"), utc("2026-01-05 12:00")
    )
    assert got == utc("2026-01-05 14:00")


def test_next_occurrence_future_occurrence_is_kept(db):
    # A manual run on Wednesday must not skip Friday's regular run.
    got = next_occurrence(db, "weekly", FRIDAY_6, utc("2026-01-09 06:00"), utc("2026-01-07 12:00"))
    assert got == utc("2026-01-09 06:00")


def test_next_occurrence_once_is_null(db):
    assert next_occurrence(db, "once", {}, utc("2026-01-09 06:00"), utc("2026-01-07 12:00")) is None
