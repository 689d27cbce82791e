"""What the numbers were measured on: cores, memory, server versions, settings."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.config import REPO, BenchConfig

PG_SETTINGS = ("shared_buffers", "synchronous_commit", "fsync", "wal_sync_method", "commit_delay")


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tasks", "schema"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return "unknown"


def describe(config: BenchConfig) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_id": config.run_id,
        "commit": _git_commit(),
        "nproc": os.cpu_count(),
        "mem_gib": _mem_total_gib(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "celery": metadata.version("celery"),
        "kombu": metadata.version("kombu"),
        "psycopg": metadata.version("psycopg"),
        "config": {
            "n": config.n,
            "concurrency": config.concurrency,
            "dispatch_jobs": config.dispatch_jobs,
            "claim_rows": config.claim_rows,
            "lag_jobs": config.lag_jobs,
            "lag_spread_s": config.lag_spread,
            "triggers": config.triggers,
            "loglevel": config.loglevel,
            "patches": list(config.patches),
            "quick": config.quick,
        },
    }
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(config.admin_url, connect_timeout=5) as conn,
    ):
        row = conn.execute("SHOW server_version").fetchone()
        meta["postgres"] = row[0] if row else "unknown"
        meta["postgres_settings"] = {
            name: r[0]
            for name in PG_SETTINGS
            if (r := conn.execute(f"SHOW {name}").fetchone()) is not None
        }
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(config.redis_base, socket_connect_timeout=5)
        meta["redis"] = client.info("server")["redis_version"]
        client.close()
    return meta
