"""``python -m bench tablesize``: what the beat pays per tick as the tables grow.

One throwaway database grows through ``--sizes`` (default 1k, 100k, 1M,
3M ``scheduled_jobs`` rows) with ``--executions`` (default 10M)
``job_executions`` rows loaded once at the start. The jobs look like the
meal planner's: recurring per-user jobs, all pending, due over the next
seven days (a million users are three million such rows), priorities as
the three job types have them. The history is 97% completed, 2% failed, 1%
abandoned, started over the last eight days (about a week of runs at a
million users), with a small JSON output each.

Bulk loading bypasses triggers and foreign keys (``session_replication_role
= replica``, as pg_restore does) and rebuilds ``job_executions``' indexes
after the load from their own definitions; the schema is the migrated one.

At each size, after ``VACUUM ANALYZE``, each statement in its own
transaction, timed from the client (median and p95 of ``--repeat`` calls):

* the idle tick: what the beat runs every tick when nothing is due, the
  batch claim that finds nothing, ``next_due_at`` (how long it may sleep)
  and the reaper (``reap_expired_v1``);
* the claim per job: ``--due`` jobs made due, claimed 500 at a time until
  none is left, per claimed job; then removed again;
* ``scheduler status`` (the operator query ``scheduler_status``);
* ``EXPLAIN (ANALYZE, BUFFERS)`` of the statements inside them: buffers
  touched is the number that shows whether a cost grows with the table.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any

from bench import bloat
from bench.infra import Conn
from tasks.sql import queries

SIZES = (1_000, 100_000, 1_000_000, 3_000_000)

#: job type, frequency, priority, share of rows (the meal planner's three per-user jobs)
KINDS = (
    ("weekly_generation", "weekly", "high"),
    ("daily_advisor", "daily", "medium"),
    ("weekly_trends", "weekly", "low"),
)

INSERT_JOBS = """
INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority, status,
                            parameters, scheduled_for, occurrence_at)
SELECT 'sz:' || g.i,
       (ARRAY['weekly_generation', 'daily_advisor', 'weekly_trends'])[1 + g.i %% 3],
       (ARRAY['weekly', 'daily', 'weekly']::frequency_type[])[1 + g.i %% 3],
       jsonb_build_object('day', 5, 'hour', 6, 'minute', 0, 'timezone', 'Europe/Berlin'),
       (ARRAY['high', 'medium', 'low']::job_priority[])[1 + g.i %% 3],
       'pending', jsonb_build_object('user_id', g.i / 3),
       %(t0)s::timestamptz + interval '1 minute' + ((g.i * 7919) %% 604800) * interval '1 second',
       %(t0)s::timestamptz + interval '1 minute' + ((g.i * 7919) %% 604800) * interval '1 second'
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g(i)
"""

INSERT_EXECUTIONS = """
INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, started_at,
                            completed_at, duration_ms, output, error_message, dispatch_id, worker)
SELECT 'sz:' || (g.i %% %(jobs)s), x.status, 'scheduled', 1, x.started,
       x.started + interval '150 milliseconds', 150,
       CASE WHEN x.status = 'completed' THEN jsonb_build_object('meals', 21, 'created', true) END,
       CASE WHEN x.status <> 'completed' THEN 'simulated failure' END,
       %(dispatch_base)s + g.i, 'bench@host'
FROM generate_series(1, %(n)s::bigint) AS g(i),
     LATERAL (SELECT CASE WHEN g.i %% 100 < 97 THEN 'completed'::execution_status
                          WHEN g.i %% 100 < 99 THEN 'failed'::execution_status
                          ELSE 'abandoned'::execution_status END AS status,
                     %(t0)s::timestamptz - interval '8 days'
                         + (g.i::float8 / %(n)s) * interval '8 days' AS started) AS x
"""

INSERT_DUE = """
INSERT INTO scheduled_jobs (id, job_type, frequency_type, priority, scheduled_for, occurrence_at)
SELECT 'due:' || g.i, 'weekly_generation', 'once',
       (ARRAY['high', 'medium', 'low']::job_priority[])[1 + g.i %% 3],
       %(t0)s::timestamptz - interval '1 second', %(t0)s::timestamptz - interval '1 second'
