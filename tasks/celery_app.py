"""The Celery app: configuration, the one task, and the per-process runtime.

``celery -A tasks worker|beat`` reaches :func:`get_app` through the lazy
``tasks.app`` attribute; tests build their own with :func:`create_app`.

What Celery sees: one task, ``meal_scheduler.run_job``, published under its
job type as the ``shadow`` name (worker log, events, Flower show
``weekly_generation[dispatch-15]``) on the job type's own queue
(``<TASKS_QUEUE>.<job_type>``). A worker consumes the queues of the job
types it has handlers for, plus ``TASKS_QUEUE`` itself (maintenance tasks,
and messages from a beat older than per-type queues), so a job only ever
reaches a worker that can run it, or waits in its queue. A failed attempt
ends as Celery FAILURE (after Postgres recorded it and scheduled any retry);
a duplicate or stale message ends IGNORED. Worker node names default to
``celery-<pid>@<host>``, so two workers on one host stay two nodes.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from celery import Celery, signals
from celery.apps.beat import Beat as CeleryBeat
from celery.apps.worker import Worker as CeleryWorker
from celery.exceptions import Ignore
from celery.utils.nodenames import default_nodename, host_format, nodename
from celery.utils.text import str_to_list
from kombu import Exchange, Queue  # type: ignore[attr-defined]

from tasks import logs, preflight
from tasks.commits import SharedCommits
from tasks.db import Database
from tasks.errors import ConfigError
from tasks.execution import Attempt, StartUnavailable, run
from tasks.handlers import load_handler_modules, registered_types
from tasks.ids import BROKER_PRIORITY, DispatchId, DispatchKey, JobId
from tasks.leases import LeaseKeeper
from tasks.redis_transport import redis_tls_options
from tasks.rescuer import prune_history
from tasks.settings import Settings
from tasks.workers import Heartbeat

log = logging.getLogger(__name__)

TASK_NAME = "meal_scheduler.run_job"
PRUNE_TASK_NAME = "meal_scheduler.prune_history"
PRUNE_EVERY_SECONDS = 600
PRIORITY_STEPS = sorted(set(BROKER_PRIORITY.values()))


@dataclass
class Runtime:
    """What one process needs: settings, its pool, its lease keeper, its shared commits."""

    settings: Settings
    db: Database
    leases: LeaseKeeper
    commits: SharedCommits

    @classmethod
    def build(cls, settings: Settings, application_name: str = "meal-scheduler") -> Runtime:
        db = Database(settings.database_url, settings.db_pool_size, application_name)
        return cls(settings, db, LeaseKeeper(db, settings.lease_seconds), SharedCommits(db))


def job_queue(queue: str, job_type: str) -> str:
    """The Celery queue of one job type: only workers with its handler consume it."""
    return f"{queue}.{job_type}"


def _queue(name: str) -> Queue:
    # What Celery creates for a missing queue: a direct exchange of the same
    # name. The default (task_default_exchange) would bind every queue to
    # one routing key.
    return Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]


def worker_queues(queue: str, job_types: frozenset[str]) -> list[Queue]:
    """``TASKS_QUEUE`` plus one queue per job type this process has a handler for."""
    return [_queue(queue), *(_queue(job_queue(queue, t)) for t in sorted(job_types))]


def unique_nodename(hostname: str | None) -> str:
    """``celery-<pid>@<host>`` in place of Celery's default ``celery@<host>``.

    Two workers on one host started without ``-n`` would otherwise share a
    node name (DuplicateNodenameWarning; Flower shows one). A name given
    with ``-n`` is kept.
    """
    if hostname is None or hostname == host_format(default_nodename(None)):
        return str(nodename(f"celery-{os.getpid()}", socket.gethostname()))
    return hostname


def _quiet_for_json(app: Any, kwargs: dict[str, Any]) -> None:
    # One JSON object per line: no startup banner on stdout, and Python
    # warnings (Celery's SecurityWarning, say) go through logging.
    runtime: Runtime | None = getattr(app, "meal_runtime", None)
    if runtime is not None and runtime.settings.log_format == "json":
        kwargs["quiet"] = True
        logging.captureWarnings(True)


class MealWorker(CeleryWorker):  # type: ignore[misc]
    """``celery worker`` with a node name unique per process by default."""

    def __init__(self, app: Any = None, hostname: str | None = None, **kwargs: Any) -> None:
        _quiet_for_json(app or self.app, kwargs)
        super().__init__(app=app, hostname=unique_nodename(hostname), **kwargs)

    def setup_queues(self, include: Any, exclude: Any = None) -> None:
        # ``-Q <TASKS_QUEUE>`` (what one wrote before per-type queues) still
        # means "the bridge's work": the job types' queues come with it.
        runtime: Runtime | None = getattr(self.app, "meal_runtime", None)
        names = list(str_to_list(include) or ())
        if runtime is not None and runtime.settings.queue in names:
            base = runtime.settings.queue
            names += [
                q
                for q in (job_queue(base, t) for t in sorted(registered_types()))
                if q not in names
            ]
        super().setup_queues(names or include, exclude)


class MealBeat(CeleryBeat):  # type: ignore[misc]
    """``celery beat``, without its banner when logs are JSON."""

    def __init__(self, **kwargs: Any) -> None:
        _quiet_for_json(kwargs.get("app") or self.app, kwargs)
        super().__init__(**kwargs)


class MealCelery(Celery):  # type: ignore[misc]
    @cached_property
    def Worker(self) -> Any:  # Celery's name
        return self.subclass_with_self(f"{__name__}:MealWorker")

    @cached_property
    def Beat(self) -> Any:  # Celery's name
        return self.subclass_with_self(f"{__name__}:MealBeat")


def celery_config(settings: Settings) -> dict[str, Any]:
    transport: dict[str, Any] = {
        # One queue, strict priority: kombu keeps a list per step and BRPOPs
        # them in order, so a critical message is taken before any low one.
        "priority_steps": PRIORITY_STEPS,
        "sep": ":",
        "queue_order_strategy": "priority",
    }
    config: dict[str, Any] = {
        "broker_url": settings.redis_url,
        "broker_transport": "tasks.redis_transport:RedisTransport",
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "result_backend": None,
        # Early ack: Postgres, not the broker, keeps the work safe. A message
        # acked by a worker that then dies is either an execution whose lease
        # runs out (abandoned, retried) or a claim still `queued` that the
        # reaper re-queues after queue_timeout_seconds. Acking when a pool
        # process accepts the task lets the worker fetch the next message
        # while this one runs, instead of after it.
        "task_acks_late": False,
        # One message waiting per pool process, no more: Celery hands reserved
        # messages out in arrival order, so each one prefetched is a job a
        # critical message may wait behind (docs/performance.md).
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
    if settings.redis_url.startswith("rediss://"):
        # The broker (kombu) and redbeat's own client get the same options.
        config["broker_use_ssl"] = config["redbeat_redis_use_ssl"] = redis_tls_options(
            settings.redis_url
        )
    return config


def run_job(self: Any, job_id: str, dispatch_id: int, dispatch_key: str | None = None) -> str:
    """The one Celery task: run one dispatch of one job (see tasks.execution).

    A failed attempt raises AttemptFailed (Celery FAILURE, never retried by
    Celery: Postgres already scheduled the retry); a duplicate or stale
    message raises Ignore (IGNORED, plus a ``task-ignored`` event so
    monitors do not show it as still running).
    """
    runtime: Runtime = self.app.meal_runtime
    worker = f"{self.request.hostname or socket.gethostname()}/{os.getpid()}"
    logs.bind_job(job_id=job_id, dispatch_id=dispatch_id, job_type=self.request.shadow)
    # (hard, soft) limits from the message; the soft one is the job's timeout.
    _, soft = self.request.timelimit or (None, None)
    limit = None if soft is None else int(soft)
    key = None if dispatch_key is None else DispatchKey(dispatch_key)
    attempt = Attempt(JobId(job_id), DispatchId(dispatch_id), self.request.id, worker, limit, key)
    try:
        outcome = run(
            runtime.db, runtime.leases, attempt, raise_failure=True, commits=runtime.commits
        )
    except StartUnavailable as exc:
        # Back to the broker, for a worker that reaches Postgres; otherwise
        # the job would wait for queue_timeout_seconds. The message was
        # acknowledged when the pool took it (early ack), so a requeue would
        # find nothing to return: the same message is published again.
        hand_back(self, job_id, dispatch_id, dispatch_key)
        log.warning(
            "postgres unavailable; message handed back",
            extra={"action": "handed_back", "job_id": job_id, "task_id": self.request.id},
        )
        raise Ignore() from exc
    if outcome == "duplicate":
        self.send_event("task-ignored", reason="duplicate or stale dispatch", retry=False)
        raise Ignore()
    return outcome


def hand_back(task: Any, job_id: str, dispatch_id: int, dispatch_key: str | None) -> None:
    """Publish the message being run again, as the beat sent it: same task id,
    queue, priority, job type name and limits. Nothing started, so whichever
    worker takes it starts the attempt; a copy is a refused duplicate."""
    request = task.request
    delivery = request.delivery_info or {}
    hard, soft = request.timelimit or (None, None)
    task.app.send_task(
        TASK_NAME,
        args=(job_id, dispatch_id, dispatch_key),
        argsrepr=repr((job_id, dispatch_id)),
        task_id=request.id,
        priority=delivery.get("priority"),
        queue=delivery.get("routing_key"),
        shadow=request.shadow,
        retry=False,
        time_limit=hard,
        soft_time_limit=soft,
    )


def prune_history_task(self: Any) -> int:
    """Retention: TASKS_RETENTION_DAYS / TASKS_RETENTION_KEEP (see tasks.rescuer)."""
    runtime: Runtime = self.app.meal_runtime
    settings = runtime.settings
    return prune_history(runtime.db, settings.retention_days, settings.retention_keep)


def create_app(settings: Settings, load_handlers: bool = True) -> Celery:
    if load_handlers:
        load_handler_modules(settings.handler_modules)
    app = MealCelery("meal_scheduler", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.task_queues = worker_queues(settings.queue, registered_types())
    app.meal_runtime = Runtime.build(settings)

    app.task(name=TASK_NAME, bind=True, ignore_result=True)(run_job)
    app.task(name=PRUNE_TASK_NAME, bind=True, ignore_result=True)(prune_history_task)
    return app


_default: Celery | None = None


def get_app() -> Celery:
    """The app of ``celery -A tasks``, built once from the environment."""
    global _default  # noqa: PLW0603 - one app per process, built on first use
    if _default is None:
        try:
            _default = create_app(Settings.from_env())
        except ConfigError as exc:
            raise preflight.refuse(exc) from exc
        _default.set_current()
    return _default


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _check_worker(sender: Any, **_: Any) -> None:
    runtime: Runtime = sender.app.meal_runtime
    try:
        preflight.check_worker(runtime.settings, runtime.db)
    except ConfigError as exc:
        raise preflight.refuse(exc) from exc


def preflight_beat(runtime: Runtime) -> None:
    """Called by the beat's scheduler before redbeat connects (see tasks.preflight)."""
    try:
        preflight.check_beat(runtime.settings, runtime.db)
    except ConfigError as exc:
        raise preflight.refuse(exc) from exc


