"""Dispatch lag: how late jobs start, with the beat's tick at its default (1 s).

Scheduled: ``--lag-jobs`` jobs due at random instants over ``--lag-spread``
seconds, inserted ahead of time (so nothing wakes the beat early); lag is
``job_executions.started_at - scheduled_for``.

Manual: ``--triggers`` jobs parked a day ahead, triggered one at a time with
``SELECT trigger_job_v1(id)`` at random moments of the tick; lag is from the
trigger's ``now()`` to ``started_at``. The trigger's NOTIFY should wake the
beat at once (target: p50 under 100 ms).
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.infra import (
    BRIDGE_QUEUE,
    Conn,
    Databases,
    Services,
    bridge_env,
    check_redis,
    connect,
    insert_jobs,
    redis_db,
    wait_until,
)

LEAD_S = 3.0  # the first scheduled job is due this long after the insert


def distribution(values_s: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds (nearest-rank percentiles)."""
    ordered = sorted(values_s)

    def pct(p: float) -> float:
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return 1000 * ordered[rank]

    return {
        "n": len(ordered),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": 1000 * ordered[-1],
        "mean_ms": 1000 * statistics.fmean(ordered),
    }


def _started(conn: Conn, prefix: str) -> int:
    row = conn.execute(
        "SELECT count(*) AS n FROM job_executions WHERE job_id LIKE %s", (prefix + "-%",)
    ).fetchone()
    return int(row["n"]) if row else 0


def _scheduled_lag(conn: Conn, check: Callable[[], None], config: BenchConfig) -> list[float]:
    n = config.lag_jobs
    spread = config.lag_spread
    # Random instants in [lead, lead + spread), fixed per row by the seeded random().
    conn.execute("SELECT setseed(0.42)")
    insert_jobs(
        conn,
        "sched",
        n,
        due=f"now() + make_interval(secs => {LEAD_S} + random() * {spread})",
    )

    def all_started() -> bool:
        check()
        return _started(conn, "sched") >= n

    wait_until(all_started, LEAD_S + spread + config.timeout, f"{n} scheduled jobs to start", 0.5)
    rows = conn.execute(
        "SELECT extract(epoch FROM e.started_at - j.scheduled_for)::float8 AS lag"
        " FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id"
        " WHERE e.job_id LIKE 'sched-%' AND e.attempt_number = 1"
    ).fetchall()
    # A once job keeps its scheduled_for after completing, so the join is exact.
    return [float(r["lag"]) for r in rows]


def _manual_lag(conn: Conn, check: Callable[[], None], config: BenchConfig) -> list[float]:
    n = config.triggers
    insert_jobs(conn, "manual", n, due="now() + interval '1 day'")
    rng = random.Random(7)
    lags = []
    for i in range(1, n + 1):
        job_id = f"manual-{i}"
        # Land at a random moment of the beat's tick.
        time.sleep(rng.uniform(0.05, 1.0))
        row = conn.execute(
            "SELECT extract(epoch FROM now())::float8 AS at FROM trigger_job_v1(%s)", (job_id,)
        ).fetchone()
        assert row is not None
        triggered_at = float(row["at"])

        def started(job_id: str = job_id) -> float | None:
            check()
            got = conn.execute(
                "SELECT extract(epoch FROM started_at)::float8 AS at FROM job_executions"
                " WHERE job_id = %s",
                (job_id,),
            ).fetchone()
            return float(got["at"]) if got else None

        started_at = wait_until(started, config.timeout, f"{job_id} to start", 0.005)
        lags.append(started_at - triggered_at)
    return lags


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    db_url = dbs.create("lag")
    services = Services(workdir / "lag", config.loglevel)
    services.workdir.mkdir(parents=True, exist_ok=True)
    with redis_db(config.redis_url("lag"), config.run_id) as rds, connect(db_url) as conn:
        conn.execute(
            "UPDATE scheduler_config SET max_concurrent_jobs = %s",
            (config.lag_jobs + config.triggers + 100,),
        )
        env = bridge_env(db_url, config.redis_url("lag"), config)  # tick: the default
        try:
            services.worker("worker", "tasks", env, config.concurrency, BRIDGE_QUEUE)
            services.beat(env)
            insert_jobs(conn, "warm", 3 * config.concurrency)
            wait_until(
                lambda: _started(conn, "warm") >= 3 * config.concurrency,
                config.timeout,
                "the warm-up jobs",
                0.1,
            )

            def check() -> None:
                services.check_alive()
                check_redis(rds, config.run_id)

            scheduled = _scheduled_lag(conn, check, config)
            manual = _manual_lag(conn, check, config)
        except BaseException:
            print(services.log_tail("worker"), services.log_tail("beat"), sep="\n")
            raise
        finally:
            services.stop_all()
    dbs.drop(db_url)
    return {
        "tick_s": 1.0,
        "scheduled": {"spread_s": config.lag_spread, **distribution(scheduled)},
        "manual": distribution(manual),
        "samples_s": {"scheduled": sorted(scheduled), "manual": manual},
    }
