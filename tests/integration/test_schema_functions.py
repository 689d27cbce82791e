"""The seed's seven functions and the shared completion/failure logic, against
real Postgres (the `db` fixture: a fresh, fully migrated database per test).

Time-dependent checks use the *_v1 functions with a fixed p_now."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.integration.sql_support import FRIDAY_6, T0, execution, job
from tests.support import insert_job


def start(db, job_id, trigger="scheduled"):
    return db.execute("SELECT start_job(%s, %s) AS id", (job_id, trigger)).fetchone()["id"]


def fail_v1(db, exec_id, now, error="boom", final=False):
    return db.execute(
        "SELECT fail_execution_v1(%s, %s, %s, %s) AS ok", (exec_id, error, final, now)
    ).fetchone()["ok"]


def complete_v1(db, exec_id, now, output=None):
    return db.execute(
        "SELECT complete_execution_v1(%s, %s, %s) AS ok",
        (exec_id, Jsonb(output) if output is not None else None, now),
    ).fetchone()["ok"]


def next_pending(db):
    return db.execute("SELECT get_next_pending_job() AS id").fetchone()["id"]


# ----------------------------------------------------------------- get_next_pending_job


def test_priority_ordering_critical_first(db):
    now = datetime.now(UTC)
    insert_job(db, "low", priority="low", scheduled_for=now - timedelta(hours=3))
    insert_job(db, "medium", priority="medium", scheduled_for=now - timedelta(hours=2))
    insert_job(db, "critical", priority="critical", scheduled_for=now - timedelta(minutes=1))
    insert_job(db, "high", priority="high", scheduled_for=now - timedelta(hours=1))
    order = []
    for _ in range(4):
        job_id = next_pending(db)
        order.append(job_id)
        start(db, job_id)
    assert order == ["critical", "high", "medium", "low"]
    assert next_pending(db) is None


def test_scheduled_for_ordering_within_priority(db):
    now = datetime.now(UTC)
    insert_job(db, "later", scheduled_for=now - timedelta(minutes=1))
    insert_job(db, "earlier", scheduled_for=now - timedelta(minutes=5))
    assert next_pending(db) == "earlier"


def test_future_and_disabled_jobs_skipped(db):
    insert_job(
        db, "future", priority="critical", scheduled_for=datetime.now(UTC) + timedelta(hours=1)
    )
    insert_job(db, "disabled", priority="critical", enabled=False)
    insert_job(db, "running", priority="critical")
    start(db, "running")
    assert next_pending(db) is None
    insert_job(db, "due", priority="low")
    assert next_pending(db) == "due"


def test_get_next_pending_job_skip_locked(db, db_url):
    insert_job(db, "a", scheduled_for=T0)
    insert_job(db, "b", scheduled_for=T0 + timedelta(seconds=1))
    with (
        psycopg.connect(db_url, row_factory=dict_row) as c1,
        psycopg.connect(db_url, row_factory=dict_row) as c2,
    ):
        first = next_pending(c1)  # c1's transaction stays open, holding the row lock
        second = next_pending(c2)  # does not wait: skips the locked row
        third = db.execute("SELECT get_next_pending_job() AS id").fetchone()["id"]
        assert (first, second, third) == ("a", "b", None)
        c1.rollback()
        c2.rollback()
    assert next_pending(db) == "a"


# ----------------------------------------------------------------- start / complete


def test_start_complete_lifecycle(db):
    insert_job(db, "j")
    exec_id = start(db, "j")
    row = job(db, "j")
    assert row["status"] == "running" and row["started_at"] is not None
    ex = execution(db, exec_id)
    assert (ex["status"], ex["trigger_type"], ex["attempt_number"]) == ("running", "scheduled", 1)
    assert ex["completed_at"] is None

    db.execute("SELECT pg_sleep(0.02)")
    db.execute("SELECT complete_job('j', %s, %s)", (exec_id, Jsonb({"plans_created": 3})))
    ex = execution(db, exec_id)
    assert ex["status"] == "completed"
    assert ex["output"] == {"plans_created": 3}
    assert ex["completed_at"] >= ex["started_at"]
    assert ex["duration_ms"] >= 20
    row = job(db, "j")
    assert (row["status"], row["error_count"], row["last_error"]) == ("completed", 0, None)


def test_complete_job_output_defaults_to_null(db):
    insert_job(db, "j")
    exec_id = start(db, "j")
    db.execute("SELECT complete_job('j', %s)", (exec_id,))
    assert execution(db, exec_id)["output"] is None


def test_start_refused_when_not_startable(db):
    insert_job(db, "j")
    exec_id = start(db, "j")
    with pytest.raises(
        errors.RaiseException, match=re.escape('job "j" is not startable: status running')
    ):
        start(db, "j")
    db.execute("SELECT complete_job('j', %s)", (exec_id,))
    with pytest.raises(
        errors.RaiseException, match=re.escape('job "j" is not startable: status completed')
    ):
        start(db, "j")
    insert_job(db, "off", enabled=False)
    with pytest.raises(
        errors.RaiseException, match=re.escape('job "off" is not startable: disabled')
    ):
        start(db, "off")
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 1


def test_complete_refused_for_wrong_or_finished_execution(db):
    insert_job(db, "a")
    insert_job(db, "b")
    exec_a = start(db, "a")
    with pytest.raises(
        errors.RaiseException, match=re.escape(f'execution {exec_a} belongs to job "a", not "b"')
    ):
        db.execute("SELECT complete_job('b', %s)", (exec_a,))
    db.execute("SELECT complete_job('a', %s)", (exec_a,))
    with pytest.raises(
        errors.RaiseException,
        match=re.escape(f'execution {exec_a} of job "a" is not running: status completed'),
    ):
        db.execute("SELECT fail_job('a', %s, 'late')", (exec_a,))
    with pytest.raises(errors.NoDataFound, match="execution 999999 does not exist"):
        db.execute("SELECT complete_job('a', 999999)")
    # a second completion report changes nothing
    assert complete_v1(db, exec_a, T0) is False
    assert execution(db, exec_a)["completed_at"] != T0


def test_attempt_number_follows_error_count(db):
    insert_job(db, "j")
    e1 = start(db, "j")
    db.execute("SELECT fail_job('j', %s, 'boom')", (e1,))
    db.execute("UPDATE scheduled_jobs SET scheduled_for = now() WHERE id = 'j'")  # the retry is due
    e2 = start(db, "j", "retry")
    ex = execution(db, e2)
    assert (ex["attempt_number"], ex["trigger_type"]) == (2, "retry")


# ----------------------------------------------------------------- fail / retry policy


def test_fail_job_seed_api_backs_off_60s(db):
    insert_job(db, "j")
    exec_id = start(db, "j")
    before = datetime.now(UTC)
    db.execute("SELECT fail_job('j', %s, 'Tandoor timeout')", (exec_id,))
    row = job(db, "j")
    assert (row["status"], row["error_count"], row["last_error"], row["next_trigger"]) == (
        "pending",
        1,
        "Tandoor timeout",
        "retry",
    )
    delay = (row["scheduled_for"] - before).total_seconds()
    assert 59 <= delay <= 61
    ex = execution(db, exec_id)
    assert (ex["status"], ex["error_message"]) == ("failed", "Tandoor timeout")
    assert ex["duration_ms"] is not None


def test_backoff_60_120_240_then_once_job_fails(db):
    insert_job(db, "j", scheduled_for=T0)
    now = T0
    for expected_delay in (60, 120, 240):
        exec_id = start(db, "j", "retry")
        assert fail_v1(db, exec_id, now) is True
        row = job(db, "j")
        assert row["status"] == "pending"
        assert row["scheduled_for"] == now + timedelta(seconds=expected_delay)
        assert row["next_trigger"] == "retry"
        now = row["scheduled_for"]
    exec_id = start(db, "j", "retry")
    assert execution(db, exec_id)["attempt_number"] == 4
    assert fail_v1(db, exec_id, now, "still broken") is True
    row = job(db, "j")
    assert (row["status"], row["error_count"], row["last_error"]) == ("failed", 4, "still broken")
    statuses = [
        r["status"] for r in db.execute("SELECT status FROM job_executions ORDER BY id").fetchall()
    ]
    assert statuses == ["failed"] * 4


def test_job_max_retries_overrides_config(db):
    insert_job(db, "j", scheduled_for=T0, max_retries=0)
    exec_id = start(db, "j")
    fail_v1(db, exec_id, T0)
    assert job(db, "j")["status"] == "failed"


def test_config_retry_settings_apply(db):
    db.execute("UPDATE scheduler_config SET max_retries = 1, retry_base_seconds = 10")
    insert_job(db, "j", scheduled_for=T0)
    fail_v1(db, start(db, "j"), T0)
    assert job(db, "j")["scheduled_for"] == T0 + timedelta(seconds=10)
    fail_v1(db, start(db, "j"), T0)
    assert job(db, "j")["status"] == "failed"


def test_final_failure_skips_retries(db):
    insert_job(db, "j", scheduled_for=T0)
    fail_v1(db, start(db, "j"), T0, "bad parameters", final=True)
    row = job(db, "j")
    assert (row["status"], row["error_count"]) == ("failed", 1)


def test_recurring_job_moves_to_next_occurrence_after_final_failure(db):
    friday = datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=friday)
    now = friday
    for _ in range(3):
        fail_v1(db, start(db, "weekly"), now)
        now = job(db, "weekly")["scheduled_for"]
        assert job(db, "weekly")["occurrence_at"] == friday  # retries keep the occurrence
    fail_v1(db, start(db, "weekly"), now, "gave up")
    row = job(db, "weekly")
    next_friday = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    assert (row["status"], row["scheduled_for"], row["occurrence_at"]) == (
        "pending",
        next_friday,
        next_friday,
    )
    assert (row["error_count"], row["next_trigger"], row["last_error"]) == (
        0,
        "scheduled",
        "gave up",
    )


def test_fail_on_finished_execution_returns_false(db):
    insert_job(db, "j", scheduled_for=T0)
    exec_id = start(db, "j")
    assert complete_v1(db, exec_id, T0) is True
    assert fail_v1(db, exec_id, T0) is False
    assert job(db, "j")["error_count"] == 0


# ----------------------------------------------------------------- recurring reschedule


def test_recurring_reschedule_after_complete(db):
    friday = datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=friday)
    exec_id = start(db, "weekly")
    assert complete_v1(db, exec_id, friday + timedelta(seconds=5), {"ok": True})
    row = job(db, "weekly")
    next_friday = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    assert (row["status"], row["scheduled_for"], row["occurrence_at"]) == (
        "pending",
        next_friday,
        next_friday,
    )
    assert row["completed_at"] == friday + timedelta(seconds=5)
    assert row["dispatch_id"] is None and row["next_trigger"] == "scheduled"
    assert execution(db, exec_id)["duration_ms"] >= 0


def test_missed_occurrences_collapse_into_one_run(db):
    friday = datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=friday)
    exec_id = start(db, "weekly")
    # the scheduler was down for three weeks; the run happens on Wed Jan 28
    complete_v1(db, exec_id, datetime(2026, 1, 28, 12, 0, tzinfo=UTC))
    assert job(db, "weekly")["scheduled_for"] == datetime(2026, 1, 30, 6, 0, tzinfo=UTC)


def test_every_n_hours_keeps_its_grid(db):
    insert_job(db, "sync", frequency="every_n_hours", config={"hours": 2}, scheduled_for=T0)
    complete_v1(db, start(db, "sync"), T0 + timedelta(minutes=75))
    assert job(db, "sync")["scheduled_for"] == T0 + timedelta(hours=2)


def test_operator_moving_a_job_moves_its_occurrence(db):
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=T0)
    db.execute(
        "UPDATE scheduled_jobs SET scheduled_for = %s WHERE id = 'weekly'",
        (T0 + timedelta(days=1),),
    )
    assert job(db, "weekly")["occurrence_at"] == T0 + timedelta(days=1)


def test_quarantine_when_config_went_bad_behind_the_trigger(db):
    friday = datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=friday)
    exec_id = start(db, "weekly")
    db.execute("ALTER TABLE scheduled_jobs DISABLE TRIGGER trg_scheduled_jobs_validate_update")
    db.execute("""UPDATE scheduled_jobs SET frequency_config = '{"day": 12}' WHERE id = 'weekly'""")
    db.execute("ALTER TABLE scheduled_jobs ENABLE TRIGGER trg_scheduled_jobs_validate_update")
    assert complete_v1(db, exec_id, friday) is True
    ex = execution(db, exec_id)
    assert ex["status"] == "completed"
    row = job(db, "weekly")
    assert (row["status"], row["enabled"]) == ("failed", False)
    assert row["last_error"].startswith("quarantined: frequency_config.day must be an integer")
    # the poll goes on: nothing blocks other jobs
    insert_job(db, "other")
    assert next_pending(db) == "other"


# ----------------------------------------------------------------- dependencies


def test_children_become_due_when_parent_completes(db):
    far = datetime(2030, 1, 1, tzinfo=UTC)
    insert_job(db, "parent", scheduled_for=T0)
    insert_job(db, "child", frequency="weekly", config=FRIDAY_6, scheduled_for=far)
    insert_job(db, "done_child", scheduled_for=T0)
    insert_job(db, "off_child", scheduled_for=far, enabled=False)
    insert_job(db, "busy_child", scheduled_for=T0)
    db.execute("""INSERT INTO job_dependencies (parent_job_id, child_job_id) VALUES
                  ('parent', 'child'), ('parent', 'done_child'), ('parent', 'off_child'),
                  ('parent', 'busy_child')""")
    complete_v1(db, start(db, "done_child"), T0)
    busy_exec = start(db, "busy_child")
    now = T0 + timedelta(minutes=1)
    complete_v1(db, start(db, "parent"), now)

    child = job(db, "child")
    assert (
        child["status"],
        child["scheduled_for"],
        child["next_trigger"],
        child["next_parent_job_id"],
    ) == ("pending", now, "dependent", "parent")
    assert child["occurrence_at"] == far  # its regular schedule is untouched
    assert job(db, "done_child")["status"] == "pending"
    assert job(db, "off_child")["scheduled_for"] == far
    assert job(db, "busy_child")["status"] == "running"
    assert execution(db, busy_exec)["status"] == "running"

    exec_id = start(db, "child", "dependent")
    ex = execution(db, exec_id)
    assert (ex["trigger_type"], ex["parent_job_id"]) == ("dependent", "parent")
    # after the dependent run, the regular occurrence is still owed
    complete_v1(db, exec_id, now + timedelta(minutes=1))
    child = job(db, "child")
    assert (child["scheduled_for"], child["next_trigger"], child["next_parent_job_id"]) == (
        far,
        "scheduled",
        None,
    )


def test_children_not_triggered_by_failure(db):
    insert_job(db, "parent", scheduled_for=T0)
    insert_job(db, "child", scheduled_for=datetime(2030, 1, 1, tzinfo=UTC))
    db.execute("INSERT INTO job_dependencies VALUES ('parent', 'child')")
    fail_v1(db, start(db, "parent"), T0)
    assert job(db, "child")["next_trigger"] == "scheduled"


# ----------------------------------------------------------------- foreign keys


def test_delete_user_cascades_to_jobs_and_rotation(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    insert_job(db, "mine", user_id=user_id)
    insert_job(db, "system")
    exec_id = start(db, "mine")
    db.execute("SELECT update_recipe_rotation(%s, 'r1', 'dinner')", (user_id,))
    db.execute("DELETE FROM users WHERE id = %s", (user_id,))
    assert [r["id"] for r in db.execute("SELECT id FROM scheduled_jobs").fetchall()] == ["system"]
    assert execution(db, exec_id) is None
    assert db.execute("SELECT count(*) AS n FROM recipe_rotation").fetchone()["n"] == 0


def test_delete_job_cascades_executions_and_nulls_parent(db):
    insert_job(db, "parent", scheduled_for=T0)
    insert_job(db, "child", scheduled_for=T0)
    db.execute("INSERT INTO job_dependencies VALUES ('parent', 'child')")
    complete_v1(db, start(db, "parent"), T0)
    parent_exec = db.execute("SELECT id FROM job_executions WHERE job_id = 'parent'").fetchone()[
        "id"
    ]
    child_exec = start(db, "child", "dependent")
    assert execution(db, child_exec)["parent_job_id"] == "parent"
    db.execute("DELETE FROM scheduled_jobs WHERE id = 'parent'")
    assert execution(db, parent_exec) is None
    assert execution(db, child_exec)["parent_job_id"] is None
    assert job(db, "child")["next_parent_job_id"] is None
    assert db.execute("SELECT count(*) AS n FROM job_dependencies").fetchone()["n"] == 0


# ----------------------------------------------------------------- recipe rotation


def test_rotation_first_use_inserts(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    db.execute("SELECT update_recipe_rotation(%s, 'r1', 'dinner', %s)", (user_id, date(2026, 1, 5)))
    row = db.execute("SELECT * FROM recipe_rotation").fetchone()
    assert (row["recipe_id"], row["meal_type"], row["last_used_date"], row["use_count"]) == (
        "r1",
        "dinner",
        date(2026, 1, 5),
        1,
    )


def test_rotation_upsert_increments_and_never_goes_back(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    for used in (date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 1)):
        db.execute("SELECT update_recipe_rotation(%s, 'r1', 'dinner', %s)", (user_id, used))
    db.execute("SELECT update_recipe_rotation(%s, 'r1', 'lunch', %s)", (user_id, date(2026, 1, 3)))
    rows = db.execute(
        "SELECT meal_type::text, last_used_date, use_count FROM recipe_rotation ORDER BY meal_type"
    ).fetchall()
    assert [(r["meal_type"], r["last_used_date"], r["use_count"]) for r in rows] == [
        ("dinner", date(2026, 1, 12), 3),
        ("lunch", date(2026, 1, 3), 1),
    ]


def test_recipes_on_cooldown(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    other = db.execute(
        "INSERT INTO users (email) VALUES ('b@example.com') RETURNING id"
    ).fetchone()["id"]
    today = db.execute("SELECT CURRENT_DATE AS d").fetchone()["d"]
    for recipe, days_ago in (("fresh", 2), ("edge", 29), ("old", 30), ("today", 0)):
        db.execute(
            "SELECT update_recipe_rotation(%s, %s, 'dinner', %s)",
            (user_id, recipe, today - timedelta(days=days_ago)),
        )
    db.execute("SELECT update_recipe_rotation(%s, 'lunch_only', 'lunch', %s)", (user_id, today))
    db.execute("SELECT update_recipe_rotation(%s, 'someone_else', 'dinner', %s)", (other, today))
    rows = db.execute("SELECT * FROM get_recipes_on_cooldown(%s, 'dinner')", (user_id,)).fetchall()
    assert [(r["recipe_id"], r["days_since_use"]) for r in rows] == [
        ("today", 0),
        ("fresh", 2),
        ("edge", 29),
    ]
    rows = db.execute(
        "SELECT * FROM get_recipes_on_cooldown(%s, 'dinner', 7)", (user_id,)
    ).fetchall()
    assert [r["recipe_id"] for r in rows] == ["today", "fresh"]
    assert (
        db.execute("SELECT * FROM get_recipes_on_cooldown(%s, 'snack')", (user_id,)).fetchall()
        == []
    )


def test_cooldown_query_uses_its_index(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    db.execute("INSERT INTO users (email) SELECT 'u' || g || '@x' FROM generate_series(1, 200) g")
    db.execute("""INSERT INTO recipe_rotation (user_id, recipe_id, meal_type, last_used_date)
                  SELECT u.id, 'r' || g, (enum_range(NULL::meal_type))[1 + g % 4],
                         CURRENT_DATE - (g % 400)
                  FROM users u, generate_series(1, 60) g""")
    db.execute("ANALYZE recipe_rotation")
    plan = db.execute(f"""EXPLAIN (FORMAT JSON)
        SELECT r.recipe_id, r.last_used_date FROM recipe_rotation r
        WHERE r.user_id = {int(user_id)} AND r.meal_type = 'dinner'
          AND r.last_used_date > CURRENT_DATE - 30
        ORDER BY r.last_used_date DESC""").fetchone()
    assert "idx_recipe_rotation_cooldown" in str(plan)
