"""The only module that imports psycopg: pools, named-query helpers, errors.

Every call takes a query *name* from ``tasks/sql/queries.sql``; no SQL is
built in Python. Errors from psycopg are mapped onto ``tasks.errors`` through
one table (most specific class first) and always keep their cause.

One pool per process: a Celery prefork child inherits its parent's pool
object but not a usable socket, so :meth:`Database._open` reopens it when the
process id changes.

Connections are not checked on checkout (``check=``): the check is an extra
round trip before every statement (it doubled the transactions per job in
the benchmark). A connection that died is found by the statement that uses
it instead: that raises :class:`DatabaseUnavailable`, which every caller
already retries or backs off from, and the pool discards the broken
connection when it is returned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import psycopg
import psycopg.errors as pgerr
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from tasks.errors import (
    ConfigError,
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    InvalidInput,
    InvalidTransition,
    NotFound,
    NotMigrated,
    TasksError,
)
from tasks.logs import safe_url
from tasks.sql import Query, queries

log = logging.getLogger(__name__)

Row = dict[str, Any]

# Most specific first: the first matching class wins.
_ERROR_MAP: tuple[tuple[type[BaseException], type[DatabaseError]], ...] = (
    (PoolTimeout, DatabaseUnavailable),
    (pgerr.NoDataFound, NotFound),
    (pgerr.UndefinedTable, NotMigrated),
    (pgerr.UndefinedFunction, NotMigrated),
    (pgerr.RaiseException, InvalidTransition),
    (pgerr.UniqueViolation, Conflict),
    (pgerr.InvalidParameterValue, InvalidInput),
    (pgerr.InvalidTextRepresentation, InvalidInput),
    (pgerr.CheckViolation, InvalidInput),
    (pgerr.NotNullViolation, InvalidInput),
    (pgerr.ForeignKeyViolation, InvalidInput),
    # Every data error: psycopg raises class 22 errors (numeric out of range,
    # \u0000 in jsonb, ...) as subclasses of DataError, not of DataException,
    # and refuses a NUL byte in a text parameter with a plain DataError.
    (psycopg.DataError, InvalidInput),
    (pgerr.AdminShutdown, DatabaseUnavailable),
    (pgerr.CannotConnectNow, DatabaseUnavailable),
    (psycopg.OperationalError, DatabaseUnavailable),
    (psycopg.InterfaceError, DatabaseUnavailable),
    (psycopg.Error, DatabaseError),
)


def _message(exc: BaseException) -> str:
    """The server's message on one line; a data error adds its detail (the cause).

    Only data errors: the detail of a constraint violation quotes the whole
    failing row.
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    text = str(primary or exc).strip()
    if not text:
        return repr(exc)
    first = text.splitlines()[0]
    if detail and isinstance(exc, psycopg.DataError):
        first += ": " + " ".join(str(detail).split())
    return first


def map_error(exc: BaseException) -> TasksError:
    for source, target in _ERROR_MAP:
        if isinstance(exc, source):
            if target is NotMigrated:
                return NotMigrated(f"{_message(exc)}; {NotMigrated()}")
            return target(_message(exc))
    return DatabaseError(_message(exc))


#: What libpq says when the server answered and refused us: waiting cannot help.
_REFUSED = (
    "password authentication failed",
    "no password supplied",
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "failed to resolve host",
    "not permitted to log in",
)
CONNECT_TIMEOUT = 5  # seconds; libpq's own default is to wait for the OS


def connect_error(url: str, exc: psycopg.Error) -> TasksError:
    """A connection failure as one line with its cause and never the password.

    A cause no retry can fix (a bad URL, a wrong password, a missing role or
    database, an unknown host) is a :class:`ConfigError`; anything else (a
    closed port, a server starting up) is :class:`DatabaseUnavailable`.
    """
    try:
        where = safe_url(url)
    except ValueError:  # a port that is not a number: say nothing of the URL
        where = "DATABASE_URL"
    if isinstance(exc, psycopg.ProgrammingError):
        # libpq could not parse the URL; its message quotes the bad token,
        # which may be the password.
        reason = str(exc).split(":", 1)[0].strip()
        hint = " (write a '%' in the password as %25)" if "percent" in reason else ""
        return ConfigError(f"DATABASE_URL is not a valid Postgres URL: {reason}{hint}")
    text = str(exc)
    text = text.split("FATAL:", 1)[1] if "FATAL:" in text else text.rsplit("failed: ", 1)[-1]
    reason = _scrub(text.strip().splitlines()[0].strip() if text.strip() else repr(exc), url)
    if any(marker in reason for marker in _REFUSED):
        return ConfigError(f"cannot connect to Postgres at {where}: {reason} (check DATABASE_URL)")
    return DatabaseUnavailable(f"cannot connect to Postgres at {where}: {reason}")


def _scrub(text: str, url: str) -> str:
    password = urlsplit(url).password
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(str(secret), "***")
    return text


def _connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    """One connection, now, or the reason in one line (see :func:`connect_error`)."""
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, **kwargs)
    except psycopg.Error as exc:
        raise connect_error(url, exc) from exc


@contextlib.contextmanager
def wrap_errors() -> Iterator[None]:
    try:
        yield
    except (psycopg.Error, PoolTimeout) as exc:
        raise map_error(exc) from exc


