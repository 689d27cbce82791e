"""Concurrent claimers: nothing claimed twice, and nobody waits on a locked row.

The batch claim also takes an advisory lock (claimers count free slots one
at a time), so concurrent batch claimers alone would pass without SKIP
LOCKED. The tests that name SKIP LOCKED hold a row lock in another open
transaction, the way a ``get_next_pending_job()`` poller does, and require
the claim to go past it at once (``lock_timeout``), not wait for it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import connect


def _claim_all(url: str, batch: int, claimed: list[str], barrier: threading.Barrier) -> None:
    with connect(url) as conn:
        barrier.wait()
        while True:
            rows = conn.execute("SELECT job_id FROM claim_due_jobs_v1(%s)", (batch,)).fetchall()
            if not rows:
                return
            claimed.extend(r["job_id"] for r in rows)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(claimers=st.integers(2, 8), batch=st.integers(1, 200))
def test_concurrent_claimers_never_share_a_job(
    db: psycopg.Connection[Any], db_url: str, claimers: int, batch: int
) -> None:
    db.execute("TRUNCATE scheduled_jobs CASCADE")
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100000")
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, priority, scheduled_for)"
        " SELECT 'j' || g, 'test.noop', 'once',"
        " (ARRAY['low','medium','high','critical'])[1 + g % 4]::job_priority,"
        " now() - make_interval(secs => g)"
        " FROM generate_series(1, 3000) g"
    )
    barrier = threading.Barrier(claimers)
    results: list[list[str]] = [[] for _ in range(claimers)]
    threads = [
        threading.Thread(target=_claim_all, args=(db_url, batch, results[i], barrier))
        for i in range(claimers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    everything = Counter(job for claimed in results for job in claimed)
    assert len(everything) == 3000
    assert set(everything.values()) == {1}
    queued = db.execute("SELECT count(*) AS n FROM scheduled_jobs WHERE status = 'queued'")
    assert queued.fetchone()["n"] == 3000


def test_claims_never_exceed_max_concurrent_jobs(db: psycopg.Connection[Any], db_url: str) -> None:
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 7")
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, scheduled_for)"
        " SELECT 'j' || g, 'test.noop', 'once', now() FROM generate_series(1, 200) g"
    )
    barrier = threading.Barrier(6)
    results: list[list[str]] = [[] for _ in range(6)]
    threads = [
        threading.Thread(target=_claim_all, args=(db_url, 3, results[i], barrier)) for i in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(len(r) for r in results) == 7


def _due_jobs(db: psycopg.Connection[Any], n: int) -> None:
    db.execute("UPDATE scheduler_config SET max_concurrent_jobs = 100")
    db.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, scheduled_for)"
        " SELECT 'j' || g, 'test.noop', 'once', now() - make_interval(mins => 10 - g)"
        " FROM generate_series(1, %s) g",
        (n,),
    )


def test_the_batch_claim_skips_a_row_another_transaction_holds(
    db: psycopg.Connection[Any], db_url: str
) -> None:
    _due_jobs(db, 3)
    with connect(db_url) as holder, connect(db_url) as claimer:
        holder.execute("BEGIN")
        held = holder.execute("SELECT get_next_pending_job() AS id").fetchone()
        assert held == {"id": "j1"}  # the most overdue one, now row-locked
        claimer.execute("SET lock_timeout = '2s'")  # waiting on it would fail here
        rows = claimer.execute("SELECT job_id FROM claim_due_jobs_v1(10)").fetchall()
        holder.execute("ROLLBACK")
    assert [r["job_id"] for r in rows] == ["j2", "j3"]


def test_concurrent_pollers_in_open_transactions_get_different_jobs(
    db: psycopg.Connection[Any], db_url: str
) -> None:
    _due_jobs(db, 3)
    with connect(db_url) as first, connect(db_url) as second:
        first.execute("BEGIN")
        second.execute("BEGIN")
        second.execute("SET LOCAL lock_timeout = '2s'")
        a = first.execute("SELECT get_next_pending_job() AS id").fetchone()
        b = second.execute("SELECT get_next_pending_job() AS id").fetchone()
        first.execute("ROLLBACK")
        second.execute("ROLLBACK")
    assert (a, b) == ({"id": "j1"}, {"id": "j2"})
