"""``python -m tasks health``: each failure gives a one-line reason and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import redis

from tasks.health import check
from tests.dashboard_support import Conn, heartbeat, web_settings
from tests.support import REPO, free_port, insert_job


def hold_lock(redis_url: str, prefix: str) -> None:
    redis.Redis.from_url(redis_url).set(f"{prefix}:lock", "beat-1", px=30_000)


def test_healthy_needs_a_beat_and_no_old_due_job(db_url: str, redis_url: str, db: Conn) -> None:
    settings = web_settings(db_url, redis_url, TASKS_HEALTH_MAX_DUE_SECONDS="60")
    result = check(settings)
    assert not result.ok and result.reason.startswith("no beat holds the lock")
    hold_lock(redis_url, settings.key_prefix)
    assert check(settings).ok
    insert_job(db, "stuck", "auto_sync", due="now() - interval '10 minutes'")
    result = check(settings)
    assert not result.ok
    assert result.reason.startswith("the oldest due job has waited 60")
    assert "limit 60 s, 1 due" in result.reason
    # Paused: waiting is what the operator asked for.
    db.execute("UPDATE scheduler_config SET enabled = false")
    result = check(settings)
    assert result.ok and result.reason.endswith(", paused")


def test_servers_that_do_not_answer(db_url: str, redis_url: str) -> None:
    port = free_port()
    down_pg = web_settings(f"postgresql://root@127.0.0.1:{port}/nowhere", redis_url)
    result = check(down_pg)
    assert not result.ok and result.reason.startswith("Postgres does not answer")
    down_redis = web_settings(db_url, f"redis://127.0.0.1:{port}/0")
    result = check(down_redis)
    assert not result.ok and result.reason.startswith("Redis does not answer")


def test_worker_health_is_a_recent_heartbeat_from_this_host(
    db_url: str, redis_url: str, db: Conn
) -> None:
    settings = web_settings(db_url, redis_url)
    result = check(settings, worker=True, hostname="host-a")
    assert not result.ok and result.reason == "no worker heartbeat from host host-a"
    heartbeat(db, "w1@host-a", "host-a", ["auto_sync"])
    assert check(settings, worker=True, hostname="host-a").ok
    later = db.execute("SELECT now() + interval '2 minutes' AS t").fetchone()
    assert later is not None
    result = check(settings, worker=True, hostname="host-a", now=later["t"])
    assert not result.ok and "last seen 12" in result.reason


def test_the_command_prints_one_line_and_exits_non_zero(db_url: str, redis_url: str) -> None:
    settings = web_settings(db_url, redis_url)
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "TASKS_KEY_PREFIX": settings.key_prefix,
    }
    cmd = [sys.executable, "-m", "tasks", "health"]
    failed = subprocess.run(
        cmd, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert failed.returncode == 1
    assert failed.stdout.count("\n") == 1 and failed.stdout.startswith("unhealthy: no beat")
    hold_lock(redis_url, settings.key_prefix)
    ok = subprocess.run(
        cmd, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("healthy: beat holds the lock")
