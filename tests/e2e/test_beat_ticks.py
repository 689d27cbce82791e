"""The beat's tick duration reaches /metrics: a real ``celery beat`` records
its ticks in Redis (tasks.tick_stats) and the dashboard's collector reads them."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tasks.db import Database
from tasks.metrics import PostgresCollector
from tasks.settings import Settings
from tasks.tick_stats import key
from tests.e2e.conftest import Stack
from tests.support import wait_until

pytestmark = pytest.mark.slow


def test_the_beats_ticks_are_a_histogram_in_metrics(stack: Stack, db_url: str) -> None:
    prefix = Settings.from_env(stack.env()).key_prefix
    client = redis.Redis.from_url(stack.redis_url)
    stack.beat()
    wait_until(lambda: int(client.hget(key(prefix), "count") or 0) >= 3, timeout=30)

    database = Database(db_url)
    try:
        collector = PostgresCollector(database, stack.redis_url, prefix)
        families: dict[str, Any] = {m.name: m for m in collector.collect()}
    finally:
        database.close()
    ticks = families["meal_scheduler_beat_tick_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in ticks.samples}
    count = samples[("meal_scheduler_beat_tick_seconds_count", None)]
    assert count >= 3
    assert samples[("meal_scheduler_beat_tick_seconds_bucket", "+Inf")] == count
    # An idle tick (nothing due) is a claim that finds nothing: well under a second.
    assert samples[("meal_scheduler_beat_tick_seconds_bucket", "1.0")] == count
    assert 0 < samples[("meal_scheduler_beat_tick_seconds_sum", None)] < count
    last = families["meal_scheduler_beat_last_tick_seconds"].samples[0].value
    assert 0 < last < 1
