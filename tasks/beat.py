"""MealScheduler: redbeat's scheduler, plus the Postgres producer and rescuer.

redbeat keeps its regular entries and its Redis lock (one active beat). The
lock only keeps a second beat quiet; correctness comes from the claim in
Postgres (``FOR UPDATE SKIP LOCKED`` plus a dispatch id per claim), so a beat
that lost its lock without knowing it still cannot dispatch twice.

Each tick: extend the lock, run redbeat's entries (history pruning is one),
check that Redis kept its data (else re-publish every queued claim at once),
reap expired leases every ``TASKS_REAP_SECONDS``, claim and publish due
jobs, then sleep on LISTEN/NOTIFY until the next tick or a wake-up (a job
inserted, triggered or re-enabled, the scheduler resumed, a concurrency slot
freed while the cap held due work back). While a claim fills its batch the
beat keeps going without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from kombu.exceptions import KombuError
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatScheduler, get_redis
from redis.exceptions import LockError, RedisError

from tasks import tick_stats
from tasks.celery_app import TASK_NAME, Runtime, job_queue, preflight_beat
from tasks.errors import DatabaseUnavailable, TasksError
from tasks.ids import BROKER_PRIORITY
from tasks.models import ClaimedJob
from tasks.producer import Producer
from tasks.rescuer import Rescuer

log = logging.getLogger(__name__)

BACKOFF_MAX = 5.0
PIPELINE_MAX = 1000  # Redis commands buffered before an intermediate flush
HARD_LIMIT_GRACE = 10  # seconds between a job's soft and hard time limit


def publish_jobs(app: Any, queue: str, jobs: Sequence[ClaimedJob]) -> None:
    """Publish one Celery task per claimed job, the whole batch in one Redis pipeline.

    Each message goes to its job type's queue, named by its job type
    (Celery's ``shadow``), so only a worker with the handler takes it.

    kombu's ``Producer.batch`` buffers the LPUSHes and sends them in one
    round trip when the block exits (measured: 0.38 -> 0.19 ms per job).
    If the flush fails, the exception reaches the producer, which hands the
    claims back; any message that did reach Redis then carries a stale
    dispatch id and is refused by ``start_execution``.
    """
    with app.producer_or_acquire() as producer, producer.batch(max_size=PIPELINE_MAX):
        # kombu declares the queue before every publish: it binds a copy of
        # the queue and its exchange to the channel, then finds it in the
        # connection's cache of declared entities and does nothing. The same
        # cache, read here first, skips the copies (a fifth of the beat's CPU
        # per message); a queue the connection has not declared yet (the
        # first message, a new connection after Redis went away) still is.
        declared = producer.channel.connection.client.declared_entities
        for job in jobs:
            name = job_queue(queue, job.job_type)
            declare: list[Any] | None = [] if hash(app.amqp.queues[name]) in declared else None
            limits = {}
            if job.timeout_seconds is not None:
                # The soft limit raises inside the handler (the attempt fails
                # and is retried); the hard one replaces a process that
                # ignores it. Both need the prefork pool.
                limits = {
                    "soft_time_limit": job.timeout_seconds,
                    "time_limit": job.timeout_seconds + HARD_LIMIT_GRACE,
                }
            app.send_task(
                TASK_NAME,
                args=(job.job_id, job.dispatch_id, job.dispatch_key),
                # Events, Flower and worker logs show this instead of args:
                # the dispatch key stays out of them.
                argsrepr=repr((job.job_id, job.dispatch_id)),
                kwargsrepr="{}",  # what Celery would print, without formatting it per message
                task_id=job.task_id,
                priority=BROKER_PRIORITY[job.priority],
                queue=name,
                declare=declare,
                shadow=job.job_type,
                producer=producer,
                retry=False,
                **limits,
            )


class BrokerWatch:
    """Notices that Redis lost its data: a restart, a failover, a flush.

    Two signs, read in one round trip: a marker key that vanished (``SET NX``
    succeeds; covers a flush and a restart or failover without the data)
    and a changed server run id (a restart that reloaded an older snapshot
    keeps the marker but may have lost the newest messages). A missing
    marker at the beat's first look (a fresh Redis, or a loss while no beat
    ran) counts too: re-publishing is always safe.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._run_id: str | None = None

    def lost(self, client: Any) -> bool:
        pipe = client.pipeline(transaction=False)
        pipe.set(self.key, "1", nx=True)
        pipe.info("server")
        created, info = pipe.execute(raise_on_error=False)
        if isinstance(created, Exception):
            raise created
        run_id = None if isinstance(info, Exception) else info.get("run_id")  # INFO may be renamed
        restarted = self._run_id is not None and run_id is not None and run_id != self._run_id
        if run_id is not None:
            self._run_id = run_id
        return bool(created) or restarted


