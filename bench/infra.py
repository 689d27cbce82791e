"""Throwaway databases, Redis db numbers and worker/beat subprocesses.

One template database is migrated per run; each section gets a copy
(``CREATE DATABASE ... TEMPLATE``), so sections never see each other's rows.
Everything is dropped (``WITH (FORCE)``) or flushed when the run ends, also
on failure or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg.rows import dict_row

from bench.config import REPO, BenchConfig

T = TypeVar("T")

Conn = psycopg.Connection[dict[str, Any]]


class BenchError(RuntimeError):
    """A section could not be measured (a server is missing, a service died, a timeout)."""


def with_database(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def connect(url: str) -> Conn:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05
) -> T:
    """Poll ``check`` until it returns something truthy; BenchError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Databases:
    """The run's ``bench_<run>_*`` databases: a migrated template and its copies."""

    def __init__(self, config: BenchConfig) -> None:
        self.admin_url = config.admin_url
        self.prefix = f"bench_{config.run_id}"
        self.patches = config.patches
        self.templates: dict[bool, str] = {}
        self.created: list[str] = []

    def check(self) -> None:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise BenchError(
                f"Postgres is not reachable at BENCH_DATABASE_URL={self.admin_url} ({exc})"
            ) from exc

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)  # names are ours: bench_<hex>_<word>

    def _template(self, patched: bool) -> str:
        """The migrated template; ``patched``: with the patches' SQL applied too."""
        patched = patched and bool(self.patches)
        if patched not in self.templates:
            from tasks.db import Database
            from tasks.migrate import migrate

            name = f"{self.prefix}_tpl" + ("p" if patched else "")
            self._admin(f"CREATE DATABASE {name}")
            self.created.append(name)
            database = Database(with_database(self.admin_url, name), 1, "bench-migrate")
            try:
                migrate(database)
            finally:
                database.close()
            if patched:
                from bench.patches import apply_sql

                with connect(with_database(self.admin_url, name)) as conn:
                    apply_sql(conn, self.patches)
            self.templates[patched] = name
        return self.templates[patched]

    def create(self, section: str, patched: bool = True) -> str:
        """A fresh, migrated database for ``section`` (with the patches unless told); its URL."""
        name = f"{self.prefix}_{section}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {self._template(patched)}")
        self.created.append(name)
        return with_database(self.admin_url, name)

    def create_empty(self, section: str) -> str:
        """A fresh database without our schema (for a peer that brings its own)."""
        name = f"{self.prefix}_{section}"
        self._admin(f"CREATE DATABASE {name}")
        self.created.append(name)
        return with_database(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        with contextlib.suppress(ValueError):
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(psycopg.Error):
                self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.created.clear()


OWNER_KEY = "bench:owner"


@contextlib.contextmanager
def redis_db(url: str, run_id: str) -> Iterator[redis.Redis]:
    """A Redis db number of the bench, empty before and after, marked as ours."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis is not reachable at {url} ({exc})") from exc
    client.flushdb()
    client.set(OWNER_KEY, run_id)
    try:
        yield client
    finally:
        with contextlib.suppress(redis.RedisError):
            client.flushdb()
        client.close()


def check_redis(client: redis.Redis, run_id: str) -> None:
    """Fail fast if someone else flushed or took our db (a test run on the same server)."""
    owner = client.get(OWNER_KEY)
    if owner != run_id.encode():
        raise BenchError(
            f"Redis db {client.connection_pool.connection_kwargs.get('db')} was flushed or "
            "reused by another process while the bench ran; run the bench with nothing else "
            "using that Redis db, or point BENCH_REDIS_URL at a Redis of its own"
        )


def service_env(**extra: str) -> dict[str, str]:
    """The environment of a worker or beat: ours only, no TASKS_*/CELERY* leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKS_", "CELERY"))}
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(PYTHONPATH=path, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


#: The bridge's Celery queue: bridge_env leaves TASKS_QUEUE unset, so it is Settings' default.
BRIDGE_QUEUE = "meal_scheduler"


def bridge_env(
    db_url: str,
    redis_url: str,
    config: BenchConfig,
    patched: bool = True,
    key_prefix: str = "",
    **extra: str,
) -> dict[str, str]:
    """Worker and beat settings; with ``config.patches`` unless ``patched`` is False."""
    patches = config.patches if patched else ()
    modules = ["bench.handlers"]
    if patches:
        modules.append("bench.patches")
    return service_env(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        TASKS_HANDLER_MODULES=",".join(modules),
        TASKS_KEY_PREFIX=f"bench-{config.run_id}{key_prefix}",
        BENCH_PATCHES=",".join(patches),
        **extra,
    )


@dataclass
class Services:
    """The subprocesses of one section; :meth:`stop_all` ends them (process groups)."""

    workdir: Path
    loglevel: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def worker(
        self, name: str, app: str, env: Mapping[str, str], concurrency: int, queue: str
    ) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable, "-m", "celery", "-A", app, "worker",
            "--pool", "prefork", "-c", str(concurrency), "-Q", queue,
            "-n", f"{name}@%h", "-l", self.loglevel,
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        return self.start(name, argv, env)

    def beat(self, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
        schedule = self.workdir / "beat.schedule"
        argv = [
            sys.executable, "-m", "celery", "-A", "tasks", "beat",
            "-l", self.loglevel, "-s", str(schedule),
        ]  # fmt: skip
        return self.start("beat", argv, env)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise BenchError(
                    f"{name} exited with code {proc.returncode}; see {self.workdir / name}.log"
                )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop_all(self, timeout: float = 15.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.procs.clear()


def insert_jobs(
    conn: Conn,
    prefix: str,
    count: int,
    *,
    job_type: str = "bench.noop",
    due: str = "now()",
    priority: str = "medium",
) -> None:
    """``count`` once-jobs ``<prefix>-<i>`` due at ``due`` (a fixed SQL expression of ``i``)."""
    conn.execute(
        "INSERT INTO scheduled_jobs (id, job_type, frequency_type, priority, scheduled_for,"
        " occurrence_at)"
        f" SELECT %(prefix)s || '-' || i, %(job_type)s, 'once', %(priority)s::job_priority,"
        f" {due}, {due} FROM generate_series(1, %(count)s) AS i",
        {"prefix": prefix, "job_type": job_type, "priority": priority, "count": count},
    )


def db_now(conn: Conn) -> float:
    """The database's clock as a Unix time (the moments we compare are its timestamps)."""
    row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8 AS t").fetchone()
    assert row is not None
    return float(row["t"])
