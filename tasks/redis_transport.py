"""Redis for the broker and redbeat: a transport that survives a lost
connection, and TLS options stated explicitly.

The transport works around kombu 5.7 (pinned in pyproject.toml to the
versions it was verified on; tests/integration/test_kombu_workaround.py
fails when it is no longer needed or no longer works). Celery loads it by
name: ``broker_transport = "tasks.redis_transport:RedisTransport"``.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kombu.transport import redis as kombu_redis

from tasks.errors import ConfigError

log = logging.getLogger(__name__)


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
