"""Issue 12's attacks, replayed with the login that made them (006_security).

Each test logs in as a real LOGIN role made for it (``login_as``, dropped
afterwards), tries what the review tried, and checks that it is refused or
changes nothing. docs/security.md lists each attack beside its test.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import psycopg
import psycopg.errors as pgerr
import pytest
from psycopg import sql

from tasks.db import Database
from tasks.migrate import migrate, rollback
from tasks.sql import queries
from tests.integration.conftest import url_as
from tests.support import connect, insert_job, job

RUNTIME = "meal_scheduler_runtime"
BEAT = "meal_scheduler_beat"
WORKER = "meal_scheduler_worker"
EXECUTOR = "meal_scheduler_executor"
CLOCK = "meal_scheduler_clock"
SAFE_PATH = "search_path=pg_catalog, public, pg_temp"


def q(conn: psycopg.Connection[Any], name: str, **params: Any) -> list[dict[str, Any]]:
    """Run a named query of queries.sql with ``params`` (NULL for the rest)."""
    query = queries[name]
    names = set(re.findall(r"%\((\w+)\)s", query.text))
    cur = conn.execute(query.text, {n: params.get(n) for n in names})
    return cur.fetchall() if cur.description else []


def claim_and_start(conn: psycopg.Connection[Any], job_id: str) -> tuple[int, str]:
    """(execution id, dispatch key) of the only due job: claimed, then
    started with its message's key."""
    [claim] = q(conn, "claim_due_jobs", limit=10)
    assert claim["job_id"] == job_id
    [started] = q(
        conn,
        "start_execution",
        job_id=job_id,
        dispatch_id=claim["dispatch_id"],
        dispatch_key=claim["dispatch_key"],
        worker="w1",
        celery_task_id=f"dispatch-{claim['dispatch_id']}",
        lease_seconds=30,
    )
    return started["execution_id"], claim["dispatch_key"]


# ---------------------------------------------------------------- 1. search_path


def test_every_function_pins_search_path_with_pg_temp_last(db: psycopg.Connection[Any]) -> None:
    """The audit: every function of the schema, from pg_proc, not a list."""
    rows = db.execute(
        "SELECT p.oid::regprocedure::text AS fn, coalesce(p.proconfig, '{}') AS config,"
        " p.prosecdef AS definer,"
        " has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec"
        " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace"
    ).fetchall()
    assert len(rows) > 40  # the whole schema, not an empty namespace
    unsafe = [r["fn"] for r in rows if SAFE_PATH not in r["config"]]
    assert unsafe == []
    open_definers = [r["fn"] for r in rows if r["definer"] and r["public_exec"]]
    assert open_definers == []


@pytest.mark.parametrize("vulnerable", [False, True], ids=["006", "as_before_006"])
def test_a_temp_view_cannot_run_code_as_the_owner(
    db: psycopg.Connection[Any], login_as: Callable[..., str], vulnerable: bool
) -> None:
    """Attack 1: pg_temp.evil() behind a temp view named like a table a
    helper reads (scheduler_state, read by notify_scheduler_slot_freed,
    fired inside the DEFINER release_claims_v1)."""
    if vulnerable:
        # The path the helper had before 006: the test can see the attack.
        db.execute(
            "ALTER FUNCTION notify_scheduler_slot_freed() SET search_path = pg_catalog, public"
        )
    insert_job(db, "victim")
    with connect(login_as(RUNTIME)) as attacker:
        attacker.execute(
            "CREATE FUNCTION pg_temp.evil() RETURNS boolean LANGUAGE sql AS"
            " 'UPDATE public.scheduler_config SET enabled = false; SELECT true'"
        )
        attacker.execute(
            "CREATE TEMP VIEW scheduler_state AS SELECT 1 AS id, pg_temp.evil() AS dispatch_capped"
        )
        [claim] = q(attacker, "claim_due_jobs", limit=10)
        q(attacker, "release_claims", dispatch_ids=[claim["dispatch_id"]])
    enabled = db.execute("SELECT enabled FROM scheduler_config").fetchone()
    assert enabled == {"enabled": not vulnerable}


