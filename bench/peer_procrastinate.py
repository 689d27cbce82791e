"""Procrastinate as a peer of the e2e section, measured as the bridge is.

Its own database (Procrastinate's schema, applied from the installed
package), a worker process ``procrastinate worker -c C`` running the no-op
``async def`` task of :mod:`bench.procrastinate_app`, with Procrastinate's
defaults otherwise. A round inserts N jobs in one transaction (what
``batch_defer`` does; the insert trigger sends the NOTIFY that wakes the
worker); the clock runs from its commit to the last ``succeeded`` event.
CPU: the worker process and the database's Postgres backends.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from bench import pgstats
from bench.config import BenchConfig
from bench.infra import BenchError, Conn, Databases, connect, db_now, service_env, wait_until
from bench.procstat import CpuSample, machine_busy_seconds
from bench.stacks import POLL_S, Stack, tree_rss, with_totals


class ProcrastinateStack(Stack):
    label = "Procrastinate"

    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path) -> None:
        super().__init__(config, workdir, "procrastinate")
        self.dbs = dbs
        self.last_job = 0
        self.jobs_done = 0
        self.polls = 0

    def start(self) -> None:
        from procrastinate.schema import SchemaManager

        from bench import procrastinate_app

        self.app_module = procrastinate_app
        self.db_url = self.dbs.create_empty("procrastinate")
        self.exit.callback(self.dbs.drop, self.db_url)
        self.conn: Conn = self.exit.enter_context(connect(self.db_url))
        self.conn.execute(SchemaManager.get_schema())
        env = service_env(BENCH_PROCRASTINATE_DSN=self.db_url)
        argv = [
            sys.executable, "-m", "procrastinate", "--app", "bench.procrastinate_app.app",
            "--log-level", self.config.loglevel.lower(),
            "worker", "-c", str(self.config.concurrency), "-q", procrastinate_app.QUEUE,
        ]  # fmt: skip
        self.worker = self.services.start("worker", argv, env)
        warm = 3 * self.config.concurrency
        self._insert(warm)
        wait_until(lambda: self._finished(warm), self.config.timeout, "the Procrastinate warm-up")
        self.pg_before = pgstats.sample(self.conn)
        self.polls = 0

    def _insert(self, count: int) -> None:
        self.conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
            " SELECT %s, %s, '{}'::jsonb FROM generate_series(1, %s)",
            (self.app_module.QUEUE, self.app_module.TASK_NAME, count),
        )

    def _finished(self, count: int) -> bool:
        self.polls += 1
        self.services.check_alive()
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded') AS done,"
            " count(*) FILTER (WHERE status IN ('failed', 'aborted')) AS bad"
            " FROM procrastinate_jobs WHERE id > %s",
            (self.last_job,),
        ).fetchone()
        assert row is not None
        if row["bad"]:
            raise BenchError(f"{row['bad']} Procrastinate jobs failed; see its worker log")
        return bool(row["done"] >= count)

    def round(self, n: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT coalesce(max(id), 0) AS id FROM procrastinate_jobs")
        self.last_job = int(row.fetchone()["id"])  # type: ignore[index]
        self.jobs_done += n
        before = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_before, own_before = machine_busy_seconds(), time.process_time()
        with self.conn.transaction():
            self._insert(n)
        t0 = db_now(self.conn)
        wait_until(
            lambda: self._finished(n), self.config.timeout, f"{n} Procrastinate jobs", POLL_S
        )
        after = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_after, own_after = machine_busy_seconds(), time.process_time()
        last = self.conn.execute(
            "SELECT extract(epoch FROM max(at))::float8 AS t FROM procrastinate_events"
            " WHERE job_id > %s AND type = 'succeeded'",
            (self.last_job,),
        ).fetchone()
        assert last is not None
        wall = float(last["t"]) - t0
        worker = after[0].since(before[0])
        postgres = after[1].since(before[1])
        cpu_ms = with_totals(
            {
                "worker": 1000 * worker / n,
                "worker_main": 1000 * after[0].since(before[0], [self.worker.pid]) / n,
                "postgres": 1000 * postgres / n,
            },
            0.0,
        )
        ours = worker + postgres + (own_after - own_before)
        return {
            "wall_s": wall,
            "jobs_per_s": n / wall,
            "cpu_ms_per_job": cpu_ms,
            "others_cores": max(0.0, (busy_after - busy_before - ours) / wall),
        }

    def finish(self) -> dict[str, Any]:
        rss = {"worker": tree_rss(self.worker.pid)}
        self.services.stop_all()
        pgstats.settle()
        after = pgstats.sample(self.conn)
        pg = pgstats.per_job(self.pg_before, after, self.jobs_done, own_xacts=self.polls + 8)
        return {"peak_rss_mib": rss, "postgres": {"xacts_per_job": pg["xacts_per_job"]}}
