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
from pathlib import Path

from bench.config import BenchConfig
from bench.infra import Conn, Databases, connect, service_env
from bench.peer_stack import PeerStack

#: What PgQueuer logs for a job that did not succeed.
BAD_STATUSES = ("exception", "failed", "canceled", "deleted")


class PgQueuerStack(PeerStack):
    label = "PgQueuer"

    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path) -> None:
        super().__init__(config, dbs, workdir, "pgqueuer")

    def _open(self) -> tuple[Conn, list[str], dict[str, str]]:
        from pgqueuer.adapters.persistence.qb import QueryBuilderEnvironment
        from pgqueuer.db import SyncPsycopgDriver
        from pgqueuer.queries import SyncQueries

        from bench import pgqueuer_app

        self.entrypoint = pgqueuer_app.ENTRYPOINT
        self.db_url = self.dbs.create_empty("pgqueuer")
        self.exit.callback(self.dbs.drop, self.db_url)
        conn: Conn = self.exit.enter_context(connect(self.db_url))
        conn.execute(QueryBuilderEnvironment().build_install_query())
        self.queries = SyncQueries(SyncPsycopgDriver(conn))
        env = service_env(
            BENCH_PGQUEUER_DSN=self.db_url,
            BENCH_PGQUEUER_CONCURRENCY=str(self.config.concurrency),
            BENCH_PGQUEUER_LOGLEVEL=self.config.loglevel,
        )
        return conn, [sys.executable, "-m", "bench.pgqueuer_app"], env

    def _insert(self, count: int) -> None:
        self.queries.enqueue([self.entrypoint] * count, [None] * count, [0] * count)

    def _counts(self, after: int) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'successful') AS done,"
            " count(*) FILTER (WHERE status::text = ANY(%s)) AS bad"
            " FROM pgqueuer_log WHERE job_id > %s",
            (list(BAD_STATUSES), after),
        ).fetchone()
        assert row is not None
        return int(row["done"]), int(row["bad"])

    def _max_id(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(job_id), 0) AS id FROM pgqueuer_log")
        return int(row.fetchone()["id"])  # type: ignore[index]

    def _last_done_at(self, after: int) -> float:
        row = self.conn.execute(
            "SELECT extract(epoch FROM max(created))::float8 AS t FROM pgqueuer_log"
            " WHERE job_id > %s AND status = 'successful'",
            (after,),
        ).fetchone()
        assert row is not None
        return float(row["t"])
