"""The bridge acks early and prefetches one message per pool process.

Postgres, not the broker, keeps work safe (a lease or a re-queued claim), so
the worker may fetch the next message while a job runs. What that must not
break: a critical job waits behind at most one prefetched job per pool
process, even with a backlog of low ones already in Redis.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis

from tasks.celery_app import celery_config
from tasks.settings import Settings
from tests.e2e.conftest import Stack
from tests.support import executions, insert_job, job, wait_until

pytestmark = pytest.mark.slow

CONCURRENCY = 2


def test_early_ack_with_one_message_prefetched_per_process(db_url: str, redis_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": db_url, "REDIS_URL": redis_url})
    config = celery_config(settings)
    assert config["task_acks_late"] is False
    assert config["worker_prefetch_multiplier"] == 1


def test_a_critical_job_waits_behind_at_most_one_prefetched_job_per_process(
    stack: Stack, db: psycopg.Connection[Any]
) -> None:
    # No cap: the whole low backlog goes to Redis at once.
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    for i in range(16):
        insert_job(db, f"low-{i}", job_type="test.sleep", priority="low", params={"seconds": 0.4})
    stack.worker(concurrency=CONCURRENCY)
    stack.beat()
    # Both processes busy, the next lows prefetched, the rest waiting in Redis.
    wait_until(lambda: len(executions(db)) >= 2 * CONCURRENCY, timeout=30)
    insert_job(db, "crit", job_type="test.sleep", priority="critical", params={"seconds": 0.1})
    # Counted from when its message is in Redis: a low job fetched before
    # (while the beat was waking up, or between its claim and its publish)
    # was not prefetched ahead of it. Critical is the list without a
    # priority suffix. If a waiting fetch took it at once, the claim is the
    # closest instant seen.
    broker = redis.Redis.from_url(stack.redis_url)
    crit_list = f"{stack.env()['TASKS_QUEUE']}.test.sleep"
    inserted_at = None

    def published() -> bool:
        nonlocal inserted_at
        in_redis = broker.llen(crit_list) > 0
        status = job(db, "crit")["status"]
        if inserted_at is None and status != "pending":
            inserted_at = db.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
        if in_redis:
            inserted_at = db.execute("SELECT clock_timestamp() AS t").fetchone()["t"]
        return in_redis or status in ("running", "completed")

    wait_until(published, timeout=30, interval=0.001)
    broker.close()
    wait_until(lambda: job(db, "crit")["status"] == "completed", timeout=30)
    runs = executions(db)
    crit = next(r for r in runs if r["job_id"] == "crit")
    lows_in_between = [
        r["job_id"]
        for r in runs
        if r["job_id"].startswith("low") and inserted_at < r["started_at"] < crit["started_at"]
    ]
    # At most the one message each process had prefetched when the critical one arrived.
    assert len(lows_in_between) <= CONCURRENCY, lows_in_between
    # ... and not behind the backlog.
    assert any(job(db, f"low-{i}")["status"] != "completed" for i in range(16))
