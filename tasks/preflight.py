"""What ``celery -A tasks worker`` and ``celery -A tasks beat`` check before they start.

A setting that cannot work is refused at start, in one line that names the
variable, instead of surfacing when the first job arrives (a worker) or as
pages of traceback (a beat). What waiting can fix is not refused: Postgres
unreachable at a worker's start is one warning line (the pool reconnects
and the messages wait in Redis); the beat needs Redis for its lock, so it
refuses when Redis does not answer, and its supervisor restarts it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

import redis

from tasks.db import Database
from tasks.errors import ConfigError, DatabaseError, DatabaseUnavailable
from tasks.handlers import import_failures
from tasks.jobs.settings import job_settings
from tasks.logs import safe_url
from tasks.settings import RETIRED, Settings

log = logging.getLogger(__name__)

REDIS_TIMEOUT = 2.0  # seconds for the beat's first ping


def check_database(db: Database) -> None:
    """Connect once and look for the schema; ConfigError when that cannot work."""
    try:
        db.check()
        db.require_schema()
    except DatabaseUnavailable as exc:
        log.warning(
            "Postgres is not reachable; starting anyway", extra={"action": "db_unreachable"}
        )
        log.warning("%s", exc)
    except DatabaseError as exc:  # NotMigrated, a role without rights: name the variable
        raise ConfigError(f"DATABASE_URL: {exc}") from exc


def check_handlers() -> None:
    """Every module in TASKS_HANDLER_MODULES imported (they were loaded with the app),
    and the built-in jobs' settings (TASKS_TANDOOR_*, TASKS_SMTP_*, ...) valid."""
    failures = import_failures()
    if failures:
        name, error = next(iter(failures.items()))
        raise ConfigError(f"TASKS_HANDLER_MODULES: cannot import {name!r}: {error}")
    job_settings()


def check_redis(settings: Settings) -> None:
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"REDIS_URL: Redis at {safe_url(settings.redis_url)} does not answer: {reason}"
        ) from exc
    finally:
        client.close()


def warn_retired(env: Mapping[str, str] = os.environ) -> None:
    """Name each retired variable still set (once Celery's logging is set up)."""
    for name, reason in RETIRED.items():
        if name in env:
            log.warning("%s is no longer read: %s", name, reason, extra={"action": "retired"})


def check_worker(settings: Settings, db: Database) -> None:
    check_handlers()
    check_database(db)


def check_beat(settings: Settings, db: Database) -> None:
    check_handlers()
    check_redis(settings)
    check_database(db)


def refuse(exc: Exception) -> SystemExit:
    """The one line a refused start prints, and the exit that follows (code 2)."""
    print(f"error: {exc}", file=sys.stderr, flush=True)
    return SystemExit(2)
