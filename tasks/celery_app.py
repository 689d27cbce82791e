"""The Celery app: configuration, the one task, and the per-process runtime.

``celery -A tasks worker|beat`` reaches :func:`get_app` through the lazy
``tasks.app`` attribute; tests build their own with :func:`create_app`.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from celery import Celery, signals
from celery.exceptions import Reject
from kombu.transport import redis as kombu_redis

from tasks.db import Database
from tasks.execution import Attempt, StartUnavailable, run
from tasks.handlers import load_handler_modules
from tasks.ids import BROKER_PRIORITY, DispatchId, JobId
from tasks.leases import LeaseKeeper
from tasks.logs import KeyValueFormatter
from tasks.rescuer import prune_history
from tasks.settings import Settings

log = logging.getLogger(__name__)

TASK_NAME = "meal_scheduler.run_job"
PRUNE_TASK_NAME = "meal_scheduler.prune_history"
PRUNE_EVERY_SECONDS = 600
PRIORITY_STEPS = sorted(set(BROKER_PRIORITY.values()))


class _RedisQoS(kombu_redis.QoS):
    def restore_unacked_once(self, stderr: Any = None) -> Any:
        try:
            return super().restore_unacked_once(stderr)  # type: ignore[no-untyped-call]
        except AttributeError:
            # kombu 5.7 with the connection already gone: nothing to restore
            # into; Redis redelivers after the visibility timeout instead.
            log.warning(
                "unacked messages not restored: the broker connection was lost",
                extra={"action": "restore_lost"},
            )
            return None


class _RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel, safe to use after its connection dropped.

    kombu 5.7 kills the worker with AttributeError in two places once the
    broker connection is gone: restoring unacknowledged messages while it
    closes the channel, and acknowledging, after the reconnect, a message
    that arrived on the old channel. Both are skipped in that case only (a
    graceful close still restores): a message Redis loses is a claim
    Postgres re-queues (queue_timeout_seconds), an unacknowledged one is
    redelivered after the visibility timeout, and a redelivered message is
    refused by start_execution as a duplicate.
    """

    QoS = _RedisQoS

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> Any:
        if self.closed:
            log.warning("ack skipped: the broker connection was lost", extra={"action": "ack_lost"})
            return None
        return super().basic_ack(delivery_tag, multiple=multiple)  # type: ignore[no-untyped-call]

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> Any:
        if self.closed:
            log.warning(
                "reject skipped: the broker connection was lost", extra={"action": "reject_lost"}
            )
            return None
        return super().basic_reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, minus the restore-on-close that crashes workers."""

    Channel = _RedisChannel


@dataclass
class Runtime:
    """What one process needs: settings, its pool, its lease keeper."""

    settings: Settings
    db: Database
    leases: LeaseKeeper

    @classmethod
    def build(cls, settings: Settings, application_name: str = "meal-scheduler") -> Runtime:
        db = Database(settings.database_url, settings.db_pool_size, application_name)
        return cls(settings, db, LeaseKeeper(db, settings.lease_seconds))


def celery_config(settings: Settings) -> dict[str, Any]:
    transport: dict[str, Any] = {
        # Longer than any job: Redis redelivers an unacked message after it.
        "visibility_timeout": settings.visibility_timeout,
        # One queue, strict priority: kombu keeps a list per step and BRPOPs
        # them in order, so a critical message is taken before any low one.
        "priority_steps": PRIORITY_STEPS,
        "sep": ":",
        "queue_order_strategy": "priority",
    }
    config: dict[str, Any] = {
        "broker_url": settings.redis_url,
        "broker_transport": f"{__name__}:RedisTransport",
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": settings.queue,
        "task_default_priority": BROKER_PRIORITY["medium"],
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "beat_scheduler": "tasks.beat:MealScheduler",
        # redbeat's own entries do the periodic maintenance.
        "beat_schedule": {
            "prune-execution-history": {
                "task": PRUNE_TASK_NAME,
                "schedule": float(PRUNE_EVERY_SECONDS),
                "options": {"priority": BROKER_PRIORITY["low"], "expires": PRUNE_EVERY_SECONDS},
            }
        },
        # A standby beat polls for the lock this often.
        "beat_max_loop_interval": min(5, settings.beat_lock_seconds),
        "redbeat_redis_url": settings.redis_url,
        # redbeat joins its prefix and entry names without a separator.
        "redbeat_key_prefix": f"{settings.key_prefix}:",
        "redbeat_lock_key": f"{settings.key_prefix}:lock",
        # Sized to the tick, not redbeat's 25-minute default: a standby beat
        # takes over within lock + poll interval (about 20 s by default).
        "redbeat_lock_timeout": settings.beat_lock_seconds,
        "enable_utc": True,
    }
    if settings.redis_url.startswith("rediss://") and "ssl_cert_reqs" not in settings.redis_url:
        # Verify the server certificate unless the URL says otherwise;
        # redbeat reads the same setting for its own connection.
        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config


def run_job(self: Any, job_id: str, dispatch_id: int) -> str:
    """The one Celery task: run one dispatch of one job (see tasks.execution)."""
    runtime: Runtime = self.app.meal_runtime
    worker = f"{self.request.hostname or socket.gethostname()}/{os.getpid()}"
    # (hard, soft) limits from the message; the soft one is the job's timeout.
    _, soft = self.request.timelimit or (None, None)
    limit = None if soft is None else int(soft)
    attempt = Attempt(JobId(job_id), DispatchId(dispatch_id), self.request.id, worker, limit)
    try:
        return run(runtime.db, runtime.leases, attempt)
    except StartUnavailable as exc:
        # Back to the broker (acks_late), for a worker that reaches Postgres;
        # otherwise the job would wait for queue_timeout_seconds.
        log.warning(
            "postgres unavailable; message handed back",
            extra={"action": "handed_back", "job_id": job_id, "task_id": self.request.id},
        )
        raise Reject(str(exc), requeue=True) from exc


def prune_history_task(self: Any) -> int:
    """Retention: TASKS_RETENTION_DAYS / TASKS_RETENTION_KEEP (see tasks.rescuer)."""
    runtime: Runtime = self.app.meal_runtime
    settings = runtime.settings
    return prune_history(runtime.db, settings.retention_days, settings.retention_keep)


def create_app(settings: Settings, load_handlers: bool = True) -> Celery:
    if load_handlers:
        load_handler_modules(settings.handler_modules)
    app = Celery("meal_scheduler", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.meal_runtime = Runtime.build(settings)

    app.task(name=TASK_NAME, bind=True, ignore_result=True)(run_job)
    app.task(name=PRUNE_TASK_NAME, bind=True, ignore_result=True)(prune_history_task)
    return app


_default: Celery | None = None


def get_app() -> Celery:
    """The app of ``celery -A tasks``, built once from the environment."""
    global _default  # noqa: PLW0603 - one app per process, built on first use
    if _default is None:
        _default = create_app(Settings.from_env())
        _default.set_current()
    return _default


@signals.after_setup_logger.connect  # type: ignore[untyped-decorator]
def _key_value_logs(logger: logging.Logger, format: str, **_: Any) -> None:
    # Celery's handlers print only the message; ours also print ``extra``.
    for handler in logger.handlers:
        handler.setFormatter(KeyValueFormatter(format))


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_pool(**_: Any) -> None:
    if _default is not None:
        _default.meal_runtime.db.close()
