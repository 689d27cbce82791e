"""Many concurrent claimers against thousands of due jobs: nothing claimed twice."""

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