FROM generate_series(1, %(n)s::integer) AS g(i)
"""

REAP = "SELECT * FROM reap_expired_v1(%(now)s, 500)"
CLAIM = "SELECT * FROM claim_due_jobs_v1(500, %(now)s)"
# The claim's inner statement for one level (what claim_due_jobs_v1 runs per priority).
CLAIM_SCAN = """
SELECT s.id FROM scheduled_jobs s
WHERE s.status = 'pending' AND s.enabled AND s.priority = 'high' AND s.scheduled_for <= %(now)s
ORDER BY s.scheduled_for LIMIT 500 FOR UPDATE SKIP LOCKED
"""
REAP_SCAN = """
SELECT e.id FROM job_executions e
WHERE e.status = 'running'
  AND (e.lease_expires_at < %(now)s
       OR (e.deadline_at IS NOT NULL AND e.deadline_at + interval '30 seconds' < %(now)s))
ORDER BY e.id LIMIT 500 FOR UPDATE SKIP LOCKED
"""


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 3),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def _time(conn: Conn, sql: str, params: dict[str, Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute(sql, params).fetchall()
        out.append(time.perf_counter() - t0)
    return out


def explain(conn: Conn, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Plan, time and shared buffers of one statement (rolled back: FOR UPDATE locks nothing)."""
    with conn.transaction(force_rollback=True):
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()
    plan = rows["QUERY PLAN"][0]  # type: ignore[index]
    top = plan["Plan"]

    def nodes(node: dict[str, Any]) -> list[str]:
        label = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
        return [label] + [n for child in node.get("Plans", []) for n in nodes(child)]

    return {
        "ms": round(plan["Execution Time"], 3),
        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "nodes": nodes(top),
    }


def load_executions(conn: Conn, n: int, jobs: int, t0: datetime) -> float:
    """``n`` history rows, indexes rebuilt after the load; returns seconds."""
    start = time.perf_counter()
    indexes = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'job_executions'"
        " AND indexname <> 'job_executions_pkey'"
    ).fetchall()
    for r in indexes:
        conn.execute(f'DROP INDEX "{r["indexname"]}"')  # names from the catalog
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            INSERT_EXECUTIONS, {"n": n, "jobs": jobs, "t0": t0, "dispatch_base": 1_000_000_000}
        )
    for r in indexes:
        conn.execute(r["indexdef"])
    conn.execute("SELECT setval('job_dispatch_seq', 1000000000 + %s + 1)", (n,))
    conn.execute("VACUUM ANALYZE job_executions")
    return time.perf_counter() - start


def grow_jobs(conn: Conn, first: int, last: int, t0: datetime) -> float:
    start = time.perf_counter()
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(INSERT_JOBS, {"first": first, "last": last, "t0": t0})
    conn.execute("VACUUM ANALYZE scheduled_jobs")
    return time.perf_counter() - start


