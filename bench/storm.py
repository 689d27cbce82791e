"""``python -m bench storm``: every user's weekly generation due at the same instant.

1. A population of ``--users`` (jobs, preferences, a recipe catalog of
   ``--recipes``, a food log), then every ``weekly_generation`` job moved to
   one instant T a little ahead, with ``max_concurrent_jobs`` above the
   storm (the cap would otherwise hold it back by design) and
   ``queue_timeout_seconds`` an hour (see docs/scale.md: a storm that waits
   in the broker longer than that is handed back and published again).
2. Dispatch: a real beat (``celery -A tasks beat``), no worker; from T until
   every message is in Redis, with the beat's CPU and Redis's memory per
   queued message (``used_memory`` before and after).
3. The handler alone: ``--sample`` calls of the real ``weekly_generation``
   in this process, on users of the storm, each for a week no queued
   message asks for (so the worker below still finds real work): Python CPU
   (``time.process_time``), the Postgres backend's CPU and wall per user.
4. End to end: one worker process (``celery -A tasks worker -c 1``)
   draining the queued storm for ``--worker-seconds``: completed
   executions per second, and CPU per job of the worker and of Postgres;
   the first half with the table statistics as the storm left them, the
   second after an ``ANALYZE`` (docs/scale.md: the start's plan depends on it).
5. Bloat: table sizes and dead tuples after the storm, then a plain
   ``VACUUM`` of the two scheduler tables, timed.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from typing import Any

from bench import bloat, pgstats
from bench.config import BenchConfig
from bench.dispatch import queued_messages
from bench.infra import (
    BRIDGE_QUEUE,
    BenchError,
    Services,
    bridge_env,
    check_redis,
    connect,
    redis_db,
    wait_until,
)
from bench.population import PopulationSpec, populate
from bench.procstat import CpuSample, cpu_seconds


def handler_sample(url: str, at: Any, sample: int) -> dict[str, Any]:
    """The real handler in this process for ``sample`` users (a week nobody else plans)."""
    from tasks.db import Database
    from tasks.handlers import JobContext
    from tasks.ids import ExecutionId, JobId, UserId
    from tasks.jobs.generation import weekly_generation

    db = Database(url, 1, "bench-storm-handler")
    with connect(url) as conn:
        users = [
            r["id"]
            for r in conn.execute(
                "SELECT id FROM users ORDER BY id DESC LIMIT %s", (sample,)
            ).fetchall()
        ]
    week = date.fromisoformat(str(at.date())) + timedelta(days=7 * 5)
    week -= timedelta(days=week.weekday())  # a Monday five weeks out
    try:
        db.one("database_now")  # open the pool before timing
        with connect(url) as conn:
            pids = [
                r["pid"]
                for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                    ("bench-storm-handler",),
                ).fetchall()
            ]
        pg0 = sum(cpu_seconds(p, False) for p in pids)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        created = 0
        for user_id in users:
            ctx = JobContext(
                job_id=JobId(f"weekly_generation:user:{user_id}"),
                job_type="weekly_generation",
                user_id=UserId(user_id),
                parameters={"user_id": user_id, "week_start": week.isoformat()},
                execution_id=ExecutionId(0),
                attempt_number=1,
                trigger_type="manual",
                scheduled_for=at,
                db=db,
            )
            out = weekly_generation(ctx)
            created += bool(out.get("created"))
        n = max(len(users), 1)
        wall = time.perf_counter() - wall0
        python_cpu = time.process_time() - cpu0
        pg_cpu = sum(cpu_seconds(p, False) for p in pids) - pg0
    finally:
        db.close()
    return {
        "users": len(users),
        "plans_created": created,
        "python_cpu_ms_per_user": round(1000 * python_cpu / n, 2),
        "postgres_cpu_ms_per_user": round(1000 * pg_cpu / n, 2),
        "wall_ms_per_user": round(1000 * wall / n, 2),
    }


def run(config: BenchConfig, url: str, args: argparse.Namespace, log: Any) -> dict[str, Any]:
    n = args.users
    result: dict[str, Any] = {"users": n}
    workdir_root = __import__("tempfile").mkdtemp(prefix=f"bench-storm-{config.run_id}-")
    from pathlib import Path

    services = Services(Path(workdir_root), "WARNING")
    with connect(url) as conn, redis_db(config.redis_url("dispatch"), config.run_id) as rds:
        log(f"storm: populating {n} users")
        pop = populate(conn, PopulationSpec(users=n, recipes=args.recipes, trigger_sample=0))
        result["population_s"] = pop["total_s"]
        conn.execute(
            "UPDATE scheduler_config SET max_concurrent_jobs = %s, queue_timeout_seconds = 3600",
            (n + 10_000,),
        )
        # The auto_sync system job is due at install time; run it out of the way.
        conn.execute("UPDATE scheduled_jobs SET enabled = false WHERE user_id IS NULL")
        at = conn.execute(
            "SELECT date_trunc('second', now()) + make_interval(secs => %s) AS t",
            (args.lead_seconds + n / 10_000,),
        ).fetchone()["t"]  # type: ignore[index]
        with conn.transaction():
            moved = conn.execute(
                "UPDATE scheduled_jobs SET scheduled_for = %(t)s, occurrence_at = %(t)s"
                " WHERE job_type = 'weekly_generation'",
                {"t": at},
            ).rowcount
        conn.execute("VACUUM ANALYZE scheduled_jobs")
        result["due_at_once"] = moved
        env = bridge_env(url, config.redis_url("dispatch"), config, TASKS_CLAIM_BATCH="500")
        mem0 = int(rds.info("memory")["used_memory"])
        try:
            beat = services.beat(env)
            time.sleep(3)
            services.check_alive()
            wait_s = (at - conn.execute("SELECT now() AS t").fetchone()["t"]).total_seconds()  # type: ignore[index]
            if wait_s < 2:
                raise BenchError("the storm fell due before the beat was up; raise --lead-seconds")
            log(f"storm: {moved} jobs fall due in {wait_s:.0f} s")
            time.sleep(max(0.0, wait_s - 1))
            cpu0 = CpuSample.of_trees([beat.pid])
            while conn.execute("SELECT now() < %s AS w", (at,)).fetchone()["w"]:  # type: ignore[index]
                time.sleep(0.002)
            t0 = time.monotonic()
            first: list[float] = []

            def all_published() -> bool:
                check_redis(rds, config.run_id)
                services.check_alive()
                q = queued_messages(rds, "weekly_generation")
                if q and not first:
                    first.append(time.monotonic() - t0)
                return q >= moved

            wait_until(all_published, 1800, f"{moved} messages in Redis", 0.01)
            wall = time.monotonic() - t0
            beat_cpu = CpuSample.of_trees([beat.pid]).since(cpu0)
        finally:
            services.stop_all()
        mem1 = int(rds.info("memory")["used_memory"])
        result["dispatch"] = {
            "jobs": moved,
            "seconds_until_all_queued": round(wall, 2),
            "seconds_until_first_queued": round(first[0], 3) if first else None,
            "jobs_per_s": round(moved / wall, 0),
            "beat_cpu_ms_per_job": round(1000 * beat_cpu / moved, 4),
            "redis_bytes_per_message": round((mem1 - mem0) / moved, 0),
            "redis_mib_total": round((mem1 - mem0) / 1048576, 1),
        }
        log(f"storm: dispatch {result['dispatch']}")
        result["after_dispatch"] = bloat.snapshot(conn, ("scheduled_jobs",))

        log(f"storm: {args.sample} handler runs in-process")
        result["handler"] = handler_sample(url, at, args.sample)
        log(f"storm: handler {result['handler']}")

        env = bridge_env(url, config.redis_url("dispatch"), config)
        result["worker"] = {}
        try:
            worker = services.worker("storm-w1", "tasks", env, 1, BRIDGE_QUEUE)

            def count() -> int:
                return int(
                    conn.execute(
                        "SELECT count(*) AS c FROM job_executions WHERE status = 'completed'"
                        " AND worker IS NOT NULL"
                    ).fetchone()["c"]  # type: ignore[index]
                )

            wait_until(lambda: count() >= 20, 120, "the worker's first completions", 0.2)
            # Twice: first with the statistics the storm left (taken before it,
            # when no job was queued: what the planner sees until autovacuum's
            # next analyze), then after an ANALYZE.
            for phase in ("stale_statistics", "after_analyze"):
                if phase == "after_analyze":
                    conn.execute("ANALYZE scheduled_jobs")
                c0, t0 = count(), time.monotonic()
                w0 = CpuSample.of_trees([worker.pid])
                b0 = pgstats.backend_cpu(conn)
                time.sleep(args.worker_seconds / 2)
                c1, t1 = count(), time.monotonic()
                w1 = CpuSample.of_trees([worker.pid])
                b1 = pgstats.backend_cpu(conn)
                services.check_alive()
                done = max(c1 - c0, 1)
                result["worker"][phase] = {
                    "processes": 1,
                    "seconds": round(t1 - t0, 1),
                    "completed": c1 - c0,
                    "jobs_per_s_per_process": round((c1 - c0) / (t1 - t0), 1),
                    "worker_cpu_ms_per_job": round(1000 * w1.since(w0) / done, 2),
                    "postgres_cpu_ms_per_job": round(1000 * b1.since(b0) / done, 2),
                }
        finally:
            services.stop_all()
        result["worker"]["failed"] = conn.execute(
            "SELECT count(*) AS c FROM job_executions WHERE status IN ('failed', 'abandoned')"
        ).fetchone()["c"]  # type: ignore[index]
        log(f"storm: worker {result['worker']}")
        rds.flushdb()
        rds.set("bench:owner", config.run_id)
        result["after_storm"] = bloat.snapshot(conn)
        t0 = time.monotonic()
        conn.execute("VACUUM scheduled_jobs")
        result["vacuum_scheduled_jobs_s"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        conn.execute("VACUUM job_executions")
        result["vacuum_job_executions_s"] = round(time.monotonic() - t0, 2)
        result["after_vacuum"] = bloat.snapshot(conn, ("scheduled_jobs", "job_executions"))
    __import__("shutil").rmtree(workdir_root, ignore_errors=True)
    return result
