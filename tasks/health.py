"""``python -m tasks health``: is this deployment healthy? One line, an exit code.

Checks, in order, stopping at the first failure (its reason is the line):
Postgres answers; Redis answers; a beat holds redbeat's lock; the oldest
due job has not waited longer than ``TASKS_HEALTH_MAX_DUE_SECONDS``
(skipped while the scheduler is paused, when waiting is what was asked
for). ``--worker`` checks a worker host instead: Postgres, Redis, and a
heartbeat from a worker on this host younger than three heartbeat
intervals (``tasks.web.reads.live_window``).

Trade-off: a due job can also wait because every slot is taken
(``max_concurrent_jobs``); that is reported too, since a backlog older than
the threshold needs an operator either way.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from tasks import operator as op
from tasks.db import Database, Row
from tasks.errors import TasksError
from tasks.settings import Settings
from tasks.web.reads import live_window


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str


def _redis_ping(url: str) -> str | None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis does not answer ({type(exc).__name__})"
    finally:
        client.close()
    return None


def check(
    settings: Settings,
    worker: bool = False,
    hostname: str | None = None,
    now: datetime | None = None,
) -> Health:
    # One direct connection, no pool: a refused connection fails at once
    # instead of after the pool's wait.
    db = Database(settings.database_url, 1, "meal-scheduler-health")
    try:
        with db.direct() as session:
            row = session.one("scheduler_status", now=now)
            seen = (
                session.one("worker_on_host", hostname=hostname or socket.gethostname(), now=now)
                if worker
                else None
            )
    except TasksError as exc:
        return Health(False, f"Postgres does not answer: {exc}")
    if row is None:
        return Health(False, "scheduler_config has no row: run `python -m tasks db migrate`")
    failed = _redis_ping(settings.redis_url)
    if failed is not None:
        return Health(False, failed)
    if worker:
        return _check_worker(seen, hostname or socket.gethostname(), live_window(settings))
    lock = op.read_beat_lock(settings.redis_url, settings.key_prefix)
    if lock.state != "held":
        return Health(False, f"no beat holds the lock: {lock.detail}")
    limit = timedelta(seconds=settings.health_max_due_seconds)
    oldest: datetime | None = row["oldest_due_at"]
    lag = None if oldest is None else row["checked_at"] - oldest
    active = f"{row['queued'] + row['running']}/{row['max_concurrent_jobs']} active"
    if row["enabled"] and lag is not None and lag > limit:
        return Health(
            False,
            f"the oldest due job has waited {lag.total_seconds():.0f} s "
            f"(limit {limit.total_seconds():.0f} s, {row['due']} due, {active})",
        )
    paused = "" if row["enabled"] else ", paused"
    return Health(True, f"healthy: beat holds the lock, {row['due']} due, {active}{paused}")


def _check_worker(row: Row | None, hostname: str, live_seconds: float) -> Health:
    if row is None:
        return Health(False, f"no worker heartbeat from host {hostname}")
    age = float(row["age_seconds"])
    if age > live_seconds:
        return Health(
            False,
            f"worker {row['node_name']} last seen {age:.0f} s ago (limit {live_seconds:.0f} s)",
        )
    return Health(True, f"healthy: worker {row['node_name']} seen {age:.0f} s ago")
