"""Plain Celery running the same no-op task: the baselines of the e2e section.

``celery -A bench.plain_app worker`` reads ``BENCH_PLAIN_REDIS_URL`` and
``BENCH_PLAIN_VARIANT``:

``defaults``  Celery's own defaults: early ack (before the task runs),
              prefetch multiplier 4. What a user who does not pick the
              bridge runs, so the first comparison.
``late_ack``  configured as the bridge used to be (tasks.celery_app before
              early ack): late ack, ``task_reject_on_worker_lost``, prefetch 1.

Both use the bridge's broker transport options (priority lists) on kombu's
own Redis transport as it comes (ack emulation on, visibility timeout
7200 s): plain Celery has nothing else that would bring back the message of
a killed worker, where the bridge has Postgres (tasks/redis_transport.py).
So the difference measured is the bridge and its settings. The
task counts completions in Redis; the one that completes the run records
the time.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

TASK_NAME = "bench.plain_noop"
VARIANTS = ("defaults", "late_ack")
PRIORITY_STEPS = [0, 3, 6, 9]
MEDIUM = 6

_client: redis.Redis | None = None


def queue(variant: str) -> str:
    return f"bench_plain_{variant}"


def counter_key(variant: str) -> str:
    return f"bench:plain:{variant}:done"


def finished_key(variant: str) -> str:
    return f"bench:plain:{variant}:finished_at"


def _redis(app: Celery) -> redis.Redis:
    global _client  # noqa: PLW0603 - one client per process (redis-py is fork-aware)
    if _client is None:
        _client = redis.Redis.from_url(app.conf.broker_url)
    return _client


def create_app(redis_url: str, variant: str = "defaults") -> Celery:
    if variant not in VARIANTS:
        raise ValueError(f"BENCH_PLAIN_VARIANT: {variant!r}, expected one of {VARIANTS}")
    app = Celery("bench_plain", set_as_current=False)
    app.conf.update(
        broker_url=redis_url,
        broker_transport_options={
            "visibility_timeout": 7200,
            "priority_steps": PRIORITY_STEPS,
            "sep": ":",
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=queue(variant),
        task_default_priority=MEDIUM,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        enable_utc=True,
    )
    if variant == "late_ack":
        app.conf.update(
            task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1
        )
    done_key, at_key = counter_key(variant), finished_key(variant)

    @app.task(name=TASK_NAME, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def noop(self: Any, seq: int, expected: int) -> None:
        client = _redis(self.app)
        if client.incr(done_key) == expected:
            client.set(at_key, repr(time.time()))

    return app


app = create_app(
    os.environ.get("BENCH_PLAIN_REDIS_URL", "redis://127.0.0.1:6379/13"),
    os.environ.get("BENCH_PLAIN_VARIANT", "defaults"),
)
