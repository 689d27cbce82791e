"""The Celery bridge's functions (002_bridge.sql) against real Postgres, with a
fixed p_now wherever time matters."""

from __future__ import annotations

import functools
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import errors
from psycopg.rows import dict_row

from tests import support
from tests.integration.sql_support import FRIDAY_6, T0, execution, job

# This file's clock is fixed: a job is due at T0 unless a test says otherwise.
insert_job = functools.partial(support.insert_job, scheduled_for=T0)


def claim(db, limit=100, now=T0):
    return db.execute("SELECT * FROM claim_due_jobs_v1(%s, %s)", (limit, now)).fetchall()


def start_exec(
    db, job_id, dispatch_id, now=T0, lease=30, worker="host-1/42", task="task-1", timeout=None
):
    return db.execute(
        "SELECT * FROM start_execution_v1(%s, %s, %s, %s, %s, %s, %s)",
        (job_id, dispatch_id, worker, task, lease, now, timeout),
    ).fetchone()


def claim_and_start(db, job_id, now=T0, lease=30):
    # Like a worker: the time limit comes with the message, from the claim.
    claimed = {r["job_id"]: r for r in claim(db, 100, now)}
    row = claimed[job_id]
    return start_exec(db, job_id, row["dispatch_id"], now, lease, timeout=row["timeout_seconds"])


# ----------------------------------------------------------------- claim


