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
from pathlib import Path

from bench.config import BenchConfig
from bench.infra import Conn, Databases, connect, service_env
from bench.peer_stack import PeerStack


class ProcrastinateStack(PeerStack):
    label = "Procrastinate"

    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path) -> None:
        super().__init__(config, dbs, workdir, "procrastinate")

    def _open(self) -> tuple[Conn, list[str], dict[str, str]]:
        from procrastinate.schema import SchemaManager

        from bench import procrastinate_app

        self.app_module = procrastinate_app
        self.db_url = self.dbs.create_empty("procrastinate")
        self.exit.callback(self.dbs.drop, self.db_url)
        conn: Conn = self.exit.enter_context(connect(self.db_url))
        conn.execute(SchemaManager.get_schema())
        env = service_env(BENCH_PROCRASTINATE_DSN=self.db_url)
        argv = [
            sys.executable, "-m", "procrastinate", "--app", "bench.procrastinate_app.app",
            "--log-level", self.config.loglevel.lower(),
            "worker", "-c", str(self.config.concurrency), "-q", procrastinate_app.QUEUE,
        ]  # fmt: skip
        return conn, argv, env

    def _insert(self, count: int) -> None:
        self.conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args)"
            " SELECT %s, %s, '{}'::jsonb FROM generate_series(1, %s)",
            (self.app_module.QUEUE, self.app_module.TASK_NAME, count),
        )

    def _counts(self, after: int) -> tuple[int, int]:
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded') AS done,"
            " count(*) FILTER (WHERE status IN ('failed', 'aborted')) AS bad"
            " FROM procrastinate_jobs WHERE id > %s",
            (after,),
        ).fetchone()
        assert row is not None
        return int(row["done"]), int(row["bad"])

    def _max_id(self) -> int:
        row = self.conn.execute("SELECT coalesce(max(id), 0) AS id FROM procrastinate_jobs")
        return int(row.fetchone()["id"])  # type: ignore[index]

    def _last_done_at(self, after: int) -> float:
        row = self.conn.execute(
            "SELECT extract(epoch FROM max(at))::float8 AS t FROM procrastinate_events"
            " WHERE job_id > %s AND type = 'succeeded'",
            (after,),
        ).fetchone()
        assert row is not None
        return float(row["t"])
