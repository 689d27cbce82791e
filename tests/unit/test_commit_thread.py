"""SharedCommits' thread: what a stopping process's flush() waits for."""

from __future__ import annotations

import threading
import time
from typing import Any

from tasks.commits import PendingCompletion, SharedCommits
from tasks.ids import DispatchKey, ExecutionId

DB: Any = object()  # never touched: the completions say how they are recorded


def completion(alone: Any) -> PendingCompletion:
    return PendingCompletion(
        ExecutionId(1), DispatchKey("k"), None, alone=alone, shared=lambda recorded: None
    )


def test_flush_waits_for_the_completion_the_thread_is_committing() -> None:
    committing, recorded = threading.Event(), threading.Event()

    def slow_commit() -> None:
        committing.set()
        time.sleep(0.3)
        recorded.set()

    commits = SharedCommits(DB, linger_seconds=0.0)
    commits.defer(completion(slow_commit))
    assert committing.wait(5)  # the thread took it and is committing
    commits.flush()  # the process stops: its pool closes right after this
    assert recorded.is_set()


def test_flush_commits_a_waiting_completion_itself() -> None:
    done: list[str] = []
    commits = SharedCommits(DB, linger_seconds=60)
    commits.defer(completion(lambda: done.append(threading.current_thread().name)))
    commits.flush()
    assert done == [threading.current_thread().name]
