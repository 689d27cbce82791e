"""The population generator (bench/population.py): a tiny run, checked row by row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from bench.population import ZONES, PopulationSpec, populate, zone_counts

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize("users", [1, 7, 270, 1000, 7919 * 2])
def test_zone_counts_are_exact_proportions(users: int) -> None:
    counts = dict(zone_counts(users))
    total = sum(w for _, w in ZONES)
    assert sum(counts.values()) == users
    for zone, weight in ZONES:
        assert abs(counts[zone] - users * weight / total) < 1


def test_population_has_users_jobs_catalog_and_log(
    db: psycopg.Connection[dict[str, object]],
) -> None:
    spec = PopulationSpec(users=270, recipes=20, trigger_sample=30, log_share=0.5, log_days=2)
    result = populate(db, spec, now=NOW)

    zones = {
        r["timezone"]: r["n"]
        for r in db.execute("SELECT timezone, count(*) AS n FROM users GROUP BY 1").fetchall()
    }
    assert zones == {z: n for z, n in zone_counts(270) if n}
    assert result["jobs"] == 270 * 3
    per_user = db.execute(
        "SELECT count(*) AS users FROM (SELECT user_id FROM scheduled_jobs"
        " WHERE user_id IS NOT NULL GROUP BY user_id HAVING count(*) = 3"
        " AND count(DISTINCT job_type) = 3) x"
    ).fetchone()
    assert per_user == {"users": 270}

    # Each job's first run is its local wall-clock time in the user's zone:
    # the bulk users from the fixed clock, the sign-ups (trigger) from now().
    expected = {
        "weekly_generation": (4, 6),
        "daily_advisor": (None, 20),
        "weekly_trends": (3, 20),
    }
    rows = db.execute(
        "SELECT j.job_type, j.scheduled_for, u.timezone, u.id <= 30 AS signup"
        " FROM scheduled_jobs j JOIN users u ON u.id = j.user_id"
    ).fetchall()
    assert len(rows) == 810
    for r in rows:
        local = r["scheduled_for"].astimezone(ZoneInfo(r["timezone"]))  # type: ignore[union-attr]
        weekday, hour = expected[r["job_type"]]  # type: ignore[index]
        assert (local.hour, local.minute) == (hour, 0), r
        assert weekday is None or local.weekday() == weekday, r
        if not r["signup"]:
            assert NOW < r["scheduled_for"] <= NOW + timedelta(days=7), r  # type: ignore[operator]

    assert db.execute("SELECT count(*) AS n FROM recipes").fetchone() == {"n": 20}
    loggers = db.execute("SELECT count(*) AS n FROM users WHERE (id * 7) % 1000 < 500").fetchone()[
        "n"
    ]  # type: ignore[index]
    assert loggers > 0
    assert result["food_log_rows"] == loggers * 2 * 3
    days = db.execute(
        "SELECT count(*) AS bad FROM food_log f JOIN users u ON u.id = f.user_id"
        " WHERE f.day NOT IN ((%(now)s AT TIME ZONE u.timezone)::date - 1,"
        "                     (%(now)s AT TIME ZONE u.timezone)::date - 2)",
        {"now": NOW},
    ).fetchone()
    assert days == {"bad": 0}
    assert result["per_user_ms"]["install_defaults"] > 0

    # A second population continues after the first: new ids, same proportions.
    populate(db, PopulationSpec(users=10, recipes=20, trigger_sample=0), now=NOW)
    assert db.execute("SELECT count(*) AS n, max(id) AS m FROM users").fetchone() == {
        "n": 280,
        "m": 280,
    }
