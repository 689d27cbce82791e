from __future__ import annotations

import logging
import sys

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


def test_celerys_line_about_an_attempt_names_the_job_and_execution() -> None:
    from tasks.logs import JobContextFilter, bind_job, clear_job

    msg = "Task test.noop[dispatch-3] succeeded in 0.01s: 'completed'"
    record = logging.makeLogRecord({"name": "celery.app.trace", "msg": msg, "data": {"a": 1}})
    clear_job()  # whatever an earlier test in this process bound
    bind_job(job_id="ok", dispatch_id=3, job_type="test.noop", execution_id=9)
    try:
        JobContextFilter().filter(record)
    finally:
        clear_job()
    assert KeyValueFormatter("%(message)s").format(record) == f"{msg} job_id=ok execution_id=9"


def test_the_fields_stay_on_the_message_line_before_a_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.makeLogRecord(
        {"name": "celery.app.trace", "msg": "Task raised", "exc_info": exc_info, "job_id": "bad"}
    )
    first, *rest = KeyValueFormatter("%(message)s").format(record).splitlines()
    assert first == "Task raised job_id=bad"
    assert rest[-1] == "RuntimeError: boom"


def test_a_value_cannot_forge_a_line_or_an_escape() -> None:
    forged = "ok\n2026-12-05 06:00:00 INFO tasks.execution: job completed action=completed"
    record = logging.makeLogRecord(
        {
            "name": "tasks.execution",
            "msg": "job failed: %s",
            "args": ("boom\x1b[2J\u202e",),
            "job_id": forged,
            "job_type": 'say "hi"',
            "action": "failed",
        }
    )
    text = KeyValueFormatter("%(message)s").format(record)
    assert "\n" not in text and "\x1b" not in text and "\u202e" not in text
    assert text == (
        "job failed: boom\\x1b[2J\\u202e"
        ' job_id="ok\\n2026-12-05 06:00:00 INFO tasks.execution: job completed'
        ' action=completed" job_type="say \\"hi\\"" action=failed'
    )


def test_a_traceback_keeps_its_lines() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.makeLogRecord(
            {"name": "tasks.x", "msg": "oops", "exc_info": sys.exc_info()}
        )
    assert "\nValueError: bad" in KeyValueFormatter("%(message)s").format(record)


def test_the_cli_shows_escapes_instead_of_running_them() -> None:
    from tasks.output import cell

    assert cell("evil\n\x1b[31mred\u202e") == "evil\\n\\x1b[31mred\\u202e"
    assert cell("Zoë's job") == "Zoë's job"


def test_json_lines_carry_the_bound_attempt() -> None:
    import json

    from tasks.logs import JobContextFilter, JsonFormatter, bind_job, clear_job

    bind_job(job_id="j1", dispatch_id=7, job_type="weekly_generation")
    bind_job(execution_id=42)
    try:
        record = logging.makeLogRecord(
            {"name": "tasks.execution", "msg": "job %s", "args": ("done",), "action": "completed"}
        )
        assert JobContextFilter().filter(record)
        entry = json.loads(JsonFormatter().format(record))
    finally:
        clear_job()
    assert entry["message"] == "job done"
    assert entry["action"] == "completed"
    assert (entry["job_id"], entry["execution_id"], entry["job_type"], entry["dispatch_id"]) == (
        "j1",
        42,
        "weekly_generation",
        7,
    )


def test_celery_task_lines_get_the_dispatch_from_the_task_id() -> None:
    import json

    from tasks.logs import JobContextFilter, JsonFormatter

    record = logging.makeLogRecord(
        {
            "name": "celery.worker.strategy",
            "msg": "Task weekly_generation[dispatch-15] received",
            "data": {"id": "dispatch-15", "name": "weekly_generation", "args": "secret"},
        }
    )
    JobContextFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["dispatch_id"], entry["job_type"], entry["task_id"]) == (
        15,
        "weekly_generation",
        "dispatch-15",
    )
    assert "data" not in entry  # other libraries' extras are left out
