"""Shared commits: a completion commits with the next start, or alone after the linger."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import tests.handlers_for_tests  # noqa: F401 - registers test.noop
from tasks import store
from tasks.commits import SharedCommits, can_share
from tasks.db import Database
from tasks.errors import InvalidTransition
from tasks.execution import Attempt, run
from tasks.handlers import JobContext, job_handler
from tasks.ids import JobId
from tasks.leases import LeaseKeeper
from tests.support import executions, insert_job, wait_until


@job_handler("test.accented_output")
def accented(ctx: JobContext) -> dict[str, Any]:
    return {"dish": "crème brûlée"}


def claim(database: Database, db: psycopg.Connection[Any], *ids: str, **kw: Any) -> list[Attempt]:
    for job_id in ids:
        insert_job(db, job_id, **kw)
    claimed = {c.job_id: c for c in store.claim_due_jobs(database, 10)}
    return [
        Attempt(
            JobId(i),
            claimed[JobId(i)].dispatch_id,
            f"task-{i}",
            "test-worker",
            dispatch_key=claimed[JobId(i)].dispatch_key,
        )
        for i in ids
    ]


def status_and_xmin(db: psycopg.Connection[Any], job_id: str) -> tuple[str, str]:
    row = db.execute(
        "SELECT status::text AS status, xmin::text AS xmin FROM job_executions WHERE job_id = %s",
        (job_id,),
    ).fetchone()
    assert row is not None
    return row["status"], row["xmin"]


@pytest.fixture
def leases(database: Database) -> LeaseKeeper:
    return LeaseKeeper(database, 30)


def test_a_completion_commits_with_the_next_start(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    first, second = claim(database, db, "a", "b")
    commits = SharedCommits(database, linger_seconds=60)
    assert run(database, leases, first, commits=commits) == "completed"
    # The handler returned; its completion waits for the next start.
    assert status_and_xmin(db, "a")[0] == "running"
    assert leases.held() == {executions(db, "a")[0]["id"]}
    assert run(database, leases, second, commits=commits) == "completed"
    a_status, a_xmin = status_and_xmin(db, "a")
    b_status, b_xmin = status_and_xmin(db, "b")
    assert (a_status, b_status) == ("completed", "running")
    assert a_xmin == b_xmin  # one transaction: a's completion and b's start
    commits.flush()  # what a stopping worker process does
    assert status_and_xmin(db, "b")[0] == "completed"
    assert executions(db, "a")[0]["output"] == {"job": "a", "trigger": "scheduled", "attempt": 1}
    assert leases.held() == frozenset()


def test_without_a_next_job_the_completion_commits_after_the_linger(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    [only] = claim(database, db, "a")
    commits = SharedCommits(database, linger_seconds=0.05)
    assert run(database, leases, only, commits=commits) == "completed"
    wait_until(lambda: status_and_xmin(db, "a")[0] == "completed", timeout=5)
    wait_until(lambda: not leases.held(), timeout=5)


def test_every_completion_commits_after_its_linger_however_they_arrive(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    a, b, c = claim(database, db, "a", "b", "c")
    commits = SharedCommits(database, linger_seconds=0.3)
    assert run(database, leases, a, commits=commits) == "completed"  # wakes the thread
    # b's start takes a's completion; b's completion arrives while the thread
    # sleeps toward a's deadline, so nothing wakes it: it must still commit.
    assert run(database, leases, b, commits=commits) == "completed"
    assert status_and_xmin(db, "a")[0] == "completed"
    assert status_and_xmin(db, "b")[0] == "running"
    wait_until(lambda: status_and_xmin(db, "b")[0] == "completed", timeout=5)
    wait_until(lambda: commits._pending is None and not commits._armed, timeout=5)
    # The thread went idle; the next completion wakes it again.
    assert run(database, leases, c, commits=commits) == "completed"
    wait_until(lambda: status_and_xmin(db, "c")[0] == "completed", timeout=5)
    assert leases.held() == frozenset()


def test_a_forked_process_wakes_its_own_thread(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    [only] = claim(database, db, "a")
    commits = SharedCommits(database, linger_seconds=0.05)
    # What a child inherits from a parent whose thread was awake at the fork.
    commits._armed, commits._pid = True, -1
    assert run(database, leases, only, commits=commits) == "completed"
    wait_until(lambda: status_and_xmin(db, "a")[0] == "completed", timeout=5)


def test_output_postgres_could_refuse_is_recorded_before_the_task_returns(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    [only] = claim(database, db, "a", job_type="test.accented_output")
    commits = SharedCommits(database, linger_seconds=60)
    assert run(database, leases, only, commits=commits) == "completed"
    assert status_and_xmin(db, "a")[0] == "completed"
    assert executions(db, "a")[0]["output"] == {"dish": "crème brûlée"}


def test_a_failing_start_does_not_lose_the_waiting_completion(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    [only] = claim(database, db, "a")
    commits = SharedCommits(database, linger_seconds=60)
    assert run(database, leases, only, commits=commits) == "completed"

    def refused(*args: Any) -> Any:
        raise InvalidTransition("refused")

    with pytest.raises(InvalidTransition):
        commits.start(refused, refused)
    assert status_and_xmin(db, "a")[0] == "completed"


def test_only_plain_ascii_output_waits() -> None:
    assert can_share(None)
    assert can_share('{"rows": 3, "name": "plain"}')
    assert not can_share('{"name": "cr\\u00e8me"}')
    assert not can_share('{"bad": "\\u0000"}')


def test_a_duplicate_message_after_a_waiting_completion_is_still_a_no_op(
    database: Database, db: psycopg.Connection[Any], leases: LeaseKeeper
) -> None:
    first, second = claim(database, db, "a", "b")
    commits = SharedCommits(database, linger_seconds=60)
    assert run(database, leases, first, commits=commits) == "completed"
    assert run(database, leases, second, commits=commits) == "completed"
    # The same message for b again, while b's completion waits.
    assert run(database, leases, second, commits=commits) == "duplicate"
    assert status_and_xmin(db, "b")[0] == "completed"  # committed with the refused start
    assert len(executions(db, "b")) == 1
