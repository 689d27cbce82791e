"""End-to-end throughput: the bridge against plain Celery, in the same run.

Both stacks are started side by side and warmed up (every process connected,
every prefork child has run a task); then ``--rounds`` times a plain round
and a bridge round, one after the other, so a change in the machine's load
hits both alike. The report gives the median of the rounds, and the ratio
as the median of the per-round ratios.

Bridge round: N no-op jobs are inserted already due, in one transaction; the
clock runs from its commit (the jobs become visible and the insert's NOTIFY
wakes the beat) to the last ``completed_at``. Processes: ``celery -A tasks
beat`` and ``celery -A tasks worker --pool prefork -c C``.

Plain round: ``celery -A bench.plain_app worker`` with the same broker
options, pool and concurrency; the bench publishes N tasks with one
``send_task`` each over one connection; the clock runs from the first
publish to the completion of the N-th task (recorded by the task itself).

CPU per job is the user+sys time of the worker tree and the beat (or the
publishing loop), and for the bridge also of its Postgres backends, spent
during the round (the waiting included). Postgres counters (transactions,
rows, function calls) cover all bridge rounds together.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import redis

from bench import pgstats, profiling
from bench.config import BenchConfig
from bench.infra import (
    BRIDGE_QUEUE,
    BenchError,
    Conn,
    Databases,
    Services,
    bridge_env,
    check_redis,
    connect,
    db_now,
    insert_jobs,
    redis_db,
    service_env,
    wait_until,
)
from bench.procstat import CpuSample, machine_busy_seconds, peak_rss_mib, tree

POLL_S = 0.1


def redis_cpu_seconds(client: redis.Redis) -> float:
    """CPU of the whole Redis server (shared with whatever else uses it)."""
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def tree_rss(root: int) -> dict[str, float]:
    pids = tree(root)
    children = [peak_rss_mib(p) for p in pids if p != root]
    return {"main": peak_rss_mib(root), "child_max": max(children, default=0.0)}


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Field by field median of the rounds' numbers (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, first in rounds[0].items():
        if isinstance(first, dict):
            out[key] = median_of([r[key] for r in rounds])
        elif isinstance(first, int | float) and not isinstance(first, bool):
            out[key] = statistics.median(r[key] for r in rounds)
    return out


class _Stack:
    """Services of one side plus the context-manager plumbing."""

    def __init__(self, config: BenchConfig, workdir: Path, name: str) -> None:
        self.config = config
        self.services = Services(workdir / name, config.loglevel)
        self.services.workdir.mkdir(parents=True, exist_ok=True)
        self.exit = contextlib.ExitStack()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            for name in list(self.services.procs):
                print(f"----- {self.services.workdir.name}/{name}.log (tail)")
                print(self.services.log_tail(name))
        self.services.stop_all()
        self.exit.close()


class BridgeStack(_Stack):
    def __init__(self, config: BenchConfig, dbs: Databases, workdir: Path) -> None:
        super().__init__(config, workdir, "bridge")
        self.dbs = dbs
        self.redis_url = config.redis_url("bridge")
        self.rounds_done = 0
        self.last_execution = 0
        self.polls = 0

    def start(self) -> None:
        config = self.config
        self.db_url = self.dbs.create("e2e")
        self.exit.callback(self.dbs.drop, self.db_url)
        self.rds = self.exit.enter_context(redis_db(self.redis_url, config.run_id))
        self.conn: Conn = self.exit.enter_context(connect(self.db_url))
        pgstats.track_functions(self.conn)
        self.conn.execute(
            "UPDATE scheduler_config SET max_concurrent_jobs = %s", (config.n + 1000,)
        )
        env = bridge_env(self.db_url, self.redis_url, config)
        self.worker = self.services.worker("worker", "tasks", env, config.concurrency, BRIDGE_QUEUE)
        self.beat = self.services.beat(env)
        warm = 3 * config.concurrency
        insert_jobs(self.conn, "warm", warm)
        wait_until(lambda: self._finished(warm), config.timeout, "the bridge warm-up jobs", 0.1)
        self.stats_clean = pgstats.wait_flushed(self.conn, warm, 0.0 if config.quick else 12.0)
        self.pg_before = pgstats.sample(self.conn)
        self.polls = 0

    def _check(self) -> None:
        self.services.check_alive()
        check_redis(self.rds, self.config.run_id)

    def _finished(self, count: int) -> bool:
        self.polls += 1
        self._check()
        row = self.conn.execute(
            "SELECT count(*) AS n FROM job_executions WHERE id > %s AND status <> 'running'",
            (self.last_execution,),
        ).fetchone()
        return bool(row and row["n"] >= count)

    def _cpu(self) -> dict[str, CpuSample]:
        return {
            "worker": CpuSample.of_trees([self.worker.pid]),
            "beat": CpuSample.of_trees([self.beat.pid]),
            "postgres": pgstats.backend_cpu(self.conn),
        }

    def round(self, n: int) -> dict[str, Any]:
        row = self.conn.execute("SELECT coalesce(max(id), 0) AS id FROM job_executions").fetchone()
        self.last_execution = int(row["id"]) if row else 0
        self.rounds_done += 1
        before = self._cpu()
        redis_before = redis_cpu_seconds(self.rds)
        busy_before, own_before = machine_busy_seconds(), time.process_time()
        with self.conn.transaction():
            insert_jobs(self.conn, f"r{self.rounds_done}", n)
        t0 = db_now(self.conn)
        wait_until(lambda: self._finished(n), self.config.timeout, f"{n} bridge jobs", POLL_S)
        after = self._cpu()
        redis_after = redis_cpu_seconds(self.rds)
        busy_after, own_after = machine_busy_seconds(), time.process_time()
        times = self.conn.execute(
            "SELECT extract(epoch FROM max(completed_at))::float8 AS last_done,"
            " extract(epoch FROM min(started_at))::float8 AS first_start,"
            " count(*) FILTER (WHERE status <> 'completed') AS not_completed"
            " FROM job_executions WHERE id > %s",
            (self.last_execution,),
        ).fetchone()
        assert times is not None
        if times["not_completed"]:
            raise BenchError(f"{times['not_completed']} bridge jobs did not complete")
        wall = float(times["last_done"]) - t0
        cpu = {name: after[name].since(before[name]) for name in after}
        cpu_ms = {name: 1000 * seconds / n for name, seconds in cpu.items()}
        cpu_ms["worker_main"] = (
            1000 * after["worker"].since(before["worker"], [self.worker.pid]) / n
        )
        cpu_ms["python"] = cpu_ms["worker"] + cpu_ms["beat"]
        cpu_ms["total"] = cpu_ms["python"] + cpu_ms["postgres"]
        cpu_ms["redis_server_wide"] = 1000 * (redis_after - redis_before) / n
        ours = sum(cpu.values()) + (redis_after - redis_before) + (own_after - own_before)
        return {
            "wall_s": wall,
            "jobs_per_s": n / wall,
            "first_start_after_s": float(times["first_start"]) - t0,
            "cpu_ms_per_job": cpu_ms,
            "others_cores": max(0.0, (busy_after - busy_before - ours) / wall),
        }

    def finish(self, jobs: int) -> dict[str, Any]:
        """Peak memory, then stop, then the Postgres counters (flushed at backend exit)."""
        rss = {"worker": tree_rss(self.worker.pid), "beat": {"main": peak_rss_mib(self.beat.pid)}}
        self.services.stop_all()
        pgstats.settle()
        after = pgstats.sample(self.conn)
        # Our own polling ran in this database too; a few samples' statements besides.
        pg = pgstats.per_job(self.pg_before, after, jobs, own_xacts=self.polls + 8)
        return {
            "peak_rss_mib": rss,
            "postgres": {**pg, "warm_up_counters_flushed": self.stats_clean},
        }


class PlainStack(_Stack):
    def __init__(self, config: BenchConfig, workdir: Path) -> None:
        super().__init__(config, workdir, "plain")
        self.redis_url = config.redis_url("plain")

    def start(self) -> None:
        from bench import plain_app

        self.plain = plain_app
        self.rds = self.exit.enter_context(redis_db(self.redis_url, self.config.run_id))
        self.app = plain_app.create_app(self.redis_url)
        self.exit.callback(self.app.close)
        env = service_env(BENCH_PLAIN_REDIS_URL=self.redis_url)
        self.worker = self.services.worker(
            "worker", "bench.plain_app", env, self.config.concurrency, plain_app.QUEUE
        )
        self._publish(3 * self.config.concurrency)
        wait_until(self._finished, self.config.timeout, "the plain Celery warm-up", POLL_S)

    def _publish(self, count: int) -> None:
        self.rds.delete(self.plain.COUNTER_KEY, self.plain.FINISHED_KEY)
        with self.app.producer_or_acquire() as producer:
            for seq in range(count):
                self.app.send_task(
                    self.plain.TASK_NAME,
                    args=(seq, count),
                    queue=self.plain.QUEUE,
                    producer=producer,
                )

    def _finished(self) -> float | None:
        self.services.check_alive()
        check_redis(self.rds, self.config.run_id)
        value = self.rds.get(self.plain.FINISHED_KEY)
        return float(value) if value is not None else None

    def round(self, n: int) -> dict[str, Any]:
        self.rds.delete(self.plain.COUNTER_KEY, self.plain.FINISHED_KEY)
        before = CpuSample.of_trees([self.worker.pid])
        redis_before = redis_cpu_seconds(self.rds)
        busy_before = machine_busy_seconds()
        t0 = time.time()
        cpu0 = time.process_time()
        self._publish(n)
        publisher_cpu = time.process_time() - cpu0
        published_after = time.time() - t0
        done = wait_until(self._finished, self.config.timeout, f"{n} plain tasks", POLL_S)
        after = CpuSample.of_trees([self.worker.pid])
        redis_after = redis_cpu_seconds(self.rds)
        busy_after = machine_busy_seconds()
        own_cpu = time.process_time() - cpu0
        wall = done - t0
        cpu_ms = {
            "worker": 1000 * after.since(before) / n,
            "worker_main": 1000 * after.since(before, [self.worker.pid]) / n,
            "publisher": 1000 * publisher_cpu / n,
        }
        cpu_ms["python"] = cpu_ms["worker"] + cpu_ms["publisher"]
        cpu_ms["total"] = cpu_ms["python"]
        cpu_ms["redis_server_wide"] = 1000 * (redis_after - redis_before) / n
        ours = after.since(before) + (redis_after - redis_before) + own_cpu
        return {
            "wall_s": wall,
            "jobs_per_s": n / wall,
            "published_after_s": published_after,
            "cpu_ms_per_job": cpu_ms,
            "others_cores": max(0.0, (busy_after - busy_before - ours) / wall),
        }

    def finish(self) -> dict[str, Any]:
        return {"peak_rss_mib": {"worker": tree_rss(self.worker.pid)}}


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    n = config.n
    rounds: list[dict[str, Any]] = []
    with PlainStack(config, workdir) as plain, BridgeStack(config, dbs, workdir) as bridge:
        plain.start()
        bridge.start()
        profilers = profiling.start(
            config, {"worker": bridge.worker.pid, "beat": bridge.beat.pid}, bridge.services.workdir
        )
        for _ in range(config.rounds):
            p = plain.round(n)
            b = bridge.round(n)
            rounds.append(
                {
                    "plain": p,
                    "bridge": b,
                    "throughput_ratio": b["jobs_per_s"] / p["jobs_per_s"],
                    "cpu_ratio_python": b["cpu_ms_per_job"]["python"]
                    / p["cpu_ms_per_job"]["python"],
                }
            )
        profiles = profiling.stop(profilers)
        plain_end = plain.finish()
        bridge_end = bridge.finish(n * config.rounds)
    summary = median_of(rounds)
    return {
        "jobs": n,
        "rounds": config.rounds,
        "concurrency": config.concurrency,
        "bridge": {**summary["bridge"], **bridge_end, "profiles": profiles},
        "plain": {**summary["plain"], **plain_end},
        "throughput_ratio": summary["throughput_ratio"],
        "cpu_ratio_python": summary["cpu_ratio_python"],
        "per_round": rounds,
    }
