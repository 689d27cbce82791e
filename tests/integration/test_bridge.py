"""The bridge in one process: claim -> publish -> in-process Celery worker -> Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker

from tasks.beat import publish_jobs
from tasks.celery_app import create_app
from tasks.db import Database
from tasks.models import ClaimedJob
from tasks.producer import Producer
from tasks.settings import Settings
from tests.support import executions, insert_job, job, wait_until


@pytest.fixture
def app(db_url: str, redis_url: str) -> Iterator[Celery]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "TASKS_HANDLER_MODULES": "tests.handlers_for_tests",
            # A queue of the test's own: nothing left from another test can consume it.
            "TASKS_QUEUE": "q_" + db_url.rsplit("/", 1)[1],
        }
    )
    app = create_app(settings)
    yield app
    app.meal_runtime.db.close()


@pytest.fixture
def worker(app: Celery) -> Iterator[Any]:
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=10
    ) as w:
        yield w


def producer_for(app: Celery, database: Database) -> Producer:
    queue = app.meal_runtime.settings.queue
    return Producer(database, lambda jobs: publish_jobs(app, queue, jobs), 100)


def test_a_once_job_completes_with_its_execution_row(
    app: Celery, worker: Any, database: Database, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "once-1")
    result = producer_for(app, database).run_once()
    assert (result.claimed, result.published) == (1, 1)
    wait_until(lambda: job(db, "once-1")["status"] == "completed")
    [run] = executions(db, "once-1")
    assert run["status"] == "completed"
    assert run["trigger_type"] == "scheduled"
    assert run["output"] == {"job": "once-1", "trigger": "scheduled", "attempt": 1}
    assert run["duration_ms"] is not None
    assert run["celery_task_id"] == f"dispatch-{run['dispatch_id']}"


def test_a_duplicated_message_runs_the_handler_once(
    app: Celery, database: Database, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    mark = tmp_path / "marks"
    insert_job(db, "dup-1", params={"mark_file": str(mark)})
    sent: list[ClaimedJob] = []
    queue = app.meal_runtime.settings.queue

    def publish_twice(jobs: Any) -> None:
        sent.extend(jobs)
        publish_jobs(app, queue, jobs)
        publish_jobs(app, queue, jobs)

    Producer(database, publish_twice, 10).run_once()
    assert len(sent) == 1
    with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False):
        wait_until(lambda: job(db, "dup-1")["status"] == "completed")
        # Give the second copy time to be consumed and ignored.
        wait_until(lambda: _queue_empty(app), timeout=10)
    assert len(mark.read_text().splitlines()) == 1
    assert len(executions(db, "dup-1")) == 1


def _queue_empty(app: Celery) -> bool:
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        keys = client.keys(f"{app.meal_runtime.settings.queue}*")
        return all(client.llen(k) == 0 for k in keys)


def test_every_message_reaches_its_queue_before_any_worker_declared_it(
    app: Celery, database: Database, db: psycopg.Connection[Any]
) -> None:
    # The first publish to a queue declares it (its binding in Redis), as
    # kombu would; later ones skip kombu's per-message declaration
    # (tasks.beat.publish_jobs). Every message lands either way.
    for i in range(3):
        insert_job(db, f"nobody-{i}", "test.nobody_handles_this")
    sent: list[ClaimedJob] = []
    queue = app.meal_runtime.settings.queue

    def one_at_a_time(jobs: Any) -> None:
        for claimed in jobs:
            sent.append(claimed)
            publish_jobs(app, queue, [claimed])

    Producer(database, one_at_a_time, 10).run_once()
    assert len(sent) == 3
    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        name = f"{queue}.test.nobody_handles_this"
        # One list per priority step: the queue's name, then its step.
        assert sum(client.llen(k) for k in client.keys(f"{name}*")) == 3
        bindings = client.smembers(f"_kombu.binding.{name}")
    assert len(bindings) == 1


def test_a_failed_publish_hands_the_claim_back(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "lost-1")

    def broken(jobs: Any) -> None:
        raise ConnectionError("redis is down")

    with pytest.raises(ConnectionError):
        Producer(database, broken, 10).run_once()
    row = job(db, "lost-1")
    assert row["status"] == "pending"
    assert row["dispatch_id"] is None
    assert executions(db, "lost-1") == []


def test_an_unknown_job_type_waits_in_its_own_queue(
    app: Celery, worker: Any, database: Database, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "unknown-1", job_type="no.such.type")
    insert_job(db, "known-1")
    producer_for(app, database).run_once()
    wait_until(lambda: job(db, "known-1")["status"] == "completed")
    # No worker consumes the type's queue: the job waits, it never fails.
    consumed = {q.name for q in worker.consumer.task_consumer.queues}
    assert app.meal_runtime.settings.queue + ".no.such.type" not in consumed
    assert app.meal_runtime.settings.queue + ".test.noop" in consumed
    assert job(db, "unknown-1")["status"] == "queued"
    assert executions(db, "unknown-1") == []


def test_a_handler_error_is_recorded_and_retried_by_postgres(
    app: Celery, worker: Any, database: Database, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "fail-1", job_type="test.fail")
    producer_for(app, database).run_once()
    wait_until(lambda: [e for e in executions(db, "fail-1") if e["status"] == "failed"])
    [run] = executions(db, "fail-1")
    assert run["error_message"] == "RuntimeError: boom on attempt 1"
    row = job(db, "fail-1")
    assert row["status"] == "pending"
    assert row["next_trigger"] == "retry"
    assert row["error_count"] == 1


def test_output_that_is_not_json_fails_the_execution(
    app: Celery, worker: Any, database: Database, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "bad-out-1", job_type="test.bad_output")
    producer_for(app, database).run_once()
    wait_until(lambda: [e for e in executions(db, "bad-out-1") if e["status"] == "failed"])
    [run] = executions(db, "bad-out-1")
    assert run["error_message"].startswith("HandlerError: handler output is not JSON")


@pytest.mark.parametrize(
    ("job_type", "message"),
    [
        (
            "test.nul_output",
            "HandlerError: output could not be stored: unsupported Unicode escape sequence:"
            " \\u0000 cannot be converted to text.",
        ),
        ("test.nul_error", "ValueError: bad byte \\x00 in input"),
    ],
)
def test_output_or_error_postgres_refuses_fails_the_attempt_at_once(
    app: Celery,
    worker: Any,
    database: Database,
    db: psycopg.Connection[Any],
    tmp_path: Path,
    job_type: str,
    message: str,
) -> None:
    mark = tmp_path / "marks"
    insert_job(db, "nul-1", job_type=job_type, params={"mark_file": str(mark)})
    producer_for(app, database).run_once()
    wait_until(lambda: [e for e in executions(db, "nul-1") if e["status"] != "running"])
    [run] = executions(db, "nul-1")
    # Recorded as a failure with the cause, not left to a lease that runs out.
    assert (run["status"], run["error_message"]) == ("failed", message)
    assert job(db, "nul-1")["next_trigger"] == "retry"
    assert len(mark.read_text().splitlines()) == 1


def test_critical_is_claimed_before_a_backlog_of_low(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 3")
    for i in range(20):
        insert_job(db, f"low-{i}", priority="low", due="now() - interval '1 hour'")
    insert_job(db, "crit-1", priority="critical")
    published: list[ClaimedJob] = []
    Producer(database, published.extend, 100).run_once()
    assert [j.job_id for j in published][:1] == ["crit-1"]
    assert len(published) == 3  # never more than max_concurrent_jobs active


def test_prune_history_walks_every_batch(database: Database, db: psycopg.Connection[Any]) -> None:
    from tasks.rescuer import prune_history

    insert_job(db, "old", due="now() + interval '1 day'")
    db.execute(
        "INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, started_at,"
        " completed_at) SELECT 'old', 'completed', 'scheduled', 1,"
        " now() - interval '100 days' - g * interval '1 minute',"
        " now() - interval '100 days' - g * interval '1 minute' + interval '1 second'"
        " FROM generate_series(1, 2500) g"
    )
    assert prune_history(database, older_than_days=90, keep_per_job=10, batch=1000) == 2490
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 10


def test_retention_runs_as_a_redbeat_entry(app: Celery) -> None:
    entry = app.conf.beat_schedule["prune-execution-history"]
    assert entry["task"] == "meal_scheduler.prune_history"
    assert "meal_scheduler.prune_history" in app.tasks


def test_the_beat_sleeps_until_the_next_job_falls_due(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    producer = Producer(database, lambda jobs: None, 10)
    assert producer.seconds_until_due(1.0) == 1.0  # nothing pending
    insert_job(db, "soon", due="now() + interval '300 milliseconds'")
    assert 0.1 < producer.seconds_until_due(1.0) <= 0.3
    insert_job(db, "due", due="now() - interval '1 second'")
    # Due but unclaimed: look again at once; still there: it is held back.
    assert producer.seconds_until_due(1.0) == 0.0
    assert producer.seconds_until_due(1.0) == 1.0
