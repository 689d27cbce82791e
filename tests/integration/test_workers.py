"""Worker heartbeats and the job types they make live (tasks.workers, tasks/sql/workers.sql)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tasks import operator as op
from tasks import workers
from tasks.db import Database
from tasks.errors import ConfigError
from tests.support import insert_job


def seen_ago(db: psycopg.Connection[Any], node: str, seconds: float) -> None:
    db.execute(
        "UPDATE worker_heartbeats SET last_seen_at = now() - make_interval(secs => %s)"
        " WHERE node_name = %s",
        (seconds, node),
    )


def test_live_means_seen_within_three_intervals(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    beat = workers.Heartbeat(database, "a@h", ["weekly_generation", "auto_sync"], ["q"], 10)
    beat.beat_once()
    workers.Heartbeat(database, "b@h", ["auto_sync"], ["q"], 10).beat_once()
    assert workers.live_job_types(database, 10) == {"auto_sync": 2, "weekly_generation": 1}

    seen_ago(db, "a@h", 29)
    assert workers.live_job_types(database, 10) == {"auto_sync": 2, "weekly_generation": 1}
    seen_ago(db, "a@h", 31)  # three 10 s heartbeats missed: dead
    assert workers.live_job_types(database, 10) == {"auto_sync": 1}
    assert [w.node_name for w in workers.live_workers(database, 10)] == ["b@h"]
    assert workers.live_job_types(database, 11) == {"auto_sync": 2, "weekly_generation": 1}

    beat.beat_once()  # a heartbeat brings it back
    assert workers.live_job_types(database, 10)["weekly_generation"] == 1
    beat.stop()  # a clean shutdown removes the row at once
    assert db.execute("SELECT node_name FROM worker_heartbeats").fetchall() == [
        {"node_name": "b@h"}
    ]


def test_waiting_jobs_of_a_type_nobody_handles_are_named(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    workers.Heartbeat(database, "a@h", ["auto_sync"], ["q"], 10).beat_once()
    insert_job(db, "due-1", "weekly_generaton")
    insert_job(db, "due-2", "weekly_generaton")
    insert_job(db, "later", "weekly_generaton", due="now() + interval '1 day'")
    insert_job(db, "fine", "auto_sync")
    assert workers.unhandled_job_types(database, 10) == {"weekly_generaton": 2}
    status = op.scheduler_status(database, heartbeat_seconds=10)
    assert status.unhandled_job_types == {"weekly_generaton": 2}
    assert (status.live_workers, dict(status.live_job_types)) == (1, {"auto_sync": 1})


def test_jobs_add_check_names_the_known_types(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    with pytest.raises(ConfigError, match="no worker has sent a heartbeat in the last 30 s"):
        op.require_live_job_type(database, "weekly_generation", 10)
    workers.Heartbeat(database, "a@h", ["weekly_generation", "auto_sync"], [], 10).beat_once()
    op.require_live_job_type(database, "weekly_generation", 10)
    with pytest.raises(ConfigError) as refused:
        op.require_live_job_type(database, "weekly_generaton", 10)
    assert str(refused.value) == (
        "no live worker handles job type 'weekly_generaton'; did you mean 'weekly_generation'? "
        "known job types: auto_sync, weekly_generation (--force adds it anyway)"
    )
