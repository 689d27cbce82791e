"""A worker's start finds its job by primary key even with stale statistics (010_start_plan).

Statistics taken while nothing was queued, then a storm of queued jobs: the
planner must not walk the partial index of active jobs to find one row.
auto_explain sends the plan of the start's nested UPDATE to this session as
a NOTICE, so the test reads the plan the function really ran.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tasks.db import Database
from tasks.migrate import rollback

QUEUED = 3000


def started_with_plan(db: psycopg.Connection[Any]) -> tuple[Any, str]:
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, scheduled_for)"
        " SELECT 'storm-' || i, 'test.noop', 'once', now() - interval '1 minute'"
        " FROM generate_series(1, %s) i",
        (QUEUED,),
    )
    db.execute("ANALYZE scheduled_jobs")  # statistics: nothing queued yet
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (QUEUED + 10,))
    claims = db.execute(
        "SELECT job_id, dispatch_id, dispatch_key FROM claim_due_jobs_v2(%s)", (QUEUED,)
    ).fetchall()
    assert len(claims) == QUEUED
    target = claims[QUEUED // 2]
    plans: list[str] = []
    db.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    db.execute("LOAD 'auto_explain'")
    db.execute("SET auto_explain.log_min_duration = 0")
    db.execute("SET auto_explain.log_nested_statements = on")
    db.execute("SET auto_explain.log_level = notice")
    db.execute("SET client_min_messages = notice")
    row = db.execute(
        "SELECT * FROM start_execution_v2(%s, %s, %s, 'host-1/42', 'task-1', 30)",
        (target["job_id"], target["dispatch_id"], target["dispatch_key"]),
    ).fetchone()
    db.execute("SET auto_explain.log_min_duration = -1")
    [update] = [p for p in plans if "Update on scheduled_jobs" in p]
    return row, update


def test_the_start_uses_the_primary_key_with_stale_statistics(db: psycopg.Connection[Any]) -> None:
    row, plan = started_with_plan(db)
    assert row is not None and row["attempt_number"] == 1
    assert "scheduled_jobs_pkey" in plan, plan
    assert "idx_scheduled_jobs_active" not in plan, plan


def test_before_010_the_start_walked_the_active_jobs(
    db_url: str, db: psycopg.Connection[Any]
) -> None:
    # What the test above guards against: 006's statement, same statistics.
    database = Database(db_url)
    try:
        rollback(database, to=9)
    finally:
        database.close()
    db.execute("UPDATE scheduler_config SET enabled = true")  # a rollback pauses dispatch
    _, plan = started_with_plan(db)
    assert "scheduled_jobs_pkey" not in plan, plan
