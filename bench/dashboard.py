"""The dashboard at scale: ``python -m bench.dashboard``.

Fills a fresh database with ``--jobs`` jobs (default 1,000,000) and
``--executions`` attempts (default 1,000,000; ``--executions 10000000`` for
the issue's 10M, about five more minutes) with set-based INSERT ... SELECT
generate_series, runs ANALYZE, starts the real dashboard (uvicorn, reads as
meal_scheduler_readonly) and times each page over HTTP from a client, the
round trip included: ``--repeat`` requests each, median and p95. Prints
the plan of the jobs page's query per filter (EXPLAIN ANALYZE, BUFFERS), so
the index each one uses is on record. Not a test: run it by hand.

Jobs: 70% completed, 29% pending, 1% failed, 0.5% disabled; eight job types
plus one rare one (one job in 10,000); every tenth job belongs to one of
100,000 users. Attempts: spread over 90 days in id order, 97% completed, 2%
failed, 1% abandoned, dispatch lag 0-50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from bench.config import BenchConfig
from bench.infra import Databases, connect

USERS = """
INSERT INTO users (id, email, timezone)
SELECT i, 'user' || i || '@example.org', 'UTC' FROM generate_series(1, 100000) AS i
"""

JOBS = """
INSERT INTO scheduled_jobs (id, job_type, frequency_type, frequency_config, priority, status,
                            enabled, user_id, scheduled_for, occurrence_at, completed_at,
                            error_count, last_error)
SELECT 'job-' || i,
       CASE WHEN i %% 10000 = 0 THEN 'rare_type' ELSE 'type_' || (i %% 8) END,
       'daily', '{"hour": 6, "minute": 0}',
       (ARRAY['low', 'medium', 'high', 'critical']::job_priority[])[1 + i %% 4],
       CASE WHEN c < 700 THEN 'completed' WHEN c < 990 THEN 'pending' ELSE 'failed' END::job_status,
       i %% 200 <> 7,
       CASE WHEN i %% 10 = 0 THEN 1 + (i / 10) %% 100000 END,
       now() + (c - 700) * interval '1 hour', now() + (c - 700) * interval '1 hour',
       CASE WHEN c < 700 THEN now() - interval '1 day' END,
       CASE WHEN c >= 990 THEN 3 ELSE 0 END,
       CASE WHEN c >= 990 THEN 'RuntimeError: upstream timed out' END
FROM generate_series(1, %(jobs)s) AS i, LATERAL (SELECT (i::bigint * 7919) %% 1000 AS c) AS k
"""

EXECUTIONS = """
INSERT INTO job_executions (job_id, status, trigger_type, attempt_number, started_at,
                            completed_at, duration_ms, scheduled_for, worker, output,
                            error_message)
SELECT 'job-' || (1 + (i::bigint * 7919) %% %(jobs)s),
       CASE WHEN i %% 100 < 97 THEN 'completed' WHEN i %% 100 < 99 THEN 'failed'
            ELSE 'abandoned' END::execution_status,
       'scheduled', 1, t, t + interval '2 seconds', 2000,
       t - (i %% 50) * interval '1 millisecond', 'w1@host-a/1000',
       CASE WHEN i %% 100 < 97 THEN '{"ok": true}'::jsonb END,
       CASE WHEN i %% 100 >= 97 THEN 'RuntimeError: upstream timed out' END
FROM generate_series(1, %(executions)s) AS i,
     LATERAL (SELECT now() - interval '90 days'
                     + (i::float / %(executions)s) * interval '90 days' AS t) AS s