def test_logins_cannot_create_temporary_objects(
    db_url: str, db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    # CREATE DATABASE ... TEMPLATE does not copy the database's ACL, so the
    # migration's REVOKE is applied here by running 006 again.
    database = Database(db_url)
    try:
        rollback(database, to=5)
        assert next(m.version for m in migrate(database)) == 6
    finally:
        database.close()
    with connect(login_as(RUNTIME)) as attacker:
        with pytest.raises(pgerr.InsufficientPrivilege):
            attacker.execute("CREATE TEMP TABLE scheduler_config (id integer)")
        with pytest.raises(pgerr.InsufficientPrivilege):
            attacker.execute(
                "CREATE FUNCTION pg_temp.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'"
            )


# ---------------------------------------------------------------- 2. roles, dispatch key


def test_a_worker_cannot_call_what_it_does_not_need(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 2a: start_job, complete_job, fail_job, get_next_pending_job,
    quarantine_job_v1 and the keyless v1 bridge, as the runtime login and as
    a worker login."""
    insert_job(db, "not-due", due="now() + interval '1 day'")
    for role in (RUNTIME, WORKER, BEAT):
        with connect(login_as(role)) as attacker:
            for statement in (
                "SELECT start_job('not-due', 'manual')",
                "SELECT complete_job('not-due', 1, '{}')",
                "SELECT fail_job('not-due', 1, 'x')",
                "SELECT get_next_pending_job()",
                "SELECT quarantine_job_v1('not-due', 'x')",
                "SELECT * FROM claim_due_jobs_v1(10)",
                "SELECT * FROM start_execution_v1('not-due', 1, 'w', 't', 30)",
                "SELECT complete_execution_v1(1, '{}')",
                "SELECT fail_execution_v1(1, 'x')",
                "SELECT * FROM renew_leases_v1('{1}', 30)",
                "SELECT scheduler_now_v1(NULL)",
            ):
                with pytest.raises(pgerr.InsufficientPrivilege):
                    attacker.execute(statement)
    assert job(db, "not-due")["status"] == "pending"


def test_the_executor_cannot_start_a_job_before_it_is_due_or_one_sent_to_a_worker(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 2b: start_job started any job, due or not."""
    insert_job(db, "tomorrow", due="now() + interval '1 day'")
    insert_job(db, "dispatched")
    with connect(login_as(BEAT)) as beat:
        q(beat, "claim_due_jobs", limit=10)
    with connect(login_as(EXECUTOR)) as executor:
        with pytest.raises(pgerr.RaiseException, match="not due until"):
            executor.execute("SELECT start_job('tomorrow', 'manual')")
        with pytest.raises(pgerr.RaiseException, match="dispatched to a worker"):
            executor.execute("SELECT start_job('dispatched', 'manual')")
    assert (job(db, "tomorrow")["status"], job(db, "dispatched")["status"]) == (
        "pending",
        "queued",
    )


def test_a_readable_dispatch_id_does_not_start_a_job(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 2c: dispatch_id is readable with a plain SELECT (it still is;
    it is no longer enough)."""
    insert_job(db, "victim")
    with connect(login_as(BEAT)) as beat:
        [claim] = q(beat, "claim_due_jobs", limit=10)
    with connect(login_as(RUNTIME)) as attacker:
        row = attacker.execute("SELECT * FROM scheduled_jobs WHERE id = 'victim'").fetchone()
        assert row is not None and row["dispatch_id"] == claim["dispatch_id"]
        real = claim["dispatch_key"]
        flipped = real[:-1] + ("1" if real.endswith("0") else "0")
        for key in (None, "", uuid.uuid4().hex * 2, flipped):
            started = q(
                attacker,
                "start_execution",
                job_id="victim",
                dispatch_id=row["dispatch_id"],
                dispatch_key=key,
                worker="attacker",
                celery_task_id="forged",
                lease_seconds=30,
            )
            assert started == []
    assert job(db, "victim")["status"] == "queued"
    # The message's own key still starts it.
    with connect(login_as(WORKER)) as worker:
        started = q(
            worker,
            "start_execution",
            job_id="victim",
            dispatch_id=claim["dispatch_id"],
            dispatch_key=claim["dispatch_key"],
            worker="w1",
            celery_task_id="t1",
            lease_seconds=30,
        )
    assert len(started) == 1


def test_a_worker_cannot_finish_or_renew_another_workers_execution(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 2d: fail_execution_v1 failed another worker's execution."""
    insert_job(db, "theirs")
    with connect(login_as(RUNTIME)) as owner_worker:
        execution_id, key = claim_and_start(owner_worker, "theirs")
    before = db.execute(
        "SELECT lease_expires_at FROM job_executions WHERE id = %s", (execution_id,)
    ).fetchone()
    with connect(login_as(WORKER)) as attacker:
        forged = str(uuid.uuid4())
        [failed] = q(
            attacker,
            "fail_execution",
            execution_id=execution_id,
            dispatch_key=forged,
            error="forged",
            final=True,
        )
        [completed] = q(
            attacker,
            "complete_execution",
            execution_id=execution_id,
            dispatch_key=forged,
            output='{"forged": true}',
        )
        lost = q(
            attacker,
            "renew_leases",
            execution_ids=[execution_id],
            dispatch_keys=[forged],
            lease_seconds=86400,
        )
    assert (failed["recorded"], completed["recorded"]) == (False, False)
    assert [r["lost"] for r in lost] == [execution_id]
    after = db.execute(
        "SELECT status::text AS status, lease_expires_at, output FROM job_executions WHERE id = %s",
        (execution_id,),
    ).fetchone()
    assert after == {
        "status": "running",
        "lease_expires_at": before["lease_expires_at"],
        "output": None,
    }
    # The executor's seed API cannot finish it either.
    with (
        connect(login_as(EXECUTOR)) as executor,
        pytest.raises(pgerr.InsufficientPrivilege, match="only that worker can finish it"),
    ):
        executor.execute("SELECT complete_job('theirs', %s, '{}')", (execution_id,))
    # Its own worker, with the message's key, can.
    with connect(login_as(WORKER)) as worker:
        [done] = q(worker, "complete_execution", execution_id=execution_id, dispatch_key=key)
    assert done["recorded"] is True


# ---------------------------------------------------------------- 3. the clock


def test_production_logins_cannot_move_the_clock(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 3, each call as the runtime login that made it."""
    insert_job(db, "running")
    insert_job(db, "due-2027", due="timestamptz '2027-06-01 00:00+00'")
    insert_job(db, "due-9999", due="timestamptz '9999-01-01 00:00+00'")
    insert_job(db, "idle", due="now() + interval '1 day'")
    with connect(login_as(RUNTIME)) as attacker:
        claim_and_start(attacker, "running")
        year = datetime.now(UTC) + timedelta(days=365)
        for statement, args in (
            ("SELECT * FROM reap_expired_v1(%s)", (year,)),
            ("SELECT * FROM claim_due_jobs_v2(500, %s)", ("infinity",)),
            ("SELECT trigger_job_v1('idle', %s)", ("9999-12-31",)),
            (
                "SELECT * FROM prune_executions_v1('1 day', 1, 100000, '-infinity', 0, %s)",
                ("infinity",),
            ),
        ):
            with pytest.raises(pgerr.InsufficientPrivilege, match="only the server clock counts"):
                attacker.execute(statement, args)
        # Pruning has a floor whatever the clock: a day, the newest per job.
        for older, keep in (("0", 0), ("0", 5), ("1 day", 0)):
            with pytest.raises(pgerr.InvalidParameterValue):
                attacker.execute("SELECT * FROM prune_executions_v1(%s, %s, 100000)", (older, keep))
        # NULL is the server clock: the real calls work.
        assert q(attacker, "reap_expired", limit=10) == []
    statuses = {
        r["id"]: r["status"]
        for r in db.execute("SELECT id, status::text AS status FROM scheduled_jobs").fetchall()
    }
    assert statuses == {
        "running": "running",
        "due-2027": "pending",
        "due-9999": "pending",
        "idle": "pending",
    }
    assert job(db, "idle")["scheduled_for"] > datetime.now(UTC)


def test_a_test_login_may_fix_the_clock(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    insert_job(db, "due-2027", due="timestamptz '2027-06-01 00:00+00'")
    with connect(login_as(BEAT, CLOCK)) as tester:
        claimed = q(tester, "claim_due_jobs", limit=10, now=datetime(2027, 6, 2, tzinfo=UTC))
    assert [c["job_id"] for c in claimed] == ["due-2027"]


# ---------------------------------------------------------------- 4. policy bounds


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("retry_base_seconds", 2147483647, "retry_base_seconds must be <= 86400"),
        ("max_retries", 101, "max_retries must be <= 100"),
        ("queue_timeout_seconds", 86401, "queue_timeout_seconds must be <= 86400"),
        ("max_concurrent_jobs", 10_000_001, "max_concurrent_jobs must be <= 10000000"),
    ],
)
def test_policy_values_have_upper_bounds(
    shared_db: psycopg.Connection[Any], column: str, value: int, message: str
) -> None:
    with pytest.raises(pgerr.InvalidParameterValue, match=message):
        shared_db.execute(f"UPDATE scheduler_config SET {column} = %s", (value,))  # fixed names


def test_job_bounds(shared_db: psycopg.Connection[Any]) -> None:
    with pytest.raises(pgerr.InvalidParameterValue, match="timeout_seconds must be <= 604800"):
        shared_db.execute(
            "INSERT INTO scheduled_jobs (id, job_type, frequency_type, timeout_seconds)"
            " VALUES ('x', 't', 'once', 604801)"
        )
    with pytest.raises(pgerr.InvalidParameterValue, match="max_retries must be <= 100"):
        shared_db.execute(
            "INSERT INTO scheduled_jobs (id, job_type, frequency_type, max_retries)"
            " VALUES ('x', 't', 'once', 101)"
        )


def test_the_backoff_is_capped_at_a_day(db: psycopg.Connection[Any]) -> None:
    """Attack 4: base 86400 (the bound) and 20 failures: one day, no overflow."""
    db.execute("UPDATE scheduler_config SET retry_base_seconds = 86400, max_retries = 100")
    insert_job(db, "flaky")
    db.execute("UPDATE scheduled_jobs SET error_count = 19 WHERE id = 'flaky'")
    execution_id, _ = claim_and_start(db, "flaky")
    at = datetime(2026, 3, 2, tzinfo=UTC)
    db.execute("SELECT fail_execution_v1(%s, 'boom', false, %s)", (execution_id, at))
    row = job(db, "flaky")
    assert (row["status"], row["error_count"], row["scheduled_for"]) == (
        "pending",
        20,
        at + timedelta(days=1),
    )


def test_one_bad_row_does_not_stop_the_reaper(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    """Attack 4: the failure policy raising for one execution aborted the
    whole reap, so unrelated expired executions stayed running."""
    ids = {}
    with connect(login_as(RUNTIME)) as worker:
        for name in ("a-first", "b-bad", "c-last"):
            insert_job(db, name)
            ids[name] = claim_and_start(worker, name)[0]
    db.execute("UPDATE job_executions SET lease_expires_at = now() - interval '1 minute'")
    # Whatever makes the policy fail for one row (here: a trigger refusing
    # its retry), the others must still be reaped.
    db.execute(
        "CREATE FUNCTION refuse_retry() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN RAISE EXCEPTION 'timestamp out of range'; END $$"
    )
    db.execute(
        "CREATE TRIGGER refuse_retry BEFORE UPDATE ON scheduled_jobs FOR EACH ROW"
        " WHEN (NEW.id = 'b-bad' AND NEW.next_trigger = 'retry')"
        " EXECUTE FUNCTION refuse_retry()"
    )
    with connect(login_as(BEAT)) as beat:
        reaped = q(beat, "reap_expired", limit=10)
    assert sorted(r["execution_id"] for r in reaped) == sorted(ids.values())
    rows = db.execute(
        "SELECT j.id, j.status::text AS job, j.enabled, e.status::text AS run, j.last_error"
        " FROM scheduled_jobs j JOIN job_executions e ON e.job_id = j.id ORDER BY j.id"
    ).fetchall()
    assert [(r["id"], r["job"], r["enabled"], r["run"]) for r in rows] == [
        ("a-first", "pending", True, "abandoned"),
        ("b-bad", "failed", False, "abandoned"),
        ("c-last", "pending", True, "abandoned"),
    ]
    assert rows[1]["last_error"] == (
        "quarantined: the failure policy failed: timestamp out of range"
    )


# ---------------------------------------------------------------- 6. ids and job types


@pytest.mark.parametrize(
    ("job_id", "job_type", "message"),
    [
        ("ok\n2026-12-05 INFO forged line", "t", "id must not contain control characters"),
        ("ok\x1b[31mred", "t", "id must not contain control characters"),
        ("ok\u202eevil", "t", "id must not contain control characters"),
        ("x" * 10_000, "t", "id must be at most 200 characters, got 10000"),
        ("ok", "t\nforged", "job_type must be 1-100 characters"),
        ("ok", "t" * 10_000, "job_type must be 1-100 characters"),
        ("ok", "has space", "job_type must be 1-100 characters"),
    ],
)
def test_ids_and_job_types_are_bounded_and_printable(
    shared_db: psycopg.Connection[Any], job_id: str, job_type: str, message: str
) -> None:
    with pytest.raises(pgerr.InvalidParameterValue, match=message):
        shared_db.execute(
            "INSERT INTO scheduled_jobs (id, job_type, frequency_type) VALUES (%s, %s, 'once')",
            (job_id, job_type),
        )


# ---------------------------------------------------------------- db migrate


def test_db_migrate_warns_when_run_as_a_superuser(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/security.md promises it; the tests connect as a superuser."""
    with caplog.at_level(logging.WARNING, logger="tasks.migrate"):
        assert migrate(database) == []
    [record] = [r for r in caplog.records if getattr(r, "action", "") == "migrate_as_superuser"]
    assert "runs as superuser" in record.getMessage()


def test_a_requeued_claim_keeps_its_key(db: psycopg.Connection[Any]) -> None:
    """A message waiting in a long backlog stays valid after the reaper hands
    its job back and the beat publishes it again (docs/reliability.md)."""
    insert_job(db, "backlogged")
    [first] = q(db, "claim_due_jobs", limit=10)
    later = datetime.now(UTC) + timedelta(seconds=301)
    assert [r["kind"] for r in q(db, "reap_expired", limit=10, now=later)] == ["requeued"]
    [again] = q(db, "claim_due_jobs", limit=10, now=later)
    assert (again["dispatch_id"], again["dispatch_key"]) == (
        first["dispatch_id"],
        first["dispatch_key"],
    )
    started = q(
        db,
        "start_execution",
        job_id="backlogged",
        dispatch_id=first["dispatch_id"],
        dispatch_key=first["dispatch_key"],
        worker="w1",
        celery_task_id="t1",
        lease_seconds=30,
    )
    assert len(started) == 1


# ---------------------------------------------------------------- roles per caller

BEAT_QUERIES = ("claim_due_jobs", "release_claims", "reap_expired", "next_due_at", "listen_wakeup")
WORKER_QUERIES = (
    "start_execution",
    "renew_leases",
    "complete_execution",
    "fail_execution",
    "prune_executions",
)
HARMLESS = {
    "limit": 10,
    "dispatch_ids": [],
    "job_id": "nothing",
    "dispatch_id": -1,
    "dispatch_key": "0" * 64,
    "dispatch_keys": ["0" * 64],
    "execution_id": -1,
    "execution_ids": [-1],
    "worker": "w",
    "celery_task_id": "t",
    "lease_seconds": 30,
    "error": "x",
    "final": False,
    "older_than_days": 30,
    "keep_per_job": 5,
    "batch": 10,
    "after_at": datetime(2020, 1, 1, tzinfo=UTC),
    "after_id": 0,
}


@pytest.mark.parametrize(
    ("role", "mine", "theirs"),
    [(BEAT, BEAT_QUERIES, WORKER_QUERIES), (WORKER, WORKER_QUERIES, BEAT_QUERIES[:3])],
    ids=["beat", "worker"],
)
def test_beat_and_worker_each_run_only_their_own_queries(
    db: psycopg.Connection[Any],
    login_as: Callable[..., str],
    role: str,
    mine: tuple[str, ...],
    theirs: tuple[str, ...],
) -> None:
    with connect(login_as(role)) as conn:
        for name in mine:
            q(conn, name, **HARMLESS)  # raises on a missing right
        for name in theirs:
            with pytest.raises(pgerr.InsufficientPrivilege):
                q(conn, name, **HARMLESS)


def test_an_owner_without_createrole_or_superuser_can_migrate(
    empty_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: an owner with CREATEROLE turned a hijacked function into
    pg_read_server_files. The owner needs neither CREATEROLE nor SUPERUSER
    once an administrator has made the group roles (they exist in this
    cluster: the template was migrated)."""
    name, password = f"t_owner_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    dbname = urlsplit(empty_db_url).path.lstrip("/")
    with psycopg.connect(empty_db_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        admin.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(dbname), sql.Identifier(name)
            )
        )
        try:
            database = Database(url_as(empty_db_url, name, password))
            try:
                with caplog.at_level(logging.WARNING, logger="tasks.migrate"):
                    assert [m.version for m in migrate(database)][-1] >= 6
            finally:
                database.close()
            actions = [getattr(r, "action", "") for r in caplog.records]
            assert "migrate_as_superuser" not in actions
            owner = admin.execute(
                "SELECT pg_get_userbyid(proowner) AS owner FROM pg_proc"
                " WHERE oid = 'claim_due_jobs_v2(integer, timestamptz)'::regprocedure"
            ).fetchone()
            assert owner == (name,)
            # 006 revoked TEMPORARY, as the database's owner.
            assert admin.execute(
                "SELECT has_database_privilege('public', current_database(), 'TEMPORARY')"
            ).fetchone() == (False,)
        finally:
            role = sql.Identifier(name)
            admin.execute(sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
            admin.execute(sql.SQL("DROP ROLE {}").format(role))
