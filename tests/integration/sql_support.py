"""Helpers for the tests that call our SQL functions directly on a ``db`` connection.

``tests/support.py`` holds the helpers of the bridge and end-to-end tests,
which insert jobs through a plain SQL statement with a ``now()`` clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

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


def job(db, job_id):
    return db.execute("SELECT * FROM scheduled_jobs WHERE id = %s", (job_id,)).fetchone()


def execution(db, exec_id):
    return db.execute("SELECT * FROM job_executions WHERE id = %s", (exec_id,)).fetchone()
