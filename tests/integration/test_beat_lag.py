"""The beat looks again at once at work that fell due just after each claim, not only the first."""

from __future__ import annotations

from typing import Any

import psycopg

from tasks.db import Database
from tasks.producer import Producer
from tests.support import insert_job


def test_work_due_after_a_successful_claim_is_looked_at_again_at_once(
    database: Database, db: psycopg.Connection[Any]
) -> None:
    producer = Producer(database, lambda jobs: None, 10)
    insert_job(db, "first", due="now() - interval '1 second'")
    assert producer.seconds_until_due(1.0) == 0.0  # fell due after a claim: look again
    assert producer.run_once().claimed == 1
    insert_job(db, "second", due="now() - interval '1 second'")
    # Fell due after that claim too: another look at once, not a whole tick's sleep.
    assert producer.seconds_until_due(1.0) == 0.0
    assert producer.run_once().claimed == 1
    assert producer.seconds_until_due(1.0) == 1.0  # nothing pending
