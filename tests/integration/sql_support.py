"""Helpers for the tests that call our SQL functions directly on a ``db`` connection.

``tests/support.py`` holds the helpers of the bridge and end-to-end tests,
which insert jobs through a plain SQL statement with a ``now()`` clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from psycopg.types.json import Jsonb

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday
FRIDAY_6 = {"day": 5, "hour": 6, "minute": 0}
_JSON_COLUMNS = ("frequency_config", "parameters")


def insert_job_row(db, row):
    """INSERT one scheduled_jobs row; JSON columns go in as JSON, whatever their value."""
    cols = ", ".join(row)
    vals = ", ".join(["%s"] * len(row))
    params = [
        Jsonb(v) if k in _JSON_COLUMNS and not isinstance(v, Jsonb) else v for k, v in row.items()
    ]
    db.execute(f"INSERT INTO scheduled_jobs ({cols}) VALUES ({vals})", params)


def insert_job(
    db, job_id, *, ftype="once", config=None, priority="medium", scheduled_for=None, **extra
):
    """A ``noop`` job, due a minute ago unless ``scheduled_for`` says otherwise."""
    row = {
        "id": job_id,
        "job_type": "noop",
        "frequency_type": ftype,
        "frequency_config": config if config is not None else {},
        "priority": priority,
        "scheduled_for": (
            datetime.now(UTC) - timedelta(minutes=1) if scheduled_for is None else scheduled_for
        ),
        **extra,
    }
    insert_job_row(db, row)


def job(db, job_id):
    return db.execute("SELECT * FROM scheduled_jobs WHERE id = %s", (job_id,)).fetchone()


def execution(db, exec_id):
    return db.execute("SELECT * FROM job_executions WHERE id = %s", (exec_id,)).fetchone()