def test_claim_critical_first_then_scheduled_for(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100")
    insert_job(db, "low_old", priority="low", scheduled_for=T0 - timedelta(hours=5))
    insert_job(db, "crit_new", priority="critical", scheduled_for=T0 - timedelta(minutes=1))
    insert_job(db, "crit_old", priority="critical", scheduled_for=T0 - timedelta(minutes=9))
    insert_job(db, "high", priority="high", scheduled_for=T0 - timedelta(hours=1))
    insert_job(db, "future", priority="critical", scheduled_for=T0 + timedelta(seconds=1))
    insert_job(db, "disabled", priority="critical", enabled=False)
    rows = claim(db)
    assert [r["job_id"] for r in rows] == ["crit_old", "crit_new", "high", "low_old"]
    assert [r["priority"] for r in rows] == ["critical", "critical", "high", "low"]
    assert len({r["dispatch_id"] for r in rows}) == 4
    assert all(r["trigger_type"] == "scheduled" for r in rows)
    row = job(db, "crit_old")
    assert (row["status"], row["queued_at"], row["dispatch_id"]) == (
        "queued",
        T0,
        rows[0]["dispatch_id"],
    )
    assert job(db, "future")["status"] == "pending"
    assert claim(db) == []


def test_critical_not_stuck_behind_low_backlog(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 3")
    db.execute(
        """INSERT INTO scheduled_jobs (id, job_type, frequency_type, priority, scheduled_for)
                  SELECT 'low_' || g, 'noop', 'once', 'low', %s - g * interval '1 s'
                  FROM generate_series(1, 50) g""",
        (T0,),
    )
    insert_job(db, "crit", priority="critical", scheduled_for=T0)
    assert claim(db, 1)[0]["job_id"] == "crit"


def test_claim_respects_limit_and_max_concurrent_jobs(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 3")
    for i in range(6):
        insert_job(db, f"j{i}", scheduled_for=T0 - timedelta(minutes=10 - i))
    assert [r["job_id"] for r in claim(db, 2)] == ["j0", "j1"]
    assert [r["job_id"] for r in claim(db, 10)] == ["j2"]  # 3 active now
    assert claim(db, 10) == []
    start_exec(db, "j0", job(db, "j0")["dispatch_id"])  # queued -> running: still active
    assert claim(db, 10) == []
    exec_id = db.execute("SELECT id FROM job_executions WHERE job_id = 'j0'").fetchone()["id"]
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (exec_id, T0))
    assert [r["job_id"] for r in claim(db, 10)] == ["j3"]
    active = db.execute(
        "SELECT count(*) AS n FROM scheduled_jobs WHERE status IN ('queued', 'running')"
    ).fetchone()["n"]
    assert active == 3


def test_claim_nothing_when_scheduler_disabled(db):
    insert_job(db, "j")
    db.execute("UPDATE scheduler_config SET enabled = false")
    assert claim(db) == []
    assert job(db, "j")["status"] == "pending"
    db.execute("UPDATE scheduler_config SET enabled = true")
    assert [r["job_id"] for r in claim(db)] == ["j"]


def test_claim_skips_rows_locked_by_a_poller(db, db_url):
    insert_job(db, "a", scheduled_for=T0 - timedelta(minutes=2))
    insert_job(db, "b", scheduled_for=T0 - timedelta(minutes=1))
    with psycopg.connect(db_url, row_factory=dict_row) as poller:
        # an open transaction holding "a" FOR UPDATE (the seed's poll)
        assert poller.execute("SELECT get_next_pending_job() AS id").fetchone()["id"] == "a"
        assert [r["job_id"] for r in claim(db)] == ["b"]
        poller.rollback()
    assert [r["job_id"] for r in claim(db)] == ["a"]


def test_concurrent_claimers_get_different_jobs(db, db_url):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 2")
    for i in range(4):
        insert_job(db, f"j{i}", scheduled_for=T0 - timedelta(minutes=10 - i))
    result: dict[str, list[str]] = {}
    with (
        psycopg.connect(db_url, row_factory=dict_row) as c1,
        psycopg.connect(db_url, row_factory=dict_row) as c2,
    ):
        first = [r["job_id"] for r in claim(c1, 1)]  # c1's transaction stays open

        def second_claimer() -> None:
            result["c2"] = [r["job_id"] for r in claim(c2, 5)]
            c2.commit()

        thread = threading.Thread(target=second_claimer)
        thread.start()
        time.sleep(0.3)
        # c2 waits on the claim lock instead of counting slots c1 is filling
        assert thread.is_alive()
        c1.commit()
        thread.join(timeout=10)
    assert first == ["j0"]
    assert result["c2"] == ["j1"]  # different job, and only the one slot left


def test_claim_uses_the_due_index(db):
    db.execute("""INSERT INTO scheduled_jobs
                  (id, job_type, frequency_type, priority, scheduled_for, status)
                  SELECT 'j' || g, 'noop', 'once',
                         (enum_range(NULL::job_priority))[1 + g % 4],
                         now() + (g % 1000 - 5) * interval '1 hour',
                         CASE WHEN g % 3 = 0 THEN 'completed' ELSE 'pending' END::job_status
                  FROM generate_series(1, 12000) g""")
    db.execute("ANALYZE scheduled_jobs")
    plan = db.execute("""EXPLAIN (FORMAT JSON)
        SELECT s.id FROM scheduled_jobs s
        WHERE s.status = 'pending' AND s.enabled
          AND s.priority = 'critical' AND s.scheduled_for <= now()
        ORDER BY s.scheduled_for
        LIMIT 100
        FOR UPDATE SKIP LOCKED""").fetchone()
    text = str(plan)
    assert "idx_scheduled_jobs_due" in text
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100000")
    rows = claim(db, 100000, datetime.now(UTC))
    assert rows and all(r["scheduled_for"] <= datetime.now(UTC) for r in rows)
    assert [r["priority"] for r in rows] == sorted(
        (r["priority"] for r in rows), key=["critical", "high", "medium", "low"].index
    )


# ----------------------------------------------------------------- release


def test_release_claims_hands_jobs_back(db):
    insert_job(db, "a", frequency="weekly", config=FRIDAY_6)
    insert_job(db, "b")
    db.execute("SELECT trigger_job_v1('b', %s)", (T0,))
    rows = {r["job_id"]: r for r in claim(db)}
    start_exec(db, "a", rows["a"]["dispatch_id"])  # already started: must stay running
    released = db.execute(
        "SELECT release_claims_v1(%s) AS n", ([r["dispatch_id"] for r in rows.values()],)
    ).fetchone()["n"]
    assert released == 1
    b = job(db, "b")
    assert (
        b["status"],
        b["dispatch_id"],
        b["queued_at"],
        b["scheduled_for"],
        b["next_trigger"],
    ) == ("pending", None, None, T0, "manual")
    assert job(db, "a")["status"] == "running"
    assert db.execute("SELECT release_claims_v1('{}') AS n").fetchone()["n"] == 0


# ----------------------------------------------------------------- start_execution


def test_start_execution_returns_job_and_records_attempt(db):
    user_id = db.execute(
        "INSERT INTO users (email) VALUES ('a@example.com') RETURNING id"
    ).fetchone()["id"]
    insert_job(db, "j", user_id=user_id, params={"week": "2026-01-09"}, timeout_seconds=90)
    dispatch_id = claim(db)[0]["dispatch_id"]
    row = start_exec(db, "j", dispatch_id, T0 + timedelta(seconds=1), lease=30, timeout=90)
    assert row["job_type"] == "test.noop" and row["user_id"] == user_id
    assert row["parameters"] == {"week": "2026-01-09"}
    assert (row["attempt_number"], row["trigger_type"], row["parent_job_id"]) == (
        1,
        "scheduled",
        None,
    )
    assert (row["timeout_seconds"], row["scheduled_for"]) == (90, T0)
    ex = execution(db, row["execution_id"])
    assert (ex["dispatch_id"], ex["worker"], ex["celery_task_id"]) == (
        dispatch_id,
        "host-1/42",
        "task-1",
    )
    assert ex["lease_expires_at"] == T0 + timedelta(seconds=31)
    assert ex["deadline_at"] == T0 + timedelta(seconds=91)
    j = job(db, "j")
    assert (j["status"], j["started_at"]) == ("running", T0 + timedelta(seconds=1))


def test_start_execution_is_a_no_op_for_duplicates_and_stale_messages(db):
    insert_job(db, "j")
    dispatch_id = claim(db)[0]["dispatch_id"]
    assert start_exec(db, "j", dispatch_id + 1000) is None  # wrong token
    assert start_exec(db, "nope", dispatch_id) is None  # unknown job
    first = start_exec(db, "j", dispatch_id)
    assert first is not None and first["execution_id"]
    assert start_exec(db, "j", dispatch_id) is None  # redelivery
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 1
    assert execution(db, first["execution_id"])["deadline_at"] is None  # no timeout set


def test_requeue_keeps_the_dispatch_id(db):
    # A message still waiting in a long backlog must stay valid: re-queued
    # jobs are re-published under the same id, and only one copy starts.
    insert_job(db, "j")
    old = claim(db)[0]["dispatch_id"]
    reaped = db.execute(
        "SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=301),)
    ).fetchall()
    assert [(r["kind"], r["job_id"]) for r in reaped] == [("requeued", "j")]
    assert (job(db, "j")["status"], job(db, "j")["dispatch_id"]) == ("pending", old)
    assert start_exec(db, "j", old) is None  # pending: not startable until re-claimed
    again = claim(db, 10, T0 + timedelta(seconds=302))[0]["dispatch_id"]
    assert again == old
    assert start_exec(db, "j", old) is not None
    assert start_exec(db, "j", old) is None  # the second copy is a duplicate


def test_a_stale_token_is_refused_after_completion(db):
    insert_job(db, "j", frequency="daily", config={"hour": 3, "minute": 0})
    first = claim(db)[0]["dispatch_id"]
    exec_id = start_exec(db, "j", first)["execution_id"]
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (exec_id, T0))
    assert job(db, "j")["dispatch_id"] is None
    assert start_exec(db, "j", first) is None


# ----------------------------------------------------------------- leases and reaping


def test_renew_leases_returns_lost_executions(db):
    insert_job(db, "a")
    insert_job(db, "b")
    ea = claim_and_start(db, "a")["execution_id"]
    eb = start_exec(db, "b", job(db, "b")["dispatch_id"])["execution_id"]
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (eb, T0))
    later = T0 + timedelta(seconds=20)
    lost = db.execute(
        "SELECT * FROM renew_leases_v1(%s, 30, %s) AS lost", ([ea, eb, 987654], later)
    ).fetchall()
    assert sorted(r["lost"] for r in lost) == sorted([eb, 987654])
    assert execution(db, ea)["lease_expires_at"] == later + timedelta(seconds=30)
    assert db.execute("SELECT count(*) AS n FROM renew_leases_v1('{}', 30)").fetchone()["n"] == 0


