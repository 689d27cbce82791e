"""The scheduler as an operator runs it: status, pause/resume, settings.

Trade-off: the beat lock is read from Redis on a best-effort basis (one
second timeouts). Postgres is the source of truth, so ``scheduler status``
still answers, with ``unknown`` for the beat, when Redis is unset or down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from tasks import workers
from tasks.db import Database
from tasks.errors import ConfigError, NotFound
from tasks.operator.rows import (
    BeatLock,
    ConfigUpdate,
    SchedulerConfig,
    SchedulerStatus,
    config_from_row,
)

log = logging.getLogger(__name__)


def get_scheduler_config(db: Database) -> SchedulerConfig:
    row = db.one("get_scheduler_config")
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    return config_from_row(row)


def set_scheduler_enabled(db: Database, enabled: bool) -> SchedulerConfig:
    """Pause or resume dispatch; Postgres NOTIFYs the beat, so it acts at once."""
    row = db.one("set_scheduler_enabled", enabled=enabled)
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    log.info(
        "scheduler resumed" if enabled else "scheduler paused",
        extra={"action": "scheduler_resumed" if enabled else "scheduler_paused"},
    )
    return config_from_row(row)


@dataclass(frozen=True)
class ConfigChanges:
    """None leaves a setting as it is."""

    max_concurrent_jobs: int | None = None
    timezone: str | None = None
    max_retries: int | None = None
    retry_base_seconds: int | None = None
    queue_timeout_seconds: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


def update_scheduler_config(
    db: Database, changes: ConfigChanges, now: datetime | None = None
) -> ConfigUpdate:
    """Change settings. A new time zone also moves the future runs of pending
    daily/weekly jobs that follow the scheduler's zone, in the same transaction."""
    if changes.is_empty():
        raise ConfigError("nothing to change")
    with db.transaction() as tx:
        before = tx.one("get_scheduler_config")
        row = tx.one(
            "update_scheduler_config",
            max_concurrent_jobs=changes.max_concurrent_jobs,
            timezone=changes.timezone,
            max_retries=changes.max_retries,
            retry_base_seconds=changes.retry_base_seconds,
            queue_timeout_seconds=changes.queue_timeout_seconds,
        )
        if row is None or before is None:
            raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
        moved = 0
        if row["timezone"] != before["timezone"]:
            result = tx.one("reschedule_zone_jobs", now=now)
            moved = int(result["rescheduled"]) if result else 0
    log.info("scheduler config changed", extra={"action": "config_changed", "rescheduled": moved})
    return ConfigUpdate(config=config_from_row(row), rescheduled=moved)


def read_beat_lock(redis_url: str | None, key_prefix: str) -> BeatLock:
    """Who holds redbeat's lock (``<prefix>:lock``): the active beat, if any."""
    if redis_url is None or redis_url == "":
        return BeatLock("unknown", None, "REDIS_URL is not set")
    import redis  # only this command talks to Redis: the others do not pay for the import

    key = f"{key_prefix}:lock"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, socket_timeout=1.0)
    try:
        pttl: Any = client.pttl(key)
    except redis.RedisError as exc:
        return BeatLock("unknown", None, f"Redis unreachable: {type(exc).__name__}")
    finally:
        client.close()
    millis = int(pttl)
    if millis == -2:
        return BeatLock("free", None, f"no beat holds {key}")
    if millis == -1:
        return BeatLock("held", None, f"{key} is held with no expiry")
    return BeatLock("held", timedelta(milliseconds=millis), f"{key} is held")


def scheduler_status(
    db: Database,
    redis_url: str | None = None,
    key_prefix: str = "meal-scheduler",
    now: datetime | None = None,
    heartbeat_seconds: float = 10.0,
) -> SchedulerStatus:
    row = db.one("scheduler_status", now=now)
    if row is None:
        raise NotFound("scheduler_config has no row (id = 1): run `db migrate`")
    oldest: datetime | None = row["oldest_due_at"]
    checked: datetime = row["checked_at"]
    return SchedulerStatus(
        checked_at=checked,
        config=config_from_row(row),
        queued=int(row["queued"]),
        running=int(row["running"]),
        due=int(row["due"]),
        oldest_due_at=oldest,
        oldest_due_lag=None if oldest is None else max(checked - oldest, timedelta(0)),
        failures_24h=int(row["failures_24h"]),
        expired_leases=int(row["expired_leases"]),
        beat=read_beat_lock(redis_url, key_prefix),
        live_job_types=workers.live_job_types(db, heartbeat_seconds),
        live_workers=len(workers.live_workers(db, heartbeat_seconds)),
        unhandled_job_types=workers.unhandled_job_types(db, heartbeat_seconds),
    )
