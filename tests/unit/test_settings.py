from __future__ import annotations

import logging
import re

import pytest

from tasks.errors import ConfigError
from tasks.preflight import warn_retired
from tasks.settings import Settings

BASE = {"DATABASE_URL": "postgresql://u:secret@db/meal", "REDIS_URL": "redis://r:6379/0"}


def test_defaults() -> None:
    s = Settings.from_env(BASE)
    assert s.tick_seconds == 1.0
    assert s.lease_seconds == 30
    assert s.handler_modules == ()
    assert (s.heartbeat_seconds, s.log_format) == (10.0, "text")


def test_passwords_stay_out_of_repr() -> None:
    assert "secret" not in repr(Settings.from_env(BASE))


def test_zero_is_not_mistaken_for_unset() -> None:
    # Pruning keeps at least the newest execution per job: 0 is refused,
    # not replaced by the default.
    with pytest.raises(ConfigError, match="TASKS_RETENTION_KEEP must be >= 1, got 0"):
        Settings.from_env({**BASE, "TASKS_RETENTION_KEEP": "0"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TASKS_LEASE_SECONDS", "86401", "TASKS_LEASE_SECONDS must be <= 86400, got 86401"),
        ("TASKS_CLAIM_BATCH", str(2**31), "TASKS_CLAIM_BATCH must be <= 2147483647"),
        ("TASKS_RETENTION_DAYS", "1e400", "TASKS_RETENTION_DAYS must be an integer, got '1e400'"),
    ],
)
def test_out_of_range_integers_are_refused_naming_the_variable(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({**BASE, name: value})


def test_handler_modules_are_split() -> None:
    s = Settings.from_env({**BASE, "TASKS_HANDLER_MODULES": "a.b, c ,"})
    assert s.handler_modules == ("a.b", "c")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "redis://x"}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "postgresql://x/y"}, "REDIS_URL is not set"),
        ({**BASE, "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must start with"),
        ({**BASE, "TASKS_TICK_SECONDS": "soon"}, "TASKS_TICK_SECONDS must be a number"),
        ({**BASE, "TASKS_TICK_SECONDS": "0"}, "TASKS_TICK_SECONDS must be >="),
        ({**BASE, "TASKS_LEASE_SECONDS": "1"}, "TASKS_LEASE_SECONDS must be >= 3"),
        ({**BASE, "TASKS_CLAIM_BATCH": "1.5"}, "TASKS_CLAIM_BATCH must be an integer"),
        ({**BASE, "TASKS_HANDLER_MODULES": "os;rm"}, "TASKS_HANDLER_MODULES has an invalid"),
        ({**BASE, "TASKS_QUEUE": ""}, "TASKS_QUEUE must be letters"),
        ({**BASE, "TASKS_KEY_PREFIX": "a b"}, "TASKS_KEY_PREFIX must be letters"),
        ({**BASE, "TASKS_HEARTBEAT_SECONDS": "0.5"}, "TASKS_HEARTBEAT_SECONDS must be >= 1"),
        ({**BASE, "TASKS_HEARTBEAT_SECONDS": "7200"}, "TASKS_HEARTBEAT_SECONDS must be between"),
        ({**BASE, "TASKS_LOG_FORMAT": "xml"}, "TASKS_LOG_FORMAT must be text or json"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_postgres_only_commands_do_not_need_redis() -> None:
    s = Settings.from_env({"DATABASE_URL": "postgresql://x/y"}, need_redis=False)
    assert s.redis_url == ""


def test_a_retired_variable_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    env = {**BASE, "TASKS_VISIBILITY_TIMEOUT": "7200"}
    Settings.from_env(env)  # still starts
    with caplog.at_level(logging.WARNING, logger="tasks.preflight"):
        warn_retired(BASE)
        assert caplog.records == []
        warn_retired(env)
    [record] = caplog.records
    assert record.getMessage().startswith("TASKS_VISIBILITY_TIMEOUT is no longer read: ")
