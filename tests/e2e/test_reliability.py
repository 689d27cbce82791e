"""Reliability faults of issue 13, caused for real with prefork workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Stack
from tests.support import (
    OwnPostgres,
    OwnRedis,
    connect,
    executions,
    free_port,
    insert_job,
    job,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """An HTTP server that answers nothing for 60 s (a Tandoor that hangs)."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(60)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


def test_a_timed_out_sync_is_recorded_as_a_timeout(
    stack: Stack, db: psycopg.Connection[Any], hanging_server: str, tmp_path: Path
) -> None:
    # auto_sync isolates failures per part and per user with broad handlers;
    # the soft time limit must still end the run at once.
    stack.extra_env.update({"TASKS_TANDOOR_URL": hanging_server, "TASKS_TANDOOR_TOKEN": "token"})
    db.execute("UPDATE scheduler_config SET retry_base_seconds = 60, max_retries = 1")
    insert_job(db, "sync", job_type="auto_sync")
    db.execute("UPDATE scheduled_jobs SET timeout_seconds = 2 WHERE id = 'sync'")
    stack.worker(concurrency=1)
    stack.beat()
    started = time.monotonic()
    wait_until(lambda: [e for e in executions(db, "sync") if e["status"] != "running"], timeout=30)
    [run] = executions(db, "sync")
    assert run["status"] == "failed"
    assert run["error_message"] == (
        "SoftTimeLimitExceeded: timed out after 2 s (the job's timeout_seconds)"
    )
    # Stopped by the soft limit, not by the hard kill 10 s later or a lease.
    assert run["duration_ms"] < 5000
    assert time.monotonic() - started < 20


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def statuses(db: psycopg.Connection[Any]) -> dict[str, str]:
    rows = db.execute("SELECT id, status::text AS s FROM scheduled_jobs").fetchall()
    return {r["id"]: r["s"] for r in rows}


def test_jobs_lost_with_redis_start_within_seconds_of_its_return(
    stack: Stack, db: psycopg.Connection[Any], own_redis: OwnRedis, tmp_path: Path
) -> None:
    # queue_timeout_seconds stays at its default (300 s): the reaper's
    # re-queue cannot be what brings these jobs back.
    stack.redis_url = own_redis.url
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 20")
    mark = tmp_path / "marks"
    stack.beat()
    for i in range(10):
        insert_job(db, f"job-{i}", params={"mark_file": str(mark)})
    # No worker yet: the 10 messages wait in Redis.
    wait_until(lambda: set(statuses(db).values()) == {"queued"}, timeout=20)
    own_redis.stop()
    own_redis.start()  # empty: no persistence
    back = time.monotonic()
    stack.worker(concurrency=2)
    wait_until(lambda: set(statuses(db).values()) == {"completed"}, timeout=30)
    # The worker's own start-up takes a few seconds of this on a busy host.
    assert time.monotonic() - back < 15
    ran = [line.split()[0] for line in mark.read_text().splitlines()]
    assert sorted(ran) == sorted(f"job-{i}" for i in range(10))
    beat_log = (tmp_path / "beat.log").read_text()
    assert "redis lost its data" in beat_log
    assert "queued jobs re-published" in beat_log


def test_a_worker_that_cannot_reach_postgres_hands_the_message_back(
    stack: Stack, db: psycopg.Connection[Any], db_url: str, tmp_path: Path
) -> None:
    good_url = stack.db_url
    stack.extra_env["TASKS_QUEUE"] = stack.env()["TASKS_QUEUE"]  # named after the database
    stack.db_url = f"postgresql://root@127.0.0.1:{free_port()}/nowhere"  # nothing listens
    stack.worker("bad", concurrency=1)
    stack.db_url = good_url
    stack.beat()
    insert_job(db, "job")
    log = tmp_path / "bad.log"
    # Handed back, not lost: the bad worker publishes the message again and,
    # while it is the first to ask Redis, receives it again (docs/reliability.md).
    wait_until(lambda: log.read_text().count("message handed back") >= 2, timeout=60)
    assert job(db, "job")["status"] == "queued" and executions(db, "job") == []
    stop(stack.procs.pop("bad"))  # a graceful stop returns the message it holds
    stack.worker("good", concurrency=1)
    # Well before queue_timeout_seconds (300 s): nothing waited for the reaper.
    wait_until(lambda: job(db, "job")["status"] == "completed", timeout=60)
    [run] = executions(db, "job")
    assert run["worker"].startswith("good@")


def test_postgres_away_four_leases_runs_every_handler_exactly_once(
    stack: Stack, own_postgres: OwnPostgres, tmp_path: Path
) -> None:
    stack.db_url = own_postgres.url
    stack.extra_env.update({"TASKS_LEASE_SECONDS": "10", "TASKS_REAP_SECONDS": "0.5"})
    mark = tmp_path / "marks"
    names = [f"slow-{i}" for i in range(4)] + [f"quick-{i}" for i in range(30)]
    with connect(own_postgres.url) as conn:
        conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = 20")
        for i in range(4):
            # Two finish during the outage, two run on after it.
            params = {"seconds": 5 if i < 2 else 45, "mark_file": str(mark)}
            insert_job(conn, f"slow-{i}", job_type="test.sleep", params=params)
        for i in range(30):  # some fall due while Postgres is away
            due = f"now() + interval '{i} seconds'"
            insert_job(conn, f"quick-{i}", params={"mark_file": str(mark)}, due=due)
    stack.worker("w1", concurrency=2)
    stack.worker("w2", concurrency=2)
    stack.beat()
    # Stopped while handlers run: their leases run out four times over.
    wait_until(lambda: mark.exists() and "slow-" in mark.read_text(), timeout=60)
    own_postgres.stop("fast")
    time.sleep(40.0)
    own_postgres.start()
    with connect(own_postgres.url) as conn:

        def finished() -> bool:
            rows = conn.execute("SELECT DISTINCT status::text AS s FROM scheduled_jobs")
            return [r["s"] for r in rows.fetchall()] == ["completed"]

        wait_until(finished, timeout=120)
        runs = executions(conn)
    assert sorted(r["job_id"] for r in runs) == sorted(names)
    assert {r["status"] for r in runs} == {"completed"}, [
        (r["job_id"], r["status"], r["error_message"]) for r in runs if r["status"] != "completed"
    ]
    ran = sorted(line.split()[0] for line in mark.read_text().splitlines())
    assert ran == sorted(names), "a handler ran twice or never"
    assert "reaper held back" in (tmp_path / "beat.log").read_text()
