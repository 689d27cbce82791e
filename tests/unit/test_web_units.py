"""The dashboard's pure parts: settings, password hashes, CSRF tokens, charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.errors import ConfigError
from tasks.settings import Settings
from tasks.web import auth, charts

BASE = {"DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h/0"}
HASH = auth.hash_password("s3cret", salt="abcdefgh", iterations=1000)


def test_admin_settings_are_validated_and_never_shown() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "TASKS_ADMIN_USER": "ops",
            "TASKS_ADMIN_PASSWORD_HASH": HASH,
            "TASKS_WEB_SECRET": "k" * 32,
        }
    )
    assert s.admin_user == "ops"
    assert HASH not in repr(s) and "k" * 32 not in repr(s)
    # docker compose passes ${X:-} as an empty string: the same as unset.
    empty = Settings.from_env({**BASE, "TASKS_ADMIN_USER": "", "TASKS_ADMIN_PASSWORD_HASH": ""})
    assert empty.admin_user is None and empty.admin_password_hash is None
    assert Settings.from_env(BASE).web_read_role == "meal_scheduler_readonly"
    with pytest.raises(ConfigError, match="set together"):
        Settings.from_env({**BASE, "TASKS_ADMIN_USER": "ops"})
    with pytest.raises(ConfigError, match="TASKS_ADMIN_PASSWORD_HASH must be a hash"):
        Settings.from_env({**BASE, "TASKS_ADMIN_USER": "ops", "TASKS_ADMIN_PASSWORD_HASH": "pw"})
    with pytest.raises(ConfigError, match="TASKS_WEB_SECRET must be at least 32"):
        Settings.from_env({**BASE, "TASKS_WEB_SECRET": "short"})
    with pytest.raises(ConfigError, match="TASKS_WEB_READ_ROLE"):
        Settings.from_env({**BASE, "TASKS_WEB_READ_ROLE": "x; DROP"})
    with pytest.raises(ConfigError, match="TASKS_HEALTH_MAX_DUE_SECONDS"):
        Settings.from_env({**BASE, "TASKS_HEALTH_MAX_DUE_SECONDS": "0"})


def test_passwords_and_tokens() -> None:
    assert auth.verify_password("s3cret", HASH)
    assert not auth.verify_password("s3cret ", HASH)
    assert not auth.verify_password("s3cret", "plain")
    assert auth.check_credentials("ops", "s3cret", "ops", HASH)
    assert not auth.check_credentials("opz", "s3cret", "ops", HASH)
    assert not auth.check_credentials("ops", "s3cret", None, None)
    assert auth.hash_password("a") != auth.hash_password("a")  # salted
    token = auth.new_token()
    assert auth.same_token(token, token)
    assert not auth.same_token(token, None) and not auth.same_token("", "")


def test_charts_escape_names_and_place_bars() -> None:
    now = datetime(2026, 12, 5, 6, 30, 20, tzinfo=UTC)
    rows = [
        {
            "minute": now.replace(second=0) - timedelta(minutes=1),
            "job_type": "<script>",
            "status": "failed",
            "n": 2,
        },
        {"minute": now.replace(second=0), "job_type": "<script>", "status": "completed", "n": 4},
    ]
    svg = charts.outcomes_chart(rows, now, 60)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count('class="bar failed"') == 1 and svg.count('class="bar completed"') == 1
    assert "4/min" in svg
    assert "no attempt finished" in charts.outcomes_chart([], now, 60)
    lag = charts.lag_chart(
        [
            {
                "bucket_at": now - timedelta(hours=1),
                "n": 3,
                "p50_seconds": 0.01,
                "p99_seconds": 2.0,
                "max_seconds": 2.5,
            }
        ],
        now,
        6,
    )
    assert "p99: 2.0 s (3 attempts)" in lag
    assert charts.format_seconds(0.0123) == "12 ms" and charts.format_seconds(600) == "10 min"
