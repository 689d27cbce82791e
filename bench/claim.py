"""Claim cost with a large scheduled_jobs table.

``--claim-rows`` rows (default 1,000,000) are written by one INSERT ...
SELECT generate_series: 70% completed, 29.5% pending in the future, 0.5% due,
interleaved on the heap (the class of row i is ``i * 7919 % 1000``) and
spread over the four priorities; then VACUUM ANALYZE. Measured, each call in
its own transaction, from the client (round trip and commit included):

* the beat's batch claim (the ``claim_due_jobs`` query, ``claim_due_jobs_v1``)
  repeated until nothing is due: time per claimed job;
* a claim that finds nothing due (paid every tick): time per call, idle
  (nothing queued or running) and right after the burst (every claimed job
  still queued: the claim counts active jobs to respect max_concurrent_jobs);
* the seed's one-by-one path, ``get_next_pending_job()`` then ``start_job``
  in one transaction per job: time per job.

The plans of the statements *inside* the functions come from auto_explain
(``log_nested_statements``, ``log_level = notice``) in a rolled-back
transaction, so they are the functions' own queries, not a copy.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.infra import Conn, Databases, connect

EMPTY_REPEATS = 50
# The largest max_concurrent_jobs 006_security allows: the cap never binds.
MAX_INT = 10_000_000

GENERATE = """
WITH g AS (
    SELECT i, (i::bigint * 7919) %% 1000 AS class FROM generate_series(1, %(rows)s) AS i
), t AS (
    SELECT i, class,
           CASE WHEN class < 700 THEN now() - random() * interval '90 days'
                WHEN class < 995 THEN now() + interval '1 minute' + random() * interval '30 days'
                ELSE now() - random() * interval '1 hour'
           END AS at
    FROM g
)
INSERT INTO scheduled_jobs (id, job_type, frequency_type, priority, status, scheduled_for,
                            occurrence_at, completed_at)
SELECT 'job-' || t.i, 'bench.noop', 'once',
       (ARRAY['low', 'medium', 'high', 'critical']::job_priority[])[1 + t.i %% 4],
       CASE WHEN t.class < 700 THEN 'completed' ELSE 'pending' END::job_status,
       t.at, t.at, CASE WHEN t.class < 700 THEN t.at END
FROM t
"""

AUTO_EXPLAIN = (
    "LOAD 'auto_explain'",
    "SET auto_explain.log_min_duration = 0",
    "SET auto_explain.log_analyze = on",
    "SET auto_explain.log_buffers = on",
    "SET auto_explain.log_timing = on",
    "SET auto_explain.log_nested_statements = on",
    "SET auto_explain.log_level = 'notice'",
    "SET client_min_messages = notice",
)


def _claim_sql() -> str:
    from tasks.sql import queries

    return queries["claim_due_jobs"].text


def _counts(conn: Conn) -> dict[str, int]:
    row = conn.execute(
        "SELECT count(*) AS total,"
        " count(*) FILTER (WHERE status = 'completed') AS completed,"
        " count(*) FILTER (WHERE status = 'pending' AND scheduled_for > now()) AS future,"
        " count(*) FILTER (WHERE status = 'pending' AND scheduled_for <= now()) AS due"
        " FROM scheduled_jobs"
    ).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": 1000 * statistics.median(values),
        "max_ms": 1000 * max(values),
        "mean_ms": 1000 * statistics.fmean(values),
    }


def explain(url: str, sql: str, params: dict[str, Any] | None = None) -> list[str]:
    """The plans of ``sql`` and of every statement it runs, nested ones first.

    Run twice in one rolled-back transaction: the first run (undone by a
    savepoint) warms the session's catalog and plan caches, so the plans
    shown are the steady state a long-lived beat connection sees.
    """
    plans: list[str] = []
    with connect(url) as conn:
        conn.execute("BEGIN")
        conn.execute("SAVEPOINT warm")
        conn.execute(sql, params)
        conn.execute("ROLLBACK TO SAVEPOINT warm")
        for statement in AUTO_EXPLAIN:
            conn.execute(statement)  # fixed settings above
        conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
        conn.execute(sql, params)
        conn.execute("ROLLBACK")
    return [p for p in plans if "Query Text:" in p]


def _buffers(plan: str) -> int:
    """Shared buffers (hit + read) of the plan's top node."""
    match = re.search(r"Buffers: shared ([^\n]+)", plan)
    if match is None:
        return 0
    return sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", match.group(1)))