def _run(conn: psycopg.Connection[Row], query: Query, params: dict[str, Any]) -> Any:
    cur = conn.execute(query.text, params)
    if query.kind == "one":
        return cur.fetchone()
    if query.kind == "many":
        return cur.fetchall()
    return None


class Session:
    """One connection, for work that needs a transaction or session state."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def one(self, name: str, /, **params: Any) -> Row | None:
        with wrap_errors():
            return cast("Row | None", _run(self._conn, queries[name], params))

    def many(self, name: str, /, **params: Any) -> list[Row]:
        with wrap_errors():
            return cast("list[Row]", _run(self._conn, queries[name], params))

    def exec(self, name: str, /, **params: Any) -> None:
        with wrap_errors():
            _run(self._conn, queries[name], params)

    def script(self, sql: str) -> None:
        """Run a trusted multi-statement file (a migration) as it is."""
        with wrap_errors():
            self._conn.execute(cast("Any", sql))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with wrap_errors(), self._conn.transaction():
            yield self


class Database:
    """A lazily opened, fork-aware connection pool plus named-query helpers."""

    def __init__(
        self,
        url: str,
        max_size: int = 4,
        application_name: str = "meal-scheduler",
        role: str | None = None,
        custom_plans: bool = False,
        *,
        fail_fast: bool = False,
    ):
        """``role``: every connection runs as this role (the server's ``role``
        setting at connection start, i.e. ``SET ROLE``); the login must be a
        member. The dashboard reads as ``meal_scheduler_readonly`` this way.
        ``custom_plans``: plan each statement for its parameter values
        (``plan_cache_mode``), for queries whose optional filters
        (``%(x)s IS NULL OR ...``) a generic plan of a prepared statement
        would turn into a sequential scan.
        ``fail_fast``: connect once before the pool opens, so a command that
        cannot connect says why at once instead of after the pool's timeout."""
        self._url = url
        self._max_size = max_size
        self._application_name = application_name
        self._fail_fast = fail_fast
        options = [f"-c role={role}"] if role else []
        if custom_plans:
            options.append("-c plan_cache_mode=force_custom_plan")
        self._options = " ".join(options)
        self._pool: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def check(self) -> None:
        """Connect once, now: :func:`connect_error` says why when that fails."""
        _connect(self._url, application_name=self._application_name).close()

    def require_schema(self) -> None:
        """Raise :class:`NotMigrated` unless the scheduler's tables are there.

        On a connection of its own, not the pool: a worker checks this in its
        parent process, which must not hold pool connections its forked
        children inherit.
        """
        with self.direct() as session:
            row = session.one("scheduler_present")
        if row is None or not row["present"]:
            raise NotMigrated()

    def _open(self) -> ConnectionPool[psycopg.Connection[Row]]:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                return self._pool
            if self._fail_fast and self._pool is None:
                self.check()
            # After a fork the inherited pool shares sockets with the parent:
            # drop it without closing (closing would talk on the parent's sockets).
            pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
                self._url,
                min_size=1,
                max_size=self._max_size,
                open=False,
                timeout=10.0,
                # psycopg_pool backs off exponentially while Postgres is away;
                # giving up after 10 s bounds the wait once it is back (the
                # next request starts a fresh attempt).
                reconnect_timeout=10.0,
                kwargs={
                    "autocommit": True,
                    "row_factory": dict_row,
                    "application_name": self._application_name,
                    **({"options": self._options} if self._options else {}),
                },
                name=self._application_name,
            )
            with wrap_errors():
                pool.open(wait=False)
            self._pool, self._pid = pool, os.getpid()
            return pool

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with wrap_errors(), self._open().connection() as conn:
            yield Session(conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.session() as session, session.transaction():
            yield session

    def one(self, name: str, /, **params: Any) -> Row | None:
        with self.session() as s:
            return s.one(name, **params)

    def many(self, name: str, /, **params: Any) -> list[Row]:
        with self.session() as s:
            return s.many(name, **params)

    def exec(self, name: str, /, **params: Any) -> None:
        with self.session() as s:
            s.exec(name, **params)

    @contextlib.contextmanager
    def direct(self, autocommit: bool = True) -> Iterator[Session]:
        """A connection outside the pool (migrations hold session-level locks)."""
        conn = _connect(
            self._url,
            autocommit=autocommit,
            row_factory=dict_row,
            application_name=self._application_name,
        )
        try:
            yield Session(conn)
        finally:
            conn.close()

    def listener(self) -> Listener:
        """LISTEN on the beat's wake-up channel (fixed in the query ``listen_wakeup``)."""
        return Listener(self._url, self._application_name)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None


class Listener:
    """A dedicated LISTEN connection; :meth:`wait` returns on a notification."""

    def __init__(self, url: str, application_name: str) -> None:
        self._url = url
        self._application_name = f"{application_name}-listen"
        self._conn: psycopg.Connection[Any] | None = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            with wrap_errors():
                conn = psycopg.connect(
                    self._url, autocommit=True, application_name=self._application_name
                )
                conn.execute(queries["listen_wakeup"].text)
            self._conn = conn
        return self._conn

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when woken by a notification."""
        conn = self._connect()
        try:
            got = False
            for _ in conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
                got = True
            if got:  # drain what else arrived, so one burst wakes us once
                for _ in conn.notifies(timeout=0.0):
                    pass
            return got
        except (psycopg.Error, OSError) as exc:
            self.close()
            raise map_error(exc) from exc

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
