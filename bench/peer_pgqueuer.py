"""PgQueuer as a peer of the e2e section, measured as the bridge and Procrastinate are.

Its own database (PgQueuer's schema, the DDL its ``pgq install`` runs, from
the installed package), a worker process ``python -m bench.pgqueuer_app``
(what ``pgq run bench.pgqueuer_app:create`` runs, see that module for why not
the CLI itself) running the no-op ``async def`` entrypoint with
``max_concurrent_tasks`` = ``--concurrency`` and a batch size of 1 (at most
that many jobs in flight) and PgQueuer's defaults otherwise. A round enqueues N jobs in one
transaction with PgQueuer's own batch enqueue (one statement; its statement
trigger sends the NOTIFY that wakes the worker); the clock runs from the
commit to the last ``successful`` row of ``pgqueuer_log`` (PgQueuer writes
one per finished job, stamped when it is written).
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

#: What PgQueuer logs for a job that did not succeed.
BAD_STATUSES = ("exception", "failed", "canceled", "deleted")


class PgQueuerStack(Stack):
    label = "PgQueuer"

    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path) -> None:
        super().__init__(config, workdir, "pgqueuer")
        self.dbs = dbs
        self.last_job = 0
        self.jobs_done = 0
        self.polls = 0

    def start(self) -> None:
        from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        from bench import pgqueuer_app

        self.entrypoint = pgqueuer_app.ENTRYPOINT
        self.db_url = self.dbs.create_empty("pgqueuer")
        self.exit.callback(self.dbs.drop, self.db_url)
        self.conn: Conn = self.exit.enter_context(connect(self.db_url))
        self.conn.execute(QueryBuilderEnvironment().build_install_query())
        self.queries = SyncQueries(SyncPsycopgDriver(self.conn))
        env = service_env(
            BENCH_PGQUEUER_DSN=self.db_url,
            BENCH_PGQUEUER_CONCURRENCY=str(self.config.concurrency),
            BENCH_PGQUEUER_LOGLEVEL=self.config.loglevel,
        )
        argv = [sys.executable, "-m", "bench.pgqueuer_app"]
        self.worker = self.services.start("worker", argv, env)
        warm = 3 * self.config.concurrency
        self._enqueue(warm)
        wait_until(lambda: self._finished(warm), self.config.timeout, "the PgQueuer warm-up")
        self.pg_before = pgstats.sample(self.conn)
        self.polls = 0

    def _enqueue(self, count: int) -> None:
        self.queries.enqueue([self.entrypoint] * count, [None] * count, [0] * count)

    def _finished(self, count: int) -> bool:
        self.polls += 1
        self.services.check_alive()
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'successful') AS done,"
            " count(*) FILTER (WHERE status::text = ANY(%s)) AS bad"
            " FROM pgqueuer_log WHERE job_id > %s",
            (list(BAD_STATUSES), self.last_job),
        ).fetchone()
        assert row is not None
        if row["bad"]:
            log = self.services.workdir / "worker.log"
            raise BenchError(f"{row['bad']} PgQueuer jobs did not succeed; see {log}")
        return bool(row["done"] >= count)

    def round(self, n: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT coalesce(max(job_id), 0) AS id FROM pgqueuer_log")
        self.last_job = int(row.fetchone()["id"])  # type: ignore[index]
        self.jobs_done += n
        before = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_before, own_before = machine_busy_seconds(), time.process_time()
        with self.conn.transaction():
            self._enqueue(n)
        t0 = db_now(self.conn)
        wait_until(lambda: self._finished(n), self.config.timeout, f"{n} PgQueuer jobs", POLL_S)
        after = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_after, own_after = machine_busy_seconds(), time.process_time()
        last = self.conn.execute(
            "SELECT extract(epoch FROM max(created))::float8 AS t FROM pgqueuer_log"
            " WHERE job_id > %s AND status = 'successful'",
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
