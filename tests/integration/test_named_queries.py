"""Every named query parses and plans against a migrated database (PREPARE)."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from tasks.sql import queries

# Statements PREPARE cannot take; each is run for real elsewhere in the suite.
UTILITY = {
    "listen_wakeup",  # LISTEN: tests/integration/test_bridge_functions.py
    "create_migrations_table",  # DDL: every migration run
    "dev_create_database",  # CREATE DATABASE: tests/e2e/test_dev.py
    "begin_repeatable_read",  # SET TRANSACTION: tests/integration/test_metrics.py
}

_PARAM = re.compile(r"%\((\w+)\)s")


def to_prepared(text: str) -> str:
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match[1], len(numbers) + 1)}"

    return _PARAM.sub(number, text).replace("%%", "%")


def test_every_query_prepares(db: psycopg.Connection[Any]) -> None:
    failures = {}
    for name in sorted(set(queries) - UTILITY):
        sql = to_prepared(queries[name].text).rstrip().rstrip(";")
        try:
            db.execute(f"PREPARE q AS {sql}")  # type: ignore[arg-type]
            db.execute("DEALLOCATE q")
        except psycopg.Error as exc:
            failures[name] = str(exc).splitlines()[0]
    assert failures == {}
    assert len(queries) > 50


def test_utility_statements_still_exist() -> None:
    assert queries.keys() >= UTILITY
