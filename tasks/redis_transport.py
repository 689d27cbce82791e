"""Redis for the broker and redbeat: a transport without Redis-side ack
bookkeeping, and TLS options stated explicitly.

kombu's Redis transport emulates acknowledgements by default: every message
a worker takes is copied into an ``unacked`` hash and index (one MULTI), and
every ack deletes it again (another), so Redis can redeliver a message whose
worker died, after the visibility timeout. Here Postgres already keeps that
work safe: a message lost with its worker is a claim still ``queued``, which
the reaper re-queues after ``queue_timeout_seconds`` (before any visibility
timeout would), or an execution whose lease runs out. So the transport turns
the emulation off: the two round trips per message and the periodic scans of
the unacked index go (docs/performance.md has what that saved).

What stays: messages a worker has taken but not yet handed to a pool
process are held in its memory and put back into Redis when the worker
stops gracefully (kombu's in-memory QoS restores them when the channel
closes). When Redis is gone by then, they cannot be put back: that is
logged as a warning, not kombu's emergency dump to a temporary file, since
Postgres re-queues their jobs.

The transport subclasses kombu's private Redis ``Channel`` and virtual
``QoS``, so kombu is pinned in pyproject.toml to the versions this was
verified on (tests/integration/test_kombu_workaround.py fails when that is
no longer true). Celery loads it by name:
``broker_transport = "tasks.redis_transport:RedisTransport"``.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from tasks.errors import ConfigError

log = logging.getLogger(__name__)


class _RedisQoS(virtual.QoS):
    """Unacknowledged messages in memory only; put back on a graceful close."""

    def restore_unacked(self) -> list[Any]:
        errors = super().restore_unacked()  # type: ignore[no-untyped-call]
        if errors:
            # Redis is gone: Postgres re-queues these claims (queue_timeout_seconds).
            log.warning(
                "%d prefetched messages could not be put back into Redis: %s",
                len(errors),
                errors[0][0],
                extra={"action": "restore_lost"},
            )
        return []


class _RedisChannel(kombu_redis.Channel):
    """kombu's Redis channel without ack emulation, safe after its connection dropped."""

    ack_emulation = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.ack_emulation = False  # whatever the transport options say
        self.QoS = _RedisQoS  # type: ignore[assignment]  # kombu types it as its Redis QoS

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> Any:
        # A requeue writes to Redis; with the connection gone, the message
        # is a claim Postgres re-queues.
        if self.closed:
            log.warning(
                "reject skipped: the broker connection was lost", extra={"action": "reject_lost"}
            )
            return None
        return super().basic_reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport, acknowledging in the worker's memory only."""

    Channel = _RedisChannel


_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}


def redis_tls_options(url: str) -> dict[str, Any]:
    """TLS options for a rediss:// URL, stated explicitly rather than left to
    each client's defaults: the certificate is verified (against
    ``ssl_ca_certs`` from the URL, else the system's CAs) and so is the host
    name. ``ssl_cert_reqs=none`` in the URL turns both off, with a warning.
    """
    query = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise ConfigError(
            f"REDIS_URL: ssl_cert_reqs must be required, optional or none, got {reqs!r}"
        )
    options: dict[str, Any] = {
        "ssl_cert_reqs": _CERT_REQS[reqs],
        "ssl_check_hostname": _CERT_REQS[reqs] != ssl.CERT_NONE,
    }
    for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if key in query:
            options[key] = query[key]
    if _CERT_REQS[reqs] == ssl.CERT_NONE:
        log.warning(
            "REDIS_URL has ssl_cert_reqs=none: the Redis server's certificate and host name"
            " are not checked, so anyone on the path can read and forge the broker's messages",
            extra={"action": "redis_tls_unverified"},
        )
    return options
