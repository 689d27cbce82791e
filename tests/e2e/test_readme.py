"""The README as a new user follows it: its code runs as written.

Every ```python block that starts with a ``# path`` comment is written to
that path in a fresh folder (the user's project); every ```sh block is split
into commands and each is run, in README order, from that folder, against
this test's database and Redis, with a real worker and beat running the
README's own handler module. Each command either runs (and must exit 0) or
is listed in ``ELSEWHERE`` with the test that covers it: a new command in
the README that is neither fails here until someone decides.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tests.support import REPO, connect, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

README = REPO / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: Commands this test does not run, by prefix, and where they are covered.
ELSEWHERE = {
    "python -m venv": "the environment this test runs in",
    "pip install": "the environment this test runs in (CI installs '.[dev]')",
    "python -m tasks dev": "tests/e2e/test_dev.py",
    "python -m tasks web": "a server: tests/e2e/test_dashboard_browser.py",
    "python -m tasks health --worker": "tests/integration/test_health.py (worker heartbeats)",
    "set -a": "tests/e2e/test_dev.py (dev.env written, then removed on stop)",
    "celery -A tasks": "the worker and beat this test starts; tests/e2e/test_bridge_e2e.py",
    "python -m pytest": "this suite",
    "docker compose": "not on this machine (no Docker)",
    "psql": "not part of the product",
}
#: Where the README's servers would be: this test points at its own instead.
OWN = ("DATABASE_URL", "REDIS_URL")


def blocks(kind: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == kind]


def commands() -> list[tuple[str, list[str]]]:
    """Each command line of the README's sh blocks, as written and as words."""
    found = []
    for body in blocks("sh"):
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                found.append((line.strip(), words))
    return found


def write_files(root: Path) -> list[Path]:
    written = []
    for body in blocks("python"):
        first = body.splitlines()[0]
        if first.startswith("# ") and first.endswith(".py"):
            path = root / first[2:].strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / "__init__.py").touch()  # "myapp/__init__.py (empty)"
            path.write_text(body)
            written.append(path)
    return written


def test_readme_runs_as_written(stack: Stack, db_url: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert write_files(project) == [project / "myapp" / "jobs.py"]
    with connect(db_url) as db:  # the user the "Operate it" examples name
        db.execute("INSERT INTO users (id, email) VALUES (42, 'u42@example.com')")

    stack.extra_env = {
        "TASKS_HANDLER_MODULES": "myapp.jobs",
        "PYTHONPATH": os.pathsep.join([str(project), str(REPO)]),
    }
    stack.worker()
    stack.beat()
    # `jobs add` accepts the job types a live worker registered (its heartbeat).
    wait_until(lambda: live_worker(db_url), timeout=30)
    env = stack.env()
    ran = []
    for line, words in commands():
        if any(line.startswith(prefix) for prefix in ELSEWHERE):
            continue
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                if name == "PYTHONPATH":
                    value = os.pathsep.join([str(project / value), str(REPO)])
                if name not in OWN:
                    env[name] = value
            continue
        assert words[:3] == ["python", "-m", "tasks"], f"README command not covered: {line}"
        if words[3:5] == ["runs", "show"]:  # reads what the worker records
            execution_id = int(words[5])
            wait_until(lambda: finished(db_url, execution_id), timeout=30)  # noqa: B023
        proc = subprocess.run(
            [sys.executable, *words[1:]],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, (line, proc.stdout, proc.stderr, stack.logs())
        ran.append(line)
    assert any("jobs add reminders-daily" in c for c in ran) and len(ran) >= 10, ran

    # The handler of the README ran in the worker, and its output is recorded.
    def reminder_output() -> object:
        with connect(db_url) as db:
            row = db.execute(
                "SELECT status::text, output FROM job_executions"
                " WHERE job_id = 'reminders-daily' AND status <> 'running'"
            ).fetchone()
        return row

    row = wait_until(reminder_output, timeout=30)
    assert row == {"status": "completed", "output": {"channel": "email", "user_id": None}}, row


def live_worker(db_url: str) -> bool:
    with connect(db_url) as db:
        return db.execute("SELECT 1 FROM worker_heartbeats").fetchone() is not None


def finished(db_url: str, execution_id: int) -> bool:
    with connect(db_url) as db:
        row = db.execute(
            "SELECT status::text FROM job_executions WHERE id = %s", (execution_id,)
        ).fetchone()
    return row is not None and row["status"] != "running"
