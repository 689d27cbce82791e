"""What Celery (and so Flower, Sentry, exporters) sees of a job: real worker, real events."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tasks.beat import publish_jobs
from tasks.celery_app import create_app
from tasks.producer import Producer
from tasks.settings import Settings
from tests.e2e.conftest import Stack
from tests.support import executions, insert_job, job, wait_until

pytestmark = pytest.mark.slow


class Events:
    """Celery's event stream (``app.events.Receiver``), captured in a thread."""

    def __init__(self, app: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        self._app = app
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self._app.connection_for_read() as conn:
            self._receiver = self._app.events.Receiver(conn, handlers={"*": self.seen.append})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: self._receiver is not None)
        time.sleep(0.5)  # subscribed before the worker sends anything

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(5)

    def of(self, kind: str, uuid: str | None = None) -> list[dict[str, Any]]:
        return [e for e in list(self.seen) if e["type"] == kind and uuid in (None, e.get("uuid"))]


@pytest.fixture
def events(stack: Stack) -> Iterator[Events]:
    app = create_app(Settings.from_env(stack.env()))
    captured = Events(app)
    captured.start()
    yield captured
    captured.stop()
    app.meal_runtime.db.close()


def _dispatch_twice(stack: Stack) -> None:
    """Claim what is due and publish every message twice (a duplicated delivery)."""
    settings = Settings.from_env(stack.env())
    app = create_app(settings)
    Producer(
        app.meal_runtime.db,
        lambda jobs: [publish_jobs(app, settings.queue, jobs) for _ in range(2)],
        10,
    ).run_once()
    app.meal_runtime.db.close()


def test_celery_events_name_the_job_type_and_report_failures(
    stack: Stack, db: psycopg.Connection[Any], events: Events, tmp_path: Path
) -> None:
    insert_job(db, "ok", "test.noop")
    insert_job(db, "bad", "test.fail", max_retries=0)
    _dispatch_twice(stack)
    ok_task, bad_task = (f"dispatch-{job(db, j)['dispatch_id']}" for j in ("ok", "bad"))
    # No -n: the default node name is unique per process.
    worker = stack.worker("w1", node=False, args=("-E",))

    wait_until(lambda: job(db, "ok")["status"] == "completed")
    wait_until(lambda: job(db, "bad")["status"] == "failed")
    wait_until(lambda: events.of("task-succeeded", ok_task) and events.of("task-failed", bad_task))
    wait_until(lambda: len(events.of("task-ignored")) == 2)

    received = {e["uuid"]: e["name"] for e in events.of("task-received")}
    assert received == {ok_task: "test.noop", bad_task: "test.fail"}
    [failed] = events.of("task-failed", bad_task)
    assert "AttemptFailed" in failed["exception"]
    assert "RuntimeError: boom on attempt 1" in failed["exception"]
    assert "RuntimeError" in failed["traceback"]  # the handler's own traceback, chained
    assert not events.of("task-failed", ok_task)
    assert not events.of("task-succeeded", bad_task)
    assert not events.of("task-retried")
    # The duplicate of each message is ignored, not a second success.
    assert {e["uuid"] for e in events.of("task-ignored")} == {ok_task, bad_task}
    assert len(events.of("task-succeeded")) == 1

    node = f"celery-{worker.pid}@{socket.gethostname()}"
    assert {e["hostname"] for e in events.of("task-received")} == {node}

    # Postgres decided: one attempt each, no Celery redelivery of the failure.
    time.sleep(1.0)
    assert [r["status"] for r in executions(db, "ok")] == ["completed"]
    assert [r["status"] for r in executions(db, "bad")] == ["failed"]

    log = (tmp_path / "w1.log").read_text()
    assert f"Task test.fail[{bad_task}] raised unexpected: AttemptFailed" in log
    [succeeded] = [ln for ln in log.splitlines() if f"Task test.noop[{ok_task}] succeeded" in ln]
    # Text logs too name the attempt on Celery's line (docs/workers.md).
    assert succeeded.endswith(f" job_id=ok execution_id={executions(db, 'ok')[0]['id']}")
    assert f"Task test.noop[{ok_task}] ignored" in log
    assert "meal_scheduler.run_job[" not in log


def test_two_workers_on_one_host_get_two_node_names(
    stack: Stack, db: psycopg.Connection[Any]
) -> None:
    first = stack.worker("a", node=False)
    second = stack.worker("b", node=False)
    host = socket.gethostname()
    nodes = {f"celery-{first.pid}@{host}", f"celery-{second.pid}@{host}"}

    def registered() -> set[str]:
        return {r["node_name"] for r in db.execute("SELECT node_name FROM worker_heartbeats")}

    wait_until(lambda: registered() == nodes)


def test_json_logs_carry_the_attempt(
    stack: Stack, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    insert_job(db, "ok", "test.noop")
    insert_job(db, "bad", "test.fail", max_retries=0)
    stack.extra_env["TASKS_LOG_FORMAT"] = "json"
    stack.extra_env["TASKS_VISIBILITY_TIMEOUT"] = "7200"  # retired: one warning each
    stack.worker("w1")
    stack.beat()
    wait_until(lambda: job(db, "ok")["status"] == "completed")
    wait_until(lambda: job(db, "bad")["status"] == "failed")
    [ok_run], [bad_run] = executions(db, "ok"), executions(db, "bad")

    def lines() -> list[dict[str, Any]]:
        text = (tmp_path / "w1.log").read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    wait_until(lambda: any("succeeded" in e["message"] for e in lines()))
    wait_until(lambda: any("raised unexpected" in e["message"] for e in lines()))
    for name in ("w1.log", "beat.log"):  # banners left out, warnings logged
        raw = [ln for ln in (tmp_path / name).read_text().splitlines() if ln.strip()]
        assert raw and all(ln.startswith("{") for ln in raw), [
            ln for ln in raw if not ln.startswith("{")
        ]
        retired = [ln for ln in raw if "TASKS_VISIBILITY_TIMEOUT is no longer read" in ln]
        assert len(retired) == 1 and json.loads(retired[0])["action"] == "retired", retired
    entries = lines()

    def attempt_of(message: str) -> dict[str, Any]:
        [entry] = [e for e in entries if message in e["message"]]
        return {k: entry.get(k) for k in ("job_id", "execution_id", "job_type", "dispatch_id")}

    ok_fields = {
        "job_id": "ok",
        "execution_id": ok_run["id"],
        "job_type": "test.noop",
        "dispatch_id": ok_run["dispatch_id"],
    }
    # Celery's own line, in the pool process, names the attempt; ours says
    # it only at DEBUG (one line per job, not two).
    assert not [e for e in entries if "job completed" in e["message"]]
    assert attempt_of(f"Task test.noop[dispatch-{ok_run['dispatch_id']}] succeeded") == ok_fields
    bad_fields = attempt_of("job failed")
    assert bad_fields == {
        "job_id": "bad",
        "execution_id": bad_run["id"],
        "job_type": "test.fail",
        "dispatch_id": bad_run["dispatch_id"],
    }
    [raised] = [e for e in entries if "raised unexpected" in e["message"]]
    assert "RuntimeError: boom" in raised["exc_info"]
    # The main process's "received" line: dispatch and job type from the task.
    [received] = [
        e for e in entries if f"[dispatch-{ok_run['dispatch_id']}] received" in e["message"]
    ]
    assert (received["dispatch_id"], received["job_type"]) == (ok_run["dispatch_id"], "test.noop")