def plan_summary(plans: list[str]) -> dict[str, Any]:
    """Index and seq scans of the nested statements, and their shared buffers.

    The last plan is the outer ``SELECT ... FROM f()``, whose buffers include
    the nested statements': it is left out of the counts.
    """
    nested = plans[:-1]
    text = "\n".join(nested)
    scans = r"(?:Index|Index Only|Bitmap Index) Scan (?:Backward )?(?:using|on) (\w+)"
    return {
        "statements": len(nested),
        "indexes": sorted(set(re.findall(scans, text))),
        "seq_scans": sorted(set(re.findall(r"Seq Scan on (\w+)", text))),
        "buffers": [_buffers(p) for p in nested],
        "buffers_total": sum(_buffers(p) for p in nested),
    }


def _batch_claims(conn: Conn, batch: int) -> dict[str, Any]:
    sql = _claim_sql()
    calls: list[float] = []
    claimed = 0
    while True:
        t = time.perf_counter()
        rows = conn.execute(sql, {"limit": batch, "now": None}).fetchall()
        calls.append(time.perf_counter() - t)
        claimed += len(rows)
        if not rows:
            calls.pop()  # the last, empty call is measured separately
            break
    total = sum(calls)
    return {
        "batch": batch,
        "claimed": claimed,
        "calls": len(calls),
        "us_per_job": 1e6 * total / claimed if claimed else None,
        "per_call": _ms(calls) if calls else None,
    }


def _empty_claims(conn: Conn, batch: int) -> dict[str, Any]:
    sql = _claim_sql()
    calls = []
    for _ in range(EMPTY_REPEATS):
        t = time.perf_counter()
        rows = conn.execute(sql, {"limit": batch, "now": None}).fetchall()
        calls.append(time.perf_counter() - t)
        assert not rows
    return {"calls": len(calls), **_ms(calls)}


def _one_by_one(conn: Conn) -> dict[str, Any]:
    per_job: list[float] = []
    while True:
        t = time.perf_counter()
        with conn.transaction():
            row = conn.execute("SELECT get_next_pending_job() AS id").fetchone()
            if row is None or row["id"] is None:
                break
            conn.execute("SELECT start_job(%s, 'scheduled')", (row["id"],))
        per_job.append(time.perf_counter() - t)
    return {
        "started": len(per_job),
        "us_per_job": 1e6 * statistics.fmean(per_job) if per_job else None,
        "per_job": _ms(per_job) if per_job else None,
    }


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    url = dbs.create("claim")
    with connect(url) as conn:
        conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (MAX_INT,))
        t = time.perf_counter()
        conn.execute(GENERATE, {"rows": config.claim_rows})
        conn.execute("VACUUM ANALYZE scheduled_jobs")
        generated_s = time.perf_counter() - t
        counts = _counts(conn)
        size = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('scheduled_jobs')) AS total,"
            " pg_size_pretty(pg_relation_size('idx_scheduled_jobs_due')) AS due_index"
        ).fetchone()

        claim_sql = _claim_sql()
        params = {"limit": config.claim_batch, "now": None}
        plans_claim = explain(url, claim_sql, params)
        conn.execute("VACUUM ANALYZE scheduled_jobs")
        batch = _batch_claims(conn, config.claim_batch)
        # Right after a burst: every claimed job is still queued (no worker here).
        busy = _empty_claims(conn, config.claim_batch)
        plans_busy = explain(url, claim_sql, params)

        # The same due jobs again for the one-by-one path.
        conn.execute(
            "UPDATE scheduled_jobs SET status = 'pending', dispatch_id = NULL, queued_at = NULL"
            " WHERE status = 'queued'"
        )
        conn.execute("VACUUM ANALYZE scheduled_jobs")
        plans_next = explain(url, "SELECT get_next_pending_job()")
        single = _one_by_one(conn)

        # The idle tick: nothing due, nothing active.
        conn.execute(
            "UPDATE scheduled_jobs SET status = 'completed', completed_at = now()"
            " WHERE status IN ('queued', 'running')"
        )
        conn.execute("VACUUM ANALYZE scheduled_jobs")
        idle = _empty_claims(conn, config.claim_batch)
        plans_idle = explain(url, claim_sql, params)
    dbs.drop(url)
    return {
        "rows": counts,
        "generate_s": generated_s,
        "table_size": size,
        "batch_claim": batch,
        "empty_claim_idle": idle,
        "empty_claim_after_burst": {"active_jobs": counts["due"], **busy},
        "one_by_one": single,
        "explain": {
            "claim": {"summary": plan_summary(plans_claim), "plans": plans_claim},
            "empty_claim_idle": {"summary": plan_summary(plans_idle), "plans": plans_idle},
            "empty_claim_after_burst": {"summary": plan_summary(plans_busy), "plans": plans_busy},
            "get_next_pending_job": {"summary": plan_summary(plans_next), "plans": plans_next},
        },
    }
