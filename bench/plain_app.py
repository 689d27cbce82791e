"""Plain Celery running the same no-op task: the baseline of the e2e section.

``celery -A bench.plain_app worker`` reads ``BENCH_PLAIN_REDIS_URL``. The
broker options are the bridge's (tasks.celery_app.celery_config): late acks,
prefetch 1, the same priority lists and visibility timeout, so the only
difference measured is the bridge itself. The task counts completions in
Redis; the one that completes the run records the time.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery import Celery

TASK_NAME = "bench.plain_noop"
QUEUE = "bench_plain"
COUNTER_KEY = "bench:plain:done"
FINISHED_KEY = "bench:plain:finished_at"
PRIORITY_STEPS = [0, 3, 6, 9]
MEDIUM = 6

_client: redis.Redis | None = None


def _redis(app: Celery) -> redis.Redis:
    global _client  # noqa: PLW0603 - one client per process (redis-py is fork-aware)
    if _client is None:
        _client = redis.Redis.from_url(app.conf.broker_url)
    return _client


def create_app(redis_url: str) -> Celery:
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
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_default_priority=MEDIUM,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        enable_utc=True,
    )

    @app.task(name=TASK_NAME, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def noop(self: Any, seq: int, expected: int) -> None:
        client = _redis(self.app)
        if client.incr(COUNTER_KEY) == expected:
            client.set(FINISHED_KEY, repr(time.time()))

    return app


app = create_app(os.environ.get("BENCH_PLAIN_REDIS_URL", "redis://127.0.0.1:6379/13"))
