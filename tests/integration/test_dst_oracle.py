"""calculate_next_schedule against a zoneinfo oracle, at every clock change 2025-2035.

For every zone whose offset changes between 2025 and 2035, every change in
that span, and a daily and a weekly slot at every half hour, the next run
computed from just before, at and just after the instants that matter (each
slot's occurrence on the local days the change touches, and the change
itself) must equal what Python's ``zoneinfo`` says the contract gives:
the first instant after ``from`` whose wall time is the slot, a slot inside
a spring-forward gap shifted forward by the gap (``fold=0`` in a gap is the
offset before it) and an ambiguous slot at its first occurrence (``fold=0``).

Zones with identical transitions (links such as US/Eastern, and zones that
share rules) are checked once, through one name of the group (a canonical
``Area/City`` one where there is one: other names make is_valid_timezone
scan pg_timezone_names on every call): the arithmetic depends only on the
transitions. Postgres and Python read the
same tz database here (Debian's Postgres is built --with-system-tzdata and
zoneinfo reads /usr/share/zoneinfo); the first test checks that they agree.
One set-based SQL call per zone keeps the whole sweep to seconds.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2036, 1, 1, tzinfo=UTC)
SLOTS = [(h, m) for h in range(24) for m in (0, 30)]
SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Change:
    at: datetime  # the first instant with the new offset
    before: timedelta
    after: timedelta


def _offset(zone: zoneinfo.ZoneInfo, t: datetime) -> timedelta:
    offset = t.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def changes(name: str) -> tuple[Change, ...]:
    """Offset changes in [START, END), found by daily steps and bisection to the second."""
    zone = zoneinfo.ZoneInfo(name)
    found = []
    t, prev = START, _offset(zone, START)
    while t < END:
        n = t + timedelta(days=1)
        off = _offset(zone, n)
        if off != prev:
            lo, hi = t, n
            while hi - lo > SECOND:
                mid = lo + (hi - lo) / 2
                mid = mid.replace(microsecond=0)
                if mid <= lo:
                    mid = lo + SECOND
                if _offset(zone, mid) == prev:
                    lo = mid
                else:
                    hi = mid
            found.append(Change(hi, prev, off))
        t, prev = n, off
    return tuple(found)


@functools.cache
def zones_by_changes() -> dict[tuple[Change, ...], list[str]]:
    groups: dict[tuple[Change, ...], list[str]] = {}
    for name in sorted(zoneinfo.available_timezones()):
        if name.startswith(("posix/", "right/")) or name in {"localtime", "Factory"}:
            continue
        found = changes(name)
        if found:
            groups.setdefault(found, []).append(name)
    for names in groups.values():
        names.sort(key=lambda n: ("/" not in n or any(ch.isdigit() for ch in n), n))
    return groups


def slot_instant(zone: zoneinfo.ZoneInfo, day: date, hour: int, minute: int) -> datetime:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone, fold=0)
    return local.astimezone(UTC)


def expected(
    zone: zoneinfo.ZoneInfo, weekday: int | None, hour: int, minute: int, after: datetime
) -> datetime:
    """The oracle: the first occurrence of the slot strictly after ``after``."""
    first = after.astimezone(zone).date() - timedelta(days=2)
    for i in range(16):
        day = first + timedelta(days=i)
        if weekday is not None and day.isoweekday() % 7 != weekday:
            continue
        t = slot_instant(zone, day, hour, minute)
        if t > after:
            return t
    raise AssertionError("no occurrence found")


def cases(name: str, found: tuple[Change, ...]) -> Iterator[tuple[int | None, int, int, datetime]]:
    """(weekday or None for daily, hour, minute, from) around every change."""
    zone = zoneinfo.ZoneInfo(name)
    for change in found:
        days = {(change.at + change.before).date(), (change.at + change.after).date()}
        weekdays: list[int | None] = [None, *sorted({d.isoweekday() % 7 for d in days})]
        for hour, minute in SLOTS:
            froms = {change.at - SECOND, change.at, change.at + SECOND}
            for day in days:
                t = slot_instant(zone, day, hour, minute)
                froms |= {t - SECOND, t}
            for weekday in weekdays:
                for f in sorted(froms):
                    yield weekday, hour, minute, f


SWEEP = """
SELECT x.i, calculate_next_schedule(
           CASE WHEN x.day IS NULL THEN 'daily' ELSE 'weekly' END,
           jsonb_strip_nulls(jsonb_build_object('day', x.day, 'hour', x.hour,
                                                'minute', x.minute, 'timezone', %(zone)s::text)),
           x.from_time) AS got
FROM unnest(%(days)s::integer[], %(hours)s::integer[], %(minutes)s::integer[],
            %(froms)s::timestamptz[]) WITH ORDINALITY AS x(day, hour, minute, from_time, i)
ORDER BY x.i
"""


def test_postgres_and_zoneinfo_read_the_same_changes(shared_db: psycopg.Connection[Any]) -> None:
    groups = zones_by_changes()
    assert len(groups) > 10
    for found, names in groups.items():
        for change in found[:4]:
            row = shared_db.execute(
                "SELECT (%(t)s::timestamptz - interval '1 second') AT TIME ZONE %(z)s AS before,"
                " %(t)s::timestamptz AT TIME ZONE %(z)s AS after",
                {"t": change.at, "z": names[0]},
            ).fetchone()
            assert row is not None
            assert row["before"] == (change.at - SECOND + change.before).replace(tzinfo=None)
            assert row["after"] == (change.at + change.after).replace(tzinfo=None), names[0]


def _zone_ids() -> list[Any]:
    return [pytest.param(found, names, id=names[0]) for found, names in zones_by_changes().items()]


@pytest.mark.parametrize(("found", "names"), _zone_ids())
def test_every_change_every_half_hour_matches_zoneinfo(
    shared_db: psycopg.Connection[Any], found: tuple[Change, ...], names: list[str]
) -> None:
    name = names[0]
    zone = zoneinfo.ZoneInfo(name)
    batch = list(cases(name, found))
    rows = shared_db.execute(
        SWEEP,
        {
            "zone": name,
            "days": [c[0] for c in batch],
            "hours": [c[1] for c in batch],
            "minutes": [c[2] for c in batch],
            "froms": [c[3] for c in batch],
        },
    ).fetchall()
    wrong = []
    for (weekday, hour, minute, f), row in zip(batch, rows, strict=True):
        want = expected(zone, weekday, hour, minute, f)
        if row["got"] != want:
            kind = "daily" if weekday is None else f"weekly day {weekday}"
            got = row["got"].astimezone(zone).isoformat()
            wrong.append(
                f"{kind} {hour:02}:{minute:02} from {f.astimezone(zone).isoformat()}:"
                f" got {got}, want {want.astimezone(zone).isoformat()}"
            )
    assert not wrong, f"{name} ({len(wrong)} of {len(batch)} wrong):\n" + "\n".join(wrong[:20])
