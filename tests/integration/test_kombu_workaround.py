"""tasks.redis_transport on this kombu: acks in memory only, restores on close.

The transport subclasses kombu's private Redis ``Channel`` and virtual
``QoS`` (see ``RedisTransport``), so kombu is pinned in pyproject.toml to
the versions it was verified on. These tests fail when that stops being
true:

- ``test_kombu_is_a_verified_version``: kombu was upgraded past the pin
  without verifying it again (then run this file and move the pin);
- ``test_taking_and_acking_writes_nothing_to_redis``: ack emulation came
  back (its ``unacked`` hash and index, two round trips per message);
- ``test_a_graceful_close_puts_taken_messages_back``: a worker that stops
  no longer returns the messages it had taken but not started;
- ``test_a_dead_channel_closes_with_a_warning``: with Redis gone, closing,
  acking or rejecting raises, or kombu's emergency dump comes back;
- ``test_overrides_keep_the_interface``: an overridden method changed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterator
from typing import Any

import kombu
import pytest
import redis
from kombu import Connection, Exchange, Producer, Queue
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from tasks.redis_transport import RedisTransport, _RedisChannel, _RedisQoS
from tests.support import OwnRedis

VERIFIED = ("5.7.",)  # kombu versions this transport was verified on (pyproject: <5.8)


def test_kombu_is_a_verified_version() -> None:
    assert kombu.__version__.startswith(VERIFIED), (
        f"kombu {kombu.__version__} is not a version the Redis transport was "
        f"verified on ({VERIFIED}): run this file, then update VERIFIED and the pin"
    )


@pytest.fixture
def server() -> Iterator[OwnRedis]:
    own = OwnRedis()
    own.start()
    try:
        yield own
    finally:
        own.stop()


def channel_with(server: OwnRedis, messages: int) -> Any:
    # The options Celery passes; ack_emulation=True must not turn it back on.
    conn = Connection(
        server.url,
        transport=RedisTransport,
        transport_options={"ack_emulation": True, "priority_steps": [0, 3, 6, 9], "sep": ":"},
    )
    channel = conn.default_channel
    Queue("kq", Exchange("kq"), "kq", channel=channel).declare()
    for n in range(messages):
        Producer(channel).publish({"n": n}, exchange="kq", routing_key="kq", priority=6)
    return channel


def test_taking_and_acking_writes_nothing_to_redis(server: OwnRedis) -> None:
    channel = channel_with(server, 2)
    client = redis.Redis.from_url(server.url)
    taken = [channel.basic_get("kq", no_ack=False) for _ in range(2)]
    channel.basic_ack(taken[0].delivery_tag)
    channel.qos._flush()
    assert type(channel.qos) is _RedisQoS
    assert sorted(client.keys("*")) == [b"_kombu.binding.kq", b"_kombu.binding_permanent.kq"]
    channel.close()
    client.close()


def test_a_graceful_close_puts_taken_messages_back(server: OwnRedis) -> None:
    channel = channel_with(server, 3)
    client = redis.Redis.from_url(server.url)
    taken = [channel.basic_get("kq", no_ack=False) for _ in range(3)]
    channel.basic_ack(taken[0].delivery_tag)
    channel.close()
    # The two unacknowledged ones, on the list of their priority step.
    assert client.llen("kq:6") == 2 and client.llen("kq") == 0
    client.close()


def test_a_dead_channel_closes_with_a_warning(
    server: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    channel = channel_with(server, 2)
    first, second = (channel.basic_get("kq", no_ack=False) for _ in range(2))
    server.stop()
    with caplog.at_level(logging.WARNING):
        channel.close()  # the restore on close cannot reach Redis
        assert channel.closed
        # What arrived on the old channel is settled after the reconnect.
        assert channel.basic_reject(first.delivery_tag, requeue=True) is None
        channel.basic_ack(second.delivery_tag)
    messages = [r.getMessage() for r in caplog.records]
    lost = "2 prefetched messages could not be put back into Redis: "
    assert any(m.startswith(lost) for m in messages)
    assert "reject skipped: the broker connection was lost" in messages
    assert not any("EMERGENCY DUMP" in m for m in messages)


def shape(method: Any) -> list[tuple[str, Any]]:
    """Parameter names and defaults (our overrides add annotations only)."""
    return [(p.name, p.default) for p in inspect.signature(method).parameters.values()]


def test_overrides_keep_the_interface() -> None:
    assert RedisTransport.Channel is _RedisChannel
    assert shape(_RedisChannel.basic_reject) == shape(kombu_redis.Channel.basic_reject)
    assert shape(_RedisQoS.restore_unacked) == shape(virtual.QoS.restore_unacked)
