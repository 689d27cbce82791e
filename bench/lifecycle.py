"""The statements of one job's life, one at a time on one connection, no contention.

What each statement the bridge runs per job costs on its own: claim (in
batches), start, complete, and the pool's connection check (an empty query
per checkout), each in its own transaction as in production. Measured per
call: the client's wall time (round trip and commit included), the client's
CPU (psycopg, in this process) and the CPU of the Postgres backend serving
the connection (read from /proc), once with ``synchronous_commit = on`` (the
default: every commit waits for its WAL fsync) and once with it off, which
shows what the fsync wait is.

Then the worker's whole path outside Celery: ``tasks.execution.run`` with
the bench's no-op handler, through ``tasks.db.Database`` (pool, checks) and
the lease keeper, per job: what the bridge adds to a plain Celery task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.infra import Conn, Databases, connect, insert_jobs
from bench.procstat import cpu_seconds

JOBS = 2000


def _measure(pids: list[int], calls: int, step: Callable[[int], int]) -> dict[str, float]:
    """Run ``step(i)`` ``calls`` times; per unit (``step`` returns how many it did).

    ``pids``: the backends serving the calls. The client's CPU is this process's.
    """
    units = 0

    def backends() -> float:
        return sum(cpu_seconds(pid, with_reaped_children=False) for pid in pids)

    cpu0, own0, t0 = backends(), time.process_time(), time.perf_counter()
    for i in range(calls):
        units += step(i)
    wall = time.perf_counter() - t0
    own, cpu = time.process_time() - own0, backends() - cpu0
    units = max(units, 1)
    return {
        "units": units,
        "wall_us": 1e6 * wall / units,
        "backend_cpu_us": 1e6 * cpu / units,
        "client_cpu_us": 1e6 * own / units,
    }


def _one_pass(conn: Conn, jobs: int, batch: int, prefix: str) -> dict[str, Any]:
    from tasks.sql import queries

    pid = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]  # type: ignore[index]
    insert_jobs(conn, prefix, jobs)
    claimed: list[dict[str, Any]] = []

    def claim(_: int) -> int:
        rows = conn.execute(queries["claim_due_jobs"].text, {"limit": batch, "now": None})
        got = rows.fetchall()
        claimed.extend(got)
        return len(got)

    result = {"claim": _measure([pid], -(-jobs // batch), claim)}
    executions: list[tuple[int, str]] = []

    def start(i: int) -> int:
        job = claimed[i]
        row = conn.execute(
            queries["start_execution"].text,
            {
                "job_id": job["job_id"],
                "dispatch_id": job["dispatch_id"],
                "dispatch_key": job["dispatch_key"],
                "worker": "bench",
                "celery_task_id": f"dispatch-{job['dispatch_id']}",
                "lease_seconds": 30,
                "now": None,
                "timeout_seconds": None,
            },
        ).fetchone()
        executions.append((row["execution_id"], job["dispatch_key"]))  # type: ignore[index]
        return 1

    result["start_execution"] = _measure([pid], len(claimed), start)

    def complete(i: int) -> int:
        conn.execute(
            queries["complete_execution"].text,
            {
                "execution_id": executions[i][0],
                "dispatch_key": executions[i][1],
                "output": None,
                "now": None,
            },
        )
        return 1

    result["complete_execution"] = _measure([pid], len(executions), complete)

    def check(_: int) -> int:
        conn.execute("")
        return 1

    result["pool_check"] = _measure([pid], jobs, check)
    return result


def _worker_path(url: str, conn: Conn, jobs: int, batch: int) -> dict[str, float]:
    """What a worker does per job outside Celery: tasks.execution.run, no-op handler."""
    import bench.handlers  # noqa: F401 - registers the no-op job type
    from tasks.db import Database
    from tasks.execution import Attempt, run
    from tasks.ids import DispatchId, DispatchKey, JobId
    from tasks.leases import LeaseKeeper
    from tasks.sql import queries

    insert_jobs(conn, "worker", jobs)
    claimed = []
    while rows := conn.execute(
        queries["claim_due_jobs"].text,
        {"limit": batch, "now": None},
    ).fetchall():
        claimed.extend(rows)
    db = Database(url, 1, "bench-lifecycle")
    leases = LeaseKeeper(db, 30)
    try:
        db.one("get_scheduler_config")  # open the pool before measuring
        pid_row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-lifecycle'"
        ).fetchone()
        pids = [int(pid_row["pid"])] if pid_row else []

        def one(i: int) -> int:
            job = claimed[i]
            attempt = Attempt(
                JobId(job["job_id"]),
                DispatchId(job["dispatch_id"]),
                f"dispatch-{job['dispatch_id']}",
                "bench/0",
                dispatch_key=DispatchKey(job["dispatch_key"]),
            )
            assert run(db, leases, attempt) == "completed"
            return 1

        return _measure(pids, len(claimed), one)
    finally:
        db.close()


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    url = dbs.create("lifecycle")
    jobs = min(JOBS, max(config.n, 50))
    with connect(url) as conn:
        conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (10 * jobs,))
        durable = _one_pass(conn, jobs, config.claim_batch, "sync")
        worker = _worker_path(url, conn, jobs, config.claim_batch)
        conn.execute("SET synchronous_commit = off")
        relaxed = _one_pass(conn, jobs, config.claim_batch, "async")
    dbs.drop(url)
    return {
        "jobs": jobs,
        "synchronous_commit_on": durable,
        "synchronous_commit_off": relaxed,
        "execution_run": worker,
    }
