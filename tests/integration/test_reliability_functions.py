"""009_reliability's functions against real Postgres: start_job's lease and
deadline, renew_job_lease_v1, republish_queued_v1."""

from __future__ import annotations

import functools
from datetime import timedelta

import pytest
from psycopg import errors

from tests import support
from tests.integration.sql_support import T0, execution, job

insert_job = functools.partial(support.insert_job, scheduled_for=T0)


def reap(db, now):
    return db.execute("SELECT * FROM reap_expired_v1(%s, 500)", (now,)).fetchall()


def start_job(db, job_id):
    return db.execute("SELECT start_job(%s, 'manual') AS id", (job_id,)).fetchone()["id"]


def test_start_job_gives_a_lease_and_the_jobs_deadline(db):
    insert_job(db, "ext", timeout_seconds=600)
    before = db.execute("SELECT now() AS t").fetchone()["t"]
    run = execution(db, start_job(db, "ext"))
    assert run["lease_expires_at"] - run["started_at"] == timedelta(seconds=300)
    assert run["deadline_at"] - run["started_at"] == timedelta(seconds=600)
    assert run["started_at"] >= before


def test_a_lost_external_execution_is_reaped_and_retried(db):
    insert_job(db, "ext")
    exec_id = start_job(db, "ext")
    started = execution(db, exec_id)["started_at"]
    assert reap(db, started + timedelta(seconds=299)) == []
    [reaped] = reap(db, started + timedelta(seconds=301))
    assert (reaped["kind"], reaped["execution_id"]) == ("abandoned", exec_id)
    run = execution(db, exec_id)
    assert run["status"] == "abandoned"
    assert run["error_message"].startswith("lease expired: worker unknown")
    assert job(db, "ext")["next_trigger"] == "retry"


def test_renewal_keeps_an_external_execution_alive_until_it_is_lost(db):
    insert_job(db, "ext")
    exec_id = start_job(db, "ext")
    started = execution(db, exec_id)["started_at"]
    renew = "SELECT renew_job_lease_v1(%s, %s, %s, %s) AS ok"
    at = started + timedelta(seconds=250)
    assert db.execute(renew, ("ext", exec_id, 120, at)).fetchone()["ok"] is True
    assert execution(db, exec_id)["lease_expires_at"] == at + timedelta(seconds=120)
    assert reap(db, started + timedelta(seconds=301)) == []
    # Someone else's job id cannot keep it alive.
    assert db.execute(renew, ("other", exec_id, 120, at)).fetchone()["ok"] is False
    [_] = reap(db, at + timedelta(seconds=121))
    # Lost: the executor learns it must stop, and complete_job refuses it.
    assert db.execute(renew, ("ext", exec_id, 120, at)).fetchone()["ok"] is False
    with pytest.raises(errors.RaiseException, match="is not running"):
        db.execute("SELECT complete_job('ext', %s, NULL)", (exec_id,))


@pytest.mark.parametrize("lease", [None, 2, 86401])
def test_renewal_refuses_a_lease_out_of_bounds(db, lease):
    insert_job(db, "ext")
    exec_id = start_job(db, "ext")
    with pytest.raises(errors.InvalidParameterValue, match="lease_seconds must be between"):
        db.execute("SELECT renew_job_lease_v1('ext', %s, %s)", (exec_id, lease))


def test_republish_returns_every_queued_claim_under_its_dispatch_id(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 10")
    insert_job(db, "low", priority="low")
    insert_job(db, "crit", priority="critical")
    insert_job(db, "later", scheduled_for=T0 + timedelta(hours=1))
    claimed = db.execute("SELECT * FROM claim_due_jobs_v1(10, %s)", (T0,)).fetchall()
    ids = {r["job_id"]: r["dispatch_id"] for r in claimed}
    insert_job(db, "running")
    [run] = db.execute("SELECT * FROM claim_due_jobs_v1(10, %s)", (T0,)).fetchall()
    db.execute(
        "SELECT * FROM start_execution_v1('running', %s, 'w', 't', 30, %s)",
        (run["dispatch_id"], T0),
    )
    later = T0 + timedelta(seconds=40)
    rows = db.execute("SELECT * FROM republish_queued_v1(%s)", (later,)).fetchall()
    assert [r["job_id"] for r in rows] == ["crit", "low"]
    assert {r["job_id"]: r["dispatch_id"] for r in rows} == ids
    assert job(db, "low")["status"] == "queued"
    assert job(db, "low")["queued_at"] == later
    assert job(db, "running")["status"] == "running"


def test_each_new_function_is_granted_to_the_role_that_calls_it(db):
    # The beat re-publishes; an executor in another language starts with the
    # seed's start_job and renews its lease. A worker role has neither.
    for signature, caller in (
        ("republish_queued_v1(timestamptz)", "meal_scheduler_beat"),
        ("renew_job_lease_v1(text, bigint, integer, timestamptz)", "meal_scheduler_executor"),
        ("start_job(text, text)", "meal_scheduler_executor"),
    ):
        row = db.execute(
            "SELECT has_function_privilege(%s, %s, 'EXECUTE') AS caller,"
            " has_function_privilege('meal_scheduler_worker', %s, 'EXECUTE') AS worker,"
            " has_function_privilege('public', %s, 'EXECUTE') AS public,"
            " (SELECT prosecdef FROM pg_proc WHERE oid = %s::regprocedure) AS definer",
            (caller, signature, signature, signature, signature),
        ).fetchone()
        assert (row["caller"], row["worker"], row["public"], row["definer"]) == (
            True,
            False,
            False,
            True,
        ), signature
