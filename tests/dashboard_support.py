"""Seed data and a running dashboard for the web, metrics and browser tests.

State is made through the schema's own functions (claim, start, complete,
fail, reap, heartbeats), as the beat and workers would make it, so what the
dashboard shows is what a real fleet would leave behind.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from tasks.settings import Settings
from tasks.web.auth import hash_password
from tests.support import free_port, insert_job

Conn = psycopg.Connection[dict[str, Any]]

ADMIN = "ops"
PASSWORD = "correct horse battery staple"
# Few iterations: the tests sign in often; production hashes use auth.ITERATIONS.
PASSWORD_HASH = hash_password(PASSWORD, salt="testsalt", iterations=1000)
SECRET = "s" * 40
DST_JOB = "berlin-nightly"  # daily 02:30 Europe/Berlin, pending across the March 2027 change


def web_settings(db_url: str, redis_url: str, **extra: str) -> Settings:
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "TASKS_ADMIN_USER": ADMIN,
        "TASKS_ADMIN_PASSWORD_HASH": PASSWORD_HASH,
        "TASKS_WEB_SECRET": SECRET,
        "TASKS_KEY_PREFIX": "dash-" + db_url.rsplit("/", 1)[1],
    }
    env.update(extra)
    return Settings.from_env(env)


def claim(db: Conn) -> dict[str, int]:
    rows = db.execute("SELECT job_id, dispatch_id FROM claim_due_jobs_v1(1000, now())").fetchall()
    return {r["job_id"]: r["dispatch_id"] for r in rows}


def start(db: Conn, job_id: str, dispatch_id: int, lease_seconds: int = 30) -> int:
    row = db.execute(
        "SELECT execution_id FROM start_execution_v1(%s, %s, 'host-a/1', 't', %s, now())",
        (job_id, dispatch_id, lease_seconds),
    ).fetchone()
    assert row is not None
    return int(row["execution_id"])


def run_job(db: Conn, job_id: str, outcome: str, dispatch: dict[str, int]) -> int:
    """Start a claimed job and end its attempt as ``outcome``."""
    ex = start(db, job_id, dispatch[job_id], lease_seconds=1 if outcome == "abandoned" else 30)
    if outcome == "completed":
        db.execute("SELECT complete_execution_v1(%s, %s::jsonb)", (ex, '{"plans": 1}'))
    elif outcome == "failed":
        db.execute("SELECT fail_execution_v1(%s, %s)", (ex, "RuntimeError: Tandoor said 502"))
    elif outcome == "abandoned":
        db.execute("SELECT * FROM reap_expired_v1(now() + interval '5 seconds')")
    return ex


def heartbeat(db: Conn, node: str, host: str, job_types: list[str]) -> None:
    db.execute(
        "SELECT record_worker_heartbeat_v1(%s, %s, 4242, %s, ARRAY['meal_scheduler'])",
        (node, host, job_types),
    )


def seed(db: Conn) -> None:
    """A small fleet's state: outcomes of three job types, a backlog, workers."""
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100")
    plan = {
        "sync": ("auto_sync", ["completed", "completed", "completed", "failed"]),
        "plan": ("weekly_generation", ["completed", "failed"]),
        "mail": ("daily_advisor", ["completed", "abandoned"]),
    }
    for prefix, (job_type, outcomes) in plan.items():
        for i, _ in enumerate(outcomes):
            # max_retries 0: a failure is final, so the job itself ends failed.
            insert_job(
                db,
                f"{prefix}-{i}",
                job_type,
                due=f"now() - interval '{i + 1} seconds'",
                max_retries=0,
            )
    dispatch = claim(db)
    for prefix, (_, outcomes) in plan.items():
        for i, outcome in enumerate(outcomes):
            run_job(db, f"{prefix}-{i}", outcome, dispatch)
    # A backlog: due jobs that no claim has taken yet.
    insert_job(
        db, "late-critical", "auto_sync", priority="critical", due="now() - interval '90 seconds'"
    )
    insert_job(db, "late-low", "auto_sync", priority="low", due="now() - interval '30 seconds'")
    insert_job(db, "off", "weekly_trends", due="now() + interval '1 day'", enabled=False)
    insert_job(
        db,
        DST_JOB,
        "daily_advisor",
        frequency="daily",
        config={"hour": 2, "minute": 30, "timezone": "Europe/Berlin"},
        due="'2027-03-26 01:30+00'",
    )
    db.execute(
        "INSERT INTO job_dependencies (parent_job_id, child_job_id) VALUES (%s, 'off')",
        (DST_JOB,),
    )
    heartbeat(db, "w1@host-a", "host-a", ["auto_sync", "weekly_generation"])
    heartbeat(db, "w2@host-b", "host-b", ["auto_sync"])


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The dashboard on a free port in this process (uvicorn in a thread)."""
    import uvicorn

    from tasks.web.app import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def seed_history(db: Conn) -> None:
    """An hour of finished attempts of three job types, for the charts.

    Inserted directly (a test fixture, not a worker): per minute a few
    completions, now and then a failure, and a dispatch lag that grows
    during a burst half an hour ago.
    """
    db.execute(
        """
        INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, started_at,
                                    completed_at, duration_ms, scheduled_for, worker, output,
                                    error_message)
        SELECT j.job_id,
               CASE WHEN (m * j.k) % 17 = 3 THEN 'failed'
                    WHEN (m * j.k) % 41 = 7 THEN 'abandoned'
                    ELSE 'completed' END::execution_status,
               'scheduled', 1,
               now() - make_interval(mins => m) - make_interval(secs => s),
               now() - make_interval(mins => m) - make_interval(secs => s) + interval '2 seconds',
               2000,
               now() - make_interval(mins => m) - make_interval(secs => s)
                 - make_interval(secs => CASE WHEN m BETWEEN 25 AND 35 THEN 1.5 + (s % 3)
                                              ELSE 0.004 + (s % 7) / 100.0 END),
               'w1@host-a/' || (1000 + s % 2),
               CASE WHEN (m * j.k) % 17 = 3 OR (m * j.k) % 41 = 7 THEN NULL
                    ELSE '{"ok": true}'::jsonb END,
               CASE WHEN (m * j.k) % 17 = 3 THEN 'RuntimeError: upstream timed out'
                    WHEN (m * j.k) % 41 = 7
                    THEN 'lease expired: worker w1@host-a/1000 stopped renewing' END
        FROM (VALUES ('sync-0', 1, 6), ('plan-0', 2, 2), ('mail-0', 3, 3)) AS j (job_id, k, per),
             generate_series(1, 59) AS m,
             generate_series(0, 50) AS s
        WHERE s < j.per + (m % 3)
        """
    )
