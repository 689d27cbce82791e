"""The rescuer's outage rule: no lease is abandoned until Postgres has been
reachable for a full lease period (a fixed clock stands in for time)."""

from __future__ import annotations

from typing import Any

import psycopg

from tasks.db import Database
from tasks.rescuer import Rescuer
from tests.support import insert_job


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def expired_execution(db: psycopg.Connection[Any]) -> int:
    """A running execution whose lease ran out a minute ago."""
    insert_job(db, "job")
    [claim] = db.execute("SELECT * FROM claim_due_jobs_v1(1, now())").fetchall()
    [row] = db.execute(
        "SELECT * FROM start_execution_v1('job', %s, 'w/1', 't', 10, now() - interval '70 s')",
        (claim["dispatch_id"],),
    ).fetchall()
    return int(row["execution_id"])


def status(db: psycopg.Connection[Any], execution_id: int) -> str:
    row = db.execute("SELECT status::text AS s FROM job_executions WHERE id = %s", (execution_id,))
    return str(row.fetchone()["s"])  # type: ignore[index]


def test_a_fresh_rescuer_waits_one_lease_before_it_abandons(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    execution_id = expired_execution(db)
    clock = Clock()
    rescuer = Rescuer(database, lease_seconds=10, clock=clock)
    assert rescuer.run_once().held_back
    clock.t += 9.9
    assert rescuer.run_once().held_back
    assert status(db, execution_id) == "running"
    clock.t += 0.2
    result = rescuer.run_once()
    assert (result.held_back, result.abandoned) == (False, 1)
    assert status(db, execution_id) == "abandoned"


def test_after_postgres_was_unreachable_it_waits_one_lease_again(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    clock = Clock()
    rescuer = Rescuer(database, lease_seconds=10, clock=clock)
    rescuer.run_once()
    clock.t += 60
    assert not rescuer.run_once().held_back
    execution_id = expired_execution(db)  # e.g. its worker could not renew meanwhile
    rescuer.unreachable()
    clock.t += 1
    assert rescuer.run_once().held_back  # reachable again from here
    clock.t += 9.9
    assert rescuer.run_once().held_back
    clock.t += 0.2
    assert rescuer.run_once().held_back is False
    assert status(db, execution_id) == "abandoned"


def test_a_server_up_for_less_than_a_lease_holds_the_reaper_back(database: Database) -> None:
    # The server's own uptime counts too (a restart the beat did not see):
    # with a lease longer than this server has been up, nothing is reaped.
    clock = Clock()
    rescuer = Rescuer(database, lease_seconds=10**9, clock=clock)
    rescuer.run_once()
    clock.t += 2 * 10**9
    assert rescuer.run_once().held_back
