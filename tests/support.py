"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)


def connect(url: str) -> psycopg.Connection[dict[str, Any]]:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def insert_job(
    conn: psycopg.Connection[Any],
    job_id: str,
    job_type: str = "test.noop",
    *,
    frequency: str = "once",
    config: Mapping[str, Any] | None = None,
    priority: str = "medium",
    params: Mapping[str, Any] | None = None,
    due: str = "now()",
    scheduled_for: datetime | None = None,
    max_retries: int | None = None,
    enabled: bool = True,
    **columns: Any,
) -> None:
    """One scheduled_jobs row: due at ``scheduled_for``, else at the SQL expression ``due``.

    ``columns`` sets any other column (``user_id=7``, ``status="running"``).
    """
    row: dict[str, Any] = {
        "id": job_id,
        "job_type": job_type,
        "frequency_type": frequency,
        "frequency_config": Jsonb(dict(config or {})),
        "priority": priority,
        "parameters": Jsonb(dict(params or {})),
        "max_retries": max_retries,
        "enabled": enabled,
        **columns,
    }
    names = [*row, "scheduled_for"]
    values = ["%s"] * len(row)
    # due is a fixed SQL expression written in the test, never data.
    values.append("%s" if scheduled_for is not None else due)
    args = [*row.values(), *([scheduled_for] if scheduled_for is not None else [])]
    conn.execute(
        f"INSERT INTO scheduled_jobs ({', '.join(names)}) VALUES ({', '.join(values)})",
        args,
    )


def executions(conn: psycopg.Connection[Any], job_id: str | None = None) -> list[dict[str, Any]]:
    if job_id is None:
        return conn.execute("SELECT * FROM job_executions ORDER BY id").fetchall()
    return conn.execute(
        "SELECT * FROM job_executions WHERE job_id = %s ORDER BY id", (job_id,)
    ).fetchall()


def job(conn: psycopg.Connection[Any], job_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT * FROM scheduled_jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None, job_id
    return row  # type: ignore[no-any-return]


def service_env(db_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "CELERY"))}
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        TASKS_HANDLER_MODULES="tests.handlers_for_tests",
        TASKS_TICK_SECONDS="0.2",
        # A queue of the test's own: nothing left from another test can consume it.
        TASKS_QUEUE="q_" + db_url.rsplit("/", 1)[1],
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_worker(
    env: Mapping[str, str],
    log: Path,
    concurrency: int = 2,
    name: str | None = "w1",
    extra_args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """``celery worker``; ``name=None`` leaves the node name to the default."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "--pool",
            "prefork",
            "-c",
            str(concurrency),
            *(() if name is None else ("-n", f"{name}@%h")),
            "-l",
            "INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            *extra_args,
        ],
        env=dict(env),
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_beat(env: Mapping[str, str], log: Path, schedule: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "beat", "-l", "INFO", "-s", str(schedule)],
        env=dict(env),
        cwd=REPO,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(5)
    return proc.returncode


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """The system redis-server (a Python package may shadow it with an older build)."""
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.path.exists(candidate):
            return candidate
    return "redis-server"


class OwnRedis:
    """A redis-server of the test's own, on a free port, that the test may stop.

    ``extra`` replaces the plain ``--port`` (e.g. a TLS port); ``url`` may
    contain ``{port}``.
    """

    def __init__(self, extra: tuple[str, ...] = (), url: str = "") -> None:
        self.port = free_port()
        self.extra = tuple(a.format(port=self.port) for a in extra)
        self._url = url.format(port=self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self._url or f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        listen = self.extra or ("--port", str(self.port))
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *listen,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class OwnPostgres:
    """A Postgres cluster of the test's own (initdb + pg_ctl as the postgres user)."""

    def __init__(self, root: Path) -> None:
        self.port = free_port()
        self.dir = root / "pgdata"
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str) -> None:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        cmd = [f"{bindir}/{argv[0]}", *argv[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def init(self) -> None:
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", str(self.dir.parent)], check=True)
            self.dir.parent.chmod(0o777)
        self._as_postgres("initdb", "-D", str(self.dir), "-A", "trust", "-U", "postgres")
        self.start()

    def start(self) -> None:
        self._as_postgres(
            "pg_ctl",
            "-D",
            str(self.dir),
            "-l",
            str(self.log),
            "-w",
            "-o",
            f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.dir), "-m", mode, "-w", "stop")


# Positive evidence before a negative assertion: instead of sleeping and then
# asserting that something did not happen, wait until the system has
# provably had its chance to do it.

LOCK_KEY = "meal-scheduler:lock"  # <TASKS_KEY_PREFIX>:lock with the default prefix


def wait_for_beat_ticks(redis_url: str, ticks: int = 2, timeout: float = 20.0) -> None:
    """Wait until the active beat has run ``ticks`` more ticks.

    Every tick extends redbeat's lock back to its full lifetime, so each
    rise of the lock's remaining time is one tick.
    """
    import redis

    client = redis.Redis.from_url(redis_url)
    seen, last = 0, client.pttl(LOCK_KEY)
    deadline = time.monotonic() + timeout
    while seen < ticks:
        if time.monotonic() > deadline:
            raise AssertionError(f"the beat ran {seen} of {ticks} ticks in {timeout} s")
        time.sleep(0.02)
        ttl = client.pttl(LOCK_KEY)
        if ttl > last:
            seen += 1
        last = ttl


def broker_drained(redis_url: str, queue: str) -> bool:
    """No message left to deliver: nothing more can run (a taken message
    lives in its worker's memory only, tasks/redis_transport.py)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    lists = [k for k in client.scan_iter(f"{queue}*") if client.type(k) == b"list"]
    return all(client.llen(k) == 0 for k in lists)
