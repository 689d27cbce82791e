"""``python -m bench chaos``: a soak under a seeded, replayable schedule of faults.

Runs on a Postgres and a Redis of its own (initdb + pg_ctl as the postgres
user, redis-server without persistence, on free ports), so it may kill and
restart them: two workers, an active and a standby beat, and once-jobs
falling due all along. A schedule drawn from ``--seed`` SIGKILLs workers
and beats, SIGSTOPs the active beat, restarts Redis (empty), terminates
the Postgres backends and restarts Postgres. Then it stops injecting, lets
the jobs drain and checks the invariants (docs/reliability.md):

* every due job ran: each ended ``completed``;
* each handler effect at most once per dispatch;
* each effect exactly once per job, unless a documented window explains
  the extra run (the job has an ``abandoned`` attempt: a worker was lost
  after its handler's effect and before its completion was recorded);
* nothing left ``running`` or ``queued``;
* history complete: every effect belongs to a recorded execution, every
  execution ended with an end time, every job has one completed run.

Any seed that breaks an invariant replays with the same ``--seed`` (the
fault schedule is the same; the timing of the processes is not, so a
replay reproduces the faults, not always the exact interleaving).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.infra import BenchError, Services, connect, service_env, wait_until
from tasks.db import Database
from tasks.migrate import migrate

KINDS = (
    "kill_worker",
    "kill_beat",
    "stop_beat",
    "restart_redis",
    "terminate_backends",
    "restart_postgres",
)
QUEUE = "chaos"
KEY_PREFIX = "chaos"
LEASE_SECONDS = 5


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the start
    kind: str
    pause: float  # how long a stopped process or server stays down


def schedule(seed: int, seconds: float) -> list[Fault]:
    """The faults of a run: the same seed gives the same schedule."""
    rng = random.Random(seed)
    faults, t = [], rng.uniform(5, 10)
    while t < seconds - 5:
        faults.append(Fault(round(t, 2), rng.choice(KINDS), round(rng.uniform(1, 6), 2)))
        t += rng.uniform(4, 12)
    return faults


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Postgres:
    """A cluster of the run's own; as root, it runs as the postgres user."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / "pgdata"
        self.log = root / "postgres.log"
        self.bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        cmd = [f"{self.bindir}/{argv[0]}", *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def init(self) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(self.dir.parent)], check=True)
        self._run("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        opts = f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.dir), "-l", str(self.log), "-w", "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.dir), "-m", mode, "-w", "stop")


