"""Settings, read once from the environment at an entry point and passed down.

``DATABASE_URL`` and ``REDIS_URL`` keep the ecosystem's names; everything of
ours is ``TASKS_*``. Every variable is documented in the README's
configuration table. An invalid value raises :class:`ConfigError` naming the
variable; an unset one takes the default (checked with ``is None``, so ``0``
is never mistaken for "unset").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tasks.errors import ConfigError

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")

ENV_DOC: dict[str, str] = {
    "DATABASE_URL": "Postgres URL, postgresql://user:pass@host:5432/db (required)",
    "REDIS_URL": "Redis URL for the broker and redbeat, redis:// or rediss:// (required)",
    "TASKS_HANDLER_MODULES": "comma-separated modules that register handlers (default: none)",
    "TASKS_TICK_SECONDS": "beat tick in seconds (default 1)",
    "TASKS_LEASE_SECONDS": "execution lease, renewed every third of it (default 30)",
    "TASKS_CLAIM_BATCH": "most jobs claimed and published per round trip (default 500)",
    "TASKS_DB_POOL_SIZE": "Postgres connections per process (default 4)",
    "TASKS_QUEUE": "Celery queue name (default meal_scheduler)",
    "TASKS_KEY_PREFIX": "prefix of redbeat's Redis keys (default meal-scheduler)",
    "TASKS_BEAT_LOCK_SECONDS": "redbeat lock lifetime; a standby takes over after it (default 15)",
    "TASKS_REAP_SECONDS": "how often the beat reaps expired leases (default 5)",
    "TASKS_RETENTION_DAYS": "execution history older than this is pruned (default 90)",
    "TASKS_RETENTION_KEEP": "newest executions kept per job whatever their age (default 50)",
    "TASKS_ADMIN_USER": "dashboard admin's user name (default: none, the dashboard is read-only)",
    "TASKS_ADMIN_PASSWORD_HASH": "admin's password hash (`python -m tasks web --hash-password`)",
    "TASKS_WEB_SECRET": "key that signs the dashboard's session cookie, 32+ characters",
    "TASKS_WEB_READ_ROLE": "role of the dashboard's reads (default meal_scheduler_readonly)",
    "TASKS_HEALTH_MAX_DUE_SECONDS": "`health` fails when a due job waits longer (default 300)",
    "TASKS_HEARTBEAT_SECONDS": "worker heartbeat interval; live = seen within 3 (default 10)",
    "TASKS_LOG_FORMAT": "text (key=value) or json (one object per line) (default text)",
}

#: Variables an earlier version read and this one does not. Set, each is
#: named in a warning when a worker or beat starts, not silently ignored.
RETIRED: dict[str, str] = {
    "TASKS_VISIBILITY_TIMEOUT": "the broker no longer redelivers unacknowledged messages;"
    " Postgres re-queues the job of a lost message after queue_timeout_seconds",
}

LOG_FORMATS = ("text", "json")
# pbkdf2_sha256$<iterations>$<salt>$<hex digest>, made by tasks.web.auth.hash_password.
_PASSWORD_HASH = re.compile(r"^pbkdf2_sha256\$[0-9]{4,8}\$[A-Za-z0-9_-]{8,64}\$[0-9a-f]{64}$")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int = 2**31 - 1
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if not value >= minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {raw}")
    return value


def _name(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw is None:
        return default
    if not raw or not raw.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ConfigError(f"{name} must be letters, digits, '_', '-' or '.', got {raw!r}")
    return raw


def _optional(env: Mapping[str, str], name: str) -> str | None:
    """Unset and empty are the same: docker compose passes ``${X:-}`` as ""."""
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw.strip()


def _choice(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower()  # checked against the choices in Settings.__post_init__


def _url(
    env: Mapping[str, str], name: str, schemes: tuple[str, ...], example: str, required: bool
) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        if not required:
            return ""
        raise ConfigError(f"{name} is not set (for example {example})")
    scheme = urlsplit(raw).scheme
    if scheme not in schemes:
        raise ConfigError(f"{name} must start with {' or '.join(s + '://' for s in schemes)}")
    if _BAD_PERCENT.search(raw):
        # Never echo the value: the bad escape is usually in the password.
        raise ConfigError(
            f"{name} has a '%' that is not followed by two hex digits "
            "(write a '%' in the password as %25)"
        )
    return raw


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    handler_modules: tuple[str, ...] = ()
    tick_seconds: float = 1.0
    lease_seconds: int = 30
    claim_batch: int = 500
    db_pool_size: int = 4
    queue: str = "meal_scheduler"
    key_prefix: str = "meal-scheduler"
    reap_seconds: float = 5.0
    beat_lock_seconds: int = 15
    retention_days: int = 90
    retention_keep: int = 50
    admin_user: str | None = None
    admin_password_hash: str | None = field(default=None, repr=False)
    web_secret: str | None = field(default=None, repr=False)
    web_read_role: str = "meal_scheduler_readonly"
    health_max_due_seconds: int = 300
    heartbeat_seconds: float = 10.0
    log_format: str = "text"

    def __post_init__(self) -> None:
        if self.lease_seconds < 3:
            raise ConfigError(f"TASKS_LEASE_SECONDS must be >= 3, got {self.lease_seconds}")
        self._check_web()
        if not 1 <= self.heartbeat_seconds <= 3600:
            raise ConfigError(
                f"TASKS_HEARTBEAT_SECONDS must be between 1 and 3600, got {self.heartbeat_seconds}"
            )
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"TASKS_LOG_FORMAT must be {' or '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        for module in self.handler_modules:
            if not module.replace(".", "").replace("_", "").isalnum():
                raise ConfigError(f"TASKS_HANDLER_MODULES has an invalid module name {module!r}")

    def _check_web(self) -> None:
        if (self.admin_user is None) != (self.admin_password_hash is None):
            raise ConfigError("TASKS_ADMIN_USER and TASKS_ADMIN_PASSWORD_HASH are set together")
        if self.admin_user is not None and not 1 <= len(self.admin_user) <= 64:
            raise ConfigError("TASKS_ADMIN_USER must be 1-64 characters")
        if self.admin_password_hash is not None and not _PASSWORD_HASH.match(
            self.admin_password_hash
        ):
            raise ConfigError(
                "TASKS_ADMIN_PASSWORD_HASH must be a hash from "
                "`python -m tasks web --hash-password` (pbkdf2_sha256$...)"
            )
        if self.web_secret is not None and len(self.web_secret) < 32:
            raise ConfigError("TASKS_WEB_SECRET must be at least 32 characters")
        if self.web_read_role and not _ROLE.match(self.web_read_role):
            raise ConfigError(
                f"TASKS_WEB_READ_ROLE must be a role name (a-z, 0-9, _), got {self.web_read_role!r}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, need_redis: bool = True) -> Settings:
        """Read the environment; ``need_redis=False`` for commands that only use Postgres."""
        env = os.environ if env is None else env
        modules = env.get("TASKS_HANDLER_MODULES")
        return cls(
            database_url=_url(
                env,
                "DATABASE_URL",
                ("postgresql", "postgres"),
                "postgresql://root@127.0.0.1/meal",
                True,
            ),
            redis_url=_url(
                env,
                "REDIS_URL",
                ("redis", "rediss"),
                "redis://127.0.0.1:6379/0",
                need_redis,
            ),
            handler_modules=tuple(m.strip() for m in (modules or "").split(",") if m.strip()),
            tick_seconds=_float(env, "TASKS_TICK_SECONDS", 1.0, 0.05),
            lease_seconds=_int(env, "TASKS_LEASE_SECONDS", 30, 3, 86400),
            claim_batch=_int(env, "TASKS_CLAIM_BATCH", 500, 1),
            db_pool_size=_int(env, "TASKS_DB_POOL_SIZE", 4, 1),
            queue=_name(env, "TASKS_QUEUE", "meal_scheduler"),
            key_prefix=_name(env, "TASKS_KEY_PREFIX", "meal-scheduler"),
            reap_seconds=_float(env, "TASKS_REAP_SECONDS", 5.0, 0.1),
            beat_lock_seconds=_int(env, "TASKS_BEAT_LOCK_SECONDS", 15, 2),
            retention_days=_int(env, "TASKS_RETENTION_DAYS", 90, 1, 36_500),
            retention_keep=_int(env, "TASKS_RETENTION_KEEP", 50, 1, 1_000_000),
            admin_user=_optional(env, "TASKS_ADMIN_USER"),
            admin_password_hash=_optional(env, "TASKS_ADMIN_PASSWORD_HASH"),
            web_secret=_optional(env, "TASKS_WEB_SECRET"),
            web_read_role=env.get("TASKS_WEB_READ_ROLE", "meal_scheduler_readonly").strip(),
            health_max_due_seconds=_int(env, "TASKS_HEALTH_MAX_DUE_SECONDS", 300, 1, 31_536_000),
            heartbeat_seconds=_float(env, "TASKS_HEARTBEAT_SECONDS", 10.0, 1.0),
            log_format=_choice(env, "TASKS_LOG_FORMAT", "text"),
        )
