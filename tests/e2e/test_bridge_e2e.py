"""End to end: real `celery beat` and `celery worker` subprocesses, Postgres, Redis."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Stack
from tests.support import (
    broker_drained,
    executions,
    insert_job,
    job,
    wait_for_beat_ticks,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_jobs_run_end_to_end(stack: Stack, db: psycopg.Connection[Any]) -> None:
    db.execute("UPDATE scheduler_config SET retry_base_seconds = 1, max_concurrent_jobs = 10")
    insert_job(db, "once-1")
    insert_job(db, "every-2h", frequency="every_n_hours", config={"hours": 2})
    insert_job(db, "ghost", job_type="no.such.type", max_retries=0)
    insert_job(db, "flaky", job_type="test.fail", max_retries=2)
    insert_job(db, "parent", due="now() + interval '1 day'")
    insert_job(db, "child", due="now() + interval '1 day'")
    db.execute(
        "INSERT INTO job_dependencies (parent_job_id, child_job_id) VALUES ('parent', 'child')"
    )
    stack.worker()
    stack.beat()

    wait_until(lambda: job(db, "once-1")["status"] == "completed")
    [run] = executions(db, "once-1")
    assert (run["status"], run["trigger_type"], run["attempt_number"]) == (
        "completed",
        "scheduled",
        1,
    )

    # A recurring job goes back to pending at its next occurrence on the grid.
    wait_until(lambda: executions(db, "every-2h") and job(db, "every-2h")["status"] == "pending")
    row = job(db, "every-2h")
    assert row["scheduled_for"] == row["occurrence_at"]
    assert (row["scheduled_for"] - run["started_at"]).total_seconds() > 7000

    # A job type no worker handles waits in its own queue; it never fails.
    assert job(db, "ghost")["status"] == "queued"
    assert executions(db, "ghost") == []

    # Retries follow the backoff (base 1 s: 1, 2 s), then the job ends failed.
    wait_until(lambda: job(db, "flaky")["status"] == "failed", timeout=30)
    runs = executions(db, "flaky")
    assert [r["attempt_number"] for r in runs] == [1, 2, 3]
    assert [r["trigger_type"] for r in runs] == ["scheduled", "retry", "retry"]
    assert all(r["status"] == "failed" for r in runs)
    gaps = [
        (b["started_at"] - a["completed_at"]).total_seconds() for a, b in itertools.pairwise(runs)
    ]
    assert gaps[0] >= 1.0 and gaps[1] >= 2.0

    # A manual trigger starts within a second and is recorded as manual;
    # its dependent child runs after it with the parent recorded.
    t0 = time.monotonic()
    db.execute("SELECT trigger_job_v1('parent')")
    wait_until(lambda: executions(db, "parent"), timeout=5)
    assert time.monotonic() - t0 < 1.0
    wait_until(lambda: job(db, "child")["status"] == "completed")
    [p] = executions(db, "parent")
    [c] = executions(db, "child")
    assert p["trigger_type"] == "manual"
    assert (c["trigger_type"], c["parent_job_id"]) == ("dependent", "parent")
    assert c["started_at"] >= p["completed_at"]


def test_pause_stops_dispatch_and_resume_runs_once(
    stack: Stack, db: psycopg.Connection[Any]
) -> None:
    stack.worker()
    stack.beat()
    insert_job(db, "warmup")
    wait_until(lambda: job(db, "warmup")["status"] == "completed")
    db.execute("UPDATE scheduler_config SET enabled = false")
    wait_for_beat_ticks(stack.redis_url, 1)  # the pause is seen within one tick
    insert_job(db, "held")
    # Missed occurrences of a recurring job collapse into one run on resume.
    insert_job(
        db,
        "hourly",
        frequency="every_n_hours",
        config={"hours": 1},
        due="now() - interval '5 hours'",
    )
    wait_for_beat_ticks(stack.redis_url, 3)  # each would have dispatched them
    assert executions(db, "held") == []
    assert job(db, "held")["status"] == "pending"
    db.execute("UPDATE scheduler_config SET enabled = true")
    wait_until(lambda: job(db, "held")["status"] == "completed", timeout=5)
    wait_until(lambda: executions(db, "hourly") and job(db, "hourly")["status"] == "pending")
    wait_for_beat_ticks(stack.redis_url, 3)  # a second missed occurrence would be due now
    wait_until(lambda: broker_drained(stack.redis_url, stack.env()["TASKS_QUEUE"]))
    assert len(executions(db, "hourly")) == 1


def test_concurrency_limit_and_priority(stack: Stack, db: psycopg.Connection[Any]) -> None:
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 2")
    for i in range(8):
        insert_job(db, f"low-{i}", job_type="test.sleep", priority="low", params={"seconds": 0.4})
    stack.worker(concurrency=4)
    stack.beat()
    wait_until(lambda: len(executions(db)) >= 2)
    insert_job(db, "crit", job_type="test.sleep", priority="critical", params={"seconds": 0.1})
    wait_until(
        lambda: (
            db.execute(
                "SELECT count(*) AS n FROM scheduled_jobs WHERE status <> 'completed'"
            ).fetchone()["n"]
            == 0
        ),
        timeout=30,
    )
    runs = executions(db)
    # Never more than max_concurrent_jobs executions at once.
    events = sorted([(r["started_at"], 1) for r in runs] + [(r["completed_at"], -1) for r in runs])
    active = peak = 0
    for _, delta in events:
        active += delta
        peak = max(peak, active)
    assert peak <= 2
    # The critical job did not wait for the backlog of low ones.
    crit = next(r for r in runs if r["job_id"] == "crit")
    later_lows = [
        r for r in runs if r["job_id"].startswith("low") and r["started_at"] > crit["started_at"]
    ]
    assert len(later_lows) >= 4


def test_a_message_duplicated_in_redis_runs_once(
    stack: Stack, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    from tasks.beat import publish_jobs
    from tasks.celery_app import create_app
    from tasks.producer import Producer
    from tasks.settings import Settings

    mark = tmp_path / "marks"
    insert_job(db, "dup", params={"mark_file": str(mark)})
    settings = Settings.from_env(stack.env())
    app = create_app(settings)
    Producer(
        app.meal_runtime.db,
        lambda jobs: [publish_jobs(app, settings.queue, jobs) for _ in range(2)],
        10,
    ).run_once()
    app.meal_runtime.db.close()
    stack.worker()
    wait_until(lambda: job(db, "dup")["status"] == "completed")
    # Both copies were taken: the second was refused, and none is left to run.
    wait_until(lambda: "duplicate or stale message ignored" in (tmp_path / "w1.log").read_text())
    wait_until(lambda: broker_drained(stack.redis_url, settings.queue))
    assert len(mark.read_text().splitlines()) == 1
    assert len(executions(db, "dup")) == 1
