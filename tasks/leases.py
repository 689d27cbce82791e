"""Lease keeping: one thread per worker process renews every lease it holds.

A thread per execution costs a thread start and a statement per job; one
keeper renews all of a process's executions with one statement every third
of the lease, whatever the concurrency.
"""

from __future__ import annotations

import logging
import os
import threading

from tasks import store
from tasks.db import Database
from tasks.errors import TasksError
from tasks.ids import DispatchKey, ExecutionId

log = logging.getLogger(__name__)


class LeaseKeeper:
    def __init__(self, db: Database, lease_seconds: int) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        # Each held execution with the dispatch key of the message that
        # started it: renewing needs it, as finishing does.
        self._held: dict[ExecutionId, DispatchKey | None] = {}
        self._lost: set[ExecutionId] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hold(self, execution_id: ExecutionId, dispatch_key: DispatchKey | None) -> None:
        with self._lock:
            self._held[execution_id] = dispatch_key
            self._ensure_thread()

    def release(self, execution_id: ExecutionId) -> bool:
        """Stop renewing; True if the lease was lost while held."""
        with self._lock:
            self._held.pop(execution_id, None)
            if execution_id in self._lost:
                self._lost.discard(execution_id)
                return True
            return False

    def held(self) -> frozenset[ExecutionId]:
        with self._lock:
            return frozenset(self._held)

    def _ensure_thread(self) -> None:
        # A forked child inherits the object but not the thread.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="lease-keeper", daemon=True)
        self._thread.start()

    def renew_once(self) -> list[ExecutionId]:
        with self._lock:
            held = dict(self._held)
        if not held:
            return []
        lost = store.renew_leases(self.db, held, self.lease_seconds)
        with self._lock:
            # An execution released while the renewal ran finished normally.
            lost = [i for i in lost if i in self._held]
            self._lost.update(lost)
        if lost:
            log.warning("leases lost", extra={"action": "lease_lost", "execution_ids": lost})
        return lost

    def _loop(self) -> None:
        interval = self.lease_seconds / 3
        while True:
            self._wake.wait(interval)
            try:
                self.renew_once()
            except TasksError:
                # Postgres away: keep trying; the reaper decides if we were too slow.
                log.warning("lease renewal failed", exc_info=True, extra={"action": "lease_renew"})
