"""libpq's connection failures as one line: the cause kept, the password never shown.

The shared test server trusts every local login, so a wrong password cannot
be produced against it: these feed libpq's own messages to the mapping.
"""

from __future__ import annotations

import psycopg
import pytest

from tasks.db import connect_error
from tasks.errors import ConfigError, DatabaseUnavailable
from tasks.settings import Settings

URL = "postgresql://meal:hunter%2542@db.example:5432/meal"


@pytest.mark.parametrize(
    ("libpq", "kind", "says"),
    [
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            'FATAL:  password authentication failed for user "meal"',
            ConfigError,
            'password authentication failed for user "meal"',
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "Connection refused\n\tIs the server running on that host?",
            DatabaseUnavailable,
            "Connection refused",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "FATAL:  the database system is starting up",
            DatabaseUnavailable,
            "the database system is starting up",
        ),
        (
            'connection failed: FATAL:  password authentication failed for user "hunter%42"',
            ConfigError,
            "password authentication failed",
        ),
    ],
)
def test_connection_failure_is_one_line_with_its_cause(
    libpq: str, kind: type[Exception], says: str
) -> None:
    error = connect_error(URL, psycopg.OperationalError(libpq))
    assert type(error) is kind
    text = str(error)
    assert "\n" not in text
    assert says.replace("hunter%42", "***") in text
    assert "hunter" not in text
    assert "db.example:5432" in text


def test_an_unparsable_url_never_echoes_its_token() -> None:
    error = connect_error(
        URL, psycopg.ProgrammingError('invalid percent-encoded token: "hunter%42"')
    )
    assert isinstance(error, ConfigError)
    assert "hunter" not in str(error)
    assert "DATABASE_URL" in str(error)


def test_settings_refuse_a_bad_percent_escape_without_echoing_it() -> None:
    env = {"DATABASE_URL": "postgresql://u:pa%zzss@h/db", "REDIS_URL": "redis://h/0"}
    with pytest.raises(ConfigError, match="DATABASE_URL has a '%'") as info:
        Settings.from_env(env)
    assert "pa%zzss" not in str(info.value)