def test_reap_abandons_expired_lease_and_retries(db):
    insert_job(db, "j")
    exec_id = claim_and_start(db, "j", T0, lease=30)["execution_id"]
    assert (
        db.execute("SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=29),)).fetchall()
        == []
    )
    now = T0 + timedelta(seconds=31)
    rows = db.execute("SELECT * FROM reap_expired_v1(%s)", (now,)).fetchall()
    assert [(r["kind"], r["job_id"], r["execution_id"]) for r in rows] == [
        ("abandoned", "j", exec_id)
    ]
    ex = execution(db, exec_id)
    assert ex["status"] == "abandoned"
    assert ex["error_message"] == (
        "lease expired: worker host-1/42 stopped renewing at 2026-01-05T10:00:30.000Z"
    )
    assert ex["completed_at"] == now and ex["duration_ms"] == 31000
    j = job(db, "j")
    assert (j["status"], j["error_count"], j["next_trigger"]) == ("pending", 1, "retry")
    assert j["scheduled_for"] == now + timedelta(seconds=60)
    # the lost worker's late report changes nothing
    assert (
        db.execute("SELECT complete_execution_v1(%s, NULL, %s) AS ok", (exec_id, now)).fetchone()[
            "ok"
        ]
        is False
    )
    assert db.execute("SELECT * FROM reap_expired_v1(%s)", (now,)).fetchall() == []
    # the retry is recorded as such
    retry = claim_and_start(db, "j", j["scheduled_for"])
    assert (retry["attempt_number"], retry["trigger_type"]) == (2, "retry")


def test_reap_times_out_past_deadline(db):
    # The worker enforces the timeout; the reaper steps in 30 s after it.
    insert_job(db, "j", timeout_seconds=30)
    exec_id = claim_and_start(db, "j", T0, lease=600)["execution_id"]
    early = db.execute("SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=59),))
    assert early.fetchall() == []
    rows = db.execute("SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=61),)).fetchall()
    assert [r["kind"] for r in rows] == ["abandoned"]
    assert execution(db, exec_id)["error_message"] == "timed out after 30 s"


def test_the_deadline_is_the_limit_the_worker_enforces(db):
    # timeout_seconds edited after the claim: the message (and so Celery's
    # limit) still says 3600 s; the reaper must not cut the attempt at 60 s.
    insert_job(db, "j", timeout_seconds=3600)
    token = claim(db)[0]["dispatch_id"]
    db.execute("UPDATE scheduled_jobs SET timeout_seconds = 60 WHERE id = 'j'")
    exec_id = start_exec(db, "j", token, lease=7200, timeout=3600)["execution_id"]
    later = T0 + timedelta(seconds=120)
    assert db.execute("SELECT * FROM reap_expired_v1(%s)", (later,)).fetchall() == []
    assert execution(db, exec_id)["deadline_at"] == T0 + timedelta(seconds=3600)


def test_reap_respects_queue_timeout(db):
    db.execute("UPDATE scheduler_config SET queue_timeout_seconds = 60")
    insert_job(db, "j")
    token = claim(db)[0]["dispatch_id"]
    assert (
        db.execute("SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=59),)).fetchall()
        == []
    )
    assert job(db, "j")["status"] == "queued"
    rows = db.execute("SELECT * FROM reap_expired_v1(%s)", (T0 + timedelta(seconds=61),)).fetchall()
    assert [(r["kind"], r["job_id"], r["execution_id"]) for r in rows] == [("requeued", "j", None)]
    j = job(db, "j")
    assert (j["status"], j["dispatch_id"], j["queued_at"], j["scheduled_for"]) == (
        "pending",
        token,
        None,
        T0,
    )


def test_reap_limit(db):
    for i in range(3):
        insert_job(db, f"j{i}")
        claim_and_start(db, f"j{i}", T0, lease=1)
    rows = db.execute(
        "SELECT * FROM reap_expired_v1(%s, 2)", (T0 + timedelta(seconds=5),)
    ).fetchall()
    assert len(rows) == 2


# ----------------------------------------------------------------- trigger_job_v1


def test_trigger_job_runs_now_as_manual_and_keeps_schedule(db):
    friday = datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    insert_job(db, "weekly", frequency="weekly", config=FRIDAY_6, scheduled_for=friday)
    db.execute("UPDATE scheduled_jobs SET error_count = 2 WHERE id = 'weekly'")
    db.execute("SELECT trigger_job_v1('weekly', %s)", (T0,))
    j = job(db, "weekly")
    assert (
        j["status"],
        j["scheduled_for"],
        j["next_trigger"],
        j["error_count"],
        j["occurrence_at"],
    ) == ("pending", T0, "manual", 0, friday)
    started = claim_and_start(db, "weekly", T0)
    assert started["trigger_type"] == "manual"
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (started["execution_id"], T0))
    j = job(db, "weekly")
    assert (j["scheduled_for"], j["next_trigger"]) == (friday, "scheduled")  # Friday still runs


def test_trigger_job_refusals(db):
    insert_job(db, "q")
    insert_job(db, "r")
    insert_job(db, "off", enabled=False)
    claim(db)
    start_exec(db, "r", job(db, "r")["dispatch_id"])
    with pytest.raises(errors.RaiseException, match=re.escape('job "q" is already queued')):
        db.execute("SELECT trigger_job_v1('q')")
    with pytest.raises(errors.RaiseException, match=re.escape('job "r" is already running')):
        db.execute("SELECT trigger_job_v1('r')")
    with pytest.raises(
        errors.RaiseException, match=re.escape('job "off" is disabled; enable it first')
    ):
        db.execute("SELECT trigger_job_v1('off')")
    with pytest.raises(errors.NoDataFound, match=re.escape('job "nope" does not exist')):
        db.execute("SELECT trigger_job_v1('nope')")


def test_trigger_completed_once_job_runs_again(db):
    insert_job(db, "j")
    started = claim_and_start(db, "j")
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (started["execution_id"], T0))
    assert job(db, "j")["status"] == "completed"
    db.execute("SELECT trigger_job_v1('j', %s)", (T0,))
    assert [r["job_id"] for r in claim(db)] == ["j"]


# ----------------------------------------------------------------- dependent runs via the bridge


def test_dependent_child_started_through_the_bridge(db):
    insert_job(db, "parent")
    insert_job(db, "child", scheduled_for=T0 + timedelta(days=30))
    db.execute("INSERT INTO job_dependencies VALUES ('parent', 'child')")
    parent = claim_and_start(db, "parent")
    db.execute("SELECT complete_execution_v1(%s, NULL, %s)", (parent["execution_id"], T0))
    rows = claim(db)
    assert [(r["job_id"], r["trigger_type"]) for r in rows] == [("child", "dependent")]
    child = start_exec(db, "child", rows[0]["dispatch_id"])
    assert (child["trigger_type"], child["parent_job_id"]) == ("dependent", "parent")


# ----------------------------------------------------------------- prune


def test_prune_keeps_recent_running_and_newest_per_job(db):
    insert_job(db, "a")
    insert_job(db, "b")
    # a: 10 finished executions, one a day before T0; b: 2 old ones and a running one
    db.execute(
        """INSERT INTO job_executions (job_id, status, trigger_type, attempt_number,
                                              started_at, completed_at)
                  SELECT 'a', 'completed', 'scheduled', 1, %(t)s - g * interval '1 day',
                         %(t)s - g * interval '1 day' + interval '1 s'
                  FROM generate_series(1, 10) g""",
        {"t": T0},
    )
    db.execute(
        """INSERT INTO job_executions (job_id, status, trigger_type, attempt_number,
                                              started_at, completed_at, error_message)
                  SELECT 'b', 'failed', 'scheduled', 1, %(t)s - g * interval '1 day',
                         %(t)s - g * interval '1 day' + interval '1 s', 'x'
                  FROM generate_series(20, 21) g""",
        {"t": T0},
    )
    db.execute(
        """INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, started_at)
                  VALUES ('b', 'running', 'scheduled', 1, %s)""",
        (T0 - timedelta(days=40),),
    )

    start = (datetime.min.replace(tzinfo=UTC), 0)

    def prune(older_days, keep, batch=1000, after=start):
        row = db.execute(
            "SELECT * FROM prune_executions_v1(%s, %s, %s, %s, %s, %s)",
            (timedelta(days=older_days), keep, batch, after[0], after[1], T0),
        ).fetchone()
        cursor = None if row["next_id"] is None else (row["next_at"], row["next_id"])
        return row["deleted"], cursor

    # keep 3 per job, older than 3 days: a's newest three are days 1-3, so
    # days 4-10 go (7 rows). b's newest three are day 20, day 21 and the
    # running one (day 40): nothing of b goes. Oldest first: b's running
    # (day 40), b's two (days 21, 20), then a's days 10..4.
    deleted, cursor = prune(3, 3, batch=4)  # examines 4 rows: 3 of b, a's day 10
    assert (deleted, cursor is not None) == (1, True)
    deleted, cursor = prune(3, 3, after=cursor)
    assert (deleted, cursor is not None) == (6, True)
    assert prune(3, 3, after=cursor) == (0, None)
    assert prune(3, 3)[0] == 0
    left = db.execute("""SELECT job_id, count(*) AS n FROM job_executions
                         GROUP BY job_id ORDER BY job_id""").fetchall()
    assert [(r["job_id"], r["n"]) for r in left] == [("a", 3), ("b", 3)]
    # keep 1 per job: a's remaining rows are not older than 3 days; b's newest
    # is day 20, so its day-21 failure goes.
    assert prune(3, 1)[0] == 1
    statuses = sorted(
        r["status"]
        for r in db.execute("SELECT status::text FROM job_executions WHERE job_id = 'b'").fetchall()
    )
    assert statuses == ["failed", "running"]  # the running one is never pruned
    # A floor (006_security): at least a day of history, the newest per job.
    for older_days, keep in ((0, 0), (0, 5), (3, 0)):
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            prune(older_days, keep)
    assert db.execute("SELECT count(*) AS n FROM job_executions").fetchone()["n"] == 5


# ----------------------------------------------------------------- notifications


def listen(db_url):
    conn = psycopg.connect(db_url, autocommit=True)
    conn.execute("LISTEN meal_scheduler_wakeup")
    return conn


def drain(conn, db) -> int:
    """Wake-ups received since the last drain. A marker notification sent
    afterwards arrives after them (delivery is in commit order), so there is
    no waiting on a timeout."""
    db.execute("SELECT pg_notify('meal_scheduler_wakeup', 'end-of-batch')")
    for count, note in enumerate(conn.notifies(timeout=5)):
        if note.payload == "end-of-batch":
            return count
    raise AssertionError("marker notification never arrived")


def test_wakeup_on_due_insert_trigger_freed_slot_and_resume(db, db_url):
    with listen(db_url) as listener:
        insert_job(db, "future", scheduled_for=datetime.now(UTC) + timedelta(hours=1))
        assert drain(listener, db) == 0
        db.execute("""INSERT INTO scheduled_jobs (id, job_type, frequency_type)
                      SELECT 'bulk' || g, 'noop', 'once' FROM generate_series(1, 50) g""")
        assert drain(listener, db) == 1  # folded into one per transaction
        db.execute("SELECT trigger_job_v1('future')")
        assert drain(listener, db) == 1
        db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100")
        assert drain(listener, db) == 1
        db.execute("SELECT * FROM claim_due_jobs_v1(100)")
        assert drain(listener, db) == 0  # claiming wakes nobody
        dispatch = job(db, "bulk1")["dispatch_id"]
        started = start_exec(db, "bulk1", dispatch, datetime.now(UTC))
        assert drain(listener, db) == 0
        db.execute("SELECT complete_execution_v1(%s, NULL)", (started["execution_id"],))
        assert drain(listener, db) == 0  # a freed slot: nobody was waiting for one
        db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 50")
        assert drain(listener, db) == 1
        insert_job(db, "waiting", scheduled_for=datetime.now(UTC) - timedelta(minutes=1))
        assert drain(listener, db) == 1
        assert db.execute("SELECT * FROM claim_due_jobs_v1(100)").fetchall() == []  # capped
        dispatch = job(db, "bulk2")["dispatch_id"]
        started = start_exec(db, "bulk2", dispatch, datetime.now(UTC))
        db.execute("SELECT complete_execution_v1(%s, NULL)", (started["execution_id"],))
        assert drain(listener, db) == 1  # a slot was freed while work waited for one
        db.execute("UPDATE scheduler_config SET enabled = false")
        db.execute("UPDATE scheduler_config SET enabled = true")
        assert drain(listener, db) == 2
        db.execute("UPDATE scheduler_config SET timezone = 'Europe/Berlin'")
        assert drain(listener, db) == 0