def measure(conn: Conn, t0: datetime, repeat: int, due: int) -> dict[str, Any]:
    now = {"now": t0}
    status_sql = queries["scheduler_status"].text
    next_due_sql = queries["next_due_at"].text
    for sql, params in ((CLAIM, now), (next_due_sql, {}), (REAP, now), (status_sql, now)):
        _time(conn, sql, params, 10)  # warm: plans cached, pages in shared buffers
    claim = _time(conn, CLAIM, now, repeat)
    nxt = _time(conn, next_due_sql, {}, repeat)
    reap = _time(conn, REAP, now, repeat)
    tick = [a + b + c for a, b, c in zip(claim, nxt, reap, strict=True)]
    status = _time(conn, status_sql, now, max(5, repeat // 10))
    plans = {
        "claim_scan_idle": explain(conn, CLAIM_SCAN, now),
        "next_due_at": explain(conn, next_due_sql, {}),
        "reap_scan": explain(conn, REAP_SCAN, now),
        "scheduler_status": explain(conn, status_sql, now),
    }
    # The claim per job: `due` jobs due now, claimed 500 at a time.
    conn.execute(INSERT_DUE, {"n": due, "t0": t0})
    conn.execute("ANALYZE scheduled_jobs")
    plans["claim_scan_due"] = explain(conn, CLAIM_SCAN, now)
    claimed, started = 0, time.perf_counter()
    while True:
        with conn.transaction():
            got = len(conn.execute(CLAIM, now).fetchall())
        if not got:
            break
        claimed += got
    per_job = (time.perf_counter() - started) / max(claimed, 1)
    conn.execute("DELETE FROM scheduled_jobs WHERE id LIKE 'due:%'")
    conn.execute("VACUUM ANALYZE scheduled_jobs")
    return {
        "idle_tick": _stats(tick),
        "idle_claim": _stats(claim),
        "next_due_at": _stats(nxt),
        "reap": _stats(reap),
        "claim_per_job_ms": round(1000 * per_job, 4),
        "claimed": claimed,
        "scheduler_status": _stats(status),
        "explain": plans,
    }


def prune_rate(conn: Conn, now: datetime, seconds: float = 60.0) -> dict[str, Any]:
    """Retention at work: the beat's prune (older than 7 days, keep 50 per job),
    step by step as ``prune_history`` runs it, for at most ``seconds``."""
    sql = queries["prune_executions"].text
    params: dict[str, Any] = {
        "older_than_days": 7,
        "keep_per_job": 50,
        "batch": 1000,
        "after_at": "-infinity",
        "after_id": 0,
        "now": now,
    }
    deleted = steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        with conn.transaction():
            row = conn.execute(sql, params).fetchone()
        assert row is not None
        deleted += row["deleted"]
        steps += 1
        if row["next_at"] is None:
            break
        params.update(after_at=row["next_at"], after_id=row["next_id"])
    wall = time.perf_counter() - start
    return {
        "deleted": deleted,
        "steps": steps,
        "seconds": round(wall, 1),
        "rows_per_s": round(deleted / wall, 0),
        "finished": steps > 0 and row["next_at"] is None,
    }


def run(
    conn: Conn,
    sizes: tuple[int, ...] = SIZES,
    executions: int = 10_000_000,
    repeat: int = 200,
    due: int = 5000,
    log: Any = None,
    rounds: int = 3,
) -> dict[str, Any]:
    t0 = conn.execute("SELECT date_trunc('second', now()) AS t").fetchone()["t"]  # type: ignore[index]
    conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (due * 10,))
    result: dict[str, Any] = {"executions": executions, "sizes": {}}
    have = 0
    first_grow = min(sizes)
    result["grow_s"] = {str(first_grow): round(grow_jobs(conn, 0, first_grow - 1, t0), 2)}
    have = first_grow
    result["load_executions_s"] = round(load_executions(conn, executions, first_grow, t0), 1)
    if log:
        log(f"tablesize: {executions} executions loaded in {result['load_executions_s']} s")
    for size in sorted(sizes):
        if size > have:
            result["grow_s"][str(size)] = round(grow_jobs(conn, have, size - 1, t0), 2)
            have = size
        # Best of `rounds`: the machine is shared, a round that coincides
        # with someone's test run is slower for reasons that are not ours.
        runs = [measure(conn, t0, repeat, due) for _ in range(rounds)]
        best = min(runs, key=lambda m: m["idle_tick"]["median_ms"])
        best["claim_per_job_ms"] = min(m["claim_per_job_ms"] for m in runs)
        best["scheduler_status"] = min(
            (m["scheduler_status"] for m in runs), key=lambda s: s["median_ms"]
        )
        best["rounds_idle_tick_ms"] = [m["idle_tick"]["median_ms"] for m in runs]
        best["rounds_claim_per_job_ms"] = [m["claim_per_job_ms"] for m in runs]
        result["sizes"][str(size)] = best
        if log:
            m = result["sizes"][str(size)]
            log(
                f"tablesize {size}: idle tick {m['idle_tick']['median_ms']} ms, "
                f"claim {m['claim_per_job_ms']} ms/job, "
                f"status {m['scheduler_status']['median_ms']} ms"
            )
    result["prune"] = prune_rate(conn, t0)
    if log:
        log(f"tablesize: prune {result['prune']}")
    result["tables"] = bloat.snapshot(conn)
    small, big = str(min(sizes)), str(max(sizes))
    s, b = result["sizes"][small], result["sizes"][big]
    result["ratio_largest_to_smallest"] = {
        "idle_tick": round(b["idle_tick"]["median_ms"] / s["idle_tick"]["median_ms"], 2),
        "claim_per_job": round(b["claim_per_job_ms"] / s["claim_per_job_ms"], 2),
        "scheduler_status": round(
            b["scheduler_status"]["median_ms"] / s["scheduler_status"]["median_ms"], 2
        ),
    }
    return result
