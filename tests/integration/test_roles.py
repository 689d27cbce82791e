"""Least-privilege roles (migration 004_roles), tried for real: log in as a
member of each role, run what the role is for, and try what it must not do.

Each test makes LOGIN roles with unique names (``t_worker_<hex8>``,
``t_dash_<hex8>``, ...) and a random password (so the tests also pass where
pg_hba asks for one), grants them the group roles as a deployer would
(docs/security.md), and drops them afterwards. The group roles themselves are
cluster-wide and shared with every other database of the cluster (this run's
template among them), so no test drops them.

Every query file is covered by name: a new query in queries.sql, operator.sql
or jobs.sql fails here until someone decides which role may run it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
import psycopg.errors as pgerr
import pytest
from psycopg import sql

import tasks.migrate
from tasks.db import Database
from tasks.errors import MigrationError
from tasks.migrate import migrate, rollback
from tasks.sql import Query, parse
from tests.support import connect, insert_job

RUNTIME = "meal_scheduler_runtime"
JOBS = "meal_scheduler_jobs"
READONLY = "meal_scheduler_readonly"
BEAT = "meal_scheduler_beat"
WORKER = "meal_scheduler_worker"
EXECUTOR = "meal_scheduler_executor"
NO_KEY = "00000000-0000-0000-0000-000000000000"
SCHEDULER_TABLES = ("scheduled_jobs", "job_executions", "job_dependencies", "scheduler_config")
PLANNER_TABLES = (
    "auto_meal_plans",
    "user_preferences",
    "recipes",
    "food_log",
    "sync_cursors",
    "advisor_emails",
    "weekly_trend_reports",
)

# queries.sql: the migration runner's queries (those tasks/migrate.py names)
# run as the owner: they CREATE and write schema_migrations. Everything else
# in queries.sql is the beat's and the workers'.
MIGRATION_QUERIES = frozenset(
    re.findall(r'\.(?:one|many|exec)\(\s*"(\w+)"', inspect.getsource(tasks.migrate))
)
# queries.sql queries that write a table directly, with the statement that
# replaces them (a SECURITY DEFINER function from 004). While queries.sql
# still has the old text the runtime is refused on it, and the replacement
# must work instead; once queries.sql has switched, the entry can go.
PARKED = "roles-parked"  # the job quarantine_job_v1 parks
# operator.sql, classified.
OPERATOR_READS = frozenset(
    {
        "list_jobs",
        "get_job",
        "find_jobs",
        "get_job_dependencies",
        "count_job_executions",
        "resolve_local_time",
        "preview_schedule",
        "list_runs",
        "get_scheduler_config",
        "scheduler_status",
    }
)
OPERATOR_CALLS = frozenset({"trigger_job"})  # a SECURITY DEFINER function: runtime only
OPERATOR_WRITES = frozenset(  # run as the owner (docs/security.md)
    {
        "lock_job",  # SELECT ... FOR UPDATE needs UPDATE rights
        "find_user",  # reads users
        "add_job",
        "add_job_dependency",
        "edit_job",
        "set_job_enabled",
        "remove_job",
        "set_scheduler_enabled",
        "update_scheduler_config",
        "reschedule_zone_jobs",
    }
)
# jobs.sql: the "defaults and demo" section is the operator's
# (`jobs install-defaults`) and the dev stack's, run as the owner (some of
# it, e.g. upsert_recipe, a worker could run too; none of it needs to).
JOBS_OWNER_QUERIES = frozenset(
    {
        "install_default_jobs",
        "demo_upsert_user",
        "demo_upsert_preferences",
        "upsert_recipe",
        "count_user_jobs",
        "demo_trigger_job",  # `dev --demo` runs as the owner
        "demo_finished_runs",
    }
)

JOB = "roles-job"
TODAY = date(2026, 3, 2)
# Harmless values for every named parameter: with them a caller with the
# right rights succeeds (or finds nothing to do), so an error is about rights.
PARAMS: dict[str, Any] = {
    # queries.sql
    "limit": 10,
    "now": None,
    "dispatch_ids": [],
    "older_than_days": 30,
    "keep_per_job": 5,
    "batch": 100,
    "after_at": datetime(2020, 1, 1, tzinfo=UTC),
    "after_id": 0,
    "job_id": JOB,
    "dispatch_id": -1,
    "dispatch_key": NO_KEY,
    "dispatch_keys": [NO_KEY],
    "worker": "test-worker",
    "celery_task_id": "test-task",
    "lease_seconds": 30,
    "execution_id": -1,
    "done_execution_id": -1,
    "done_dispatch_key": NO_KEY,
    "output": "{}",
    "error": "boom",
    "final": False,
    "execution_ids": [-1],
    "reason": "no handler",
    # operator.sql
    "status": None,
    "job_type": None,
    "user_id": None,
    "job_ids": [JOB],
    "local_at": datetime(2026, 3, 8, 2, 30),
    "config": '{"hour": 6, "minute": 0}',
    "frequency_type": "daily",
    "first_at": None,
    "occurrence_at": None,
    "count": 3,
    "since": None,
    "within": None,
    "priority": "high",
    "enabled": True,
    "parameters": "{}",
    "max_retries": None,
    "timeout_seconds": None,
    "scheduled_for": None,
    "reschedule": False,
    "parent_job_id": JOB,
    "child_job_id": "roles-child",
    "max_concurrent_jobs": None,
    "timezone": None,
    "retry_base_seconds": None,
    "queue_timeout_seconds": None,
    # jobs.sql (user_id is set per test to a real user)
    "at": datetime(2026, 3, 2, 12, 0).astimezone(),
    "key": "weekly_generation:roles",
    "week_start": TODAY,
    "meal_type": "breakfast",
    "cooldown_days": 30,
    "recipe_ids": ["demo:oats"],
    "meal_types": ["breakfast"],
    "used_dates": [TODAY],
    "plan": '{"days": []}',
    "source": "tandoor",
    "cursor": "2026-03-01",
    "full": True,
    "source_ids": ["1"],
    "source_id": "1",
    "name": "Oats",
    "servings": 1,
    "calories": 300,
    "protein_g": 10,
    "carbs_g": 50,
    "fat_g": 5,
    "source_updated_at": None,
    "seen": ["1"],
    "day": TODAY,
    "days": [TODAY],
    "descriptions": ["oats"],
    "keep": ["1"],
    "message_id": "<roles@example.com>",
    "recipient": "roles@example.com",
    "subject": "Your day",
    "summary": "{}",
    "start": TODAY - timedelta(days=6),
    "end": TODAY,
    "period_start": TODAY - timedelta(days=6),
    "period_end": TODAY,
    "report": "{}",
    "chart_png": b"\x89PNG",
    "email": "roles@example.com",
    "calorie_target": 2000,
    "protein_g_target": None,
    "id": "demo:oats",
    "user_ids": [],
}
# Where one name means different things in different queries.
OVERRIDES: dict[str, dict[str, Any]] = {
    "upsert_food_entries": {
        "recipe_ids": [None],
        "calories": [300],
        "protein_g": [10],
        "carbs_g": [50],
        "fat_g": [5],
    },
    "preview_schedule": {"start": None},
}
_PARAM = re.compile(r"%\((\w+)\)s")


def sql_file(name: str) -> dict[str, Query]:
    return parse((resources.files("tasks.sql") / name).read_text(encoding="utf-8"))


def run_text(conn: psycopg.Connection[Any], text: str, **values: Any) -> list[Any]:
    names = set(_PARAM.findall(text))
    unknown = names - PARAMS.keys() - values.keys()
    assert not unknown, f"add a harmless value for {sorted(unknown)} to PARAMS"
    params = {n: values[n] if n in values else PARAMS[n] for n in names}
    cur = conn.execute(text, params)
    return cur.fetchall() if cur.description else []


def run(conn: psycopg.Connection[Any], query: Query, **values: Any) -> list[Any]:
    return run_text(conn, query.text, **{**OVERRIDES.get(query.name, {}), **values})


def is_refused(conn: psycopg.Connection[Any], query: Query, **values: Any) -> bool:
    try:
        with conn.transaction(force_rollback=True):
            run(conn, query, **values)
    except pgerr.InsufficientPrivilege:
        return True
    return False


def refused(conn: psycopg.Connection[Any], statements: list[str]) -> list[str]:
    """The statements that did NOT fail with insufficient_privilege."""
    allowed = []
    for statement in statements:
        try:
            conn.execute(statement)
        except pgerr.InsufficientPrivilege:
            continue
        except psycopg.Error as exc:
            allowed.append(f"{statement}  -> {type(exc).__name__}: {exc}")
        else:
            allowed.append(f"{statement}  -> succeeded")
    return allowed


@pytest.fixture
def user_id(db: psycopg.Connection[Any]) -> int:
    row = db.execute(
        "INSERT INTO users (email, timezone) VALUES ('roles@example.com', 'Europe/Berlin')"
        " RETURNING id"
    ).fetchone()
    assert row is not None
    return int(row["id"])


# ---------------------------------------------------------------- runtime


def test_a_worker_runs_a_job_through_claim_start_complete(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    q = sql_file("queries.sql")
    url = login_as(RUNTIME)
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1")
    with connect(url) as listener, connect(url) as worker:
        run(listener, q["listen_wakeup"])
        insert_job(db, JOB)  # as the superuser, like an operator
        assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == [
            "meal_scheduler_wakeup"
        ]

        [claim] = run(worker, q["claim_due_jobs"])
        assert (claim["job_id"], claim["trigger_type"]) == (JOB, "scheduled")
        key = claim["dispatch_key"]
        [started] = run(
            worker, q["start_execution"], dispatch_id=claim["dispatch_id"], dispatch_key=key
        )
        execution_id = started["execution_id"]
        assert (
            run(worker, q["renew_leases"], execution_ids=[execution_id], dispatch_keys=[key]) == []
        )
        [done] = run(
            worker,
            q["complete_execution"],
            execution_id=execution_id,
            dispatch_key=key,
            output='{"ok": true}',
        )
        assert done["recorded"] is True
        # running -> completed frees the only slot while the cap held the
        # claim back: that wakes the beat as well.
        assert list(listener.notifies(timeout=5, stop_after=1))

        # The runtime reads the outcome with plain SELECTs.
        row = worker.execute(
            "SELECT e.status::text AS run, j.status::text AS job, e.output"
            " FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
            " WHERE e.id = %s",
            (execution_id,),
        ).fetchone()
    assert row == {"run": "completed", "job": "completed", "output": {"ok": True}}


def test_the_runtime_can_run_every_query_of_beat_and_workers(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    q = sql_file("queries.sql")
    assert {"claim_due_jobs", "start_execution", "listen_wakeup"} <= q.keys()
    assert {"record_migration", "create_migrations_table"} <= MIGRATION_QUERIES
    insert_job(db, JOB)
    insert_job(db, PARKED, due="now() + interval '1 day'")
    with connect(login_as(RUNTIME)) as worker:
        for name in sorted(q.keys() - MIGRATION_QUERIES):
            run(worker, q[name])  # raises on any missing right
        # Operator tooling: the owner's since 006_security.
        assert refused(worker, [f"SELECT quarantine_job_v1('{PARKED}', 'x')"]) == []
    run_text(db, "SELECT quarantine_job_v1(%(job_id)s, %(reason)s)", job_id=PARKED)
    assert db.execute(
        "SELECT status::text AS status, enabled, last_error FROM scheduled_jobs WHERE id = %s",
        (PARKED,),
    ).fetchone() == {"status": "failed", "enabled": False, "last_error": "quarantined: no handler"}


def test_the_executor_can_run_the_seed_functions(
    db: psycopg.Connection[Any], login_as: Callable[..., str], user_id: int
) -> None:
    insert_job(db, JOB)
    insert_job(db, PARKED)
    with connect(login_as(EXECUTOR)) as worker, worker.transaction():
        assert worker.execute("SELECT get_next_pending_job() AS id").fetchone() == {"id": JOB}
        [started] = worker.execute("SELECT start_job(%s, 'manual') AS id", (JOB,)).fetchall()
        worker.execute("SELECT complete_job(%s, %s, '{}')", (JOB, started["id"]))
        [started] = worker.execute("SELECT start_job(%s, 'manual') AS id", (PARKED,)).fetchall()
        worker.execute("SELECT fail_job(%s, %s, 'boom')", (PARKED, started["id"]))
        worker.execute(
            "SELECT calculate_next_schedule('daily', '{\"hour\": 6, \"minute\": 0}', now())"
        )
        worker.execute("SELECT update_recipe_rotation(%s, 'oats', 'breakfast')", (user_id,))
        cooldown = worker.execute(
            "SELECT recipe_id FROM get_recipes_on_cooldown(%s, 'breakfast')", (user_id,)
        ).fetchall()
    assert cooldown == [{"recipe_id": "oats"}]


def test_the_runtime_cannot_change_tables_read_app_data_or_alter_anything(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    insert_job(db, JOB)
    with connect(login_as(RUNTIME)) as worker:
        allowed = refused(
            worker,
            [
                "DELETE FROM scheduled_jobs",
                "DELETE FROM job_executions",
                "TRUNCATE scheduled_jobs",
                "TRUNCATE job_executions, scheduled_jobs CASCADE",
                "UPDATE scheduled_jobs SET priority = 'critical'",
                "UPDATE scheduler_config SET max_concurrent_jobs = 1000",
                "INSERT INTO scheduled_jobs (id, job_type, frequency_type)"
                " VALUES ('x', 'y', 'once')",
                "INSERT INTO job_executions (job_id, trigger_type, attempt_number)"
                f" VALUES ('{JOB}', 'manual', 1)",
                "SELECT * FROM scheduled_jobs FOR UPDATE",
                "SELECT * FROM users",
                "SELECT id FROM users",
                "SELECT * FROM recipe_rotation",
                "SELECT * FROM schema_migrations",
                *(f"SELECT * FROM {t}" for t in PLANNER_TABLES),
                "SELECT nextval('job_dispatch_seq')",
                "SELECT fail_execution_core_v1(1, 'failed', 'x', true, now())",
                "SELECT check_running_execution_v1('x', 1)",
                "ALTER TABLE scheduled_jobs ADD COLUMN x integer",
                "ALTER TABLE scheduled_jobs DISABLE TRIGGER USER",
                "ALTER FUNCTION claim_due_jobs_v1(integer, timestamptz) SECURITY INVOKER",
                "COMMENT ON TABLE scheduled_jobs IS 'mine'",
                "DROP TABLE job_executions",
                "CREATE TABLE public.mine (x integer)",
                # The CVE-2018-1058 plant that would take over nextval()
                # inside the SECURITY DEFINER functions.
                "CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql AS 'SELECT 1'",
            ],
        )
    assert allowed == []


def test_a_temp_table_cannot_stand_in_for_a_scheduler_table(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    # The DEFINER functions' search_path ends in pg_temp; without it, a
    # caller's temp table would be searched first and shadow the real one.
    insert_job(db, JOB)
    with connect(login_as(RUNTIME)) as worker:
        worker.execute(
            "CREATE TEMP TABLE scheduler_config AS"
            " SELECT 1 AS id, false AS enabled, 0 AS max_concurrent_jobs"
        )
        claimed = run(worker, sql_file("queries.sql")["claim_due_jobs"])
    assert [c["job_id"] for c in claimed] == [JOB]


# ---------------------------------------------------------------- meal-planner handlers


def test_the_planner_handlers_run_with_runtime_and_jobs(
    db: psycopg.Connection[Any], login_as: Callable[..., str], user_id: int
) -> None:
    q = sql_file("jobs.sql")
    handlers = sorted(q.keys() - JOBS_OWNER_QUERIES)
    assert {"insert_meal_plan", "upsert_food_entries", "claim_advisor_email"} <= set(handlers)
    with connect(login_as(RUNTIME, JOBS)) as worker:
        for name in handlers:
            with worker.transaction():
                run(worker, q[name], user_id=user_id)  # raises on any missing right
        # The owner's writes to scheduled_jobs and users stay the owner's.
        for name in sorted({"install_default_jobs", "demo_upsert_user"} & q.keys()):
            assert is_refused(worker, q[name], user_id=user_id), f"a worker may run {name}"


def test_the_jobs_role_alone_reaches_no_scheduler_state(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    insert_job(db, JOB)
    with connect(login_as(JOBS)) as handler:
        handler.execute("SELECT id, email, timezone FROM users").fetchall()
        allowed = refused(
            handler,
            [
                *(f"SELECT * FROM {t}" for t in SCHEDULER_TABLES),
                "SELECT * FROM users",
                "SELECT * FROM recipe_rotation",
                "SELECT * FROM claim_due_jobs_v1(10)",
                f"SELECT trigger_job_v1('{JOB}')",
                "DELETE FROM scheduled_jobs",
                "DELETE FROM recipes",
                "DELETE FROM auto_meal_plans",
                "TRUNCATE food_log",
                "UPDATE users SET timezone = 'UTC'",
                "ALTER TABLE recipes ADD COLUMN x integer",
            ],
        )
    assert allowed == []


# ---------------------------------------------------------------- operator


def test_every_operator_query_is_classified() -> None:
    unclassified = set(sql_file("operator.sql")) - OPERATOR_READS - OPERATOR_CALLS - OPERATOR_WRITES
    assert unclassified == set(), (
        "new operator queries: decide who may run them (004_roles, docs/security.md), then "
        "add them to OPERATOR_READS / OPERATOR_CALLS / OPERATOR_WRITES"
    )


def test_operator_reads_work_for_runtime_and_readonly_and_writes_for_neither(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    insert_job(
        db, JOB, frequency="daily", config={"hour": 6, "minute": 0}, due="now() + interval '1 day'"
    )
    q = sql_file("operator.sql")
    for role in (RUNTIME, READONLY):
        with connect(login_as(role)) as conn:
            for name in sorted(q.keys() & OPERATOR_READS):
                run(conn, q[name])  # raises on any missing right
            writes = [n for n in sorted(q.keys() & OPERATOR_WRITES) if not is_refused(conn, q[n])]
            assert writes == [], f"{role} may run operator writes {writes}"
            if role == RUNTIME:
                run(conn, q["trigger_job"])
            else:
                assert is_refused(conn, q["trigger_job"])


# ---------------------------------------------------------------- readonly


def test_the_readonly_role_reads_the_scheduler_tables_and_changes_nothing(
    db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    insert_job(db, JOB)
    with connect(login_as(READONLY)) as dash:
        for table in SCHEDULER_TABLES:
            dash.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
        assert dash.execute("SELECT count(*) AS n FROM job_executions").fetchone() == {"n": 0}
        allowed = refused(
            dash,
            [
                "SELECT trigger_job_v1('x')",
                f"SELECT trigger_job_v1('{JOB}')",
                "SELECT * FROM claim_due_jobs_v1(10)",
                "SELECT complete_execution_v1(1, '{}')",
                "SELECT * FROM reap_expired_v1()",
                "SELECT prune_executions_v1(interval '0', 0)",
                f"SELECT quarantine_job_v1('{JOB}', 'x')",
                "SELECT get_next_pending_job()",
                f"SELECT start_job('{JOB}', 'manual')",
                "SELECT update_recipe_rotation(1, 'oats', 'breakfast')",
                "SELECT * FROM get_recipes_on_cooldown(1, 'breakfast')",
                "UPDATE job_executions SET status = 'failed'",
                "UPDATE scheduler_config SET enabled = false",
                "DELETE FROM scheduled_jobs",
                "TRUNCATE job_executions",
                "INSERT INTO job_dependencies VALUES ('a', 'b')",
                "SELECT * FROM users",
                "SELECT * FROM recipe_rotation",
                "SELECT * FROM schema_migrations",
                *(f"SELECT * FROM {t}" for t in PLANNER_TABLES),
                "CREATE TABLE public.mine (x integer)",
            ],
        )
    assert allowed == []


# ---------------------------------------------------------------- hygiene


def test_functions_pin_search_path_and_definer_ones_are_not_public(
    db: psycopg.Connection[Any],
) -> None:
    rows = db.execute(
        "SELECT p.oid::regprocedure::text AS fn, p.prosecdef AS definer,"
        " coalesce(p.proconfig, '{}') AS config, p.prosrc AS body,"
        " has_function_privilege('public', p.oid, 'EXECUTE') AS public_exec,"
        " has_function_privilege(%s, p.oid, 'EXECUTE') AS readonly_exec,"
        " has_function_privilege(%s, p.oid, 'EXECUTE') AS jobs_exec"
        " FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace",
        (READONLY, JOBS),
    ).fetchall()
    definers = [r for r in rows if r["definer"]]
    assert {r["fn"].split("(")[0] for r in definers} >= {
        "claim_due_jobs_v1",
        "start_execution_v1",
        "complete_execution_v1",
        "quarantine_job_v1",
        "trigger_job_v1",
        "start_job",
    }
    # pg_temp last on every function (006_security; tests/integration/
    # test_security.py replays the attack that needs it).
    unpinned = [
        r["fn"] for r in rows if "search_path=pg_catalog, public, pg_temp" not in r["config"]
    ]
    assert unpinned == []
    # The planner's handlers call the recipe rotation functions (jobs.sql).
    rotation = ("update_recipe_rotation(", "get_recipes_on_cooldown(")
    loose = [
        r["fn"]
        for r in definers
        if "search_path=pg_catalog, public, pg_temp" not in r["config"]
        or r["public_exec"]
        or r["readonly_exec"]
        or (r["jobs_exec"] and not r["fn"].startswith(rotation))
    ]
    assert loose == []
    # No dynamic SQL: no function body EXECUTEs a string.
    dynamic = [r["fn"] for r in rows if re.search(r"\bEXECUTE\b", r["body"], re.IGNORECASE)]
    assert dynamic == []


# ---------------------------------------------------------------- migrations


def test_rollback_revokes_everything_here_and_migrate_restores_it(
    db_url: str, db: psycopg.Connection[Any], login_as: Callable[..., str]
) -> None:
    url = login_as(RUNTIME)
    insert_job(db, JOB)
    database = Database(db_url)
    try:
        rollback(database, to=3)
        left = db.execute(
            "SELECT count(*) AS n FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid"
            " WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND r.rolname IN (%s, %s, %s)",
            (RUNTIME, JOBS, READONLY),
        ).fetchone()
        assert left == {"n": 0}
        assert db.execute(
            "SELECT prosecdef AS definer, proconfig AS config,"
            " has_function_privilege('public', oid, 'EXECUTE') AS public_exec"
            " FROM pg_proc WHERE oid = 'claim_due_jobs_v1(integer, timestamptz)'::regprocedure"
        ).fetchone() == {
            "definer": False,
            "config": ["search_path=pg_catalog, public"],
            "public_exec": True,
        }
        # The roles stay: other databases (at least this run's template) use
        # them, and our worker is a member.
        kept = db.execute(
            "SELECT count(*) AS n FROM pg_roles WHERE rolname IN (%s, %s, %s)",
            (RUNTIME, JOBS, READONLY),
        ).fetchone()
        assert kept == {"n": 3}
        with connect(url) as worker, pytest.raises(pgerr.InsufficientPrivilege):
            worker.execute("SELECT * FROM claim_due_jobs_v1(10)")

        assert [m.version for m in migrate(database)][:1] == [4]
        db.execute("UPDATE scheduler_config SET enabled = true")  # the rollback paused it
        with connect(url) as worker:
            claimed = run(worker, sql_file("queries.sql")["claim_due_jobs"])
            assert [c["job_id"] for c in claimed] == [JOB]
            assert refused(worker, ["DELETE FROM scheduled_jobs"]) == []
    finally:
        database.close()


def test_migrate_refuses_a_public_schema_everyone_can_create_in(
    db_url: str, db: psycopg.Connection[Any]
) -> None:
    database = Database(db_url)
    try:
        rollback(database, to=3)
        db.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        with pytest.raises(MigrationError, match=r"004_roles failed: .*may CREATE in schema"):
            migrate(database)
        db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        assert [m.version for m in migrate(database)][:1] == [4]
    finally:
        database.close()
