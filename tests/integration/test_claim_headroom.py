"""The claim's kept headroom (012_claim_headroom): count once, then spend.

A claim counts queued + running jobs only when the free slots it kept
cannot cover a full batch, when max_concurrent_jobs changed, or when the
count is a minute old. These tests make the difference visible by adding
active jobs behind the claim's back (rows written by hand): a claim that
spends its kept headroom does not see them, a claim that counts does. The
seed's ``start_job`` spends a slot of the headroom itself.
"""

from __future__ import annotations

import functools
from datetime import timedelta

from tests import support
from tests.integration.sql_support import T0

insert_job = functools.partial(support.insert_job, scheduled_for=T0)


def claim(db, limit):
    return [
        r["job_id"] for r in db.execute("SELECT job_id FROM claim_due_jobs_v1(%s, %s)", (limit, T0))
    ]


def state(db):
    return db.execute(
        "SELECT dispatch_capped, headroom, headroom_cap FROM scheduler_state WHERE id = 1"
    ).fetchone()


def due_jobs(db, n, prefix="j"):
    for i in range(n):
        insert_job(db, f"{prefix}{i:03d}", scheduled_for=T0 - timedelta(seconds=n - i))


def started_outside_the_claim(db, n):
    for i in range(n):
        insert_job(db, f"exec{i}", status="running")


def test_a_claim_spends_the_headroom_it_counted(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    due_jobs(db, 50)
    assert len(claim(db, 10)) == 10
    assert state(db)["headroom"] == 990
    started_outside_the_claim(db, 5)
    assert len(claim(db, 10)) == 10
    assert state(db)["headroom"] == 980  # spent, not counted: the 5 are not seen

    # A count a minute old is taken again, and sees them.
    db.execute("UPDATE scheduler_state SET headroom_counted_at = now() - interval '61 seconds'")
    assert len(claim(db, 10)) == 10
    assert state(db)["headroom"] == 1000 - 25 - 10  # 25 active before this claim of 10


def test_headroom_short_of_a_batch_is_counted_again_and_decides_the_cap(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 7")
    due_jobs(db, 20)
    assert claim(db, 3) == ["j000", "j001", "j002"]
    assert claim(db, 3) == ["j003", "j004", "j005"]
    assert state(db)["headroom"] == 1
    # Two jobs finish (slots freed behind the kept figure, which stays low).
    db.execute("UPDATE scheduled_jobs SET status = 'completed' WHERE id IN ('j000', 'j001')")
    assert claim(db, 3) == ["j006", "j007", "j008"]  # counted: 4 active, 3 free
    assert state(db)["headroom"] == 0
    assert claim(db, 3) == []
    assert state(db)["dispatch_capped"] is True
    active = db.execute(
        "SELECT count(*) AS n FROM scheduled_jobs WHERE status IN ('queued', 'running')"
    ).fetchone()["n"]
    assert active == 7


def test_a_lower_cap_is_counted_at_once(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    due_jobs(db, 30)
    assert len(claim(db, 10)) == 10
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 12")
    assert claim(db, 10) == ["j010", "j011"]
    assert state(db)["headroom_cap"] == 12
    assert claim(db, 10) == []


def test_an_idle_claim_writes_nothing(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    assert claim(db, 10) == []
    before = db.execute("SELECT xmin::text AS x FROM scheduler_state").fetchone()["x"]
    assert claim(db, 10) == []
    assert db.execute("SELECT xmin::text AS x FROM scheduler_state").fetchone()["x"] == before


def test_start_job_spends_a_slot_of_the_headroom(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 3")
    due_jobs(db, 10)
    assert claim(db, 1) == ["j000"]
    assert state(db)["headroom"] == 2
    # An executor outside Celery starts the next due job itself.
    next_id = db.execute("SELECT get_next_pending_job() AS id").fetchone()["id"]
    db.execute("SELECT start_job(%s, 'scheduled')", (next_id,))
    assert state(db)["headroom"] == 1
    assert claim(db, 1) == ["j002"]
    assert claim(db, 1) == []  # 3 active: the cap holds without a new count
