"""A worker without a job type's handler never gets that job: real workers, beat, CLI."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Stack
from tests.support import REPO, executions, insert_job, job, stop, wait_until

pytestmark = pytest.mark.slow


def heartbeats(db: psycopg.Connection[Any]) -> dict[str, list[str]]:
    rows = db.execute("SELECT node_name, job_types FROM worker_heartbeats").fetchall()
    return {r["node_name"].split("@")[0]: r["job_types"] for r in rows}


def scheduler_status(stack: Stack) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tasks", "scheduler", "status"],
        env=stack.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def test_every_run_completes_on_the_worker_that_has_the_handler(
    stack: Stack, db: psycopg.Connection[Any]
) -> None:
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 50")
    for i in range(30):
        insert_job(db, f"noop-{i}", "test.noop")
    insert_job(db, "ghost", "no.such.type")
    stack.worker("with", concurrency=2)
    without = stack.worker("without", concurrency=2, env={"TASKS_HANDLER_MODULES": ""})
    wait_until(lambda: set(heartbeats(db)) == {"with", "without"})
    workers = heartbeats(db)
    assert "test.noop" in workers["with"] and "test.noop" not in workers["without"]
    assert "weekly_generation" in workers["without"]  # the built-in handlers

    stack.beat()
    wait_until(lambda: all(job(db, f"noop-{i}")["status"] == "completed" for i in range(30)))
    runs = [r for r in executions(db) if r["job_id"].startswith("noop-")]
    assert len(runs) == 30
    assert {r["status"] for r in runs} == {"completed"}
    assert {r["worker"].split("@")[0] for r in runs} == {"with"}

    # The job nobody can run waits, and the operator is told why.
    assert job(db, "ghost")["status"] == "queued"
    assert executions(db, "ghost") == []
    status = scheduler_status(stack)
    assert "no live worker handles no.such.type (1 jobs)" in status
    assert "2 live, handling " in status and "no live worker handles test.noop" not in status

    # A clean shutdown removes the worker's heartbeat at once.
    assert stop(without) == 0
    wait_until(lambda: set(heartbeats(db)) == {"with"})
