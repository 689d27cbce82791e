"""Node names and per-type queues (tasks.celery_app), no servers."""

from __future__ import annotations

import os
import socket

from tasks.celery_app import job_queue, unique_nodename, worker_queues


def test_the_default_node_name_is_unique_per_process() -> None:
    mine = f"celery-{os.getpid()}@{socket.gethostname()}"
    assert unique_nodename(None) == mine
    assert unique_nodename(f"celery@{socket.gethostname()}") == mine  # Celery's default
    assert unique_nodename("w1@box") == "w1@box"  # -n is kept


def test_each_job_type_has_a_queue_of_its_own() -> None:
    queues = worker_queues("meal_scheduler", frozenset({"weekly_generation", "auto_sync"}))
    assert [q.name for q in queues] == [
        "meal_scheduler",
        "meal_scheduler.auto_sync",
        "meal_scheduler.weekly_generation",
    ]
    # Each bound by its own name: a message for one type reaches no other queue.
    assert {(q.exchange.name, q.routing_key) for q in queues} == {(q.name, q.name) for q in queues}
    assert job_queue("q", "weekly_generation") == "q.weekly_generation"
