from __future__ import annotations

import logging

from tasks.logs import KeyValueFormatter, safe_url


def test_passwords_are_masked() -> None:
    assert safe_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert safe_url("redis://h:6379/0") == "redis://h:6379/0"


def test_extra_is_printed_and_truncated() -> None:
    record = logging.makeLogRecord(
        {
            "name": "tasks.execution",
            "msg": "job completed",
            "action": "completed",
            "payload": "x" * 500,
        }
    )
    text = KeyValueFormatter("%(message)s").format(record)
    assert text.startswith("job completed action=completed payload=xxx")
    assert len(text) < 300


def test_other_libraries_extras_are_left_alone() -> None:
    record = logging.makeLogRecord({"name": "celery.app.trace", "msg": "done", "data": {"a": 1}})
    assert KeyValueFormatter("%(message)s").format(record) == "done"
