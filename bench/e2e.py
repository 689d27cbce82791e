"""End-to-end throughput: the bridge against plain Celery and Postgres-backed peers.

Every stack is started side by side and warmed up (every process connected,
every prefork child has run a task); then ``--rounds`` times one round of
each stack, one after the other, so a change in the machine's load hits all
alike. The report gives the median of the rounds, and each ratio as the
median of the per-round ratios.

Stacks, in the order they run and are printed:

- plain Celery at its defaults (early ack, prefetch multiplier 4): what a
  user would otherwise run, so the first comparison;
- plain Celery configured as the bridge was before it switched to early ack
  (late ack, prefetch 1);
- the bridge;
- Procrastinate (``async def`` task), when it is installed (``.[bench]``);
- PgQueuer (``async def`` entrypoint), when it is installed (``.[bench]``).

Bridge round: N no-op jobs are inserted already due, in one transaction; the
clock runs from its commit (the jobs become visible and the insert's NOTIFY
wakes the beat) to the last ``completed_at``. Processes: ``celery -A tasks
beat`` and ``celery -A tasks worker --pool prefork -c C``.

Plain round: ``celery -A bench.plain_app worker`` with the same broker
transport options, pool and concurrency; the bench publishes N tasks with one
``send_task`` each over one connection; the clock runs from the first
publish to the completion of the N-th task (recorded by the task itself).

Procrastinate round: see :mod:`bench.peer_procrastinate` (N jobs inserted in
one transaction, as for the bridge). PgQueuer round: see
:mod:`bench.peer_pgqueuer` (N jobs enqueued in one transaction by PgQueuer's
own batch enqueue).

CPU per job is the user+sys time of every process of the stack spent during
the round (the waiting included): worker tree, beat or publishing loop,
Postgres backends of the stack's database, and Redis (the whole server's, so
shared). Postgres counters (transactions, rows, function calls) cover all
rounds together.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from bench import pgstats, profiling
from bench.config import BenchConfig
from bench.infra import (
    BRIDGE_QUEUE,
    BenchError,
    Conn,
    Databases,
    bridge_env,
    check_redis,
    connect,
    db_now,
    insert_jobs,
    redis_db,
    service_env,
    wait_until,
)
from bench.procstat import CpuSample, machine_busy_seconds, peak_rss_mib
from bench.stacks import POLL_S, Stack, median_of, redis_cpu_seconds, tree_rss, with_totals


class BridgeStack(Stack):
    label = "bridge"

    def __init__(
        self, config: BenchConfig, dbs: Databases, workdir: Path, patched: bool = False
    ) -> None:
        name = BRIDGE_PATCHED if patched else BRIDGE
        super().__init__(config, workdir, name)
        self.patched = patched
        if patched:
            self.label = "bridge + " + ",".join(config.patches)
        self.dbs = dbs
        self.redis_url = config.redis_url(name)
        self.rounds_done = 0
        self.jobs_done = 0
        self.last_execution = 0
        self.polls = 0

    def start(self) -> None:
        config = self.config
        self.db_url = self.dbs.create(
            "e2e_patched" if self.patched else "e2e", patched=self.patched
        )
        self.exit.callback(self.dbs.drop, self.db_url)
        self.rds = self.exit.enter_context(redis_db(self.redis_url, config.run_id))
        self.conn: Conn = self.exit.enter_context(connect(self.db_url))
        pgstats.track_functions(self.conn)
        self.conn.execute(
            "UPDATE scheduler_config SET max_concurrent_jobs = %s", (config.n + 1000,)
        )
        env = bridge_env(self.db_url, self.redis_url, config, patched=self.patched)
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
        self.jobs_done += n
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
        with_totals(cpu_ms, 1000 * (redis_after - redis_before) / n)
        ours = sum(cpu.values()) + (redis_after - redis_before) + (own_after - own_before)
        return {
            "wall_s": wall,
            "jobs_per_s": n / wall,
            "first_start_after_s": float(times["first_start"]) - t0,
            "cpu_ms_per_job": cpu_ms,
            "others_cores": max(0.0, (busy_after - busy_before - ours) / wall),
        }

    def finish(self) -> dict[str, Any]:
        """Peak memory, then stop, then the Postgres counters (flushed at backend exit)."""
        rss = {"worker": tree_rss(self.worker.pid), "beat": {"main": peak_rss_mib(self.beat.pid)}}
        self.services.stop_all()
        pgstats.settle()
        after = pgstats.sample(self.conn)
        # Our own polling ran in this database too; a few samples' statements besides.
        pg = pgstats.per_job(self.pg_before, after, self.jobs_done, own_xacts=self.polls + 8)
        return {
            "peak_rss_mib": rss,
            "postgres": {**pg, "warm_up_counters_flushed": self.stats_clean},
        }


class PlainStack(Stack):
    """Plain Celery in one of :data:`bench.plain_app.VARIANTS`; all variants share a Redis db."""

    def __init__(self, config: BenchConfig, workdir: Path, variant: str, rds: Any) -> None:
        super().__init__(config, workdir, f"plain_{variant}")
        from bench import plain_app

        self.plain = plain_app
        self.variant = variant
        self.label = {"defaults": "Celery defaults", "late_ack": "Celery late ack"}[variant]
        self.queue = plain_app.queue(variant)
        self.counter_key = plain_app.counter_key(variant)
        self.finished_key = plain_app.finished_key(variant)
        self.redis_url = config.redis_url("plain")
        self.rds = rds

    def start(self) -> None:
        self.app = self.plain.create_app(self.redis_url, self.variant)
        self.exit.callback(self.app.close)
        env = service_env(BENCH_PLAIN_REDIS_URL=self.redis_url, BENCH_PLAIN_VARIANT=self.variant)
        self.worker = self.services.worker(
            "worker", "bench.plain_app", env, self.config.concurrency, self.queue
        )
        self._publish(3 * self.config.concurrency)
        wait_until(self._finished, self.config.timeout, f"the {self.label} warm-up", POLL_S)

    def _publish(self, count: int) -> None:
        self.rds.delete(self.counter_key, self.finished_key)
        with self.app.producer_or_acquire() as producer:
            for seq in range(count):
                self.app.send_task(
                    self.plain.TASK_NAME, args=(seq, count), queue=self.queue, producer=producer
                )

    def _finished(self) -> float | None:
        self.services.check_alive()
        check_redis(self.rds, self.config.run_id)
        value = self.rds.get(self.finished_key)
        return float(value) if value is not None else None

    def round(self, n: int) -> dict[str, Any]:
        self.rds.delete(self.counter_key, self.finished_key)
        before = CpuSample.of_trees([self.worker.pid])
        redis_before = redis_cpu_seconds(self.rds)
        busy_before = machine_busy_seconds()
        t0 = time.time()
        cpu0 = time.process_time()
        self._publish(n)
        publisher_cpu = time.process_time() - cpu0
        published_after = time.time() - t0
        done = wait_until(self._finished, self.config.timeout, f"{n} {self.label} tasks", POLL_S)
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
        with_totals(cpu_ms, 1000 * (redis_after - redis_before) / n)
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


#: Result keys of the stacks, in the order they run and are printed.
PLAIN, PLAIN_LATE, BRIDGE, PROCRASTINATE = "plain", "plain_late_ack", "bridge", "procrastinate"
PGQUEUER = "pgqueuer"
#: The Postgres-backed peers, each run when its package is installed (``.[bench]``).
PEERS = (PROCRASTINATE, PGQUEUER)
#: With --patch: the bridge with the patches, against the bridge without, Celery defaults aside.
BRIDGE_PATCHED = "bridge_patched"


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def run(config: BenchConfig, dbs: Databases, workdir: Path) -> dict[str, Any]:
    """All stacks; with --patch only Celery defaults, the bridge and the patched bridge."""
    n = config.n
    rounds: list[dict[str, Any]] = []
    ab = bool(config.patches)
    with (
        redis_db(config.redis_url("plain"), config.run_id) as plain_rds,
        PlainStack(config, workdir, "defaults", plain_rds) as plain,
        PlainStack(config, workdir, "late_ack", plain_rds) as plain_late,
        BridgeStack(config, dbs, workdir) as bridge,
        BridgeStack(config, dbs, workdir, patched=True) as patched,
        _peer(config, dbs, workdir, ab, PROCRASTINATE) as procrastinate,
        _peer(config, dbs, workdir, ab, PGQUEUER) as pgqueuer,
    ):
        stacks: dict[str, Stack] = {PLAIN: plain}
        if ab:
            stacks.update({BRIDGE: bridge, BRIDGE_PATCHED: patched})
        else:
            stacks.update({PLAIN_LATE: plain_late, BRIDGE: bridge})
        for key, peer in zip(PEERS, (procrastinate, pgqueuer), strict=True):
            if peer is not None:
                stacks[key] = peer
        for stack in stacks.values():
            stack.start()
        profilers = profiling.start(
            config, {"worker": bridge.worker.pid, "beat": bridge.beat.pid}, bridge.services.workdir
        )
        for _ in range(config.rounds):
            result = {key: stack.round(n) for key, stack in stacks.items()}
            b = result[BRIDGE]
            result["ratios"] = {
                key: {
                    "throughput": b["jobs_per_s"] / result[key]["jobs_per_s"],
                    "cpu_all": b["cpu_ms_per_job"]["all"] / result[key]["cpu_ms_per_job"]["all"],
                }
                for key in stacks
                if key != BRIDGE
            }
            result["throughput_ratio"] = result["ratios"][PLAIN]["throughput"]
            result["cpu_ratio_python"] = (
                b["cpu_ms_per_job"]["python"] / result[PLAIN]["cpu_ms_per_job"]["python"]
            )
            if ab:
                pb = result[BRIDGE_PATCHED]
                result["patched_vs_bridge"] = {
                    "throughput": pb["jobs_per_s"] / b["jobs_per_s"],
                    "cpu_all": pb["cpu_ms_per_job"]["all"] / b["cpu_ms_per_job"]["all"],
                }
            rounds.append(result)
        profiles = profiling.stop(profilers)
        ends = {key: stack.finish() for key, stack in stacks.items()}
    summary = median_of(rounds)
    out: dict[str, Any] = {
        "jobs": n,
        "rounds": config.rounds,
        "concurrency": config.concurrency,
        "order": list(stacks),
        "labels": {key: stack.label for key, stack in stacks.items()},
    }
    for key in stacks:
        out[key] = {**summary[key], **ends[key]}
    out[BRIDGE]["profiles"] = profiles
    for key in PEERS:
        if key not in stacks:
            why = "not run with --patch" if ab else "not installed (pip install -e '.[bench]')"
            out[key] = {"skipped": why}
    if ab:
        out["patched_vs_bridge"] = summary["patched_vs_bridge"]
    out.update(
        ratios=summary["ratios"],
        throughput_ratio=summary["throughput_ratio"],
        cpu_ratio_python=summary["cpu_ratio_python"],
        per_round=rounds,
    )
    return out


def _peer(config: BenchConfig, dbs: Databases, workdir: Path, ab: bool, key: str) -> Any:
    """The peer's stack if its package is installed, else a context that yields None."""
    import contextlib

    if ab or not installed(key):
        return contextlib.nullcontext(None)
    if key == PGQUEUER:
        from bench.peer_pgqueuer import PgQueuerStack

        return PgQueuerStack(config, dbs, workdir)
    from bench.peer_procrastinate import ProcrastinateStack

    return ProcrastinateStack(config, dbs, workdir)
