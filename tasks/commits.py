"""Shared commits: a job's completion commits with the start of the next job.

A worker process records two transactions per job, start and completion,
each waiting for its own WAL flush. Here a completion waits, for at most
``linger_seconds`` (5 ms by default), for the process's next job: when one
comes, its start and the waiting completion are one transaction, one
commit. When none comes in time, a thread of the process commits the
completion alone. Under load that is about one commit per job instead of
two (docs/performance.md).

The trade-off, and its exact window: the Celery task of a job returns
before the job's completion is committed. A worker process that dies after
the handler returned and before that commit (at most the linger plus one
statement; longer only while Postgres is unreachable, as before) leaves an
execution that is still ``running``: its lease runs out, it is recorded
``abandoned`` and retried, so the handler runs again, exactly as for a
worker killed while the handler runs. A graceful stop commits a waiting
completion first, or waits for the one the thread is committing
(``flush``). Nothing else changes: a start still commits before its
handler runs, a failure is recorded at once, and every execution still ends
in one terminal state.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tasks.db import Database
from tasks.errors import TasksError
from tasks.ids import DispatchKey, ExecutionId

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_LINGER_SECONDS = 0.005


@dataclass(frozen=True)
class PendingCompletion:
    """A completion waiting for a commit to share.

    ``alone`` records it in a transaction of its own (with the usual retries
    and fallbacks); ``shared`` is told whether the shared transaction
    recorded it (False: the rescuer had closed the execution first).
    """

    execution_id: ExecutionId
    dispatch_key: DispatchKey | None
    output_json: str | None
    alone: Callable[[], object]
    shared: Callable[[bool], object]


def can_share(output_json: str | None) -> bool:
    """Only output Postgres cannot refuse waits: ASCII JSON without escapes.

    jsonb refuses some escaped characters (``\\u0000``, lone surrogates); such
    an attempt must be failed in its own transaction, before the task returns.
    """
    return output_json is None or "\\u" not in output_json


class SharedCommits:
    """One per worker process (fork-aware): at most one completion waits at a time."""

    def __init__(self, db: Database, linger_seconds: float = DEFAULT_LINGER_SECONDS) -> None:
        self.db = db
        self.linger_seconds = linger_seconds
        self._pending: PendingCompletion | None = None
        self._deadline = 0.0
        # The thread is awake (sleeping until a deadline, or committing): a
        # completion deferred meanwhile needs no wake-up, the thread reads
        # the new deadline when its sleep ends. Under load that is one
        # wake-up per linger instead of two per job.
        self._armed = False
        self._lock = threading.Lock()
        # Held while a completion is taken and committed alone, so that a
        # stopping process's flush() waits for one the thread has in hand.
        self._committing = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _take(self) -> PendingCompletion | None:
        with self._lock:
            pending, self._pending = self._pending, None
            return pending

    def defer(self, pending: PendingCompletion) -> None:
        """Hold ``pending`` until the next start, or commit it alone after the linger."""
        with self._lock:
            previous, self._pending = self._pending, pending
            self._deadline = time.monotonic() + self.linger_seconds
            self._ensure_thread()
            wake, self._armed = not self._armed, True
        if previous is not None:
            # Jobs side by side in one process (a thread pool): the earlier
            # completion commits alone, now.
            previous.alone()
        if wake:
            self._wake.set()

    def start(
        self,
        start: Callable[[], T],
        after_completion: Callable[[PendingCompletion], tuple[bool, T]],
    ) -> T:
        """Start the next job: ``start()`` alone, or ``after_completion(pending)``.

        ``after_completion`` records the waiting completion and the start in
        one statement (``store.complete_and_start``) and returns whether the
        completion was recorded, and what ``start`` would have returned.
        """
        pending = self._take()
        if pending is None:
            return start()
        try:
            recorded, started = after_completion(pending)
        except TasksError:
            # Whatever failed (Postgres away, a refused output, a refused
            # start), nothing of it committed: each goes its usual way alone.
            log.info(
                "shared commit failed; recording separately",
                exc_info=True,
                extra={"action": "shared_commit_failed", "execution_id": pending.execution_id},
            )
            pending.alone()
            return start()
        except BaseException:
            # Never drop a completion: its lease would be renewed forever.
            pending.alone()
            raise
        pending.shared(recorded)
        return started

    def flush(self) -> None:
        """Commit a waiting completion now, or wait for the one the thread is
        committing (the process stops)."""
        with self._committing:
            pending = self._take()
            if pending is not None:
                pending.alone()

    def _ensure_thread(self) -> None:
        # A forked child inherits the object but not the thread.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._armed = False  # a new thread starts idle: wake it
        self._thread = threading.Thread(target=self._loop, name="shared-commits", daemon=True)
        self._thread.start()

    def _due(self) -> PendingCompletion | float | None:
        """The completion whose linger ran out, taken; else seconds until it
        does; None (the thread goes idle) when nothing waits."""
        with self._lock:
            if self._pending is None:
                self._armed = False
                return None
            remaining = self._deadline - time.monotonic()
            if remaining > 0:
                return remaining
            pending, self._pending = self._pending, None
            return pending

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            # A start that comes meanwhile takes the completion with it.
            while True:
                with self._committing:
                    due = self._due()
                    if isinstance(due, PendingCompletion):
                        self._commit_alone(due)
                        continue
                if due is None:
                    break
                time.sleep(due)

    @staticmethod
    def _commit_alone(pending: PendingCompletion) -> None:
        try:
            pending.alone()
        except Exception:
            # alone() already retried while Postgres was away; the lease
            # runs out and the rescuer decides, as for any lost result.
            log.warning(
                "completion could not be recorded", exc_info=True, extra={"action": "complete"}
            )
