"""Beat dispatch alone: claim + publish with no worker consuming.

``--dispatch-jobs`` jobs are inserted already due in one transaction; the
clock runs from its commit until every message is in Redis (the queue's
lists are polled every few milliseconds). This is the rate at which one beat
drains a burst (target: 5,000 jobs/s, so a million per-user jobs due on
Friday 06:00 leave the beat in minutes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import pgstats
from bench.config import BenchConfig
from bench.infra import (
    BRIDGE_QUEUE,
    Databases,
    Services,
    bridge_env,
    check_redis,
    connect,
    insert_jobs,
    redis_db,
    wait_until,
)
from bench.procstat import CpuSample, peak_rss_mib

PRIORITY_STEPS = (0, 3, 6, 9)
POLL_S = 0.005


def queued_messages(client: Any, job_type: str = "bench.noop") -> int:
    """Messages waiting in every priority list of one job type's queue."""
    queue = f"{BRIDGE_QUEUE}.{job_type}"  # <TASKS_QUEUE>.<job_type>, see tasks.celery_app
    names = [queue if step == 0 else f"{queue}:{step}" for step in PRIORITY_STEPS]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return sum(pipe.execute())


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    n = config.dispatch_jobs
    db_url = dbs.create("dispatch")
    services = Services(workdir / "dispatch", config.loglevel)
    services.workdir.mkdir(parents=True, exist_ok=True)
    with redis_db(config.redis_url("dispatch"), config.run_id) as rds, connect(db_url) as conn:
        conn.execute("UPDATE scheduler_config SET max_concurrent_jobs = %s", (n + 1000,))
        env = bridge_env(db_url, config.redis_url("dispatch"), config)
        try:
            beat = services.beat(env)
            insert_jobs(conn, "warm", 1)

            def warmed() -> bool:
                services.check_alive()
                check_redis(rds, config.run_id)
                return queued_messages(rds) >= 1

            wait_until(warmed, config.timeout, "the beat to publish a warm-up job", 0.05)
            before_pg = pgstats.sample(conn)
            before = CpuSample.of_trees([beat.pid])
            before_backends = pgstats.backend_cpu(conn)
            with conn.transaction():
                insert_jobs(conn, "run", n)
            start = time.monotonic()

            def all_published() -> bool:
                check_redis(rds, config.run_id)
                return queued_messages(rds) >= n + 1

            wait_until(all_published, config.timeout, f"{n} messages in Redis", POLL_S)
            wall = time.monotonic() - start
            after = CpuSample.of_trees([beat.pid])
            after_backends = pgstats.backend_cpu(conn)
            services.check_alive()
            rss = peak_rss_mib(beat.pid)
        except BaseException:
            print(services.log_tail("beat"))
            raise
        finally:
            services.stop_all()
        pgstats.settle()
        after_pg = pgstats.sample(conn)
    dbs.drop(db_url)
    pg = pgstats.per_job(before_pg, after_pg, n, own_xacts=9)
    return {
        "jobs": n,
        "wall_s": wall,
        "jobs_per_s": n / wall,
        "beat_cpu_ms_per_job": 1000 * after.since(before) / n,
        "postgres_cpu_ms_per_job": 1000 * after_backends.since(before_backends) / n,
        "xacts_per_job": pg["xacts_per_job"],
        "beat_peak_rss_mib": rss,
    }
