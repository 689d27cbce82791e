"""A simulated week: a population driven through seven local days on the test clock.

No beat, no broker, no wall-clock waiting: the simulation is the scheduler's
own functions called with ``p_now`` (the test-only clock), as the database
owner. The clock jumps from one due instant to the next; at each instant
everything due is claimed (``claim_due_jobs_v1``), started
(``start_execution_v1``) and completed (``complete_execution_v1``), each a
set-based statement over the claimed batch, so the next occurrence is
computed by the same code as in production (DST rules included). Handlers
are not run: this checks *when* things run, the storm section measures what
a handler costs.

The week is the local days ``start`` (a Thursday: trends day) to
``start + 6`` in every user's zone; the default, 2026-10-22, contains the
European fall-back (Sunday 25 October, 03:00 CEST -> 02:00 CET). The clock
runs from the earliest zone's first local midnight to the latest zone's
last one. :func:`check` then demands, per user, inside their local week:
exactly one weekly_generation (Friday 06:00 local), one weekly_trends
(Thursday 20:00 local) and seven daily_advisor runs (20:00 local on each
day), every run of each job at its local wall-clock time, and no job run
twice for one occurrence.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.infra import Conn
from bench.population import PopulationSpec, populate

DEFAULT_START = date(2026, 10, 22)  # a Thursday; Europe falls back on the Sunday after
WORKER = "bench-week"

NEXT_DUE = """
SELECT least(
    (SELECT min(scheduled_for) FROM scheduled_jobs
     WHERE status = 'pending' AND enabled AND priority = 'critical'),
    (SELECT min(scheduled_for) FROM scheduled_jobs
     WHERE status = 'pending' AND enabled AND priority = 'high'),
    (SELECT min(scheduled_for) FROM scheduled_jobs
     WHERE status = 'pending' AND enabled AND priority = 'medium'),
    (SELECT min(scheduled_for) FROM scheduled_jobs
     WHERE status = 'pending' AND enabled AND priority = 'low')) AS at
"""

START_BATCH = """
SELECT s.execution_id
FROM unnest(%(job_ids)s::text[], %(dispatch_ids)s::bigint[]) AS c(job_id, dispatch_id),
     LATERAL start_execution_v1(c.job_id, c.dispatch_id, %(worker)s, NULL, 300, %(now)s) AS s
"""

COMPLETE_BATCH = """
SELECT count(*) FILTER (WHERE complete_execution_v1(e.id, '{"simulated": true}'::jsonb, %(now)s))
    AS completed
FROM unnest(%(execution_ids)s::bigint[]) AS e(id)
"""

RUNS = """
SELECT j.user_id, u.timezone, j.job_type, e.trigger_type::text AS trigger_type,
       e.status::text AS status, e.started_at
