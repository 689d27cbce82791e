"""Faults caused for real: SIGKILLed workers and beats, Redis and Postgres outages."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from tests.e2e.conftest import Stack
from tests.support import (
    LOCK_KEY,
    OwnPostgres,
    OwnRedis,
    broker_drained,
    connect,
    executions,
    insert_job,
    job,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST_RECOVERY = {
    "TASKS_LEASE_SECONDS": "3",
    "TASKS_REAP_SECONDS": "0.5",
    "TASKS_BEAT_LOCK_SECONDS": "3",
}


def completed_counts(db: psycopg.Connection[Any]) -> Counter[str]:
    rows = db.execute("SELECT job_id FROM job_executions WHERE status = 'completed'").fetchall()
    return Counter(r["job_id"] for r in rows)


def test_sigkilled_worker_attempt_is_abandoned_and_retried(
    stack: Stack, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    stack.extra_env.update(FAST_RECOVERY)
    db.execute("UPDATE scheduler_config SET retry_base_seconds = 1")
    mark = tmp_path / "marks"
    insert_job(db, "long", job_type="test.sleep", params={"seconds": 4, "mark_file": str(mark)})
    worker = stack.worker(concurrency=1)
    stack.beat()
    wait_until(lambda: mark.exists() and mark.read_text())
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool child, mid-job
    worker.wait(10)
    stack.worker("w2", concurrency=1)
    wait_until(lambda: job(db, "long")["status"] == "completed", timeout=40)
    first, second = executions(db, "long")
    assert first["status"] == "abandoned"
    assert first["error_message"].startswith("lease expired")
    assert (second["status"], second["trigger_type"], second["attempt_number"]) == (
        "completed",
        "retry",
        2,
    )
    # The side effect happened once more, only through the retry.
    assert len(mark.read_text().splitlines()) == 2


def _beat_holding_lock(stack: Stack, names: list[str]) -> str | None:
    held = [
        n
        for n in names
        if "beat lock acquired" in (stack.tmp / f"{n}.log").read_text()
        or "Acquired lock" in (stack.tmp / f"{n}.log").read_text()
    ]
    return held[-1] if len(held) == 1 else None


def test_two_beats_and_the_active_one_killed_dispatch_each_occurrence_once(
    stack: Stack, db: psycopg.Connection[Any], redis_url: str
) -> None:
    stack.extra_env.update(FAST_RECOVERY)
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 50")
    # Once jobs due now and over the next seconds; recurring ones due now.
    for i in range(60):
        insert_job(db, f"once-{i}", due=f"now() + interval '{i * 150} milliseconds'")
    for i in range(10):
        insert_job(
            db,
            f"daily-{i}",
            frequency="daily",
            config={"hour": 3, "minute": 0},
            due=f"now() + interval '{i} seconds'",
        )
    stack.worker(concurrency=4)
    stack.beat("beat-a")
    stack.beat("beat-b")
    active = wait_until(lambda: _beat_holding_lock(stack, ["beat-a", "beat-b"]), timeout=20)
    # A lock that silently vanishes: both beats believe they lead for a moment.
    assert redis.Redis.from_url(redis_url).delete(LOCK_KEY) == 1  # it was there, and now is not
    wait_until(lambda: len(completed_counts(db)) >= 10, timeout=20)
    os.killpg(stack.procs[active].pid, signal.SIGKILL)
    wait_until(lambda: len(completed_counts(db)) == 70, timeout=60)
    wait_until(lambda: broker_drained(redis_url, stack.env()["TASKS_QUEUE"]))
    counts = completed_counts(db)
    assert set(counts.values()) == {1}, counts
    # Each run of a recurring job is one occurrence; the next is tomorrow.
    for i in range(10):
        row = job(db, f"daily-{i}")
        assert row["status"] == "pending"
        assert (row["scheduled_for"] - row["updated_at"]).total_seconds() > 3600
    total = db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"]
    assert total == 70


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def test_redis_outage_then_every_job_runs_once(
    stack: Stack, db: psycopg.Connection[Any], own_redis: OwnRedis, tmp_path: Path
) -> None:
    stack.redis_url = own_redis.url
    stack.extra_env.update(FAST_RECOVERY)
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 20, queue_timeout_seconds = 5")
    mark = tmp_path / "marks"
    stack.worker(concurrency=2)
    stack.beat()
    # Redis goes away while a job runs, so its acknowledgement fails too.
    insert_job(db, "before", job_type="test.sleep", params={"seconds": 1.5, "mark_file": str(mark)})
    wait_until(lambda: mark.exists() and mark.read_text())
    own_redis.stop()
    for i in range(100):
        insert_job(db, f"job-{i}", params={"mark_file": str(mark)})
    time.sleep(3.0)
    own_redis.start()
    wait_until(lambda: len(completed_counts(db)) == 101, timeout=90)
    wait_until(lambda: broker_drained(own_redis.url, stack.env()["TASKS_QUEUE"]), timeout=30)
    assert set(completed_counts(db).values()) == {1}
    ran = Counter(line.split()[0] for line in mark.read_text().splitlines())
    assert len(ran) == 101
    assert set(ran.values()) == {1}, "a handler ran twice"
    assert "redis unavailable" in (tmp_path / "beat.log").read_text()


def test_postgres_connections_terminated_under_load(
    stack: Stack, db: psycopg.Connection[Any], db_url: str
) -> None:
    stack.extra_env.update(FAST_RECOVERY)
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 20, queue_timeout_seconds = 5")
    for i in range(150):
        insert_job(db, f"job-{i}")
    stack.worker(concurrency=2)
    stack.beat()
    dbname = db.info.dbname
    stop = threading.Event()

    def terminator() -> None:
        with connect(db_url) as killer:
            while not stop.wait(0.4):
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    (dbname,),
                )

    thread = threading.Thread(target=terminator)
    thread.start()
    try:
        time.sleep(4.0)
    finally:
        stop.set()
        thread.join()
    with connect(db_url) as fresh:
        wait_until(lambda: len(completed_counts(fresh)) == 150, timeout=90)
        wait_until(lambda: broker_drained(stack.redis_url, stack.env()["TASKS_QUEUE"]))
        assert set(completed_counts(fresh).values()) == {1}
        statuses = fresh.execute("SELECT DISTINCT status::text AS s FROM scheduled_jobs").fetchall()
        assert [r["s"] for r in statuses] == ["completed"]


def test_postgres_outage_handler_result_recorded_on_return(
    stack: Stack, own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    stack.db_url = own_postgres.url
    stack.extra_env.update({"TASKS_LEASE_SECONDS": "60", "TASKS_REAP_SECONDS": "0.5"})
    mark = tmp_path / "marks"
    with connect(own_postgres.url) as conn:
        insert_job(
            conn, "slow", job_type="test.sleep", params={"seconds": 2, "mark_file": str(mark)}
        )
    stack.worker(concurrency=1)
    stack.beat()
    wait_until(lambda: mark.exists() and mark.read_text(), timeout=20)
    own_postgres.stop("fast")
    time.sleep(4.0)  # the handler finishes while Postgres is away
    own_postgres.start()
    with connect(own_postgres.url) as conn:
        wait_until(lambda: job(conn, "slow")["status"] == "completed", timeout=60)
        [run] = executions(conn, "slow")
        assert run["status"] == "completed"
        assert run["output"] == {"slept": 2}
        insert_job(conn, "after")  # the beat recovered without an operator
        wait_until(lambda: job(conn, "after")["status"] == "completed", timeout=30)
    worker_log = (tmp_path / "w1.log").read_text()
    assert "error connecting" in worker_log or "postgres unavailable" in worker_log
    beat_log = (tmp_path / "beat.log").read_text()
    assert "error connecting" in beat_log or "postgres unavailable" in beat_log
    assert len(mark.read_text().splitlines()) == 1


def test_a_handler_past_its_timeout_is_stopped_and_retried(
    stack: Stack, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    db.execute(
        "UPDATE scheduler_config"
        " SET retry_base_seconds = 1, max_concurrent_jobs = 1, max_retries = 1"
    )
    mark = tmp_path / "marks"
    insert_job(db, "slow", job_type="test.sleep", params={"seconds": 30, "mark_file": str(mark)})
    db.execute("UPDATE scheduled_jobs SET timeout_seconds = 1 WHERE id = 'slow'")
    stack.worker(concurrency=2)
    stack.beat()
    wait_until(lambda: job(db, "slow")["status"] == "failed", timeout=40)
    runs = executions(db, "slow")
    assert [r["status"] for r in runs] == ["failed", "failed"]
    assert all(r["error_message"].startswith("SoftTimeLimitExceeded") for r in runs)
    assert all(r["duration_ms"] < 5000 for r in runs)  # stopped, not left running
    # The retry started only after the first attempt had ended.
    assert runs[1]["started_at"] >= runs[0]["completed_at"]
