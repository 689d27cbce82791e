"""What tasks.execution.run tells Celery: AttemptFailed after Postgres recorded the failure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tasks import store
from tasks.db import Database
from tasks.errors import AttemptFailed
from tasks.execution import Attempt, run
from tasks.handlers import load_handler_modules
from tasks.leases import LeaseKeeper
from tests.support import executions, insert_job, job


@pytest.fixture
def leases(database: Database) -> Iterator[LeaseKeeper]:
    load_handler_modules(("tests.handlers_for_tests",), strict=True)
    yield LeaseKeeper(database, 30)


def claim(database: Database) -> Attempt:
    [claimed] = store.claim_due_jobs(database, 1)
    return Attempt(
        claimed.job_id,
        claimed.dispatch_id,
        claimed.task_id,
        "test/1",
        dispatch_key=claimed.dispatch_key,
    )


def test_a_failed_attempt_raises_after_postgres_recorded_it(
    database: Database, leases: LeaseKeeper, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "bad", "test.fail")
    attempt = claim(database)
    with pytest.raises(AttemptFailed, match="RuntimeError: boom on attempt 1") as raised:
        run(database, leases, attempt, raise_failure=True)
    assert isinstance(raised.value.__cause__, RuntimeError)  # the handler's own exception
    [execution] = executions(db, "bad")
    assert execution["status"] == "failed"
    assert job(db, "bad")["next_trigger"] == "retry"  # Postgres decided the retry
    # The same message again is a duplicate: no exception, no second attempt.
    assert run(database, leases, attempt, raise_failure=True) == "duplicate"
    assert len(executions(db, "bad")) == 1


def test_without_raise_failure_the_outcome_is_returned(
    database: Database, leases: LeaseKeeper, db: psycopg.Connection[Any]
) -> None:
    insert_job(db, "bad", "test.fail")
    assert run(database, leases, claim(database)) == "failed"
    insert_job(db, "ok", "test.noop")
    assert run(database, leases, claim(database), raise_failure=True) == "completed"
