"""Worker heartbeats: which job types a live worker handles (``worker_heartbeats``).

Each Celery worker node records its host, pid, job types and queues when it
is ready and every ``TASKS_HEARTBEAT_SECONDS`` after that, and removes its
row when it shuts down cleanly. A node that dies without saying so is no
longer "live" three intervals later (the definition is in
``tasks/sql/workers.sql``, shared by the CLI and the dashboard); each
worker start forgets nodes not seen for a day.

Trade-off: each heartbeat opens a connection of its own (one connect per
interval, about a millisecond) instead of keeping one in the worker's main
process, where a prefork child forked later would inherit its socket.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tasks.db import Database
from tasks.errors import TasksError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveWorker:
    node_name: str
    hostname: str
    pid: int
    job_types: tuple[str, ...]
    queues: tuple[str, ...]
    started_at: datetime
    last_seen_at: datetime


class Heartbeat:
    """One worker node's heartbeat: :meth:`start` at ready, :meth:`stop` at shutdown."""

    def __init__(
        self,
        db: Database,
        node_name: str,
        job_types: Sequence[str],
        queues: Sequence[str],
        interval: float,
    ) -> None:
        self.db = db
        self.node_name = node_name
        self.job_types = sorted(job_types)
        self.queues = sorted(queues)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat_once(self) -> None:
        with self.db.direct() as session:
            session.exec(
                "record_worker_heartbeat",
                node_name=self.node_name,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                job_types=self.job_types,
                queues=self.queues,
            )

    def _beat_logged(self) -> None:
        try:
            self.beat_once()
        except TasksError:
            log.warning(
                "heartbeat not recorded",
                exc_info=True,
                extra={"action": "heartbeat_failed", "node": self.node_name},
            )

    def start(self) -> None:
        self._beat_logged()
        try:
            with self.db.direct() as session:
                session.one("prune_workers")
        except TasksError:
            log.warning("dead workers not pruned", exc_info=True, extra={"action": "prune_failed"})
        log.info(
            "worker registered",
            extra={
                "action": "heartbeat_started",
                "node": self.node_name,
                "job_types": ",".join(self.job_types),
            },
        )
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat_logged()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            with self.db.direct() as session:
                session.exec("remove_worker_heartbeat", node_name=self.node_name)
        except TasksError:
            log.warning(
                "heartbeat not removed; the row ages out",
                exc_info=True,
                extra={"action": "heartbeat_not_removed", "node": self.node_name},
            )


def live_job_types(db: Database, heartbeat_seconds: float) -> dict[str, int]:
    """Job type -> how many live workers handle it."""
    rows = db.many("live_job_types", heartbeat_seconds=heartbeat_seconds)
    return {r["job_type"]: int(r["workers"]) for r in rows}


def live_workers(db: Database, heartbeat_seconds: float) -> list[LiveWorker]:
    rows = db.many("live_workers", heartbeat_seconds=heartbeat_seconds)
    return [
        LiveWorker(
            node_name=r["node_name"],
            hostname=r["hostname"],
            pid=int(r["pid"]),
            job_types=tuple(r["job_types"]),
            queues=tuple(r["queues"]),
            started_at=r["started_at"],
            last_seen_at=r["last_seen_at"],
        )
        for r in rows
    ]


def unhandled_job_types(db: Database, heartbeat_seconds: float) -> dict[str, int]:
    """Job type -> jobs waiting (due or queued) that no live worker handles."""
    rows = db.many("unhandled_job_types", heartbeat_seconds=heartbeat_seconds)
    return {r["job_type"]: int(r["waiting"]) for r in rows}
