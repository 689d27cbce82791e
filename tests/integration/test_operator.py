"""tasks.operator against a real migrated database.

Times are fixed through the functions' ``now``/``start`` parameters, so the
DST cases do not depend on the day the suite runs. State is set up through
the schema's own functions (claim / start / fail), as the beat and workers
would.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
import redis

from tasks import operator as op
from tasks.db import Database
from tasks.errors import ConfigError, Conflict, InvalidInput, InvalidTransition, NotFound

Conn = psycopg.Connection[dict[str, Any]]

NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # a Wednesday, before the US spring change
FRI_6 = {"day": 5, "hour": 6, "minute": 0}


def add(database: Database, job_id: str, **kw: Any) -> op.Job:
    now = kw.pop("now", None)
    spec: dict[str, Any] = {
        "job_id": job_id,
        "job_type": "noop",
        "frequency_type": "weekly",
        "config": FRI_6,
    }
    spec.update(kw)
    return op.add_job(database, op.NewJob(**spec), now=now)


def snapshot(db: Conn) -> list[Any]:
    return [
        db.execute("SELECT * FROM scheduled_jobs ORDER BY id").fetchall(),
        db.execute("SELECT * FROM job_dependencies ORDER BY 1, 2").fetchall(),
        db.execute("SELECT * FROM scheduler_config").fetchall(),
    ]


def claim(db: Conn) -> dict[str, int]:
    rows = db.execute("SELECT job_id, dispatch_id FROM claim_due_jobs_v1(100, now())").fetchall()
    return {r["job_id"]: r["dispatch_id"] for r in rows}


def start(db: Conn, job_id: str, dispatch_id: int, lease_seconds: int = 30) -> int:
    row = db.execute(
        "SELECT execution_id FROM start_execution_v1(%s, %s, 'w1', 't1', %s, now())",
        (job_id, dispatch_id, lease_seconds),
    ).fetchone()
    assert row is not None
    return int(row["execution_id"])


def run_now(db: Conn, database: Database, job_id: str) -> int:
    """Make a job due, claim it and start it: returns the running execution id."""
    op.trigger_job(database, job_id)
    return start(db, job_id, claim(db)[job_id])


# ---------------------------------------------------------------- input


def test_parse_helpers() -> None:
    assert op.parse_json("--config", '{"a": 1}') == {"a": 1}
    with pytest.raises(ConfigError, match=r"^--config is not valid JSON: Expecting"):
        op.parse_json("--config", "{nope")
    assert op.parse_time("--at", "2027-03-14T02:30") == datetime(2027, 3, 14, 2, 30)
    assert op.parse_time("--at", "2027-03-14T02:30Z").tzinfo is not None
    with pytest.raises(ConfigError, match=r"^--at must be an ISO time"):
        op.parse_time("--at", "tomorrow")
    assert op.parse_since("--since", "24h") == timedelta(hours=24)
    assert op.parse_since("--since", "90m") == timedelta(minutes=90)
    assert op.parse_since("--since", "2027-03-01") == datetime(2027, 3, 1)
    with pytest.raises(ConfigError, match=r"^--since must be a duration"):
        op.parse_since("--since", "yesterday")


# ---------------------------------------------------------------- add


def test_add_job_first_run(database: Database, db: Conn) -> None:
    weekly = add(database, "weekly", now=NOW)
    assert weekly.status == "pending" and weekly.enabled and weekly.priority == "medium"
    assert weekly.scheduled_for == datetime(2027, 3, 12, 6, 0, tzinfo=UTC)  # next Friday 06:00
    assert weekly.occurrence_at == weekly.scheduled_for

    once = add(database, "once", frequency_type="once", config={}, now=NOW)
    assert once.scheduled_for == NOW

    at = datetime(2027, 4, 1, 9, 0, tzinfo=UTC)
    exact = add(database, "exact", at=at, priority="critical", max_retries=0, timeout_seconds=60)
    assert (exact.scheduled_for, exact.priority, exact.max_retries) == (at, "critical", 0)
    assert exact.timeout_seconds == 60

    # A wall-clock time is in the job's zone; one in the spring-forward gap
    # moves forward by the gap, as the scheduler's own schedules do.
    ny = {"hour": 2, "minute": 30, "timezone": "America/New_York"}
    local = add(
        database, "local", frequency_type="daily", config=ny, at=datetime(2027, 3, 14, 2, 30)
    )
    assert local.scheduled_for == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)  # 03:30 EDT

    off = add(database, "off", enabled=False, parameters={"user_group": "beta"})
    assert not off.enabled and off.parameters == {"user_group": "beta"}
    count = db.execute("SELECT count(*) AS n FROM scheduled_jobs").fetchone()
    assert count is not None and count["n"] == 5


def test_add_job_with_children(database: Database, db: Conn) -> None:
    add(database, "child-a", frequency_type="once", config={})
    add(database, "child-b", frequency_type="once", config={})
    add(database, "parent", then=["child-a", "child-b", "child-a"])
    edges = db.execute("SELECT parent_job_id, child_job_id FROM job_dependencies ORDER BY 2")
    assert [tuple(e.values()) for e in edges] == [("parent", "child-a"), ("parent", "child-b")]
    detail = op.show_job(database, "parent")
    assert detail.then == ("child-a", "child-b") and detail.runs_after == ()
    assert op.show_job(database, "child-a").runs_after == ("parent",)


def test_add_job_refusals_change_nothing(database: Database, db: Conn) -> None:
    add(database, "taken")
    before = snapshot(db)
    cases: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (
            InvalidInput,
            r"frequency_config\.day must be an integer 0-6 \(0 = Sunday\), got 9",
            {"config": {"day": 9, "hour": 6, "minute": 0}},
        ),
        (InvalidInput, r"frequency_config\.hour is required", {"config": {"day": 1}}),
        (
            InvalidInput,
            r"frequency_config\.timezone must be a known IANA time zone, got \"Mars/Base\"",
            {
                "frequency_type": "daily",
                "config": {"hour": 1, "minute": 0, "timezone": "Mars/Base"},
            },
        ),
        (InvalidInput, r"frequency_config has unknown key", {"config": {**FRI_6, "hours": 3}}),
        (InvalidInput, r"parameters must be a JSON object", {"parameters": [1, 2]}),
        (InvalidInput, r"max_retries must be >= 0", {"max_retries": -1}),
        (InvalidInput, r"job_priority", {"priority": "urgent"}),
        (InvalidInput, r"frequency_type", {"frequency_type": "monthly"}),
        (NotFound, r'then: job "ghost" does not exist', {"then": ["taken", "ghost"]}),
        (NotFound, r"user_id 4242 does not exist", {"user_id": 4242}),
        (ConfigError, r"cannot run after itself", {"then": ["new"]}),
    ]
    for error, message, kw in cases:
        with pytest.raises(error, match=message):
            add(database, "new", **kw)
    with pytest.raises(Conflict, match=r'job "taken" already exists'):
        add(database, "taken")
    assert snapshot(db) == before


# ---------------------------------------------------------------- list / show


def test_list_and_show(database: Database, db: Conn) -> None:
    # Inserting a user may install that user's default jobs (003): filter by type.
    db.execute("INSERT INTO users (id, email) VALUES (7, 'cook@example.com')")
    add(database, "a", job_type="auto_sync", frequency_type="once", config={})
    add(database, "b", user_id=7)
    add(database, "c", user_id=7, enabled=False, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert [j.id for j in op.list_jobs(database, job_type="noop")] == ["b", "c"]  # soonest first
    assert [j.id for j in op.list_jobs(database, job_type="noop", user_id=7)] == ["b", "c"]
    assert op.list_jobs(database, job_type="noop", user_id=8) == []
    assert [j.id for j in op.list_jobs(database, job_type="auto_sync")] == ["a"]
    assert [j.id for j in op.list_jobs(database, status="pending", limit=1)] == ["a"]
    assert op.list_jobs(database, status="running") == []

    first = run_now(db, database, "a")
    db.execute("SELECT complete_execution_v1(%s, '{\"ok\": true}', now())", (first,))
    op.trigger_job(database, "a")
    second = start(db, "a", claim(db)["a"])
    detail = op.show_job(database, "a")
    assert detail.job.status == "running"
    assert [e.id for e in detail.executions] == [second, first]  # newest first
    assert detail.executions[1].status == "completed"
    assert detail.executions[1].output == {"ok": True}
    assert detail.executions[0].trigger_type == "manual"
    with pytest.raises(NotFound, match='job "nope" does not exist'):
        op.show_job(database, "nope")


# ---------------------------------------------------------------- edit


def test_edit_job(database: Database, db: Conn) -> None:
    add(database, "w", now=NOW)
    monday = {"day": 1, "hour": 7, "minute": 15}
    job = op.edit_job(database, "w", op.JobChanges(config=monday), now=NOW)
    assert job.frequency_config == monday
    assert job.scheduled_for == datetime(2027, 3, 15, 7, 15, tzinfo=UTC)  # moved to Monday
    assert job.occurrence_at == job.scheduled_for

    job = op.edit_job(database, "w", op.JobChanges(priority="high", parameters={"x": 1}))
    assert (job.priority, job.parameters) == ("high", {"x": 1})
    assert job.scheduled_for == datetime(2027, 3, 15, 7, 15, tzinfo=UTC)  # unchanged

    at = datetime(2027, 5, 1, tzinfo=UTC)
    job = op.edit_job(database, "w", op.JobChanges(config=FRI_6, at=at, max_retries=5))
    assert (job.scheduled_for, job.frequency_config, job.max_retries) == (at, FRI_6, 5)

    # A new schedule replaces a pending manual run: the next run is regular again.
    op.trigger_job(database, "w")
    job = op.edit_job(database, "w", op.JobChanges(config=monday), now=NOW)
    assert job.next_trigger == "scheduled"
    assert job.scheduled_for == datetime(2027, 3, 15, 7, 15, tzinfo=UTC)

    before = snapshot(db)
    with pytest.raises(InvalidInput, match=r"frequency_config\.day must be an integer 0-6"):
        op.edit_job(database, "w", op.JobChanges(config={"day": 9, "hour": 6, "minute": 0}))
    with pytest.raises(InvalidInput, match=r"timeout_seconds must be > 0"):
        op.edit_job(database, "w", op.JobChanges(timeout_seconds=0, priority="low"))
    with pytest.raises(NotFound):
        op.edit_job(database, "nope", op.JobChanges(priority="low"))
    with pytest.raises(ConfigError, match="nothing to change"):
        op.edit_job(database, "w", op.JobChanges())
    assert snapshot(db) == before


def test_edit_running_job(database: Database, db: Conn) -> None:
    add(database, "r")
    run_now(db, database, "r")
    before = db.execute("SELECT scheduled_for FROM scheduled_jobs WHERE id = 'r'").fetchone()
    with pytest.raises(InvalidTransition, match='job "r" is running'):
        op.edit_job(database, "r", op.JobChanges(at=NOW))
    # A new config on a running job applies from its next occurrence on.
    job = op.edit_job(database, "r", op.JobChanges(config={"day": 2, "hour": 1, "minute": 0}))
    assert job.frequency_config["day"] == 2 and before is not None
    assert job.scheduled_for == before["scheduled_for"]


# ---------------------------------------------------------------- trigger / enable / remove


def test_trigger_enable_disable(database: Database, db: Conn) -> None:
    add(database, "t", now=NOW)
    job = op.trigger_job(database, "t")
    assert (job.status, job.next_trigger) == ("pending", "manual")
    assert job.scheduled_for <= datetime.now(UTC)
    assert job.occurrence_at == datetime(2027, 3, 12, 6, 0, tzinfo=UTC)  # schedule untouched

    claim(db)
    with pytest.raises(InvalidTransition, match='job "t" is already queued'):
        op.trigger_job(database, "t")
    with pytest.raises(NotFound, match='job "nope" does not exist'):
        op.trigger_job(database, "nope")

    add(database, "d")
    assert not op.set_job_enabled(database, "d", False).enabled
    with pytest.raises(InvalidTransition, match="disabled"):
        op.trigger_job(database, "d")
    assert op.set_job_enabled(database, "d", True).enabled
    with pytest.raises(NotFound):
        op.set_job_enabled(database, "nope", True)


def test_remove_job(database: Database, db: Conn) -> None:
    add(database, "child", frequency_type="once", config={})
    add(database, "gone", then=["child"])
    execution = run_now(db, database, "gone")
    with pytest.raises(InvalidTransition, match='job "gone" is running'):
        op.remove_job(database, "gone")
    db.execute("SELECT fail_execution_v1(%s, 'boom', true, now())", (execution,))
    removed = op.remove_job(database, "gone")
    assert removed.job.id == "gone" and removed.executions == 1
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone() == {"n": 0}
    assert db.execute("SELECT count(*) AS n FROM job_dependencies").fetchone() == {"n": 0}
    assert [j.id for j in op.list_jobs(database)] == ["child"]
    with pytest.raises(NotFound):
        op.remove_job(database, "gone")


# ---------------------------------------------------------------- preview


def test_preview_spring_forward(database: Database) -> None:
    ny = {"hour": 2, "minute": 30, "timezone": "America/New_York"}
    preview = op.preview_schedule(database, "daily", ny, 3, start=NOW + timedelta(days=2))
    assert preview.zone == "America/New_York"
    first, gap, after = preview.fires
    assert (first.local.hour, first.local.minute, first.note) == (2, 30, "")
    assert first.at == datetime(2027, 3, 13, 7, 30, tzinfo=UTC)
    assert gap.at == datetime(2027, 3, 14, 7, 30, tzinfo=UTC)
    assert (gap.local.hour, gap.local.minute) == (3, 30)
    assert "DST: shifted by gap (02:30 -> 03:30)" in gap.note
    assert "UTC offset changed -05:00 -> -04:00" in gap.note
    assert after.at == datetime(2027, 3, 15, 6, 30, tzinfo=UTC) and after.note == ""


def test_preview_fall_back(database: Database) -> None:
    ny = {"hour": 1, "minute": 30, "timezone": "America/New_York"}
    start_at = datetime(2027, 11, 6, 12, 0, tzinfo=UTC)
    ambiguous, after = op.preview_schedule(database, "daily", ny, 2, start=start_at).fires
    assert ambiguous.at == datetime(2027, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT, the first
    assert ambiguous.note == "DST: 01:30 occurs twice, runs at the first"
    assert after.note == "UTC offset changed -04:00 -> -05:00"
    assert op.format_offset(after.utc_offset) == "-05:00"


def test_preview_job(database: Database, db: Conn) -> None:
    add(database, "w", now=NOW)
    fires = op.preview_job(database, "w", 3).fires
    assert [f.at.day for f in fires] == [12, 19, 26]
    op.trigger_job(database, "w")
    fires = op.preview_job(database, "w", 2).fires
    assert fires[0].note == "manual run" and fires[1].at.day == 12  # then the regular Friday
    # A naive start is wall-clock time in the job's zone (UTC here).
    fires = op.preview_job(database, "w", 1, start=datetime(2027, 3, 19, 6, 0)).fires
    assert fires[0].at == datetime(2027, 3, 26, 6, 0, tzinfo=UTC)

    add(database, "o", frequency_type="once", config={}, enabled=False)
    fires = op.preview_job(database, "o", 5).fires
    assert len(fires) == 1 and fires[0].note == "job is disabled"

    with pytest.raises(InvalidInput, match=r"frequency_config\.hours must be an integer 1-168"):
        op.preview_schedule(database, "every_n_hours", {"hours": 0})
    with pytest.raises(ConfigError, match="count must be"):
        op.preview_schedule(database, "daily", {"hour": 1, "minute": 0}, 0)
    with pytest.raises(NotFound):
        op.preview_job(database, "nope")


# ---------------------------------------------------------------- runs


def test_list_runs(database: Database, db: Conn) -> None:
    add(database, "a")
    add(database, "b")
    ids = []
    for job_id in ("a", "b", "a"):
        ids.append(run_now(db, database, job_id))
        db.execute("SELECT fail_execution_v1(%s, 'boom', true, now())", (ids[-1],))
    db.execute(
        "UPDATE job_executions SET started_at = now() - interval '3 days',"
        " completed_at = now() - interval '3 days' WHERE id = %s",
        (ids[0],),
    )
    assert [r.id for r in op.list_runs(database)] == [ids[2], ids[1], ids[0]]
    assert [r.id for r in op.list_runs(database, job_id="a")] == [ids[2], ids[0]]
    assert [r.id for r in op.list_runs(database, since=timedelta(hours=24))] == [ids[2], ids[1]]
    old = datetime.now(UTC) - timedelta(days=4)
    assert len(op.list_runs(database, since=old)) == 3
    assert len(op.list_runs(database, limit=1)) == 1
    assert op.list_runs(database, status="completed") == []
    failed = op.list_runs(database, status="failed", job_id="b")
    assert [(r.job_type, r.error_message, r.trigger_type) for r in failed] == [
        ("noop", "boom", "manual")
    ]
    with pytest.raises(NotFound):
        op.list_runs(database, job_id="nope")


# ---------------------------------------------------------------- scheduler


def test_scheduler_status(database: Database, db: Conn, redis_url: str) -> None:
    base = datetime.now(UTC) - timedelta(hours=1)
    for minutes, job_id in enumerate(("run1", "queued1", "due1", "due2")):
        at = base + timedelta(minutes=minutes)
        add(database, job_id, frequency_type="once", config={}, at=at)
    add(database, "future", frequency_type="once", config={}, at=base + timedelta(days=1))
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 2")
    claimed = claim(db)  # two slots: run1 and queued1 (oldest first, id order)
    assert set(claimed) == {"run1", "queued1"}
    expired = start(db, "run1", claimed["run1"], lease_seconds=3)

    later = datetime.now(UTC) + timedelta(minutes=1)  # run1's lease has run out by then
    status = op.scheduler_status(database, redis_url=None, now=later)
    assert (status.queued, status.running, status.active) == (1, 1, 2)
    assert status.config.max_concurrent_jobs == 2 and status.config.enabled
    assert status.due == 2 and status.oldest_due_at == base + timedelta(minutes=2)
    assert status.oldest_due_lag == later - status.oldest_due_at
    assert status.expired_leases == 1 and status.failures_24h == 0
    assert status.beat == op.BeatLock("unknown", None, "REDIS_URL is not set")

    db.execute("SELECT fail_execution_v1(%s, 'boom', true, now())", (expired,))
    status = op.scheduler_status(database, redis_url=redis_url, key_prefix="ops-test")
    assert status.failures_24h == 1 and status.expired_leases == 0
    assert status.beat.state == "free"

    client = redis.Redis.from_url(redis_url)
    client.set("ops-test:lock", "token", px=15000)
    client.close()
    beat = op.scheduler_status(database, redis_url=redis_url, key_prefix="ops-test").beat
    assert beat.state == "held" and beat.ttl is not None
    assert timedelta(seconds=10) < beat.ttl <= timedelta(seconds=15)

    down = op.read_beat_lock("redis://127.0.0.1:1/0", "meal-scheduler")
    assert down.state == "unknown" and down.detail.startswith("Redis unreachable")


def test_pause_resume_wakes_the_beat(database: Database, db: Conn) -> None:
    db.execute("LISTEN meal_scheduler_wakeup")
    assert not op.set_scheduler_enabled(database, False).enabled
    assert op.set_scheduler_enabled(database, True).enabled
    got = list(db.notifies(timeout=2.0, stop_after=1))
    assert got and got[0].channel == "meal_scheduler_wakeup"
    row = db.execute("SELECT enabled FROM scheduler_config").fetchone()
    assert row == {"enabled": True}


def test_update_scheduler_config(database: Database, db: Conn) -> None:
    soon = datetime.now(UTC)
    add(database, "utc-daily", frequency_type="daily", config={"hour": 6, "minute": 0})
    add(
        database,
        "own-zone",
        frequency_type="daily",
        config={"hour": 6, "minute": 0, "timezone": "Asia/Tokyo"},
    )
    add(database, "hourly", frequency_type="every_n_hours", config={"hours": 4})
    add(database, "overdue", frequency_type="daily", config={"hour": 6, "minute": 0}, at=soon)
    before = {j.id: j.scheduled_for for j in op.list_jobs(database)}

    update = op.update_scheduler_config(
        database, op.ConfigChanges(timezone="America/New_York", max_concurrent_jobs=9)
    )
    assert update.config.timezone == "America/New_York"
    assert update.config.max_concurrent_jobs == 9 and update.config.max_retries == 3
    assert update.rescheduled == 1
    after = {j.id: j.scheduled_for for j in op.list_jobs(database)}
    assert after["utc-daily"] != before["utc-daily"]
    row = db.execute(
        "SELECT (scheduled_for AT TIME ZONE 'America/New_York')::time AS t,"
        " occurrence_at = scheduled_for AS in_step"
        " FROM scheduled_jobs WHERE id = 'utc-daily'"
    ).fetchone()
    assert row == {"t": time(6, 0), "in_step": True}
    for unchanged in ("own-zone", "hourly", "overdue"):
        assert after[unchanged] == before[unchanged]

    before_all = snapshot(db)
    with pytest.raises(
        InvalidInput, match=r'timezone must be a known IANA time zone, got "Mars/Base"'
    ):
        op.update_scheduler_config(database, op.ConfigChanges(timezone="Mars/Base"))
    with pytest.raises(InvalidInput, match=r"max_concurrent_jobs must be > 0, got 0"):
        op.update_scheduler_config(database, op.ConfigChanges(max_concurrent_jobs=0))
    with pytest.raises(ConfigError, match="nothing to change"):
        op.update_scheduler_config(database, op.ConfigChanges())
    assert snapshot(db) == before_all


def test_enabling_a_quarantined_recurring_job_puts_it_back_on_schedule(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config)"
        " VALUES ('q', 'x', 'daily', '{\"hour\": 6, \"minute\": 0}')"
    )
    db.execute("SELECT quarantine_job_v1('q', 'no handler')")
    job = op.set_job_enabled(database, "q", True)
    assert (job.status, job.enabled) == ("pending", True)
    row = db.execute("SELECT scheduled_for > now() AS future FROM scheduled_jobs WHERE id = 'q'")
    assert row.fetchone()["future"] is True
