"""The simulated week (bench/week.py): every user's runs at their local times, across DST."""

from __future__ import annotations

from datetime import date

import psycopg

from bench import week
from bench.population import ZONES


def test_a_week_with_the_european_fall_back(db: psycopg.Connection[dict[str, object]]) -> None:
    result = week.simulate(db, users=120, start=date(2026, 10, 22), recipes=5)
    check = result["check"]
    assert check["ok"], check["first_problems"]
    assert check["users"] == 120
    assert check["runs_in_local_week"] == {
        "weekly_generation": 120,
        "weekly_trends": 120,
        "daily_advisor": 7 * 120,
    }
    # Berlin's 20:00 is 18:00 UTC before the fall-back (CEST) and 19:00 after (CET).
    utc_hours = db.execute(
        "SELECT (e.started_at AT TIME ZONE 'UTC')::date AS day,"
        "       array_agg(DISTINCT extract(hour FROM e.started_at AT TIME ZONE 'UTC')) AS hours"
        " FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
        " JOIN users u ON u.id = j.user_id"
        " WHERE u.timezone = 'Europe/Berlin' AND j.job_type = 'daily_advisor'"
        "   AND (e.started_at AT TIME ZONE 'UTC')::date IN ('2026-10-24', '2026-10-25')"
        " GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(str(r["day"]), [int(h) for h in r["hours"]]) for r in utc_hours] == [  # type: ignore[union-attr]
        ("2026-10-24", [18]),
        ("2026-10-25", [19]),
    ]
    # No job ran twice, nothing is left running or queued.
    left = db.execute(
        "SELECT count(*) AS n FROM scheduled_jobs WHERE status IN ('queued', 'running')"
    ).fetchone()
    assert left == {"n": 0}


def test_a_week_with_the_american_fall_back(db: psycopg.Connection[dict[str, object]]) -> None:
    # 2026-11-01: US clocks go back; the week runs Thursday 29 October to Wednesday 4 November.
    result = week.simulate(db, users=60, start=date(2026, 10, 29), recipes=5)
    assert result["check"]["ok"], result["check"]["first_problems"]
    assert result["check"]["runs_in_local_week"]["daily_advisor"] == 7 * 60


def test_the_check_catches_a_run_at_the_wrong_local_time(
    db: psycopg.Connection[dict[str, object]],
) -> None:
    week.simulate(db, users=len(ZONES), start=date(2026, 10, 22), recipes=5)
    db.execute(
        "UPDATE job_executions SET started_at = started_at + interval '1 hour'"
        " WHERE id = (SELECT min(e.id) FROM job_executions e"
        "             WHERE e.job_id LIKE 'daily_advisor:user:%')"
    )
    check = week.check(db, date(2026, 10, 22))
    assert not check["ok"]
    assert check["problems"] == 1
    assert "daily_advisor" in check["first_problems"][0]