class Redis:
    """A redis-server of the run's own, without persistence (a restart empties it)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = next(
            (
                p
                for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server")
                if Path(p).exists()
            ),
            "redis-server",
        )
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, 10, "redis to start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.pg = Postgres(workdir)
        self.redis = Redis()
        self.marks = workdir / "marks"
        self.services = Services(workdir, "INFO")
        self.injected: Counter[str] = Counter()
        self.log: list[str] = []

    def env(self) -> dict[str, str]:
        return service_env(
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            TASKS_HANDLER_MODULES="bench.chaos_handlers",
            TASKS_QUEUE=QUEUE,
            TASKS_KEY_PREFIX=KEY_PREFIX,
            TASKS_TICK_SECONDS="0.2",
            TASKS_LEASE_SECONDS=str(LEASE_SECONDS),
            TASKS_REAP_SECONDS="0.5",
            TASKS_BEAT_LOCK_SECONDS="3",
            CHAOS_MARKS=str(self.marks),
        )

    def start_worker(self, name: str) -> None:
        self.services.worker(name, "tasks", self.env(), 2, QUEUE)

    def start_beat(self, name: str) -> None:
        argv = [sys.executable, "-m", "celery", "-A", "tasks", "beat", "-l", "INFO",
                "-s", str(self.workdir / f"{name}.schedule")]  # fmt: skip
        self.services.start(name, argv, self.env())

    def setup(self) -> None:
        self.pg.init()
        self.redis.start()
        database = Database(self.pg.url)
        try:
            migrate(database)
        finally:
            database.close()
        with connect(self.pg.url) as conn:
            conn.execute(
                "UPDATE scheduler_config SET max_concurrent_jobs = 20, retry_base_seconds = 1,"
                " max_retries = 20, queue_timeout_seconds = 30"
            )
        for name in ("w1", "w2"):
            self.start_worker(name)
        for name in ("beat-a", "beat-b"):
            self.start_beat(name)

    def add_jobs(self, seconds: float) -> int:
        """Once-jobs due all through the run, a few of them long enough to be cut."""
        rng = random.Random(self.args.seed + 1)
        count = int(seconds * self.args.rate)
        with connect(self.pg.url) as conn:
            for i in range(count):
                work = rng.choice((0.0, 0.0, 0.1, 0.5, 2.0))
                conn.execute(
                    "INSERT INTO scheduled_jobs (id, job_type, frequency_type, parameters,"
                    " scheduled_for, max_retries)"
                    " VALUES (%s, 'chaos.mark', 'once', %s, now() + make_interval(secs => %s), 20)",
                    (f"job-{i:05d}", json.dumps({"seconds": work}), i / self.args.rate),
                )
        return count

    def active_beat(self) -> str:
        for name in ("beat-a", "beat-b"):
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
            acquired = max(text.rfind("beat lock acquired"), text.rfind("Acquired lock"))
            if acquired > text.rfind("beat lock lost"):
                return name
        return random.Random(self.args.seed).choice(("beat-a", "beat-b"))

    def _kill(self, name: str) -> None:
        proc = self.services.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def inject(self, fault: Fault, rng: random.Random) -> str:
        kind = fault.kind
        if kind == "kill_worker":
            name = rng.choice(("w1", "w2"))
            self._kill(name)
            time.sleep(fault.pause)
            self.start_worker(name)
            return f"SIGKILL {name}, restarted after {fault.pause} s"
        if kind == "kill_beat":
            name = self.active_beat()
            self._kill(name)
            time.sleep(fault.pause)
            self.start_beat(name)
            return f"SIGKILL {name}, restarted after {fault.pause} s"
        if kind == "stop_beat":
            name = self.active_beat()
            pid = self.services.procs[name].pid
            os.killpg(pid, signal.SIGSTOP)
            time.sleep(fault.pause)
            os.killpg(pid, signal.SIGCONT)
            return f"SIGSTOP {name} for {fault.pause} s"
        if kind == "restart_redis":
            self.redis.kill()
            time.sleep(fault.pause)
            self.redis.start()
            return f"redis killed, restarted empty after {fault.pause} s"
        if kind == "terminate_backends":
            with connect(self.pg.url) as conn:
                rows = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity"
                    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
            return f"{rows['n'] if rows else 0} postgres backends terminated"
        self.pg.stop("fast")
        time.sleep(fault.pause)
        self.pg.start()
        return f"postgres stopped, restarted after {fault.pause} s"

    def run(self) -> dict[str, Any]:
        seconds = self.args.minutes * 60
        faults = schedule(self.args.seed, seconds)
        self.setup()
        jobs = self.add_jobs(seconds)
        rng = random.Random(self.args.seed + 2)
        started = time.monotonic()
        for fault in faults:
            delay = started + fault.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            what = self.inject(fault, rng)
            self.injected[fault.kind] += 1
            line = f"t={time.monotonic() - started:6.1f}s {fault.kind:<18} {what}"
            self.log.append(line)
            print(line, file=sys.stderr, flush=True)
        rest = started + seconds - time.monotonic()
        if rest > 0:
            time.sleep(rest)
        drained = self.drain(jobs)
        return {
            "seed": self.args.seed,
            "minutes": self.args.minutes,
            "jobs": jobs,
            "faults": dict(sorted(self.injected.items())),
            "faults_total": sum(self.injected.values()),
            "drain_s": drained,
            "schedule": self.log,
            **self.check(jobs),
        }

    def drain(self, jobs: int) -> float:
        t0 = time.monotonic()
        with connect(self.pg.url) as conn:

            def done() -> bool:
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE status IN ('completed', 'failed')) AS done"
                    " FROM scheduled_jobs"
                ).fetchone()
                return bool(row and row["done"] == jobs)

            with contextlib.suppress(BenchError):
                wait_until(done, self.args.drain_timeout, "every job to finish", interval=0.5)
        time.sleep(2 * LEASE_SECONDS)  # a late duplicate would show up here
        return round(time.monotonic() - t0, 1)

    def check(self, jobs: int) -> dict[str, Any]:
        with connect(self.pg.url) as conn:
            job_rows = conn.execute("SELECT id, status::text AS status FROM scheduled_jobs")
            statuses = {r["id"]: r["status"] for r in job_rows.fetchall()}
            runs = conn.execute(
                "SELECT id, job_id, status::text AS status, dispatch_id, completed_at"
                " FROM job_executions"
            ).fetchall()
        effects = [line.split() for line in self.marks.read_text().splitlines() if line.strip()]
        by_exec = Counter(int(e[1]) for e in effects)
        by_job = Counter(e[0] for e in effects)
        run_by_id = {r["id"]: r for r in runs}
        abandoned_jobs = {r["job_id"] for r in runs if r["status"] == "abandoned"}
        completed_runs = Counter(r["job_id"] for r in runs if r["status"] == "completed")
        extra = {j: n for j, n in by_job.items() if n > 1}
        violations = {
            "not completed": sorted(j for j, s in statuses.items() if s != "completed"),
            "effect twice in one dispatch": sorted(
                str(run_by_id[e]["dispatch_id"]) if e in run_by_id else f"execution {e}"
                for e, n in by_exec.items()
                if n > 1
            ),
            "extra runs without a documented window": sorted(
                j for j in extra if j not in abandoned_jobs
            ),
            "no effect": sorted(j for j in statuses if by_job[j] == 0),
            "left running or queued": sorted(
                [j for j, s in statuses.items() if s in ("running", "queued")]
                + [str(r["id"]) for r in runs if r["status"] == "running"]
            ),
            "effect without an execution": sorted(str(e) for e in by_exec if e not in run_by_id),
            "execution without an end time": sorted(
                str(r["id"]) for r in runs if r["status"] != "running" and not r["completed_at"]
            ),
            "completed job without exactly one completed run": sorted(
                j for j, s in statuses.items() if s == "completed" and completed_runs[j] != 1
            ),
        }
        return {
            "executions": dict(sorted(Counter(r["status"] for r in runs).items())),
            "effects": len(effects),
            "extra_runs_in_documented_windows": sum(n - 1 for n in extra.values()),
            "invariants_checked": len(violations),
            "violations": {k: v[:20] for k, v in violations.items() if v},
        }

    def close(self) -> None:
        for proc in self.services.procs.values():  # a stopped beat cannot take SIGTERM
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGCONT)
        self.services.stop_all()
        self.redis.kill()
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench chaos", description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=2.0, help="fault-injection time (default 2)")
    p.add_argument("--seed", type=int, default=None, help="replay a run (default: random)")
    p.add_argument("--rate", type=float, default=2.0, help="jobs falling due per second")
    p.add_argument("--drain-timeout", type=float, default=180.0, help="seconds to finish after")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the report as JSON")
    p.add_argument("--keep-logs", action="store_true", help="keep worker and beat logs")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 10**6)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix=f"chaos-{args.seed}-"))
    root.chmod(0o777)
    soak = Soak(args, root)
    ok = False
    try:
        result = soak.run()
        ok = not result["violations"]
    except (BenchError, psycopg.Error, subprocess.CalledProcessError, OSError) as exc:
        result = {"seed": args.seed, "error": str(exc)}
    finally:
        soak.close()
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    replay = f"python -m bench chaos --minutes {args.minutes:g} --seed {args.seed}"
    if ok:
        print(f"chaos: no invariant broken ({replay})", file=sys.stderr)
        if not args.keep_logs:
            shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"chaos: FAILED; logs in {root}; replay: {replay}", file=sys.stderr)
    return 0 if ok else 1
