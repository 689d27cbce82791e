"""Bad input is refused when written, with a message naming the field and the
value, and nothing is written."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

from tests.integration.sql_support import FRIDAY_6, T0, insert_job_row


def insert_row(db, job_id="job_1", **overrides):
    """A valid weekly job row, but for the raw column values in ``overrides``
    (what validation sees: any JSON, any type)."""
    row = {
        "id": job_id,
        "job_type": "weekly_generation",
        "frequency_type": "weekly",
        "frequency_config": FRIDAY_6,
        "priority": "high",
        "scheduled_for": T0,
        **overrides,
    }
    insert_job_row(db, row)


def job_count(db) -> int:
    return db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()["n"]


# ----------------------------------------------------------------- frequency_config

BAD_CONFIGS = [
    ("weekly", [1, 2], "frequency_config must be a JSON object, got array"),
    ("weekly", "x", "frequency_config must be a JSON object, got string"),
    (
        "weekly",
        {"day": 9, "hour": 6, "minute": 0},
        "frequency_config.day must be an integer 0-6 (0 = Sunday), got 9",
    ),
    (
        "weekly",
        {"day": -1, "hour": 6, "minute": 0},
        "frequency_config.day must be an integer 0-6 (0 = Sunday), got -1",
    ),
    (
        "weekly",
        {"day": 5, "hour": "6", "minute": 0},
        'frequency_config.hour must be an integer 0-23, got "6"',
    ),
    (
        "weekly",
        {"day": 5, "hour": 6.5, "minute": 0},
        "frequency_config.hour must be an integer 0-23, got 6.5",
    ),
    (
        "weekly",
        {"day": 5, "hour": None, "minute": 0},
        "frequency_config.hour must be an integer 0-23, got null",
    ),
    (
        "weekly",
        {"day": 5, "hour": 24, "minute": 0},
        "frequency_config.hour must be an integer 0-23, got 24",
    ),
    (
        "weekly",
        {"day": 5, "hour": 6, "minute": 60},
        "frequency_config.minute must be an integer 0-59, got 60",
    ),
    ("weekly", {"day": 5, "hour": 6}, "frequency_config.minute is required for a weekly job"),
    ("weekly", {"hour": 6, "minute": 0}, "frequency_config.day is required for a weekly job"),
    ("weekly", {**FRIDAY_6, "foo": 1}, 'frequency_config has unknown key "foo" for a weekly job'),
    (
        "weekly",
        {**FRIDAY_6, "timezone": "Mars/Base"},
        'frequency_config.timezone must be a known IANA time zone, got "Mars/Base"',
    ),
    (
        "weekly",
        {**FRIDAY_6, "timezone": 5},
        "frequency_config.timezone must be a known IANA time zone, got 5",
    ),
    ("daily", {"hour": 20}, "frequency_config.minute is required for a daily job"),
    (
        "daily",
        {"hour": 20, "minute": 0, "day": 1},
        'frequency_config has unknown key "day" for a daily job',
    ),
    ("every_n_hours", {"hours": 0}, "frequency_config.hours must be an integer 1-168, got 0"),
    ("every_n_hours", {"hours": 169}, "frequency_config.hours must be an integer 1-168, got 169"),
    ("every_n_hours", {}, "frequency_config.hours is required for a every_n_hours job"),
    ("once", {"hour": 1}, 'frequency_config has unknown key "hour" for a once job'),
    ("once", {"timezone": "UTC"}, 'frequency_config has unknown key "timezone" for a once job'),
]


@pytest.mark.parametrize(
    ("ftype", "config", "message"), BAD_CONFIGS, ids=[c[2][:60] for c in BAD_CONFIGS]
)
def test_bad_frequency_config_refused_on_insert(shared_db, ftype, config, message):
    db = shared_db
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        insert_row(db, frequency_type=ftype, frequency_config=Jsonb(config))
    assert job_count(db) == 0


def test_bad_frequency_config_refused_on_update(db):
    insert_row(db)
    for ftype, config, message in BAD_CONFIGS:
        with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
            db.execute(
                "UPDATE scheduled_jobs SET frequency_type = %s, frequency_config = %s",
                (ftype, Jsonb(config)),
            )
    row = db.execute("SELECT frequency_type::text, frequency_config FROM scheduled_jobs").fetchone()
    assert (row["frequency_type"], row["frequency_config"]) == ("weekly", FRIDAY_6)


def test_bad_frequency_config_refused_by_calculate_next_schedule(db):
    # Read-only, so one database serves every case.
    for ftype, config, message in BAD_CONFIGS:
        with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
            db.execute("SELECT calculate_next_schedule(%s, %s, %s)", (ftype, Jsonb(config), T0))


def test_good_configs_accepted(db):
    insert_row(db, "w", frequency_config=Jsonb({**FRIDAY_6, "timezone": "Europe/Berlin"}))
    insert_row(db, "d", frequency_type="daily", frequency_config=Jsonb({"hour": 0, "minute": 59}))
    insert_row(db, "h", frequency_type="every_n_hours", frequency_config=Jsonb({"hours": 168}))
    insert_row(db, "o", frequency_type="once", frequency_config=Jsonb({}))
    assert job_count(db) == 4


def test_unknown_frequency_type_names_field_and_value(db):
    with pytest.raises(
        errors.InvalidTextRepresentation,
        match=re.escape('invalid input value for enum frequency_type: "monthly"'),
    ):
        insert_row(db, frequency_type="monthly")
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape(
            'frequency_type must be one of weekly, daily, every_n_hours, once, got "monthly"'
        ),
    ):
        db.execute("SELECT calculate_next_schedule('monthly', '{}', now())")
    assert job_count(db) == 0


def test_unknown_priority_refused(db):
    with pytest.raises(
        errors.InvalidTextRepresentation,
        match=re.escape('invalid input value for enum job_priority: "urgent"'),
    ):
        insert_row(db, priority="urgent")
    assert job_count(db) == 0


# ----------------------------------------------------------------- other job fields


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"job_type": ""}, "job_type must not be empty"),
        ({"job_type": "   "}, "job_type must not be empty"),
        ({"parameters": "x"}, "parameters must be a JSON object, got string"),
        ({"parameters": [1]}, "parameters must be a JSON object, got array"),
        ({"max_retries": -1}, "max_retries must be >= 0, got -1"),
        ({"timeout_seconds": 0}, "timeout_seconds must be > 0, got 0"),
    ],
)
def test_bad_job_fields_refused(shared_db, overrides, message):
    db = shared_db
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        insert_row(db, **overrides)
    assert job_count(db) == 0


def test_empty_id_refused(db):
    with pytest.raises(errors.InvalidParameterValue, match=re.escape("id must not be empty")):
        insert_row(db, job_id="")
    assert job_count(db) == 0


def test_minimal_insert_fills_defaults(db):
    insert_row(db)
    row = db.execute("SELECT * FROM scheduled_jobs").fetchone()
    assert row["status"] == "pending"
    assert row["enabled"] is True
    assert row["parameters"] == {}
    assert row["error_count"] == 0
    assert row["max_retries"] is None
    assert row["occurrence_at"] == T0
    assert row["next_trigger"] == "scheduled"


def test_check_constraints_hold_without_the_trigger(db):
    # The named CHECKs back up the trigger if someone disables it.
    db.execute("ALTER TABLE scheduled_jobs DISABLE TRIGGER trg_scheduled_jobs_validate_insert")
    with pytest.raises(errors.CheckViolation, match="scheduled_jobs_max_retries_non_negative"):
        insert_row(db, max_retries=-1)
    with pytest.raises(errors.CheckViolation, match="scheduled_jobs_parameters_object"):
        insert_row(db, parameters=Jsonb([1]))


# ----------------------------------------------------------------- scheduler_config


def test_scheduler_config_single_row(db):
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape("scheduler_config holds a single row (id = 1), got id 2"),
    ):
        db.execute("INSERT INTO scheduler_config (id) VALUES (2)")
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape("scheduler_config holds a single row (id = 1), got id 2"),
    ):
        db.execute("UPDATE scheduler_config SET id = 2")
    assert db.execute("SELECT count(*) AS n FROM scheduler_config").fetchone()["n"] == 1


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        (
            "timezone = 'Mars/Base'",
            'scheduler_config.timezone must be a known IANA time zone, got "Mars/Base"',
        ),
        (
            "timezone = 'UTC+5'",
            'scheduler_config.timezone must be a known IANA time zone, got "UTC+5"',
        ),
        ("max_concurrent_jobs = 0", "scheduler_config.max_concurrent_jobs must be > 0, got 0"),
        ("max_retries = -1", "scheduler_config.max_retries must be >= 0, got -1"),
        ("retry_base_seconds = 0", "scheduler_config.retry_base_seconds must be > 0, got 0"),
        (
            "queue_timeout_seconds = -5",
            "scheduler_config.queue_timeout_seconds must be > 0, got -5",
        ),
    ],
)
def test_scheduler_config_values_checked(shared_db, assignment, message):
    db = shared_db
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        db.execute(f"UPDATE scheduler_config SET {assignment}")  # type: ignore[arg-type]
    row = db.execute("SELECT * FROM scheduler_config").fetchone()
    assert (row["timezone"], row["max_concurrent_jobs"], row["max_retries"]) == ("UTC", 5, 3)


def test_scheduler_config_defaults(db):
    row = db.execute("SELECT * FROM scheduler_config").fetchone()
    assert row["id"] == 1 and row["enabled"] is True
    assert row["max_concurrent_jobs"] == 5
    assert row["retry_base_seconds"] == 60
    assert row["queue_timeout_seconds"] == 300


# ----------------------------------------------------------------- users and functions


def test_user_timezone_checked(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    assert user_id is not None
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape('users.timezone must be a known IANA time zone, got "Mars/Base"'),
    ):
        db.execute("INSERT INTO users (email, timezone) VALUES ('b@example.com', 'Mars/Base')")
    db.execute("UPDATE users SET timezone = 'Europe/Berlin'")
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 1


def test_start_job_bad_trigger_type(db):
    insert_row(db)
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape(
            'trigger_type must be one of scheduled, manual, retry, dependent, got "cron"'
        ),
    ):
        db.execute("SELECT start_job('job_1', 'cron')")
    assert db.execute("SELECT status FROM scheduled_jobs").fetchone()["status"] == "pending"
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 0


def test_unknown_job_is_no_data_found(db):
    with pytest.raises(errors.NoDataFound, match=re.escape('job "nope" does not exist')):
        db.execute("SELECT start_job('nope', 'manual')")
    with pytest.raises(errors.NoDataFound, match=re.escape('job "nope" does not exist')):
        db.execute("SELECT complete_job('nope', 1, NULL)")
    with pytest.raises(errors.NoDataFound, match=re.escape('job "nope" does not exist')):
        db.execute("SELECT fail_job('nope', 1, 'boom')")
    with pytest.raises(errors.NoDataFound, match=re.escape('job "nope" does not exist')):
        db.execute("SELECT trigger_job_v1('nope')")


def test_rotation_bad_meal_type(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    message = 'meal_type must be one of breakfast, lunch, dinner, snack, got "brunch"'
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        db.execute("SELECT update_recipe_rotation(%s, 'r1', 'brunch')", (user_id,))
    with pytest.raises(errors.InvalidParameterValue, match=re.escape(message)):
        db.execute("SELECT * FROM get_recipes_on_cooldown(%s, 'brunch')", (user_id,))
    assert db.execute("SELECT count(*) AS n FROM recipe_rotation").fetchone()["n"] == 0


def test_dependency_cycle_refused(db):
    for job_id in ("a", "b", "c"):
        insert_row(db, job_id)
    db.execute("INSERT INTO job_dependencies VALUES ('a', 'b'), ('b', 'c')")
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape('job_dependencies would create a cycle: "a" already leads to "c"'),
    ):
        db.execute("INSERT INTO job_dependencies VALUES ('c', 'a')")
    with pytest.raises(
        errors.InvalidParameterValue,
        match=re.escape('job_dependencies: job "a" cannot depend on itself'),
    ):
        db.execute("INSERT INTO job_dependencies VALUES ('a', 'a')")
    assert db.execute("SELECT count(*) AS n FROM job_dependencies").fetchone()["n"] == 2


def test_priority_orders_as_declared(db):
    row = db.execute(
        "SELECT array_agg(p ORDER BY p DESC)::text[] AS ps "
        "FROM unnest(enum_range(NULL::job_priority)) p"
    ).fetchone()
    assert row["ps"] == ["critical", "high", "medium", "low"]


def test_connection_still_usable(db: psycopg.Connection):
    # autocommit: a refused statement leaves nothing half-open
    with pytest.raises(errors.InvalidParameterValue):
        insert_row(db, job_type="")
    insert_row(db)
    assert job_count(db) == 1
