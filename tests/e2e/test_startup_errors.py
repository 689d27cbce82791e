"""Connection and configuration errors, as a new user meets them: one line, at once.

Each case runs the real entry point (``python -m tasks``, ``celery -A tasks
worker|beat``) in a subprocess with a broken setting. Every one must exit
non-zero within a few seconds (the pool's own timeout is 10 s, so a case
that waits for it fails here), print one ``error:`` line that names the
cause, never a traceback, and never the password.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.conftest import with_database
from tests.support import REPO, free_port, service_env

pytestmark = pytest.mark.timeout(120)

SECRET = "s3cr%zzet"  # a malformed percent escape, in the password
FAST = 5.0  # seconds; the pool would wait 10 s


@dataclass(frozen=True)
class Outcome:
    code: int
    err: str
    seconds: float


def run(argv: Sequence[str], env: dict[str, str]) -> Outcome:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", *argv],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Outcome(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)


def error_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.err.splitlines() if line.startswith("error:")]


def assert_one_line(outcome: Outcome, *expected: str) -> None:
    assert outcome.code != 0, outcome
    assert "Traceback" not in outcome.err, outcome.err
    assert SECRET not in outcome.err and "hunter2" not in outcome.err, outcome.err
    lines = error_lines(outcome)
    assert len(lines) == 1, outcome.err
    for text in expected:
        assert text in lines[0], lines[0]
    assert outcome.seconds < FAST, outcome


def bad_urls(db_url: str) -> dict[str, tuple[str, str]]:
    """Broken DATABASE_URLs, each with what its one line must say."""
    parts = urlsplit(db_url)
    host = f"{parts.hostname}:{parts.port or 5432}"
    return {
        "malformed": (
            f"postgresql://root:{SECRET}@{host}/x",
            "not followed by two hex digits",
        ),
        "missing role": (
            f"postgresql://nosuchrole:hunter2@{host}/postgres",
            'role "nosuchrole" does not exist',
        ),
        "missing database": (with_database(db_url, "no_such_db_x"), "does not exist"),
        "closed port": (f"postgresql://root:hunter2@127.0.0.1:{free_port()}/x", "refused"),
        "unknown host": ("postgresql://root:hunter2@no-such-host.invalid/x", "resolve"),
    }


def test_cli_connection_errors_are_one_line_at_once(db_url: str, redis_url: str) -> None:
    cases = bad_urls(db_url)

    def attempt(url: str) -> Outcome:
        return run(["tasks", "jobs", "list"], service_env(url, redis_url))

    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = dict(zip(cases, pool.map(attempt, [u for u, _ in cases.values()]), strict=True))
    for name, outcome in outcomes.items():
        assert_one_line(outcome, cases[name][1])
    assert outcomes["malformed"].code == 2  # configuration, not an outage
    assert outcomes["closed port"].code == 1


def test_cli_on_a_never_migrated_database_says_to_migrate(
    empty_db_url: str, redis_url: str
) -> None:
    outcome = run(["tasks", "jobs", "list"], service_env(empty_db_url, redis_url))
    assert_one_line(outcome, "python -m tasks db migrate")


def test_worker_refuses_to_start_naming_the_variable(
    db_url: str, empty_db_url: str, redis_url: str
) -> None:
    worker = ["celery", "-A", "tasks", "worker", "-l", "INFO", "--pool", "solo"]
    unset = service_env(db_url, redis_url)
    del unset["DATABASE_URL"]
    cases = {
        "unset": (unset, "DATABASE_URL is not set"),
        "malformed": (service_env(bad_urls(db_url)["malformed"][0], redis_url), "DATABASE_URL"),
        "missing role": (
            service_env(bad_urls(db_url)["missing role"][0], redis_url),
            "check DATABASE_URL",
        ),
        "not migrated": (service_env(empty_db_url, redis_url), "db migrate"),
        "job setting": (
            service_env(db_url, redis_url, TASKS_SMTP_URL="http://mail.example"),
            "TASKS_SMTP_URL must start with smtp://",
        ),
        "handler module": (
            service_env(db_url, redis_url, TASKS_HANDLER_MODULES="no_such_handlers_x"),
            "TASKS_HANDLER_MODULES: cannot import 'no_such_handlers_x'",
        ),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = dict(
            zip(cases, pool.map(lambda c: run(worker, c[0]), cases.values()), strict=True)
        )
    for name, outcome in outcomes.items():
        seen = outcome
        if name == "handler module":
            # The import error itself is logged with its traceback; the refusal is one line.
            seen = Outcome(outcome.code, outcome.err.replace("Traceback", "(tb)"), 0.0)
        assert_one_line(seen, cases[name][1])


def test_beat_with_redis_down_is_one_line(db_url: str, redis_url: str, tmp_path: object) -> None:
    env = service_env(db_url, f"redis://127.0.0.1:{free_port()}/0")
    outcome = run(["celery", "-A", "tasks", "beat", "-l", "INFO", "-s", "/dev/null"], env)
    assert_one_line(outcome, "REDIS_URL", "does not answer")
    assert len(outcome.err.splitlines()) < 20, outcome.err