@signals.after_setup_logger.connect  # type: ignore[untyped-decorator]
def _key_value_logs(logger: logging.Logger, format: str, **_: Any) -> None:
    # Celery's handlers print only the message; ours also print ``extra``
    # (key=value, or JSON with TASKS_LOG_FORMAT=json).
    log_format = "text" if _default is None else _default.meal_runtime.settings.log_format
    logs.use_format(logger, log_format, format)
    # Here, not in the start checks: a worker checks before its logging is
    # set up, and this runs once per worker or beat.
    preflight.warn_retired()


@signals.task_postrun.connect  # type: ignore[untyped-decorator]
def _unbind_job(**_: Any) -> None:
    # After Celery's own "Task ... succeeded/raised" line, which keeps the fields.
    logs.clear_job()


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _start_heartbeat(sender: Any, **_: Any) -> None:
    app = sender.app
    runtime: Runtime | None = getattr(app, "meal_runtime", None)
    if runtime is None:
        return
    base = runtime.settings.queue
    consumed = {q.name for q in sender.task_consumer.queues}
    job_types = [t for t in registered_types() if job_queue(base, t) in consumed]
    heartbeat = Heartbeat(
        runtime.db, sender.hostname, job_types, sorted(consumed), runtime.settings.heartbeat_seconds
    )
    heartbeat.start()
    app.meal_heartbeat = heartbeat


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_heartbeat(sender: Any, **_: Any) -> None:
    heartbeat: Heartbeat | None = getattr(sender.app, "meal_heartbeat", None)
    if heartbeat is not None:
        heartbeat.stop()


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _close_pool(**_: Any) -> None:
    if _default is not None:
        # A completion still waiting for a commit to share is committed first.
        _default.meal_runtime.commits.flush()
        _default.meal_runtime.db.close()