"""

EXPLAIN_FILTERS: dict[str, dict[str, Any]] = {
    "no filter": {},
    "type": {"job_type": "type_3"},
    "rare type": {"job_type": "rare_type"},
    "status failed": {"status": "failed"},
    "disabled": {"enabled": False},
    "user": {"user_id": 4242},
    "deep page": {"after_id": "job-500000"},
}


def fill(url: str, jobs: int, executions: int) -> dict[str, float]:
    took: dict[str, float] = {}
    with connect(url) as conn:
        # Bulk load: no per-row triggers (users' default jobs, validation,
        # the due-time trigger); the data is valid by construction.
        conn.execute("SET session_replication_role = replica")
        for name, sql, params in (
            ("users", USERS, {}),
            ("jobs", JOBS, {"jobs": jobs}),
            ("executions", EXECUTIONS, {"jobs": jobs, "executions": executions}),
        ):
            started = time.perf_counter()
            conn.execute(sql, params)  # type: ignore[arg-type]
            took[f"insert_{name}_s"] = round(time.perf_counter() - started, 1)
        conn.execute("RESET session_replication_role")
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        took["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    return took


def explain(url: str) -> dict[str, list[str]]:
    from tasks.sql import queries

    text = queries["dashboard_jobs"].text
    plans: dict[str, list[str]] = {}
    with connect(url) as conn:
        conn.execute("SET plan_cache_mode = force_custom_plan")
        for name, filters in EXPLAIN_FILTERS.items():
            params = {
                "job_type": None,
                "status": None,
                "user_id": None,
                "enabled": None,
                "after_id": None,
                "limit": 51,
                **filters,
            }
            rows = conn.execute(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + text,  # type: ignore[operator]
                params,
            ).fetchall()
            plans[name] = [r["QUERY PLAN"] for r in rows]
    return plans


def time_pages(base: str, pages: dict[str, str], repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=base, timeout=60) as client:
        for name, path in pages.items():
            samples = []
            for _ in range(repeat):
                started = time.perf_counter()
                response = client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}")
            ordered = sorted(samples)
            results[name] = {
                "median_ms": round(statistics.median(ordered), 1),
                "p95_ms": round(ordered[max(0, round(0.95 * len(ordered)) - 1)], 1),
            }
    return results


@contextlib.contextmanager
def serve(settings: Any) -> Iterator[str]:
    """The dashboard on a free port of this process (uvicorn in a thread)."""
    import uvicorn

    from tasks.web.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit("the dashboard did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--executions", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=20, help="requests per page (default 20)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)

    from tasks.settings import Settings

    config = BenchConfig.from_env()
    dbs = Databases(config)
    dbs.check()
    url = dbs.create("dashboard")
    try:
        report: dict[str, Any] = {"jobs": args.jobs, "executions": args.executions}
        report["load"] = fill(url, args.jobs, args.executions)
        report["plans"] = explain(url)
        settings = Settings.from_env({"DATABASE_URL": url, "REDIS_URL": config.redis_base + "/15"})
        pages = {
            "overview /": "/",
            "jobs, first page": "/jobs",
            "jobs, deep page (keyset)": "/jobs?after=job-500000",
            "jobs, type": "/jobs?type=type_3",
            "jobs, rare type": "/jobs?type=rare_type",
            "jobs, status failed": "/jobs?status=failed",
            "jobs, disabled": "/jobs?enabled=no",
            "jobs, user": "/jobs?user=4242",
            "job detail": "/jobs/job-42",
            "executions": "/runs",
            "executions of a job": "/runs?job=job-4242",
            "executions, failed": "/runs?status=failed",
            "executions, manual (none)": "/runs?trigger=manual",
            "failures": "/failures",
            "failures, last 24 h": "/failures?since=24h",
        }
        with serve(settings) as base:
            # The web process loads the metrics' totals in the background at
            # start; pages are timed after it, not while it reads the history.
            started = time.perf_counter()
            while (
                "meal_scheduler_executions_total"
                not in httpx.get(base + "/metrics", timeout=120).text
            ):
                time.sleep(0.2)
            report["metrics_history_load_ms"] = round((time.perf_counter() - started) * 1000, 1)
            report["pages"] = time_pages(
                base, {**pages, "metrics (later scrapes)": "/metrics"}, args.repeat
            )
        print(f"dashboard at {args.jobs:,} jobs, {args.executions:,} executions")
        print("load: " + ", ".join(f"{k} {v}" for k, v in report["load"].items()))
        print(f"{'page':<28} {'median ms':>10} {'p95 ms':>10}")
        for name, r in report["pages"].items():
            print(f"{name:<28} {r['median_ms']:>10} {r['p95_ms']:>10}")
        print(f"metrics history load at start-up: {report['metrics_history_load_ms']} ms")
        for name, plan in report["plans"].items():
            print(f"\n-- plan: jobs page, {name}")
            print("\n".join(plan))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    finally:
        dbs.drop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
