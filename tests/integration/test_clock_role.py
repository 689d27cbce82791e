"""The test clock without its role (011_clock_role).

The role is cluster-wide and a rollback of 006 in another database may drop
it: a superuser's fixed clock must keep working, and nobody else gains one.
The role is renamed for the test (same effect on the name, nothing lost)
and renamed back.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

T = datetime(2030, 1, 4, 6, 0, tzinfo=UTC)


@pytest.fixture
def clock_role_gone(db: psycopg.Connection[Any]) -> Iterator[None]:
    db.execute("ALTER ROLE meal_scheduler_clock RENAME TO meal_scheduler_clock_away")
    try:
        yield
    finally:
        db.execute("ALTER ROLE meal_scheduler_clock_away RENAME TO meal_scheduler_clock")


def test_a_superuser_fixes_the_clock_without_the_role(
    db: psycopg.Connection[Any], clock_role_gone: None
) -> None:
    assert db.execute("SELECT scheduler_now_v1(%s) AS t", (T,)).fetchone()["t"] == T
    row = db.execute("SELECT scheduler_now_v1(NULL) AS t, now() AS now").fetchone()
    assert row["t"] == row["now"]