FROM job_executions e
JOIN scheduled_jobs j ON j.id = e.job_id
JOIN users u ON u.id = j.user_id
WHERE e.worker = %(worker)s
ORDER BY j.user_id, e.started_at
"""

#: (job type) -> (weekday of the run, 0 = Monday, or None = every day; hour; runs per week)
EXPECTED = {
    "weekly_generation": (4, 6, 1),
    "weekly_trends": (3, 20, 1),
    "daily_advisor": (None, 20, 7),
}


def week_bounds(start: date, zones: list[str]) -> tuple[datetime, datetime]:
    """From the first local midnight of ``start`` anywhere to the last one of start + 7."""
    firsts = [datetime.combine(start, datetime.min.time(), ZoneInfo(z)) for z in zones]
    lasts = [
        datetime.combine(start + timedelta(days=7), datetime.min.time(), ZoneInfo(z)) for z in zones
    ]
    return min(firsts).astimezone(UTC), max(lasts).astimezone(UTC)


def drive(conn: Conn, until: datetime, batch: int = 5000, handler_s: float = 1.0) -> dict[str, Any]:
    """Run everything due up to ``until`` on the test clock; returns counts and wall time."""
    steps = runs = 0
    t0 = time.perf_counter()
    while True:
        at = conn.execute(NEXT_DUE).fetchone()["at"]  # type: ignore[index]
        if at is None or at >= until:
            break
        steps += 1
        while True:
            with conn.transaction():
                claimed = conn.execute(
                    "SELECT job_id, dispatch_id FROM claim_due_jobs_v1(%s, %s)", (batch, at)
                ).fetchall()
            if not claimed:
                break
            with conn.transaction():
                started = conn.execute(
                    START_BATCH,
                    {
                        "job_ids": [r["job_id"] for r in claimed],
                        "dispatch_ids": [r["dispatch_id"] for r in claimed],
                        "worker": WORKER,
                        "now": at,
                    },
                ).fetchall()
            with conn.transaction():
                done = conn.execute(
                    COMPLETE_BATCH,
                    {
                        "execution_ids": [r["execution_id"] for r in started],
                        "now": at + timedelta(seconds=handler_s),
                    },
                ).fetchone()["completed"]  # type: ignore[index]
            runs += done
            if len(claimed) < batch:
                break
    return {"instants": steps, "runs": runs, "wall_s": round(time.perf_counter() - t0, 2)}


def check(conn: Conn, start: date) -> dict[str, Any]:
    """Per user and job type, the runs inside the user's local week against :data:`EXPECTED`."""
    days = [start + timedelta(days=k) for k in range(7)]
    runs: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    zones: dict[int, str] = {}
    problems: list[str] = []
    for r in conn.execute(RUNS, {"worker": WORKER}).fetchall():
        if r["status"] != "completed" or r["trigger_type"] != "scheduled":
            problems.append(
                f"user {r['user_id']} {r['job_type']}: {r['status']} {r['trigger_type']}"
            )
        local = r["started_at"].astimezone(ZoneInfo(r["timezone"]))
        zones[r["user_id"]] = r["timezone"]
        runs[(r["user_id"], r["job_type"])].append(local)
    users = [
        (r["id"], r["timezone"])
        for r in conn.execute("SELECT id, timezone FROM users ORDER BY id").fetchall()
    ]
    counts: dict[str, int] = defaultdict(int)
    for user_id, zone in users:
        for job_type, (weekday, hour, per_week) in EXPECTED.items():
            all_runs = runs.get((user_id, job_type), [])
            in_week = [t for t in all_runs if t.date() in days]
            wrong_time = [t for t in all_runs if (t.hour, t.minute, t.second) != (hour, 0, 0)]
            wrong_day = [t for t in all_runs if weekday is not None and t.weekday() != weekday]
            repeated = len({t.date() for t in all_runs}) != len(all_runs)
            if len(in_week) != per_week or wrong_time or wrong_day or repeated:
                problems.append(
                    f"user {user_id} ({zone}) {job_type}: {len(in_week)} run(s) in the week, "
                    f"expected {per_week}; at {[t.isoformat() for t in all_runs]}"
                )
            counts[job_type] += len(in_week)
    return {
        "users": len(users),
        "runs_in_local_week": dict(counts),
        "problems": len(problems),
        "first_problems": problems[:10],
        "ok": not problems and len(users) > 0,
    }


def simulate(
    conn: Conn, users: int, start: date = DEFAULT_START, batch: int = 5000, recipes: int = 50
) -> dict[str, Any]:
    """Populate ``users`` (jobs installed on the test clock), drive the week, check it."""
    from bench.population import ZONES

    t_from, t_to = week_bounds(start, [z for z, _ in ZONES])
    conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (max(batch, 1000) * 2,))
    spec = PopulationSpec(users=users, recipes=recipes, trigger_sample=0, log_share=0.0)
    population = populate(conn, spec, now=t_from - timedelta(minutes=1))
    driven = drive(conn, t_to, batch=batch)
    checked = check(conn, start)
    return {
        "start": start.isoformat(),
        "clock_from": t_from.isoformat(),
        "clock_to": t_to.isoformat(),
        "population_s": population["total_s"],
        "jobs": population["jobs"],
        **driven,
        "runs_per_s": round(driven["runs"] / max(driven["wall_s"], 1e-9), 1),
        "check": checked,
    }
