"""Reliability faults of issue 13, caused for real with prefork workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Stack
from tests.support import executions, insert_job, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def hanging_server() -> Iterator[str]:
    """An HTTP server that answers nothing for 60 s (a Tandoor that hangs)."""
    release = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(60)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()
    server.server_close()


def test_a_timed_out_sync_is_recorded_as_a_timeout(
    stack: Stack, db: psycopg.Connection[Any], hanging_server: str, tmp_path: Path
) -> None:
    # auto_sync isolates failures per part and per user with broad handlers;
    # the soft time limit must still end the run at once.
    stack.extra_env.update({"TANDOOR_URL": hanging_server, "TANDOOR_TOKEN": "token"})
    db.execute("UPDATE scheduler_config SET retry_base_seconds = 60, max_retries = 1")
    insert_job(db, "sync", job_type="auto_sync")
    db.execute("UPDATE scheduled_jobs SET timeout_seconds = 2 WHERE id = 'sync'")
    stack.worker(concurrency=1)
    stack.beat()
    started = time.monotonic()
    wait_until(lambda: [e for e in executions(db, "sync") if e["status"] != "running"], timeout=30)
    [run] = executions(db, "sync")
    assert run["status"] == "failed"
    assert run["error_message"] == (
        "SoftTimeLimitExceeded: timed out after 2 s (the job's timeout_seconds)"
    )
    # Stopped by the soft limit, not by the hard kill 10 s later or a lease.
    assert run["duration_ms"] < 5000
    assert time.monotonic() - started < 20
