"""BrokerWatch: how the beat tells that Redis lost its data (a stub client, no server)."""

from __future__ import annotations

from typing import Any

from tasks.beat import BrokerWatch


class StubRedis:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.run_id = "run-1"
        self.info_error: Exception | None = None

    def pipeline(self, transaction: bool = True) -> StubRedis:
        self._ops: list[Any] = []
        return self

    def set(self, key: str, value: str, nx: bool = False) -> None:
        created = key not in self.keys
        self.keys.add(key)
        self._ops.append(created or None)

    def info(self, section: str) -> None:
        self._ops.append(self.info_error or {"run_id": self.run_id})

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        return self._ops


def test_a_vanished_marker_or_a_new_run_id_means_lost_data() -> None:
    redis, watch = StubRedis(), BrokerWatch("p:broker-marker")
    assert watch.lost(redis)  # first look, no marker: re-publishing is safe
    assert not watch.lost(redis)
    redis.keys.clear()  # FLUSHDB, or a restart without persistence
    assert watch.lost(redis)
    assert not watch.lost(redis)
    redis.run_id = "run-2"  # restarted from an older snapshot: the marker survived
    assert watch.lost(redis)
    assert not watch.lost(redis)


def test_a_redis_without_info_still_has_the_marker() -> None:
    redis, watch = StubRedis(), BrokerWatch("p:broker-marker")
    redis.info_error = Exception("unknown command 'INFO'")
    assert watch.lost(redis)
    assert not watch.lost(redis)
    redis.keys.clear()
    assert watch.lost(redis)
