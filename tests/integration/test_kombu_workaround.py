"""tasks.celery_app's Redis channel: still needed, and still working, on this kombu.

The workaround subclasses kombu's private Redis ``Channel`` and ``QoS`` (see
``RedisTransport``), so it is pinned in pyproject.toml to the kombu versions
it was verified on. These tests fail when that stops being true:

- ``test_kombu_is_a_verified_version``: kombu was upgraded past the pin
  without verifying it again (then run this file and move the pin);
- ``test_stock_kombu_still_fails_on_a_dead_channel``: stock kombu no longer
  raises when a message is acknowledged on a channel whose Redis went away,
  so the workaround may be removed;
- ``test_workaround_skips_the_ack_and_keeps_the_interface``: the overridden
  methods changed signature, or ours no longer absorbs the failure.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import kombu
import pytest
from kombu import Connection, Exchange, Producer, Queue
from kombu.transport import redis as kombu_redis

from tasks.redis_transport import RedisTransport, _RedisChannel, _RedisQoS
from tests.support import OwnRedis

VERIFIED = ("5.7.",)  # kombu versions this workaround was verified on (pyproject: <5.8)


def test_kombu_is_a_verified_version() -> None:
    assert kombu.__version__.startswith(VERIFIED), (
        f"kombu {kombu.__version__} is not a version the Redis channel workaround was "
        f"verified on ({VERIFIED}): run this file, then update VERIFIED and the pin"
    )


def dead_channel(transport: type[Any]) -> Iterator[tuple[Any, Any]]:
    """A channel holding one unacknowledged message, closed after its Redis died."""
    server = OwnRedis()
    server.start()
    try:
        conn = Connection(server.url, transport=transport)
        channel = conn.default_channel
        Queue("kq", Exchange("kq"), "kq", channel=channel).declare()
        Producer(channel).publish({"n": 1}, exchange="kq", routing_key="kq")
        message = channel.basic_get("kq", no_ack=False)
        assert message is not None
        server.stop()
        with pytest.raises(kombu_redis.redis.ConnectionError):
            channel.close()  # the restore on close cannot reach Redis
        assert channel.closed
        yield channel, message
    finally:
        server.stop()


def test_stock_kombu_still_fails_on_a_dead_channel() -> None:
    for channel, message in dead_channel(kombu_redis.Transport):
        # If this stops raising, kombu handles it: remove RedisTransport.
        with pytest.raises((kombu_redis.redis.ConnectionError, AttributeError)):
            channel.basic_ack(message.delivery_tag)


def shape(method: Any) -> list[tuple[str, Any]]:
    """Parameter names and defaults (our overrides add annotations only)."""
    return [(p.name, p.default) for p in inspect.signature(method).parameters.values()]


def test_workaround_skips_the_ack_and_keeps_the_interface() -> None:
    assert RedisTransport.Channel is _RedisChannel and _RedisChannel.QoS is _RedisQoS
    for name in ("basic_ack", "basic_reject"):
        ours = shape(getattr(_RedisChannel, name))
        assert ours == shape(getattr(kombu_redis.Channel, name)), name
    assert shape(_RedisQoS.restore_unacked_once) == shape(kombu_redis.QoS.restore_unacked_once)
    for channel, message in dead_channel(RedisTransport):
        assert channel.basic_ack(message.delivery_tag) is None
        assert channel.basic_reject(message.delivery_tag) is None