class MealScheduler(RedBeatScheduler):  # type: ignore[misc]
    lock: Any = None

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        runtime: Runtime = app.meal_runtime
        # Before redbeat's setup, which needs Redis: a start that cannot work
        # is one line naming the variable, not pages of traceback.
        preflight_beat(runtime)
        self.runtime = runtime
        self.settings = runtime.settings
        self.producer = Producer(runtime.db, self.publish, runtime.settings.claim_batch)
        self.rescuer = Rescuer(runtime.db, runtime.settings.lease_seconds)
        self.listener = runtime.db.listener()
        self._next_reap = 0.0
        self._backoff = 0.0
        self.broker_watch = BrokerWatch(f"{runtime.settings.key_prefix}:broker-marker")
        self._next_broker_check = 0.0
        self._republish_due = False
        super().__init__(app, *args, **kwargs)

    # ------------------------------------------------------------ publishing

    def publish(self, jobs: Sequence[ClaimedJob]) -> None:
        publish_jobs(self.app, self.settings.queue, jobs)

    # ------------------------------------------------------------ the lock

    def _try_lock(self) -> bool:
        """Take redbeat's lock without blocking: a standby keeps trying."""
        if not self.lock_key:
            return True
        if self.lock is not None:
            return True
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        if lock.acquire(blocking=False):
            log.info("beat lock acquired", extra={"action": "lock_acquired"})
            self.lock = lock
            return True
        return False

    # ------------------------------------------------------------ the tick

    def tick(self, min: Any = min, **kwargs: Any) -> float:
        tick = self.settings.tick_seconds
        try:
            if not self._try_lock():
                return float(self.max_interval)
            interval = float(super().tick(min=min, **kwargs))
            self._check_broker()
        except LockError:
            log.warning("beat lock lost; standing by", extra={"action": "lock_lost"})
            self.lock = None
            return tick
        except (RedisError, KombuError, OSError):
            log.warning("redis unavailable", exc_info=True, extra={"action": "redis_down"})
            return self._back_off()
        try:
            started = time.perf_counter()
            if self._republish_due:
                republished = self.producer.republish()
                self._republish_due = False
                log.warning(
                    "queued jobs re-published after redis lost its data",
                    extra={"action": "republished", "count": republished},
                )
            self._maybe_reap()
            result = self.producer.run_once()
            self._record_tick(time.perf_counter() - started)
        except DatabaseUnavailable:
            log.warning("postgres unavailable", exc_info=True, extra={"action": "postgres_down"})
            self.rescuer.unreachable()
            return self._back_off()
        except (RedisError, KombuError, OSError):
            # The producer already handed the claims back. KombuError, not
            # only its OperationalError: a pipelined publish whose flush
            # fails raises BatchPublishError, and an escaped exception would
            # end the beat process.
            log.warning("publish failed", exc_info=True, extra={"action": "publish_failed"})
            return self._back_off()
        except TasksError:
            log.exception("tick failed", extra={"action": "tick_failed"})
            return tick
        self._backoff = 0.0
        if result.claimed:
            log.info(
                "dispatched",
                extra={
                    "action": "dispatched",
                    "claimed": result.claimed,
                    "published": result.published,
                },
            )
        if result.full:
            return 0.0  # more is due: keep going instead of sleeping
        try:
            # Sleep until the next job falls due (not a whole tick), or a NOTIFY.
            wait = self.producer.seconds_until_due(builtin_min(interval, tick))
            self.listener.wait(max(0.0, wait))
        except DatabaseUnavailable:
            log.warning("postgres unavailable", exc_info=True, extra={"action": "postgres_down"})
            self.rescuer.unreachable()
            return self._back_off()
        return 0.0

    def _record_tick(self, seconds: float) -> None:
        """For /metrics (tasks.tick_stats); a Redis error only loses the sample."""
        try:
            tick_stats.record(get_redis(self.app), self.settings.key_prefix, seconds)
        except RedisError:
            log.warning("tick not recorded", exc_info=True, extra={"action": "tick_stats_lost"})

    def _check_broker(self) -> None:
        # At most once per tick interval: a beat draining a backlog loops
        # without sleeping.
        now = time.monotonic()
        if now < self._next_broker_check:
            return
        self._next_broker_check = now + self.settings.tick_seconds
        if self.broker_watch.lost(get_redis(self.app)):
            log.warning("redis lost its data", extra={"action": "redis_data_lost"})
            # Kept until the re-publish succeeds (Postgres may be away too).
            self._republish_due = True

    def _maybe_reap(self) -> None:
        now = time.monotonic()
        if now < self._next_reap:
            return
        self._next_reap = now + self.settings.reap_seconds
        self.rescuer.run_once()

    def _back_off(self) -> float:
        self._backoff = builtin_min(BACKOFF_MAX, self._backoff * 2 or 0.5)
        return self._backoff

    def close(self) -> None:
        self.listener.close()
        try:
            super().close()
        except (RedisError, OSError):
            log.warning(
                "beat lock not released (redis unavailable); it expires by itself",
                extra={"action": "lock_not_released"},
            )
        finally:
            self.runtime.db.close()


builtin_min = min
