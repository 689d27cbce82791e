"""The claim's queued estimate (012_claim_headroom): count queued jobs once, then add.

A claim counts running jobs every time and queued jobs only when its kept
estimate (never below the true number) cannot fill a batch. These tests make
the difference visible by writing queued rows behind the claim's back (by
hand, which nothing in the system does): a claim that trusts its estimate
does not see them, a claim that counts does. Running rows written behind its
back (what the seed's ``start_job`` does) are always seen.
"""

from __future__ import annotations

import functools
from datetime import timedelta

import psycopg

from tests import support
from tests.integration.sql_support import T0

insert_job = functools.partial(support.insert_job, scheduled_for=T0)


def claim(db, limit):
    rows = db.execute("SELECT job_id FROM claim_due_jobs_v1(%s, %s)", (limit, T0))
    return [r["job_id"] for r in rows]


def state(db):
    return db.execute(
        "SELECT dispatch_capped, queued_estimate FROM scheduler_state WHERE id = 1"
    ).fetchone()


def active(db):
    return db.execute(
        "SELECT count(*) AS n FROM scheduled_jobs WHERE status IN ('queued', 'running')"
    ).fetchone()["n"]


def due_jobs(db, n, prefix="j"):
    for i in range(n):
        insert_job(db, f"{prefix}{i:03d}", scheduled_for=T0 - timedelta(seconds=n - i))


def behind_its_back(db, n, status):
    for i in range(n):
        insert_job(db, f"{status}{i}", status=status)


def test_a_claim_adds_to_its_estimate_instead_of_counting(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    due_jobs(db, 50)
    assert len(claim(db, 10)) == 10
    assert state(db)["queued_estimate"] == 10
    behind_its_back(db, 5, "queued")
    assert len(claim(db, 10)) == 10
    assert state(db)["queued_estimate"] == 20  # added, not counted: the 5 are not seen


def test_running_jobs_are_counted_on_every_claim(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 14")
    due_jobs(db, 50)
    assert len(claim(db, 10)) == 10
    behind_its_back(db, 3, "running")  # as start_job does, outside the claim
    assert claim(db, 10) == ["j010"]  # 10 queued + 3 running + 1 = the cap
    assert active(db) == 14
    assert claim(db, 10) == []
    assert state(db)["dispatch_capped"] is True


def test_an_estimate_short_of_a_batch_is_counted_again_and_decides_the_cap(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 7")
    due_jobs(db, 20)
    assert claim(db, 3) == ["j000", "j001", "j002"]
    assert claim(db, 3) == ["j003", "j004", "j005"]
    # Two jobs finish: the estimate (6) stays above the truth (4).
    db.execute("UPDATE scheduled_jobs SET status = 'completed' WHERE id IN ('j000', 'j001')")
    assert claim(db, 3) == ["j006", "j007", "j008"]  # counted: 4 queued, 3 free
    assert claim(db, 3) == []
    assert state(db)["dispatch_capped"] is True
    assert active(db) == 7


def test_a_lower_cap_holds_at_once_and_a_count_cut_short_is_unknown(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 1000")
    due_jobs(db, 40)
    assert len(claim(db, 10)) == 10
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 12")
    assert claim(db, 10) == ["j010", "j011"]
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 5")
    assert claim(db, 10) == []
    assert state(db)["queued_estimate"] is None  # the count stopped at the cap
    assert active(db) == 12
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 20")
    assert len(claim(db, 10)) == 8  # unknown: counted again, 12 queued
    assert state(db)["queued_estimate"] == 20


def test_an_idle_claim_writes_nothing_at_the_default_cap(db):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 5")
    assert claim(db, 500) == []
    before = db.execute("SELECT xmin::text AS x FROM scheduler_state").fetchone()["x"]
    for _ in range(3):
        assert claim(db, 500) == []
    assert db.execute("SELECT xmin::text AS x FROM scheduler_state").fetchone()["x"] == before


def test_a_start_job_in_an_open_transaction_does_not_block_the_claim(db, db_url):
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100")
    due_jobs(db, 10)
    assert len(claim(db, 2)) == 2
    with psycopg.connect(db_url, autocommit=False) as executor:
        job_id = executor.execute("SELECT get_next_pending_job()").fetchone()[0]
        executor.execute("SELECT start_job(%s, 'scheduled')", (job_id,))
        db.execute("SET lock_timeout = '2s'")
        try:
            assert len(claim(db, 2)) == 2  # does not wait for the executor's commit
        finally:
            db.execute("RESET lock_timeout")
        executor.commit()
    assert active(db) == 5
