"""What the Postgres-backed peers of the e2e section share (Procrastinate, PgQueuer).

A peer has its own database and one worker process. A subclass creates both
(:meth:`PeerStack._open`, which returns the connection and the worker's argv
and environment) and says how to insert N jobs, how many of the jobs after
an id finished well or badly, the highest job id so far, and when the last
one finished (on the database's clock). The round is measured here, the same
way for every peer: the clock from the insert's commit to the last
completion; CPU of the worker process tree and the database's Postgres
backends.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import pgstats
from bench.config import BenchConfig
from bench.infra import BenchError, Conn, Databases, db_now, wait_until
from bench.procstat import CpuSample, machine_busy_seconds
from bench.stacks import POLL_S, Stack, tree_rss, with_totals


class PeerStack(Stack):
    """One Postgres-backed peer: subclasses fill in the five hooks below."""

    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path, name: str) -> None:
        super().__init__(config, workdir, name)
        self.dbs = dbs
        self.last_job = 0
        self.jobs_done = 0
        self.polls = 0

    # -- hooks --------------------------------------------------------------
    def _open(self) -> tuple[Conn, list[str], dict[str, str]]:
        """Create the peer's database and schema; the connection, worker argv and env."""
        raise NotImplementedError

    def _insert(self, count: int) -> None:
        raise NotImplementedError

    def _counts(self, after: int) -> tuple[int, int]:
        """(finished well, finished badly) among the jobs with an id above ``after``."""
        raise NotImplementedError

    def _max_id(self) -> int:
        raise NotImplementedError

    def _last_done_at(self, after: int) -> float:
        """Epoch seconds (database clock) of the last job above ``after`` to finish well."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------
    def start(self) -> None:
        self.conn, argv, env = self._open()
        self.worker = self.services.start("worker", argv, env)
        warm = 3 * self.config.concurrency
        self._insert(warm)
        wait_until(lambda: self._finished(warm), self.config.timeout, f"the {self.label} warm-up")
        self.pg_before = pgstats.sample(self.conn)
        self.polls = 0

    def _finished(self, count: int) -> bool:
        self.polls += 1
        self.services.check_alive()
        done, bad = self._counts(self.last_job)
        if bad:
            log = self.services.workdir / "worker.log"
            raise BenchError(f"{bad} {self.label} jobs did not succeed; see {log}")
        return done >= count

    def round(self, n: int) -> dict[str, Any]:
        self.last_job = self._max_id()
        self.jobs_done += n
        before = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_before, own_before = machine_busy_seconds(), time.process_time()
        with self.conn.transaction():
            self._insert(n)
        t0 = db_now(self.conn)
        wait_until(lambda: self._finished(n), self.config.timeout, f"{n} {self.label} jobs", POLL_S)
        after = (CpuSample.of_trees([self.worker.pid]), pgstats.backend_cpu(self.conn))
        busy_after, own_after = machine_busy_seconds(), time.process_time()
        wall = self._last_done_at(self.last_job) - t0
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
